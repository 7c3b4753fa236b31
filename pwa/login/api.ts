/**
 * The HTTP calls of the web login page: Jellyfin's public endpoints and the login, then the challenge
 * endpoints of shared/api/factors.ts (every path under `{BaseUrl}/JellyfinSecurity/`). Every failure
 * becomes a LoginError carrying the server's stable code, so one function (login-messages.ts) words it.
 */
import type {
  ChallengeInfo,
  LoginMethod,
  SecondFactorRequired,
  TotpEnrollment,
} from '../../shared/api/factors.ts';
import type { LoginApprovalPending, LoginApprovalStarted } from '../../shared/api/approvals.ts';
import type { PublicServerInfo } from './session.ts';

export type { ChallengeInfo, LoginApprovalStarted, LoginMethod, SecondFactorRequired, TotpEnrollment };

/** `GET LoginOptions` (shared/api/factors.ts LoginOptionsSchema). */
export interface LoginOptions {
  totp: boolean;
  passkeys: boolean;
  email: boolean;
  recoveryCodes: boolean;
  totpInPassword: boolean;
  trustedDeviceDays: number;
  showBuiltIn2FAButton: boolean;
  showBuiltInPasskeyButton: boolean;
}

export class LoginError extends Error {
  constructor(
    /** 0 when the server was not reached at all. */
    readonly status: number,
    /** The server's error code, or one of ours: network, wrong_password, not_allowed, bad_response, http_<status>. */
    readonly code: string,
    message: string,
    readonly attemptsLeft?: number,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'LoginError';
  }
}

const CHALLENGE_ID = /^[A-Za-z0-9_-]{22}$/;

function isChallenge(json: unknown): json is SecondFactorRequired {
  const c = json as SecondFactorRequired | null;
  return !!c && c.error === 'second_factor_required' && typeof c.challengeId === 'string' && CHALLENGE_ID.test(c.challengeId) && Array.isArray(c.methods);
}

export type PasswordOutcome = { kind: 'signed_in'; result: unknown } | { kind: 'challenge'; challenge: SecondFactorRequired };

type Fetch = typeof fetch;

export class LoginApi {
  /** `base` is the BaseUrl ('' or like '/jellyfin'); requests are same-origin. */
  constructor(
    readonly base: string,
    private readonly fetchImpl: Fetch = (...a) => fetch(...a),
  ) {}

