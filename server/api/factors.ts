import type Router from '@koa/router';
import type { z } from 'zod';
import type { GatewayContext, GatewayState } from '../context.ts';
import { HttpError, badRequest } from '../errors.ts';
import { readSmallBody } from '../login/body.ts';
import { tryParseJson } from '../jellyfin/json.ts';
import type { Services } from '../services.ts';
import { Factors, relyingParty, type FactorKind, type LoginMethod, type RelyingParty } from '../factors/index.ts';
import { readTrustedDeviceCookie, trustedDeviceCookie } from '../factors/trusted-browser.ts';
import { LoginChallenges, type ChallengeRow } from '../login/challenge-store.ts';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import {
  ChallengeRefSchema,
  CompleteRequestSchema,
  EnrollConfirmRequestSchema,
  EnrollPasskeyRequestSchema,
  SendEmailOTPRequestSchema,
  VerifyCodeRequestSchema,
  VerifyPasskeyRequestSchema,
  type ChallengeInfo,
} from '../../shared/api/factors.ts';

/**
 * The login challenge's public endpoints (the seed's VerifyTOTP, VerifyPasskey, SendEmailOTP, plus
 * recovery codes, e-mail verification and enrollment inside a challenge). The challenge id is the
 * handle of a login whose password Jellyfin already accepted; each code-checking endpoint spends one of
 * the challenge's 5 attempts BEFORE checking (so parallel guesses cannot exceed it), counts wrong codes
 * per user (persisted; 10 in 15 minutes pause the user's code checks) and reports them to the
 * brute-force guard. See shared/api/factors.ts for the bodies.
 *
 * Which checks guard which route:
 *   route                          | challenge state | attempt spent | per-user lock | method must be offered
 *   VerifyTOTP / RecoveryCode /    | pending         | yes           | yes           | totp / recovery / email
 *     EmailOTP                     |                 |               |               |
 *   VerifyPasskey                  | pending         | yes           | yes           | passkey
 *   VerifyPasskey/Options          | pending         | no            | no            | passkey
 *   SendEmailOTP                   | (any; 202)      | no            | no            | email (silently)
 *   Challenge/EnrollTOTP[/Confirm] | pending         | Confirm: yes  | Confirm: yes  | enroll (user has no factor)
 *   Challenge/EnrollPasskey[/…]    | pending         | Verify: yes   | Verify: yes   | enroll (user has no factor)
 *   Challenge/Complete             | satisfied       | no            | no            | —
 */

export const MAX_API_BODY_BYTES = 64 * 1024;
/** Login methods that come from the user's own factors (the rest, like "phone", are added by other concerns). */
const OWN_FACTOR_METHODS: ReadonlySet<string> = new Set(['totp', 'passkey', 'email', 'recovery', 'enroll']);

/** Read and validate a JSON body with a schema; 400 naming what is wrong, nothing changed. */
export async function readJson<S extends z.ZodType>(ctx: GatewayContext, schema: S): Promise<z.infer<S>> {
  const raw = await readSmallBody(ctx, MAX_API_BODY_BYTES, `requests to ${ctx.path.slice(0, 200)}`);
  const json = raw.length ? tryParseJson(raw.toString('utf8')) : {};
  if (json === undefined) throw badRequest('malformed_body', 'The request body is not JSON');
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first?.path.length ? `${first.path.join('.')}: ` : '';
    throw badRequest('invalid_request', `${where}${first?.message ?? 'invalid request'}`);
  }
  return parsed.data;
}

/** The relying party for a passkey ceremony of this request (see server/factors/passkeys.ts). */
export function rpOf(ctx: GatewayContext, services: Services): RelyingParty {
  const proto = ctx.state.client.proto ?? ('encrypted' in ctx.req.socket ? 'https' : 'http');
  const rp = relyingParty(services.config.PublicUrl, { proto, host: ctx.state.client.host ?? ctx.get('host') });
  if (!rp) {
    throw new HttpError(400, 'passkeys_unavailable', 'Passkeys need the gateway to be reached by a domain name over https (or localhost); set PublicUrl.');
  }
  return rp;
}

export function noStore(ctx: GatewayContext): void {
  ctx.set('cache-control', 'no-store');
}

export function isoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** "j***@example.org" */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

/** The parts the challenge endpoints use. */
function parts(services: Services) {
  return { factors: services.factors, challenges: services.challenges };
}

