import { Jellyfin } from '@jellyfin/sdk/lib/jellyfin.js';
import type { Api } from '@jellyfin/sdk/lib/api.js';
import { getUserApi } from '@jellyfin/sdk/lib/utils/api/user-api.js';
import { getQuickConnectApi } from '@jellyfin/sdk/lib/utils/api/quick-connect-api.js';
import { getSystemApi } from '@jellyfin/sdk/lib/utils/api/system-api.js';
import { getSessionApi } from '@jellyfin/sdk/lib/utils/api/session-api.js';

export { getUserApi, getQuickConnectApi, getSystemApi, getSessionApi };

/** A real Jellyfin client (the TypeScript SDK) pointed at `baseUrl`, as a given app and device. */
export function jellyfinClient(baseUrl: string, opts: { client?: string; device?: string; deviceId?: string } = {}): Api {
  const jellyfin = new Jellyfin({
    clientInfo: { name: opts.client ?? 'Jellyguard Tests', version: '1.0.0' },
    deviceInfo: { name: opts.device ?? 'Test Runner', id: opts.deviceId ?? `test-${Math.random().toString(36).slice(2)}` },
  });
  return jellyfin.createApi(baseUrl);
}

/** Log in with the SDK; returns the HTTP status and, on success, the token. Never throws on 4xx. */
export async function sdkLogin(api: Api, username: string, password: string): Promise<{ status: number; token?: string; userId?: string; data?: unknown }> {
  try {
    const res = await getUserApi(api).authenticateUserByName({ authenticateUserByName: { Username: username, Pw: password } });
    return { status: res.status, token: res.data.AccessToken ?? undefined, userId: res.data.User?.Id ?? undefined, data: res.data };
  } catch (e) {
    const r = (e as { response?: { status: number; data: unknown } }).response;
    if (!r) throw e;
    return { status: r.status, data: r.data };
  }
}

/** The MediaBrowser header a client sends with `token`. */
export function authHeader(token: string, deviceId = 'test-device', client = 'Jellyguard Tests'): string {
  return `MediaBrowser Client="${client}", Device="Test", DeviceId="${deviceId}", Version="1.0.0", Token="${token}"`;
}
