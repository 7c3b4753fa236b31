import type { Config } from '../config/index.ts';
import { apiError, errorBody, type HttpError } from '../errors.ts';
import { Factors, type FactorKind, type LoginMethod } from '../factors/index.ts';
import { readTrustedDeviceCookie, trustedDeviceCookie } from '../factors/trusted-browser.ts';
import { assertCodeShape } from '../factors/code-shape.ts';
import { LoginChallenges, type ChallengeRow } from './challenge-store.ts';
import type { ChallengeInfo } from '../../shared/api/factors.ts';

/**
 * A held login's second step, as a service the routes call: a challenge id is the handle of a login whose
 * password Jellyfin already accepted. Each code check spends one of the challenge's attempts BEFORE
 * checking (so parallel guesses cannot exceed it), counts wrong codes per user (persisted; too many pause
 * the user's code checks) and reports them to the brute-force guard. A passed challenge releases
 * Jellyfin's own AuthenticationResult, and, when asked, a trusted-browser cookie.
 */

/** Login methods that come from the user's own factors (the rest, like "phone", are added by other concerns). */
const OWN_FACTOR_METHODS: ReadonlySet<string> = new Set(['totp', 'passkey', 'email', 'recovery', 'enroll']);

/** The browser asking: where the trusted-browser cookie goes and what it is bound to. */
export interface Browser {
  ip: string;
  userAgent: string;
  /** The request's Cookie header (a trusted-browser cookie already there is renewed, not doubled). */
  cookieHeader: string | undefined;
  /** Whether the browser came over https (the cookie is then Secure). */
  secure: boolean;
}

/** What a route answers: Jellyfin's AuthenticationResult (a cookie with it), or a refused code's 401. */
export type ChallengeAnswer =
  | { kind: 'released'; body: Buffer; contentType: string; setCookie: string | undefined }
  | { kind: 'refused'; status: 401; body: { error: 'challenge_failed' | 'invalid_code'; message: string; attemptsLeft: number } };

export interface ChallengeServiceDeps {
  config: Pick<Config, 'BaseUrl' | 'TrustedDeviceDays'>;
  factors: Factors;
  challenges: LoginChallenges;
}

export class ChallengeService {
  constructor(private readonly deps: ChallengeServiceDeps) {}

  /** Why a challenge cannot be used any more, as the catalogue's 404/410. */
  gone(row: ChallengeRow | undefined): HttpError {
    if (!row) return apiError('unknown_challenge');
    if (row.state === 'expired') return apiError('challenge_expired');
    if (row.state === 'failed') return apiError('challenge_failed', { status: 410 });
    return apiError('challenge_over');
  }

  /** A challenge in `state`, or the right 404/409/410. */
  async live(id: string, state: 'pending' | 'satisfied' = 'pending'): Promise<ChallengeRow> {
    const row = await this.deps.challenges.get(id);
    if (!row || (row.state !== 'pending' && row.state !== 'satisfied')) throw this.gone(row);
    if (row.state !== state) {
      throw apiError('challenge_state', state === 'pending' ? 'A factor was already set up: complete the sign-in.' : 'Give a second factor first.');
    }
    return row;
  }

  /** What the login page shows of a challenge: the user's factors as they are now. */
  async info(id: string): Promise<ChallengeInfo> {
    const { factors, challenges, config } = this.deps;
    const row = await challenges.get(id);
    if (!row || (row.state !== 'pending' && row.state !== 'satisfied')) throw this.gone(row);
    const stored = LoginChallenges.methodsOf(row);
    const summary = await factors.summary(row.user_id);
    // Methods the challenge was issued with beyond the user's own factors (the "phone" of server/approvals)
    // stay, first, as in the 401 body.
    const extra = stored.filter((m) => !OWN_FACTOR_METHODS.has(m));
    const methods = stored.includes('enroll') ? stored : [...extra, ...Factors.methods(summary)];
    return {
      challengeId: row.id,
      userName: row.user_name,
      state: row.state,
      methods,
      enrollMethods: stored.includes('enroll') ? factors.enrollMethods() : [],
      expiresAt: new Date(row.expires_at).toISOString(),
      attemptsLeft: challenges.attemptsLeft(row),
      trustedDeviceDays: factors.trustedBrowsers.enabled && row.device_id ? config.TrustedDeviceDays : 0,
      emailCodeSent: methods.includes('email') ? await factors.email.hasLiveLoginCode(row.user_id) : false,
      emailHint: methods.includes('email') && summary.email ? maskEmail(summary.email) : null,
    };
  }

  /** Refuse a method the challenge does not offer; enrollment only for users without any factor (else it is a bypass). */
  async offered(row: ChallengeRow, method: LoginMethod): Promise<void> {
    const summary = await this.deps.factors.summary(row.user_id);
    const methods = method === 'enroll' ? LoginChallenges.methodsOf(row) : Factors.methods(summary);
    if (!methods.includes(method)) throw apiError('method_unavailable', `This sign-in cannot use ${method}.`);
    if (method === 'enroll' && Factors.hasPrimary(summary)) {
      throw apiError('already_enrolled', 'A second factor is already set up for this account: use it.');
    }
  }

  /**
   * Before a code is checked: the user is not paused, and an attempt is spent (or none is left: 401). A
   * passkey (`guess: false`) is not held back by the user's wrong-code lock: it proves possession and
   * cannot be guessed, so the owner still signs in with it while someone's typos pause the codes.
   */
  async beginAttempt(row: ChallengeRow, opts: { guess?: boolean } = {}): Promise<void> {
    const { factors, challenges } = this.deps;
    if (opts.guess !== false) await factors.attempts.assertNotLocked(row.user_id);
    const used = await challenges.reserveAttempt(row.id, row.state);
    if (used === undefined) {
      const fresh = await challenges.get(row.id);
      if (fresh && (fresh.state === 'pending' || fresh.state === 'satisfied')) await challenges.failed(row.id);
      throw apiError('challenge_failed');
    }
  }