function challengeGone(row: ChallengeRow | undefined): HttpError {
  if (!row) return new HttpError(404, 'unknown_challenge', 'This sign-in is unknown or over. Sign in again.');
  if (row.state === 'expired') return new HttpError(410, 'challenge_expired', 'This sign-in took too long. Sign in again.');
  if (row.state === 'failed') return new HttpError(410, 'challenge_failed', 'Too many wrong codes. Sign in again.');
  return new HttpError(410, 'challenge_over', 'This sign-in is already over. Sign in again.');
}

/** A challenge in `state`, or the right 404/409/410. */
async function liveChallenge(services: Services, id: string, state: 'pending' | 'satisfied' = 'pending'): Promise<ChallengeRow> {
  const row = await services.challenges.get(id);
  if (!row || (row.state !== 'pending' && row.state !== 'satisfied')) throw challengeGone(row);
  if (row.state !== state) {
    throw new HttpError(409, 'challenge_state', state === 'pending' ? 'A factor was already set up: complete the sign-in.' : 'Give a second factor first.');
  }
  return row;
}

async function offered(services: Services, row: ChallengeRow, method: LoginMethod): Promise<void> {
  const summary = await services.factors.summary(row.user_id);
  const methods = method === 'enroll' ? LoginChallenges.methodsOf(row) : Factors.methods(summary);
  if (!methods.includes(method)) throw new HttpError(400, 'method_unavailable', `This sign-in cannot use ${method}.`);
  if (method === 'enroll' && Factors.hasPrimary(summary)) {
    // Enrollment inside a challenge is only for users without any factor: otherwise it would be a bypass.
    throw new HttpError(409, 'already_enrolled', 'A second factor is already set up for this account: use it.');
  }
}

/** Spend an attempt or answer that none is left. */
async function spendAttempt(services: Services, row: ChallengeRow): Promise<void> {
  const used = await services.challenges.reserveAttempt(row.id, row.state);
  if (used === undefined) {
    const fresh = await services.challenges.get(row.id);
    if (fresh && (fresh.state === 'pending' || fresh.state === 'satisfied')) await services.challenges.failed(row.id);
    throw new HttpError(401, 'challenge_failed', 'Too many wrong codes. Sign in again.');
  }
}

/**
 * A wrong code inside a challenge: counted everywhere; answers 401 `{error, message, attemptsLeft}`
 * (attemptsLeft 0 and error "challenge_failed" once the challenge ended and its token was revoked).
 */
async function wrongCode(ctx: GatewayContext, services: Services, row: ChallengeRow, kind: FactorKind, detail?: Record<string, unknown>): Promise<void> {
  const { factors, challenges } = parts(services);
  const ip = ctx.state.client.ip;
  // A wrong code is a guess at the user's secret: it counts per address, per user and towards the user's
  // wrong-code lock. A refused passkey assertion guesses nothing (it cannot be brute-forced), so it lands
  // only on the challenge and the address that sent it: nobody can lock a name by sending bad assertions.
  const guessed = kind !== 'passkey';
  factors.recordFailure(kind, guessed ? { ip, userId: row.user_id, username: row.user_name } : { ip });
  const user = guessed ? await factors.attempts.fail(row.user_id) : { locked: false };
  const left = await challenges.failed(row.id);
  factors.audit({
    type: 'login.challenge.failure',
    outcome: 'failure',
    userId: row.user_id,
    userName: row.user_name,
    ip,
    deviceId: row.device_id,
    deviceName: row.device_name,
    client: row.client,
    detail: { method: kind, attemptsLeft: left, ...detail },
  });
  if (user.locked) factors.audit({ type: 'factor.locked', outcome: 'refused', userId: row.user_id, userName: row.user_name, ip });
  noStore(ctx);
  ctx.status = 401;
  ctx.body =
    left === 0
      ? { error: 'challenge_failed', message: 'Too many wrong codes. Sign in again.', attemptsLeft: 0 }
      : { error: 'invalid_code', message: kind === 'passkey' ? 'The passkey was not accepted.' : 'That code is not right.', attemptsLeft: left };
}

/**
 * Answer with Jellyfin's own AuthenticationResult (and the trusted-browser cookie if asked).
 */
