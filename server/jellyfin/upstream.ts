import type { JellyfinProxy } from './proxy.ts';
import { field, stringField, tryParseJson } from './json.ts';

const GATEWAY_DEVICE = 'Client="Jellyguard", Device="Gateway", DeviceId="jellyguard-gateway", Version="1"';

/** Authorization header value in Jellyfin's own grammar, with values URL-encoded as the SDK does. */
export function mediaBrowserHeader(token?: string): string {
  return token ? `MediaBrowser ${GATEWAY_DEVICE}, Token="${encodeURIComponent(token)}"` : `MediaBrowser ${GATEWAY_DEVICE}`;
}

export interface JellyfinApiKey {
  accessToken: string;
  appName: string | undefined;
}

/**
 * The gateway's own calls to Jellyfin (not on the per-request path). All paths are given without the
 * BaseUrl; it is added here.
 */
export class JellyfinClient {
  constructor(
    private readonly proxy: JellyfinProxy,
    private readonly baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {}

  get hasApiKey(): boolean {
    return !!this.apiKey;
  }

  private async call(method: string, path: string, token: string | undefined, body?: unknown, extra?: Record<string, string>) {
    const headers: Record<string, string> = { authorization: mediaBrowserHeader(token), accept: 'application/json', ...extra };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.proxy.request({
      method,
      path: this.baseUrl + path,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      maxResponseBytes: 4 * 1024 * 1024,
      timeoutMs: 10_000,
    });
  }

  /** Every API key Jellyfin knows (`GET /Auth/Keys`, admin). Throws when the list cannot be read. */
  async listApiKeys(): Promise<JellyfinApiKey[]> {
    if (!this.apiKey) throw new Error('JELLYFIN_API_KEY is not set');
    const res = await this.call('GET', '/Auth/Keys', this.apiKey);
    if (res.status !== 200) throw new Error(`GET /Auth/Keys answered ${res.status}`);
    const items = field(tryParseJson(res.body.toString('utf8')), 'Items');
    if (!Array.isArray(items)) throw new Error('GET /Auth/Keys: no Items array');
    return items.flatMap((it) => {
      const accessToken = stringField(it, 'AccessToken');
      return accessToken ? [{ accessToken, appName: stringField(it, 'AppName') }] : [];
    });
  }

  /** `GET /Users/Me` with a token: 200 → the user, 400 → an API key, anything else → not valid. */
  async whoAmI(token: string): Promise<{ kind: 'user'; user: unknown } | { kind: 'apikey' } | { kind: 'invalid' }> {
    const res = await this.call('GET', '/Users/Me', token);
    if (res.status === 200) return { kind: 'user', user: tryParseJson(res.body.toString('utf8')) };
    if (res.status === 400) return { kind: 'apikey' };
    return { kind: 'invalid' };
  }

  /** Revoke a session at Jellyfin with its own token (`POST /Sessions/Logout`). */
  async logout(token: string): Promise<boolean> {
    const res = await this.call('POST', '/Sessions/Logout', token);
    return res.status === 204 || res.status === 200;
  }

  /** Delete a device and its token with the gateway's API key (`DELETE /Devices?id=`). */
  async deleteDevice(deviceId: string): Promise<boolean> {
    if (!this.apiKey) return false;
    const res = await this.call('DELETE', `/Devices?id=${encodeURIComponent(deviceId)}`, this.apiKey);
    return res.status === 204 || res.status === 200;
  }

  /**
   * Authorise a waiting Quick Connect code for a user with the gateway's API key
   * (`POST /QuickConnect/Authorize?code=&userId=`, JELLYFIN.md §4): Jellyfin signs the waiting device in
   * as that user. True only for Jellyfin's `true`; false without an API key or for any other answer.
   */
  async authorizeQuickConnect(code: string, userId: string): Promise<boolean> {
    if (!this.apiKey) return false;
    const q = `code=${encodeURIComponent(code)}&userId=${encodeURIComponent(userId)}`;
    const res = await this.call('POST', `/QuickConnect/Authorize?${q}`, this.apiKey);
    return res.status === 200 && res.body.toString('utf8').trim() === 'true';
  }

  /** A user's record from Jellyfin (`GET /Users/{id}`) using the API key. */
  /**
   * A small JSON read at Jellyfin (`GET {path}`), with the gateway's API key, or with `token` (the caller's
   * own) when no key is configured; undefined when it cannot be read.
   */
  async getJson(path: string, token?: string): Promise<unknown | undefined> {
    const use = this.apiKey || token;
    if (!use) return undefined;
    const res = await this.call('GET', path, use);
    return res.status === 200 ? tryParseJson(res.body.toString('utf8')) : undefined;
  }

  async getUser(userId: string): Promise<unknown | undefined> {
    if (!this.apiKey) return undefined;
    const res = await this.call('GET', `/Users/${userId}`, this.apiKey);
    return res.status === 200 ? tryParseJson(res.body.toString('utf8')) : undefined;
  }

  /**
   * Check a user's password at Jellyfin, for a step-up of an account with no other factor: a login
   * (`POST /Users/AuthenticateByName`) whose session is ended at once. `forwardedFor` is the person's
   * address, so Jellyfin's own log shows who tried. 401/403 from Jellyfin: not accepted.
   */
  async checkPassword(userName: string, password: string, forwardedFor: string): Promise<{ ok: true; userId: string } | { ok: false; status: number }> {
    const res = await this.proxy.request({
      method: 'POST',
      path: `${this.baseUrl}/Users/AuthenticateByName`,
      headers: {
        authorization: 'MediaBrowser Client="Jellyguard", Device="Password check", DeviceId="jellyguard-password-check", Version="1"',
        accept: 'application/json',
        'accept-encoding': 'identity',
        'content-type': 'application/json',
        'x-forwarded-for': forwardedFor,
      },
      body: JSON.stringify({ Username: userName, Pw: password }),
      maxResponseBytes: 1024 * 1024,
      timeoutMs: 10_000,
    });
    if (res.status !== 200) return { ok: false, status: res.status };
    const json = tryParseJson(res.body.toString('utf8'));
    const token = stringField(json, 'AccessToken');
    const userId = stringField(field(json, 'User'), 'Id');
    if (token) await this.logout(token).catch(() => false); // the check must not leave a session behind
    return userId ? { ok: true, userId } : { ok: false, status: 502 };
  }
}
