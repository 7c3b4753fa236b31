import type { AuditSink } from '../audit/index.ts';
import { HttpError } from '../errors.ts';
import type { ApiErrorCode } from '../../shared/api/errors.ts';
import { field, stringField, tryParseJson } from '../jellyfin/json.ts';
import type { JellyfinProxy } from '../jellyfin/proxy.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import { isStorageUnavailable } from '../store/data-dir.ts';
import { parseAuthenticationResult, type AuthenticationResult } from './result.ts';

/** The four fields of the browser's own `Authorization: MediaBrowser …` header (its identity at Jellyfin). */
export interface DeviceFields {
  client: string;
  device: string;
  deviceId: string;
  version: string;
}

export interface MintRequest {
  /** The Jellyfin user the gateway has authenticated by itself (passkey, phone, an OIDC provider). */
  userId: string;
  /** The browser the session is for: Jellyfin opens the session under these fields. */
  device: DeviceFields;
  /** The person's address, forwarded so Jellyfin's own log and session show it. */
  ip: string;
  /** How the gateway authenticated the user (`oidc`, `passkey`, `phone`): kept with the token, audited. */
  method: string;
  /**
   * The session still needs the gateway's own second factor: its token is NOT recorded as verified here
   * (the caller holds it behind a login challenge, which records it as pending; until then the gate
   * refuses it as unknown).
   */
  hold?: boolean;
}

export interface MintedSession {
  /** What the gateway read from Jellyfin's answer. */
  result: AuthenticationResult;
  /** Jellyfin's own AuthenticationResult, unchanged, for the browser to store as jellyfin-web does. */
  body: unknown;
}

export interface MintDeps {
  proxy: JellyfinProxy;
  jellyfin: JellyfinClient;
  tokens: TokenRegistry;
  users: UserDirectory;
  /** Jellyfin's BaseUrl ('' or like '/jellyfin'). */
  baseUrl: string;
  log: (msg: string) => void;
  audit: AuditSink;
}

/** A value that cannot break the header's grammar, URL-encoded as @jellyfin/sdk sends it (Jellyfin decodes). */
function headerValue(s: string): string {
  return encodeURIComponent(s.replace(/[\r\n]/g, ' ').trim());
}

export function deviceHeader(d: DeviceFields): string {
  return `MediaBrowser Client="${headerValue(d.client)}", Device="${headerValue(d.device)}", DeviceId="${headerValue(d.deviceId)}", Version="${headerValue(d.version)}"`;
}

/**
 * A Jellyfin session for a user the gateway authenticated itself, with no password (Jellyfin has no
 * "log this user in" call for an API key; Quick Connect is the one documented way, JELLYFIN.md §4):
 *
 *   1. `POST /QuickConnect/Initiate` as the browser (its Client, Device, DeviceId, Version), so the session
 *      Jellyfin opens is the browser's own and a later login of the same device replaces it;
 *   2. `POST /QuickConnect/Authorize?code=&userId=` with the gateway's API key. Jellyfin's controller
 *      (RequestHelpers.GetUserId) lets an administrator principal name another user, and an API key is
 *      one (10.10, 10.11 and 12.0 alike); without `userId` an API key would name no user at all;
 *   3. `POST /Users/AuthenticateWithQuickConnect {Secret}` as the browser: Jellyfin's AuthenticationResult.
 *
 * The calls go straight to Jellyfin, never through the gateway's own Quick Connect interceptor, and the
 * secret never leaves this function, so nobody else can collect the session; its token is recorded as
 * verified before anyone sees it. Quick Connect off at Jellyfin, or no API key: a clear 503, a log line.
 */
export class SessionMinter {
  constructor(private readonly deps: MintDeps) {}