async function release(ctx: GatewayContext, services: Services, row: ChallengeRow, method: string, from: 'pending' | 'satisfied', trustBrowser: boolean | undefined): Promise<void> {
  const { factors, challenges } = parts(services);
  const done = await challenges.complete(row.id, method, from);
  if (!done) throw challengeGone(await challenges.get(row.id));
  await factors.attempts.succeed(row.user_id);
  factors.audit({
    type: 'login.challenge.passed',
    outcome: 'success',
    userId: row.user_id,
    userName: row.user_name,
    ip: ctx.state.client.ip,
    deviceId: row.device_id,
    deviceName: row.device_name,
    client: row.client,
    detail: { method: done.row.method ?? method },
  });
  if (trustBrowser && factors.trustedBrowsers.enabled && row.device_id) {
    const userAgent = ctx.get('user-agent');
    const issued = await factors.trustedBrowsers.issue(
      row.user_id,
      { deviceId: row.device_id, userAgent, ip: ctx.state.client.ip },
      readTrustedDeviceCookie(ctx.get('cookie') || undefined),
    );
    const secure = (ctx.state.client.proto ?? ('encrypted' in ctx.req.socket ? 'https' : 'http')) === 'https';
    ctx.append(
      'set-cookie',
      trustedDeviceCookie(issued.cookie, { maxAgeSeconds: issued.maxAgeSeconds, secure, path: services.config.BaseUrl ? `${services.config.BaseUrl}/` : '/' }),
    );
    factors.audit({
      type: 'trusted_browser.created',
      outcome: 'success',
      userId: row.user_id,
      userName: row.user_name,
      ip: ctx.state.client.ip,
      deviceId: row.device_id,
      detail: { trustedBrowserId: issued.info.id, label: issued.info.label, ipPrefix: issued.info.ipPrefix },
    });
  }
  noStore(ctx);
  ctx.status = 200;
  ctx.body = done.body;
  ctx.set('content-type', done.contentType ?? 'application/json; charset=utf-8');
}

/** The shared flow of the code endpoints: offered, not locked, attempt spent, check, release or count. */
async function verifyCode(
  ctx: GatewayContext,
  services: Services,
  method: 'totp' | 'recovery' | 'email',
  check: (row: ChallengeRow, code: string) => Promise<boolean>,
): Promise<void> {
  const input = await readJson(ctx, VerifyCodeRequestSchema);
  const row = await liveChallenge(services, input.challengeId);
  await offered(services, row, method);
  await services.factors.attempts.assertNotLocked(row.user_id);
  await spendAttempt(services, row);
  if (!(await check(row, input.code))) return wrongCode(ctx, services, row, method);
  await release(ctx, services, row, method, 'pending', input.trustBrowser);
}