  /**
   * A wrong code inside a challenge: counted everywhere; 401 with attemptsLeft (0 and "challenge_failed"
   * once the challenge ended and its token was revoked).
   */
  async wrongCode(row: ChallengeRow, kind: FactorKind, ip: string, detail?: Record<string, unknown>): Promise<ChallengeAnswer> {
    const { factors, challenges } = this.deps;
    // A wrong code is a guess at the user's secret, made by someone who knew the password: it ends the
    // challenge at its own limit and counts towards the user's wrong-code lock; the address counts it only
    // at CodeFailuresPerAddress (the guard), so one person's typos never ban the household's address, and
    // the name is not locked at the guard (its owner still signs in by phone, passkey or a known device).
    // A refused passkey assertion guesses nothing (it cannot be brute-forced): it lands only on the
    // challenge and the address that sent it, so nobody can lock a name by sending bad assertions.
    const guessed = kind !== 'passkey';
    factors.recordFailure(kind, guessed ? { ip, userId: row.user_id, username: row.user_name } : { ip }, ['address']);
    const user = guessed ? await factors.attempts.fail(row.user_id) : { locked: false };
    const left = await challenges.failed(row.id);
    factors.audit({ type: 'login.challenge.failure', outcome: 'failure', ...who(row, ip), detail: { method: kind, attemptsLeft: left, ...detail } });
    if (user.locked) factors.audit({ type: 'factor.locked', outcome: 'refused', userId: row.user_id, userName: row.user_name, ip });
    const body =
      left === 0
        ? { ...errorBody('challenge_failed'), attemptsLeft: 0 }
        : { ...errorBody('invalid_code', kind === 'passkey' ? 'The passkey was not accepted.' : 'That code is not right.'), attemptsLeft: left };
    return { kind: 'refused', status: 401, body };
  }

  /** The challenge passed: Jellyfin's AuthenticationResult, and the trusted-browser cookie if asked. */
  async release(row: ChallengeRow, method: string, from: 'pending' | 'satisfied', browser: Browser, trustBrowser: boolean | undefined): Promise<ChallengeAnswer> {
    const { factors, challenges } = this.deps;
    const done = await challenges.complete(row.id, method, from);
    if (!done) throw this.gone(await challenges.get(row.id));
    await this.passed(row, done.row.method ?? method, browser.ip);
    const setCookie = trustBrowser ? await this.trustBrowser(row, browser) : undefined;
    return { kind: 'released', body: done.body, contentType: done.contentType ?? 'application/json; charset=utf-8', setCookie };
  }

  /** A held login passed its second step (here, or approved on a phone): the user's wrong codes are forgiven. */
  async passed(row: ChallengeRow, method: string, ip: string): Promise<void> {
    const { factors } = this.deps;
    await factors.attempts.succeed(row.user_id);
    factors.audit({ type: 'login.challenge.passed', outcome: 'success', ...who(row, ip), detail: { method } });
  }

  /**
   * Remember this browser for the user (its Set-Cookie value), when trusted browsers are on and the login
   * named its device; otherwise nothing.
   */
  async trustBrowser(row: ChallengeRow, browser: Browser): Promise<string | undefined> {
    const { factors, config } = this.deps;
    if (!factors.trustedBrowsers.enabled || !row.device_id) return undefined;
    const issued = await factors.trustedBrowsers.issue(
      row.user_id,
      { deviceId: row.device_id, userAgent: browser.userAgent, ip: browser.ip },
      readTrustedDeviceCookie(browser.cookieHeader),
    );
    factors.audit({
      type: 'trusted_browser.created',
      outcome: 'success',
      userId: row.user_id,
      userName: row.user_name,
      ip: browser.ip,
      deviceId: row.device_id,
      detail: { trustedBrowserId: issued.info.id, label: issued.info.label, ipPrefix: issued.info.ipPrefix },
    });
    return trustedDeviceCookie(issued.cookie, {
      maxAgeSeconds: issued.maxAgeSeconds,
      secure: browser.secure,
      path: config.BaseUrl ? `${config.BaseUrl}/` : '/',
    });
  }

  /** The shared flow of the code endpoints: offered, not paused, attempt spent, check, then release or count. */
  async verifyCode(
    id: string,
    method: 'totp' | 'recovery' | 'email',
    code: string,
    check: (row: ChallengeRow) => Promise<boolean>,
    browser: Browser,
    trustBrowser: boolean | undefined,
  ): Promise<ChallengeAnswer> {
    const row = await this.live(id);
    await this.offered(row, method);
    assertCodeShape(method, code);
    await this.beginAttempt(row);
    if (!(await check(row))) return this.wrongCode(row, method, browser.ip);
    return this.release(row, method, 'pending', browser, trustBrowser);
  }

  /** A first factor set up inside the challenge: the sign-in may now be completed. */
  async enrolled(row: ChallengeRow, kind: 'totp' | 'passkey'): Promise<void> {
    await this.deps.challenges.satisfy(row.id, `enroll:${kind}`);
  }
}

/** Whose sign-in an audit event is about, and from where. */
function who(row: ChallengeRow, ip: string) {
  return { userId: row.user_id, userName: row.user_name, ip, deviceId: row.device_id, deviceName: row.device_name, client: row.client };
}

/** "j***@example.org" */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '***';
  return `${email[0]}***${email.slice(at)}`;
}
