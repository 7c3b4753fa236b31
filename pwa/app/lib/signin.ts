/**
 * Signing in to the app follows the same policy as any login (DESIGN "A password login"): the password
 * goes to Jellyfin through the gateway as `POST /Users/AuthenticateByName`; if the account needs a second
 * factor the gateway answers 401 `second_factor_required` and holds the token until one of the
 * challenge's endpoints (shared/api/factors.ts) releases Jellyfin's answer. The app then keeps that
 * token as its session.
 */
import { LoginApprovalPendingSchema, type LoginApprovalStarted } from '../../../shared/api/approvals.ts';
import { ENDPOINTS, pathOf } from '../../../shared/api/endpoints.ts';
import { ChallengeSchema, ChallengeStateSchema, type Challenge } from '../../common/challenge.ts';
import { ApiError, call, get, request, send } from './api.ts';
import { createPasskey, creationOptionsOf, requestOptionsOf, signInWithPasskey, signWithPasskey } from '../../common/passkey.ts';
import { session, type Session } from './session.svelte.ts';

export type { Challenge, ChallengeState as ChallengeInfo } from '../../common/challenge.ts';
export type { LoginApprovalStarted };

/** Jellyfin's AuthenticationResult, the fields the app keeps (PascalCase: the app does not ask for camelCase). */
interface AuthenticationResult {
  AccessToken?: string;
  User?: { Id?: string; Name?: string; Policy?: { IsAdministrator?: boolean } };
}

export type PasswordOutcome = { kind: 'signed_in'; session: Session } | { kind: 'challenge'; challenge: Challenge };

function sessionOf(result: unknown): Session {
  const r = result as AuthenticationResult;
  if (!r || typeof r.AccessToken !== 'string' || typeof r.User?.Id !== 'string') {
    throw new ApiError(502, 'bad_response', 'The server sent an answer this app does not understand.');
  }
  return { token: r.AccessToken, userId: r.User.Id, userName: r.User.Name ?? '', isAdmin: r.User.Policy?.IsAdministrator === true };
}

/** Keep the released login as the app's session. */
export function finish(result: unknown): Session {
  const s = sessionOf(result);
  session.set(s);
  return s;
}

/** Step 1: the password. A wrong one is an ApiError with code "wrong_password". */
export async function submitPassword(username: string, password: string): Promise<PasswordOutcome> {
  session.clear();
  let answer: unknown;
  try {
    answer = await request('POST', 'Users/AuthenticateByName', {
      jellyfin: true,
      auth: false,
      body: { Username: username, Pw: password },
    });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const challenge = ChallengeSchema.safeParse(err.body);
      if (challenge.success) return { kind: 'challenge', challenge: challenge.data };
      throw new ApiError(401, 'wrong_password', 'That user name and password do not match.');
    }
    if (err instanceof ApiError && err.code.startsWith('http_4')) {
      // Jellyfin's own refusals (disabled account, not allowed from this network…) are text/plain.
      throw new ApiError(err.status, 'refused', 'Jellyfin refused this sign-in. Ask the person who runs the server.');
    }
    throw err;
  }
  return { kind: 'signed_in', session: finish(answer) };
}

export const challengeInfo = (challengeId: string) => get(pathOf(ENDPOINTS.Challenge, { challengeId }), { auth: false, schema: ChallengeStateSchema });

const VERIFY = { totp: ENDPOINTS.VerifyTOTP, recovery: ENDPOINTS.VerifyRecoveryCode, email: ENDPOINTS.VerifyEmailOTP } as const;

/** Step 2 with a code (authenticator app, recovery code, e-mail code). */
export async function verifyCode(method: 'totp' | 'recovery' | 'email', challengeId: string, code: string): Promise<Session> {
  return finish(await call(VERIFY[method], { body: { challengeId, code: code.replace(/\s+/g, '') }, auth: false }));
}

export const sendEmailCode = (challengeId: string) => call(ENDPOINTS.SendEmailOTP, { body: { challengeId }, auth: false });

/** Step 2 with a passkey. */
export async function verifyPasskey(challengeId: string): Promise<Session> {
  const options = requestOptionsOf(await call(ENDPOINTS.VerifyPasskeyOptions, { body: { challengeId }, auth: false }));
  const response = await signWithPasskey(options);
  return finish(await call(ENDPOINTS.VerifyPasskey, { body: { challengeId, response }, auth: false }));
}

/** A passkey alone (no user name, no password): the passkey names the account and counts as both factors. */
export async function passkeyAlone(): Promise<Session> {
  session.clear();
  const options = requestOptionsOf(await call(ENDPOINTS.PasskeySignInOptions, { auth: false }));
  const response = await signInWithPasskey(options);
  return finish(await call(ENDPOINTS.PasskeySignIn, { body: { response }, auth: false }));
}

/**
 * An account that must have a second factor but has none yet (methods ["enroll"]): register this
 * phone's passkey inside the challenge, then complete it. Returns the first recovery codes.
 */
export async function enrollPasskeyInChallenge(challengeId: string, name: string): Promise<string[]> {
  const options = creationOptionsOf(await call(ENDPOINTS.ChallengeEnrollPasskeyOptions, { body: { challengeId }, auth: false }));
  const response = await createPasskey(options, { platform: true });
  const done = await call(ENDPOINTS.ChallengeEnrollPasskey, { body: { challengeId, response, name }, auth: false });
  return done.recoveryCodes;
}

export const beginTotpInChallenge = (challengeId: string) => call(ENDPOINTS.ChallengeEnrollTOTP, { body: { challengeId }, auth: false });

export async function confirmTotpInChallenge(challengeId: string, code: string): Promise<string[]> {
  const done = await call(ENDPOINTS.ChallengeEnrollTOTPConfirm, { body: { challengeId, code: code.replace(/\s+/g, '') }, auth: false });
  return done.recoveryCodes;
}

export async function completeChallenge(challengeId: string): Promise<Session> {
  return finish(await call(ENDPOINTS.ChallengeComplete, { body: { challengeId }, auth: false }));
}

/** Ask an already enrolled phone to approve this sign-in; returns the 2 digits to show. */
export const startPhoneApproval = (challengeId: string) => call(ENDPOINTS.ApprovalsLogin, { body: { challengeId }, auth: false });

export type PhoneWait = { state: 'pending'; number: string; expiresAt: string } | { state: 'signed_in'; session: Session };

/** Wait (long poll, up to `waitSeconds`) for the phone; an ended approval is an ApiError (410 approval_denied…). */
export async function waitForPhone(challengeId: string, waitSeconds: number): Promise<PhoneWait> {
  const { status, json } = await send(ENDPOINTS.ApprovalsLoginStatus.method, pathOf(ENDPOINTS.ApprovalsLoginStatus), { auth: false, body: { challengeId, waitSeconds }, accept: [202] });
  if (status === 202) {
    const p = LoginApprovalPendingSchema.parse(json);
    return { state: 'pending', number: p.number, expiresAt: p.expiresAt };
  }
  return { state: 'signed_in', session: finish(json) };
}

/** Sign out: Jellyfin forgets the token (through the gateway, which forgets it too). */
export async function signOut(): Promise<void> {
  await request('POST', 'Sessions/Logout', { jellyfin: true }).catch(() => undefined);
  session.clear();
}