export function mountFactorRoutes(router: Router<GatewayState>, services: Services): void {
  const { factors } = parts(services);

  router.get('/LoginOptions', (ctx) => {
    const c = services.config;
    ctx.body = {
      totp: c.TOTPEnabled,
      passkeys: c.PasskeysEnabled,
      email: factors.email.enabled,
      recoveryCodes: c.RecoveryCodesEnabled,
      totpInPassword: c.AllowTOTPInPassword && c.TOTPEnabled,
      trustedDeviceDays: c.TrustedDeviceDays,
      showBuiltIn2FAButton: c.ShowBuiltIn2FAButton,
      showBuiltInPasskeyButton: c.ShowBuiltInPasskeyButton && c.PasskeysEnabled,
    };
  });

  router.get('/Challenge/:challengeId', async (ctx) => {
    const id = ctx.params.challengeId ?? '';
    if (!/^[A-Za-z0-9_-]{22}$/.test(id)) throw new HttpError(404, 'unknown_challenge', 'This sign-in is unknown or over. Sign in again.');
    const row = await services.challenges.get(id);
    if (!row || (row.state !== 'pending' && row.state !== 'satisfied')) throw challengeGone(row);
    const stored = LoginChallenges.methodsOf(row);
    const summary = await factors.summary(row.user_id);
    // The user's factors as they are now; methods the challenge was issued with beyond them (the "phone"
    // of server/approvals, SecondFactorPolicy.extraMethods) stay, first, as in the 401 body.
    const extra = stored.filter((m) => !OWN_FACTOR_METHODS.has(m));
    const methods = stored.includes('enroll') ? stored : [...extra, ...Factors.methods(summary)];
    const info: ChallengeInfo = {
      challengeId: row.id,
      userName: row.user_name,
      state: row.state,
      methods,
      enrollMethods: stored.includes('enroll') ? factors.enrollMethods() : [],
      expiresAt: new Date(row.expires_at).toISOString(),
      attemptsLeft: services.challenges.attemptsLeft(row),
      trustedDeviceDays: factors.trustedBrowsers.enabled && row.device_id ? services.config.TrustedDeviceDays : 0,
      emailCodeSent: methods.includes('email') ? await factors.email.hasLiveLoginCode(row.user_id) : false,
      emailHint: methods.includes('email') && summary.email ? maskEmail(summary.email) : null,
    };
    noStore(ctx);
    ctx.body = info;
  });

  // ── Codes ──
  router.post('/VerifyTOTP', (ctx) => verifyCode(ctx, services, 'totp', (row, code) => factors.totp.verify(row.user_id, code)));

  router.post('/VerifyRecoveryCode', (ctx) =>
    verifyCode(ctx, services, 'recovery', async (row, code) => {
      const ok = await factors.recovery.redeem(row.user_id, code);
      if (ok) {
        factors.audit({
          type: 'factor.recovery.used',
          outcome: 'success',
          userId: row.user_id,
          userName: row.user_name,
          ip: ctx.state.client.ip,
          detail: { remaining: await factors.recovery.remaining(row.user_id) },
        });
      }
      return ok;
    }),
  );

  router.post('/VerifyEmailOTP', (ctx) =>
    verifyCode(ctx, services, 'email', async (row, code) => (await factors.email.verify(row.user_id, 'login', code)).ok),
  );

  /** Always the same 202, whether or not a user, an address or a code exists (or the limits refused). */
  router.post('/SendEmailOTP', async (ctx) => {
    const input = await readJson(ctx, SendEmailOTPRequestSchema);
    const ip = ctx.state.client.ip;
    let userId: string | undefined;
    let userName: string | undefined;
    let fromChallenge = false;
    if (input.challengeId) {
      const row = await services.challenges.get(input.challengeId);
      if (row && row.state === 'pending' && Factors.methods(await factors.summary(row.user_id)).includes('email')) {
        userId = row.user_id;
        userName = row.user_name;
        fromChallenge = true;
      }
    } else if (input.username) {
      const user = await services.users.byName(input.username);
      userId = user?.id;
      userName = user?.name;
    }
    const outcome = await factors.email.sendLoginCode(userId, ip, userName, fromChallenge);
    if (outcome.sent) {
      factors.audit({ type: 'factor.email.code_sent', outcome: 'info', userId, userName, ip, detail: { purpose: 'login' } });
    }
    noStore(ctx);
    ctx.status = 202;
    ctx.body = { status: 'accepted', message: 'If this account can receive codes by e-mail, one is on its way.' };
  });

  // ── Passkeys ──
  router.post('/VerifyPasskey/Options', async (ctx) => {
    const input = await readJson(ctx, ChallengeRefSchema);
    const row = await liveChallenge(services, input.challengeId);
    await offered(services, row, 'passkey');
    noStore(ctx);
    ctx.body = await factors.passkeys.authenticationOptions(row.user_id, rpOf(ctx, services), row.id);
  });

  router.post('/VerifyPasskey', async (ctx) => {
    const input = await readJson(ctx, VerifyPasskeyRequestSchema);
    const row = await liveChallenge(services, input.challengeId);
    await offered(services, row, 'passkey');
    await services.factors.attempts.assertNotLocked(row.user_id);
    await spendAttempt(services, row);
    const r = await factors.passkeys.verifyAuthentication(row.user_id, input.response as unknown as AuthenticationResponseJSON, row.id);
    if (!r.ok) {
      if (r.reason === 'counter_regression') {
        factors.audit({
          type: 'factor.passkey.counter_regression',
          outcome: 'refused',
          userId: row.user_id,
          userName: row.user_name,
          ip: ctx.state.client.ip,
          detail: { credentialId: r.credentialId },
        });
      }
      return wrongCode(ctx, services, row, 'passkey', { reason: r.reason });
    }
    await release(ctx, services, row, 'passkey', 'pending', input.trustBrowser);
  });

  // ── Enrollment inside a challenge (users without any factor whom policy requires to have one) ──
  router.post('/Challenge/EnrollTOTP', async (ctx) => {
    const input = await readJson(ctx, ChallengeRefSchema);
    const row = await liveChallenge(services, input.challengeId);
    if (!services.config.TOTPEnabled) throw new HttpError(400, 'method_unavailable', 'TOTP is turned off.');
    await offered(services, row, 'enroll');
    noStore(ctx);
    ctx.body = await factors.totp.beginEnrollment(row.user_id, row.user_name);
  });

  router.post('/Challenge/EnrollTOTP/Confirm', async (ctx) => {
    const input = await readJson(ctx, EnrollConfirmRequestSchema);
    const row = await liveChallenge(services, input.challengeId);
    if (!services.config.TOTPEnabled) throw new HttpError(400, 'method_unavailable', 'TOTP is turned off.');
    await offered(services, row, 'enroll');
    await services.factors.attempts.assertNotLocked(row.user_id);
    await spendAttempt(services, row);
    if (!(await factors.totp.confirmEnrollment(row.user_id, input.code))) return wrongCode(ctx, services, row, 'totp', { enrollment: true });
    const recoveryCodes = await enrolledFirstFactor(ctx, services, row.user_id, row.user_name, 'totp');
    await services.challenges.satisfy(row.id, 'enroll:totp');
    noStore(ctx);
    ctx.body = { status: 'enrolled', recoveryCodes };
  });

  router.post('/Challenge/EnrollPasskey/Options', async (ctx) => {
    const input = await readJson(ctx, ChallengeRefSchema);
    const row = await liveChallenge(services, input.challengeId);
    if (!services.config.PasskeysEnabled) throw new HttpError(400, 'method_unavailable', 'Passkeys are turned off.');
    await offered(services, row, 'enroll');
    noStore(ctx);
    ctx.body = await factors.passkeys.registrationOptions({ id: row.user_id, name: row.user_name }, rpOf(ctx, services), row.id);
  });

  router.post('/Challenge/EnrollPasskey', async (ctx) => {
    const input = await readJson(ctx, EnrollPasskeyRequestSchema);
    const row = await liveChallenge(services, input.challengeId);
    if (!services.config.PasskeysEnabled) throw new HttpError(400, 'method_unavailable', 'Passkeys are turned off.');
    await offered(services, row, 'enroll');
    await services.factors.attempts.assertNotLocked(row.user_id);
    await spendAttempt(services, row);
    const r = await factors.passkeys.verifyRegistration(row.user_id, input.response as unknown as RegistrationResponseJSON, input.name ?? 'Passkey', row.id);
    if (!r.ok) return wrongCode(ctx, services, row, 'passkey', { enrollment: true, reason: r.reason });
    const recoveryCodes = await enrolledFirstFactor(ctx, services, row.user_id, row.user_name, 'passkey');
    await services.challenges.satisfy(row.id, 'enroll:passkey');
    noStore(ctx);
    ctx.body = { status: 'enrolled', recoveryCodes };
  });

  router.post('/Challenge/Complete', async (ctx) => {
    const input = await readJson(ctx, CompleteRequestSchema);
    const row = await liveChallenge(services, input.challengeId, 'satisfied');
    await release(ctx, services, row, row.method ?? 'enroll', 'satisfied', input.trustBrowser);
  });
}

/**
 * A factor was just enrolled (inside a challenge or self-service): audit it, and hand out a fresh set
 * of recovery codes with TOTP — or with a passkey that is the user's first factor.
 */
export async function enrolledFirstFactor(
  ctx: GatewayContext,
  services: Services,
  userId: string,
  userName: string,
  kind: 'totp' | 'passkey',
): Promise<string[]> {
  const { factors } = services;
  factors.audit({
    type: kind === 'totp' ? 'factor.totp.enrolled' : 'factor.passkey.registered',
    outcome: 'success',
    userId,
    userName,
    ip: ctx.state.client.ip,
  });
  if (!services.config.RecoveryCodesEnabled) return [];
  // Recovery codes are made once, with the first factor: a later factor never replaces a set the user
  // saved (only POST Me/RecoveryCodes does, when asked, with a warning that the old set stops working).
  if ((await factors.recovery.remaining(userId)) > 0) return [];
  const codes = await factors.recovery.generate(userId);
  factors.audit({ type: 'factor.recovery.generated', outcome: 'success', userId, userName, ip: ctx.state.client.ip });
  return codes;
}
