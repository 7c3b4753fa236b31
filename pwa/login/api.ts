/**
 * The HTTP calls of the web login page: Jellyfin's public endpoints and the login, then the challenge
 * endpoints declared in shared/api/endpoints.ts (paths and answers come from there; every answer is
 * checked with its schema before the page sees it). Every failure becomes an ApiError carrying the
 * server's stable code, so one function (messages.ts) words it.
 */
import { z } from 'zod';
import { ENDPOINTS, gatewayPath, pathOf } from '../../shared/api/endpoints.ts';
import type { LoginApprovalPending, LoginApprovalStarted, PhoneSignInStarted } from '../../shared/api/approvals.ts';
import type { TotpEnrollment } from '../../shared/api/factors.ts';
import { ChallengeSchema, ChallengeStateSchema, type Challenge, type ChallengeState } from '../common/challenge.ts';
import { ApiError, errorBodyOf, retryAfterOf } from '../common/errors.ts';
import { creationOptionsOf, requestOptionsOf } from '../common/passkey.ts';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '../common/passkey.ts';

export type ChallengeInfo = ChallengeState;
export type { Challenge, LoginApprovalStarted, TotpEnrollment };
export type LoginOptions = z.infer<typeof ENDPOINTS.LoginOptions.response>;

// ── Jellyfin's own public answers: only the fields this page reads (Jellyfin may send null for any) ──

/** `GET /System/Info/Public`. */
export const PublicServerInfoSchema = z.looseObject({
  Id: z.string().nullish(),
  ServerName: z.string().nullish(),
  Version: z.string().nullish(),
  LocalAddress: z.string().nullish(),
  StartupWizardCompleted: z.boolean().nullish(),
});
export type PublicServerInfo = z.infer<typeof PublicServerInfoSchema>;

/** `GET /Branding/Configuration`. */
const BrandingSchema = z.looseObject({ LoginDisclaimer: z.string().nullish() });

export type PasswordOutcome = { kind: 'signed_in'; result: unknown } | { kind: 'challenge'; challenge: Challenge };

type Fetch = typeof fetch;

/** An answer this page cannot use: never act on half of one. */
const badResponse = (status: number) => new ApiError(status, 'bad_response', 'The server sent an answer this page does not understand.');