  private async send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(this.base + path, { credentials: 'same-origin', cache: 'no-store', ...init });
    } catch (e) {
      if (init.signal?.aborted) throw e; // the page stopped waiting itself: not a network failure
      throw new LoginError(0, 'network', 'The server could not be reached.');
    }
  }

  private static async json(res: Response): Promise<unknown> {
    const text = await res.text().catch(() => '');
    if (!text) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  /** Turn a failed answer into a LoginError with the server's code (JSON `{error, message, …}`) if any. */
  private static async failure(res: Response): Promise<LoginError> {
    const body = (await LoginApi.json(res)) as { error?: unknown; message?: unknown; attemptsLeft?: unknown } | undefined;
    const retry = Number(res.headers.get('retry-after'));
    const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
    if (body && typeof body.error === 'string') {
      return new LoginError(
        res.status,
        body.error,
        typeof body.message === 'string' ? body.message : '',
        typeof body.attemptsLeft === 'number' ? body.attemptsLeft : undefined,
        retryAfter,
      );
    }
    return new LoginError(res.status, `http_${res.status}`, '', undefined, retryAfter);
  }

  private async getJson<T>(path: string, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.send(path, { headers: { accept: 'application/json', ...headers } });
    if (!res.ok) throw await LoginApi.failure(res);
    const body = await LoginApi.json(res);
    if (body === undefined) throw new LoginError(res.status, 'bad_response', 'The server sent an answer this page does not understand.');
    return body as T;
  }

  private async postJson<T>(path: string, body: unknown): Promise<T> {
    const res = await this.send(path, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw await LoginApi.failure(res);
    return (await LoginApi.json(res)) as T;
  }

  // ── Jellyfin (public) ──

  publicInfo(): Promise<PublicServerInfo> {
    return this.getJson<PublicServerInfo>('/System/Info/Public');
  }

  async branding(): Promise<{ LoginDisclaimer?: string }> {
    return this.getJson<{ LoginDisclaimer?: string }>('/Branding/Configuration').catch(() => ({}));
  }

  /**
   * The password, as jellyfin-web sends it. 200: signed in (no second factor needed, or this browser is
   * trusted). 401 with `second_factor_required`: the challenge. 401 otherwise: wrong user name or password
   * (Jellyfin answers that in plain text). 403 from Jellyfin (plain text): the account may not sign in now.
   */
  async authenticate(username: string, password: string, authorization: string): Promise<PasswordOutcome> {
    const res = await this.send('/Users/AuthenticateByName', {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json', authorization },
      body: JSON.stringify({ Username: username, Pw: password }),
    });
    if (res.ok) {
      const result = await LoginApi.json(res);
      if (result === undefined) throw new LoginError(res.status, 'bad_response', 'The server sent an answer this page does not understand.');
      return { kind: 'signed_in', result };
    }
    const text = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
    if (res.status === 401 && isChallenge(json)) return { kind: 'challenge', challenge: json };
    const err = json as { error?: unknown; message?: unknown } | undefined;
    if (err && typeof err.error === 'string') {
      const retry = Number(res.headers.get('retry-after'));
      throw new LoginError(res.status, err.error, typeof err.message === 'string' ? err.message : '', undefined, Number.isFinite(retry) && retry > 0 ? retry : undefined);
    }
    if (res.status === 401) throw new LoginError(401, 'wrong_password', '');
    if (res.status === 403) throw new LoginError(403, 'not_allowed', '');
    throw new LoginError(res.status, `http_${res.status}`, '');
  }

  // ── The challenge (shared/api/factors.ts) ──

  loginOptions(): Promise<LoginOptions> {
    return this.getJson<LoginOptions>('/JellyfinSecurity/LoginOptions');
  }

  challenge(challengeId: string): Promise<ChallengeInfo> {
    return this.getJson<ChallengeInfo>(`/JellyfinSecurity/Challenge/${encodeURIComponent(challengeId)}`);
  }

  /** TOTP, recovery and e-mail codes: Jellyfin's AuthenticationResult on success. */
  verifyCode(method: 'totp' | 'recovery' | 'email', challengeId: string, code: string, trustBrowser: boolean): Promise<unknown> {
    const path = method === 'totp' ? 'VerifyTOTP' : method === 'recovery' ? 'VerifyRecoveryCode' : 'VerifyEmailOTP';
    return this.postJson(`/JellyfinSecurity/${path}`, { challengeId, code, trustBrowser });
  }

  sendEmailCode(challengeId: string): Promise<unknown> {
    return this.postJson('/JellyfinSecurity/SendEmailOTP', { challengeId });
  }

  passkeyOptions(challengeId: string): Promise<unknown> {
    return this.postJson('/JellyfinSecurity/VerifyPasskey/Options', { challengeId });
  }

  verifyPasskey(challengeId: string, response: unknown, trustBrowser: boolean): Promise<unknown> {
    return this.postJson('/JellyfinSecurity/VerifyPasskey', { challengeId, response, trustBrowser });
  }

  // ── Approve on the phone (shared/api/approvals.ts, "The login page") ──

  /** Start (or get back) the phone approval of this sign-in: the 2 digits to show. */
  startPhoneApproval(challengeId: string): Promise<LoginApprovalStarted> {
    return this.postJson<LoginApprovalStarted>('/JellyfinSecurity/Approvals/Login', { challengeId });
  }

  /**
   * Wait (long poll, up to `waitSeconds`) for the phone: Jellyfin's AuthenticationResult once approved,
   * or still pending. A denied, reported or expired approval is a LoginError (410).
   */
  async phoneApprovalStatus(
    challengeId: string,
    waitSeconds: number,
    trustBrowser: boolean,
    signal: AbortSignal,
  ): Promise<{ kind: 'signed_in'; result: unknown } | { kind: 'pending'; pending: LoginApprovalPending }> {
    const res = await this.send('/JellyfinSecurity/Approvals/Login/Status', {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify({ challengeId, waitSeconds, trustBrowser }),
      signal,
    });
    if (!res.ok) throw await LoginApi.failure(res);
    const body = await LoginApi.json(res);
    if (res.status === 202) return { kind: 'pending', pending: body as LoginApprovalPending };
    if (body === undefined) throw new LoginError(res.status, 'bad_response', 'The server sent an answer this page does not understand.');
    return { kind: 'signed_in', result: body };
  }

  // ── Enrollment inside a challenge (methods ["enroll"]) ──

  enrollTotp(challengeId: string): Promise<TotpEnrollment> {
    return this.postJson<TotpEnrollment>('/JellyfinSecurity/Challenge/EnrollTOTP', { challengeId });
  }

  confirmTotp(challengeId: string, code: string): Promise<{ status: 'enrolled'; recoveryCodes: string[] }> {
    return this.postJson('/JellyfinSecurity/Challenge/EnrollTOTP/Confirm', { challengeId, code });
  }

  enrollPasskeyOptions(challengeId: string): Promise<unknown> {
    return this.postJson('/JellyfinSecurity/Challenge/EnrollPasskey/Options', { challengeId });
  }

  enrollPasskey(challengeId: string, response: unknown, name: string): Promise<{ status: 'enrolled'; recoveryCodes: string[] }> {
    return this.postJson('/JellyfinSecurity/Challenge/EnrollPasskey', { challengeId, response, name });
  }

  complete(challengeId: string, trustBrowser: boolean): Promise<unknown> {
    return this.postJson('/JellyfinSecurity/Challenge/Complete', { challengeId, trustBrowser });
  }
}