  private async call(method: string, path: string, authorization: string, ip: string, body?: unknown) {
    const headers: Record<string, string> = { authorization, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.deps.proxy.request({
      method,
      path: this.deps.baseUrl + path,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      info: { clientIp: ip, proto: 'http', host: undefined },
      maxResponseBytes: 1024 * 1024,
      timeoutMs: 10_000,
    });
  }

  private fail(req: MintRequest, status: number, code: ApiErrorCode, message: string, why: string): HttpError {
    this.deps.log(`cannot sign ${req.userId} in by ${req.method}: ${why}`);
    this.deps.audit.record({
      type: 'session.mint.failed', outcome: 'failure', userId: req.userId, ip: req.ip,
      deviceId: req.device.deviceId, deviceName: req.device.device, client: req.device.client,
      detail: { method: req.method, reason: code },
    });
    return new HttpError(status, code, message, {}, true); // the person must read why, 5xx included
  }

  async mint(req: MintRequest): Promise<MintedSession> {
    const d = req.device;
    if (!d.client || !d.device || !d.deviceId || !d.version) {
      throw new HttpError(400, 'invalid_request', 'The browser must name its Client, Device, DeviceId and Version.');
    }
    if (!this.deps.jellyfin.hasApiKey) {
      throw this.fail(req, 503, 'sso_needs_api_key',
        'Signing in without a password needs the gateway\'s Jellyfin API key (JELLYFIN_API_KEY). Please tell the server\'s administrator; signing in with your password still works.',
        'JELLYFIN_API_KEY is not set');
    }
    // Quick Connect signs a disabled user in as well (AuthenticateDirect checks no policy): refuse first.
    const user = await this.deps.jellyfin.getUser(req.userId);
    if (!user) throw this.fail(req, 403, 'user_unknown', 'Your Jellyfin account was not found.', 'Jellyfin does not know the user');
    if (field(field(user, 'Policy'), 'IsDisabled') === true) {
      throw this.fail(req, 403, 'user_disabled', 'Your Jellyfin account is disabled. Please ask the server\'s administrator.', 'the user is disabled at Jellyfin');
    }

    const asBrowser = deviceHeader(d);
    const initiated = await this.call('POST', '/QuickConnect/Initiate', asBrowser, req.ip);
    if (initiated.status === 401) throw this.quickConnectOff(req);
    if (initiated.status !== 200) {
      throw this.fail(req, 502, 'mint_failed', 'Jellyfin could not start a session. Please try again.', `Quick Connect Initiate answered ${initiated.status}`);
    }
    const started = tryParseJson(initiated.body.toString('utf8'));
    const code = stringField(started, 'Code');
    const secret = stringField(started, 'Secret');
    if (!code || !secret) throw this.fail(req, 502, 'mint_failed', 'Jellyfin could not start a session. Please try again.', 'Quick Connect Initiate gave no code');

    if (!(await this.deps.jellyfin.authorizeQuickConnect(code, req.userId))) {
      if (!(await this.quickConnectEnabled())) throw this.quickConnectOff(req);
      throw this.fail(req, 502, 'mint_failed', 'Jellyfin refused to start a session for your account.', 'Quick Connect Authorize with the API key was refused');
    }

    const exchanged = await this.call('POST', '/Users/AuthenticateWithQuickConnect', asBrowser, req.ip, { Secret: secret });
    if (exchanged.status === 401) throw this.quickConnectOff(req);
    const result = exchanged.status === 200 ? parseAuthenticationResult(exchanged.body) : undefined;
    if (!result || result.userId !== req.userId) {
      if (result) await this.deps.jellyfin.logout(result.accessToken).catch(() => false);
      throw this.fail(req, 502, 'mint_failed', 'Jellyfin could not start a session. Please try again.', `the Quick Connect exchange answered ${exchanged.status}`);
    }

    try {
      await this.deps.users.upsert({ id: result.userId, name: result.userName, isAdmin: result.isAdmin });
      if (!req.hold) await this.deps.tokens.record(result.accessToken, {
        userId: result.userId,
        deviceId: result.deviceId ?? d.deviceId,
        deviceName: result.deviceName ?? d.device,
        client: result.client ?? d.client,
        appVersion: result.appVersion ?? d.version,
        ip: req.ip,
        method: req.method,
      });
    } catch (e) {
      // A token nobody could revoke must not stay alive at Jellyfin.
      await this.deps.jellyfin.logout(result.accessToken).catch(() => false);
      if (!isStorageUnavailable(e)) throw e;
      throw this.fail(req, 503, 'cannot_save_signin', 'The server cannot save sign-ins right now. Please try again later.', 'storage refused the token');
    }
    this.deps.audit.record({
      type: 'session.minted', outcome: 'success', userId: result.userId, userName: result.userName, ip: req.ip,
      deviceId: result.deviceId ?? d.deviceId, deviceName: result.deviceName ?? d.device, client: result.client ?? d.client,
      detail: req.hold ? { method: req.method, held: true } : { method: req.method },
    });
    return { result, body: tryParseJson(exchanged.body.toString('utf8')) };
  }

  private async quickConnectEnabled(): Promise<boolean> {
    const res = await this.call('GET', '/QuickConnect/Enabled', 'MediaBrowser Client="Jellyguard"', '127.0.0.1').catch(() => undefined);
    return res?.status === 200 && res.body.toString('utf8').trim() === 'true';
  }

  private quickConnectOff(req: MintRequest): HttpError {
    return this.fail(req, 503, 'quick_connect_disabled',
      'Signing in without a password needs Quick Connect, which is turned off in Jellyfin (Dashboard → General → Quick Connect). Please tell the server\'s administrator; signing in with your password still works.',
      'Quick Connect is disabled at Jellyfin');
  }
}