/** What a long poll for the phone's answer gives: the session, or still pending. */
type LongPollAnswer = { kind: 'signed_in'; result: unknown } | { kind: 'pending'; pending: LoginApprovalPending };

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
      throw new ApiError(0, 'network', 'The server could not be reached.');
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

  /** An error answer as an ApiError: the gateway's `{error, message, …}` when it sent one. */
  private static errorOf(res: Response, json: unknown): ApiError | undefined {
    const body = errorBodyOf(json);
    return body ? new ApiError(res.status, body.error, body.message, body, retryAfterOf(res)) : undefined;
  }

  private static async failure(res: Response): Promise<ApiError> {
    return LoginApi.errorOf(res, await LoginApi.json(res)) ?? new ApiError(res.status, `http_${res.status}`, '', {}, retryAfterOf(res));
  }

  /** GET `path` (or POST `body` to it, as JSON) and check the JSON answer with `schema`. */
  private async call<S extends z.ZodType>(path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const res = await this.send(
      path,
      body === undefined
        ? { headers: { accept: 'application/json' } }
        : { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(body) },
    );
    if (!res.ok) throw await LoginApi.failure(res);
    const parsed = schema.safeParse(await LoginApi.json(res));
    if (!parsed.success) throw badResponse(res.status);
    return parsed.data;
  }

  /** Jellyfin's AuthenticationResult (the gateway passes it on byte for byte; session.ts reads it). */
  private async signedIn(path: string, body: unknown): Promise<unknown> {
    const res = await this.send(path, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw await LoginApi.failure(res);
    const result = await LoginApi.json(res);
    if (result === undefined) throw badResponse(res.status);
    return result;
  }

  /** The path of a gateway endpoint below the BaseUrl. */
  private static at(path: string): string {
    return gatewayPath('', path);
  }

  // ── Jellyfin (public) ──

  publicInfo(): Promise<PublicServerInfo> {
    return this.call('/System/Info/Public', PublicServerInfoSchema);
  }

  async branding(): Promise<{ LoginDisclaimer?: string | null }> {
    return this.call('/Branding/Configuration', BrandingSchema).catch(() => ({}));
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
    const json = await LoginApi.json(res);
    if (res.ok) {
      if (json === undefined) throw badResponse(res.status);
      return { kind: 'signed_in', result: json };
    }
    const challenge = res.status === 401 ? ChallengeSchema.safeParse(json) : undefined;
    if (challenge?.success) return { kind: 'challenge', challenge: challenge.data };
    const err = LoginApi.errorOf(res, json);
    if (err) throw err;
    if (res.status === 401) throw new ApiError(401, 'wrong_password', '');
    if (res.status === 403) throw new ApiError(403, 'not_allowed', '');
    throw new ApiError(res.status, `http_${res.status}`, '');
  }

  // ── The challenge ──

  loginOptions(): Promise<LoginOptions> {
    return this.call(LoginApi.at(pathOf(ENDPOINTS.LoginOptions)), ENDPOINTS.LoginOptions.response);
  }

  challenge(challengeId: string): Promise<ChallengeInfo> {
    return this.call(LoginApi.at(pathOf(ENDPOINTS.Challenge, { challengeId })), ChallengeStateSchema);
  }

  /** TOTP, recovery and e-mail codes: Jellyfin's AuthenticationResult on success. */
  verifyCode(method: 'totp' | 'recovery' | 'email', challengeId: string, code: string, trustBrowser: boolean): Promise<unknown> {
    const e = method === 'totp' ? ENDPOINTS.VerifyTOTP : method === 'recovery' ? ENDPOINTS.VerifyRecoveryCode : ENDPOINTS.VerifyEmailOTP;
    return this.signedIn(LoginApi.at(pathOf(e)), { challengeId, code, trustBrowser });
  }

  sendEmailCode(challengeId: string): Promise<unknown> {
    const e = ENDPOINTS.SendEmailOTP;
    return this.call(LoginApi.at(pathOf(e)), e.response, { challengeId });
  }

  async passkeyOptions(challengeId: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const e = ENDPOINTS.VerifyPasskeyOptions;
    return requestOptionsOf(await this.call(LoginApi.at(pathOf(e)), e.response, { challengeId }));
  }

  verifyPasskey(challengeId: string, response: unknown, trustBrowser: boolean): Promise<unknown> {
    return this.signedIn(LoginApi.at(pathOf(ENDPOINTS.VerifyPasskey)), { challengeId, response, trustBrowser });
  }

  // ── Sign in with a passkey alone, and single sign-on (no user name, no password) ──

  async passkeySignInOptions(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const e = ENDPOINTS.PasskeySignInOptions;
    return requestOptionsOf(await this.call(LoginApi.at(pathOf(e)), e.response, {}));
  }

  /** The assertion, sent as jellyfin-web (its Authorization header names the device): Jellyfin's AuthenticationResult. */
  async passkeySignIn(response: unknown, authorization: string): Promise<unknown> {
    const res = await this.send(LoginApi.at(pathOf(ENDPOINTS.PasskeySignIn)), {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json', authorization },
      body: JSON.stringify({ response }),
    });
    if (!res.ok) throw await LoginApi.failure(res);
    const result = await LoginApi.json(res);
    if (result === undefined) throw badResponse(res.status);
    return result;
  }

  /** The single sign-on providers to offer (none when the server has none or cannot say). */
  async ssoProviders(): Promise<Array<{ id: string; buttonText: string }>> {
    const e = ENDPOINTS.OIDCProviders;
    return (await this.call(LoginApi.at(pathOf(e)), e.response)).providers;
  }

  /** Where a provider's button goes: the gateway sends the browser on to the provider, then back to `returnTo`. */
  ssoAuthorizeUrl(providerId: string, returnTo: string): string {
    const q = new URLSearchParams({ providerId, return: returnTo });
    return `${this.base}${LoginApi.at(pathOf(ENDPOINTS.OIDCAuthorize))}?${q.toString()}`;
  }

  // ── Approve on the phone (shared/api/approvals.ts, "The login page") ──

  /** Start (or get back) the phone approval of this sign-in: the 2 digits to show. */
  /**
   * Give up the challenge's phone approval (and, unless `leaving`, the challenge). `leaving`: the page is
   * closing or reloading, so the request goes as a beacon, which outlives the page. Best effort: nothing
   * to report when it fails (the approval then expires on its own).
   */
  cancelPhoneApproval(challengeId: string, leaving: boolean): void {
    const url = this.base + LoginApi.at(pathOf(ENDPOINTS.ApprovalsLoginCancel));
    const body = JSON.stringify({ challengeId, leaving });
    if (leaving && typeof navigator !== 'undefined' && navigator.sendBeacon?.(url, new Blob([body], { type: 'application/json' }))) return;
    void this.send(LoginApi.at(pathOf(ENDPOINTS.ApprovalsLoginCancel)), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      keepalive: true,
    }).catch(() => undefined);
  }

  startPhoneApproval(challengeId: string): Promise<LoginApprovalStarted> {
    const e = ENDPOINTS.ApprovalsLogin;
    return this.call(LoginApi.at(pathOf(e)), e.response, { challengeId });
  }

  /**
   * Wait (long poll, up to `waitSeconds`) for the phone: Jellyfin's AuthenticationResult once approved,
   * or still pending. A denied, reported or expired approval is an ApiError (410).
   */
  /**
   * Sign in with the phone alone: the 2 digits to show and the request to wait for. The answer is the same
   * whether or not the user exists or has a phone (a request that asked nobody just never completes).
   */
  async startPhoneSignIn(userName: string, authorization: string): Promise<PhoneSignInStarted> {
    const e = ENDPOINTS.PhoneSignIn;
    const res = await this.send(LoginApi.at(pathOf(e)), {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json', authorization },
      body: JSON.stringify({ userName }),
    });
    if (!res.ok) throw await LoginApi.failure(res);
    const parsed = e.response.safeParse(await LoginApi.json(res));
    if (!parsed.success) throw badResponse(res.status);
    return parsed.data;
  }

  /** Wait (long poll) for the phone: Jellyfin's AuthenticationResult of a new session once approved. */
  phoneSignInStatus(requestId: string, waitSeconds: number, authorization: string, signal: AbortSignal): Promise<LongPollAnswer> {
    return this.#longPoll(ENDPOINTS.PhoneSignInStatus, { requestId, waitSeconds }, signal, { authorization });
  }

  phoneApprovalStatus(challengeId: string, waitSeconds: number, trustBrowser: boolean, signal: AbortSignal): Promise<LongPollAnswer> {
    return this.#longPoll(ENDPOINTS.ApprovalsLoginStatus, { challengeId, waitSeconds, trustBrowser }, signal);
  }

  /** A long poll for a phone's answer: 202 while it waits (checked with the endpoint's schema), else the session. */
  async #longPoll(
    e: typeof ENDPOINTS.PhoneSignInStatus | typeof ENDPOINTS.ApprovalsLoginStatus,
    body: unknown,
    signal: AbortSignal,
    extraHeaders: Record<string, string> = {},
  ): Promise<LongPollAnswer> {
    const res = await this.send(LoginApi.at(pathOf(e)), {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json', ...extraHeaders },
      body: JSON.stringify(body),
      signal,
    });
    if (!res.ok) throw await LoginApi.failure(res);
    const answer = await LoginApi.json(res);
    if (res.status === 202) {
      const pending = e.response.safeParse(answer);
      if (!pending.success) throw badResponse(res.status);
      return { kind: 'pending', pending: pending.data };
    }
    if (answer === undefined) throw badResponse(res.status);
    return { kind: 'signed_in', result: answer };
  }

  // ── Enrollment inside a challenge (methods ["enroll"]) ──

  enrollTotp(challengeId: string): Promise<TotpEnrollment> {
    const e = ENDPOINTS.ChallengeEnrollTOTP;
    return this.call(LoginApi.at(pathOf(e)), e.response, { challengeId });
  }

  confirmTotp(challengeId: string, code: string): Promise<{ status: 'enrolled'; recoveryCodes: string[] }> {
    const e = ENDPOINTS.ChallengeEnrollTOTPConfirm;
    return this.call(LoginApi.at(pathOf(e)), e.response, { challengeId, code });
  }

  async enrollPasskeyOptions(challengeId: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const e = ENDPOINTS.ChallengeEnrollPasskeyOptions;
    return creationOptionsOf(await this.call(LoginApi.at(pathOf(e)), e.response, { challengeId }));
  }

  enrollPasskey(challengeId: string, response: unknown, name: string): Promise<{ status: 'enrolled'; recoveryCodes: string[] }> {
    const e = ENDPOINTS.ChallengeEnrollPasskey;
    return this.call(LoginApi.at(pathOf(e)), e.response, { challengeId, response, name });
  }

  complete(challengeId: string, trustBrowser: boolean): Promise<unknown> {
    return this.signedIn(LoginApi.at(pathOf(ENDPOINTS.ChallengeComplete)), { challengeId, trustBrowser });
  }
}
