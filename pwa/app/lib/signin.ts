/**
 * Signing in to the app follows the same policy as any login (DESIGN "A password login"): the password
 * goes to Jellyfin through the gateway as `POST /Users/AuthenticateByName`; if the account needs a second
 * factor the gateway answers 401 `second_factor_required` and holds the token until one of the
 * challenge's endpoints (shared/api/factors.ts) releases Jellyfin's answer. The app then keeps that
 * token as its session.
 */
import { z } from 'zod';
import {
  ChallengeInfoSchema,
  EnrollDoneSchema,
  SecondFactorRequiredSchema,
  TotpEnrollmentSchema,
} from '../../../shared/api/factors.ts';
import { LoginApprovalPendingSchema, LoginApprovalStartedSchema, type LoginApprovalStarted } from '../../../shared/api/approvals.ts';
import { ApiError, post, get, request, send } from './api.ts';
import { createPasskey, signWithPasskey, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON } from '../../common/passkey.ts';
import { session, type Session } from './session.svelte.ts';

/**
 * The 401 of a login that needs a second factor. Methods are read as plain strings: the approvals work
 * adds "phone" to the list (shared/api/approvals.ts), and a method this version does not know is simply
 * not offered.
 */
const ChallengeSchema = SecondFactorRequiredSchema.extend({ methods: z.array(z.string()) });
export type Challenge = z.infer<typeof ChallengeSchema>;
const InfoSchema = ChallengeInfoSchema.extend({ methods: z.array(z.string()) });
export type ChallengeInfo = z.infer<typeof InfoSchema>;
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

export const challengeInfo = (challengeId: string) => get(`Challenge/${challengeId}`, { auth: false, schema: InfoSchema });

const VERIFY: Record<'totp' | 'recovery' | 'email', string> = { totp: 'VerifyTOTP', recovery: 'VerifyRecoveryCode', email: 'VerifyEmailOTP' };

/** Step 2 with a code (authenticator app, recovery code, e-mail code). */
export async function verifyCode(method: 'totp' | 'recovery' | 'email', challengeId: string, code: string): Promise<Session> {
  return finish(await post(VERIFY[method], { challengeId, code: code.replace(/\s+/g, '') }, { auth: false }));
}

export const sendEmailCode = (challengeId: string) => post('SendEmailOTP', { challengeId }, { auth: false });

/** Step 2 with a passkey. */
export async function verifyPasskey(challengeId: string): Promise<Session> {
  const options = (await post('VerifyPasskey/Options', { challengeId }, { auth: false })) as PublicKeyCredentialRequestOptionsJSON;
  const response = await signWithPasskey(options);
  return finish(await post('VerifyPasskey', { challengeId, response }, { auth: false }));
}

/**
 * An account that must have a second factor but has none yet (methods ["enroll"]): register this
 * phone's passkey inside the challenge, then complete it. Returns the first recovery codes.
 */
export async function enrollPasskeyInChallenge(challengeId: string, name: string): Promise<string[]> {
  const options = (await post('Challenge/EnrollPasskey/Options', { challengeId }, { auth: false })) as PublicKeyCredentialCreationOptionsJSON;
  const response = await createPasskey(options, { platform: true });
  const done = await post('Challenge/EnrollPasskey', { challengeId, response, name }, { auth: false, schema: EnrollDoneSchema });
  return done.recoveryCodes;
}

export const beginTotpInChallenge = (challengeId: string) => post('Challenge/EnrollTOTP', { challengeId }, { auth: false, schema: TotpEnrollmentSchema });

export async function confirmTotpInChallenge(challengeId: string, code: string): Promise<string[]> {
  const done = await post('Challenge/EnrollTOTP/Confirm', { challengeId, code: code.replace(/\s+/g, '') }, { auth: false, schema: EnrollDoneSchema });
  return done.recoveryCodes;
}

export async function completeChallenge(challengeId: string): Promise<Session> {
  return finish(await post('Challenge/Complete', { challengeId }, { auth: false }));
}

/** Ask an already enrolled phone to approve this sign-in; returns the 2 digits to show. */
export const startPhoneApproval = (challengeId: string) => post('Approvals/Login', { challengeId }, { auth: false, schema: LoginApprovalStartedSchema });

export type PhoneWait = { state: 'pending'; number: string; expiresAt: string } | { state: 'signed_in'; session: Session };

/** Wait (long poll, up to `waitSeconds`) for the phone; an ended approval is an ApiError (410 approval_denied…). */
export async function waitForPhone(challengeId: string, waitSeconds: number): Promise<PhoneWait> {
  const { status, json } = await send('POST', 'Approvals/Login/Status', { auth: false, body: { challengeId, waitSeconds }, accept: [202] });
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
