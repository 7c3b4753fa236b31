import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { ManualClock } from '../../server/clock.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import { authHeader, getQuickConnectApi, getSystemApi, jellyfinClient, sdkLogin } from '../helpers/sdk.ts';

/**
 * The gateway core through a real client (@jellyfin/sdk) against the Jellyfin emulator: logins are
 * recorded, their tokens work, tokens issued behind the gateway's back do not, in any form.
 */
let jf: Emulator;
let gw: TestGateway;
let apiKey: string;

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'alice', password: 'alice-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' },
    ],
    mediaSize: 4 * 1024 * 1024,
  });
  apiKey = jf.createApiKey('jellyguard');
  gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey } });
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

function openSocket(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; first: unknown } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('message', (data) => resolve({ ws, first: JSON.parse(String(data)) }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (e) => reject(e));
  });
}

describe('password login through the gateway', () => {
  it('releases a token that then works through the gateway', async () => {
    const api = jellyfinClient(gw.url, { deviceId: 'core-1' });
    const login = await sdkLogin(api, 'alice', 'alice-pw');
    expect(login.status).toBe(200);
    expect(login.token).toMatch(/^[0-9a-f]{32}$/);
    api.accessToken = login.token!;
    const info = await getSystemApi(api).getSystemInfo();
    expect(info.status).toBe(200);
  });

  it('answers a wrong password as Jellyfin does and records nothing', async () => {
    const before = gw.gateway.tokens.size;
    const login = await sdkLogin(jellyfinClient(gw.url), 'alice', 'nope');
    expect(login.status).toBe(401);
    expect(gw.gateway.tokens.size).toBe(before);
  });

  it('asks Jellyfin for an uncompressed answer and reads camelCase', async () => {
    const res = await fetch(`${gw.url}/users/AUTHENTICATEBYNAME`, {
      method: 'POST',
      headers: {
        authorization: 'MediaBrowser Client="Web", Device="Chrome", DeviceId="camel-1", Version="1"',
        'content-type': 'application/json',
        accept: 'application/json; profile="CamelCase"',
        'accept-encoding': 'gzip, br',
      },
      body: JSON.stringify({ username: 'bob', pw: 'bob-pw' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accessToken: string };
    expect(body.accessToken).toMatch(/^[0-9a-f]{32}$/);
    const seen = jf.requests.filter((r) => /authenticatebyname/i.test(r.url)).at(-1)!;
    expect(seen.headers['accept-encoding']).toBe('identity');
    const me = await fetch(`${gw.url}/Users/Me`, { headers: { authorization: authHeader(body.accessToken, 'camel-1') } });
    expect(me.status).toBe(200);
  });

  it('refuses an oversized login body with 413 and malformed JSON with 400, before Jellyfin sees them', async () => {
    const before = jf.loginAttempts;
    const headers = { authorization: 'MediaBrowser Client="c", Device="d", DeviceId="x", Version="1"', 'content-type': 'application/json' };
    const big = await fetch(`${gw.url}/Users/AuthenticateByName`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ Username: 'alice', Pw: 'x'.repeat(100_000) }),
    });
    expect(big.status).toBe(413);
    const bad = await fetch(`${gw.url}/Users/AuthenticateByName`, { method: 'POST', headers, body: '{"Username": "alice", ' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'malformed_body' });
    const notObject = await fetch(`${gw.url}/Users/AuthenticateByName`, { method: 'POST', headers, body: '["alice"]' });
    expect(notObject.status).toBe(400);
    expect(jf.loginAttempts).toBe(before);
  });

  it('keeps verified tokens across a restart', async () => {
    const api = jellyfinClient(gw.url, { deviceId: 'restart-1' });
    const login = await sdkLogin(api, 'bob', 'bob-pw');
    await gw.stop();
    gw = await startGateway({ upstreamUrl: jf.url, dataDir: gw.dataDir, keys: gw.keys, config: { JellyfinApiKey: apiKey } });
    const me = await fetch(`${gw.url}/Users/Me`, { headers: { authorization: authHeader(login.token!, 'restart-1') } });
    expect(me.status).toBe(200);
    // The database holds a hash, never the token itself.
    const rows = gw.gateway.store.sqlite.prepare('select token_hash from tokens').all() as Array<{ token_hash: string }>;
    expect(rows.some((r) => r.token_hash === login.token)).toBe(false);
  });

  it('forgets a token on logout', async () => {
    const api = jellyfinClient(gw.url, { deviceId: 'logout-1' });
    const { token } = await sdkLogin(api, 'bob', 'bob-pw');
    const out = await fetch(`${gw.url}/Sessions/Logout`, { method: 'POST', headers: { authorization: authHeader(token!, 'logout-1') } });
    expect(out.status).toBe(204);
    const after = await fetch(`${gw.url}/Users/Me`, { headers: { authorization: authHeader(token!, 'logout-1') } });
    expect(after.status).toBe(401);
  });
});

describe('the token gate', () => {
  it('refuses a token issued behind the gateway, in each of the five forms, forwarding nothing', async () => {
    const token = jf.loginDirect('bob', 'bob-pw', 'behind-1');
    const forms: Array<[string, RequestInit]> = [
      ['/Users/Me', { headers: { authorization: authHeader(token, 'behind-1') } }],
      ['/Users/Me', { headers: { 'x-emby-authorization': authHeader(token, 'behind-1') } }],
      ['/Users/Me', { headers: { 'x-emby-token': token } }],
      ['/Users/Me', { headers: { 'x-mediabrowser-token': token } }],
      [`/Users/Me?ApiKey=${token}`, {}],
      [`/Users/Me?api_key=${token}`, {}],
      [`/Users/Me?API_KEY=${token}`, {}],
    ];
    for (const [path, init] of forms) {
      const before = jf.requests.length;
      const res = await fetch(gw.url + path, init);
      expect(res.status, path + JSON.stringify(init)).toBe(401);
      expect(jf.requests.length).toBe(before);
    }
    expect(jf.isTokenValid(token)).toBe(true); // the emulator would have accepted it
  });

  it('refuses a request mixing a verified token with an unverified one', async () => {
    const { token } = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'mix-1' }), 'bob', 'bob-pw');
    const other = jf.loginDirect('alice', 'alice-pw', 'mix-2');
    const res = await fetch(`${gw.url}/Users/Me?api_key=${other}`, { headers: { authorization: authHeader(token!, 'mix-1') } });
    expect(res.status).toBe(401);
  });

  it('lets requests without a credential through to Jellyfin', async () => {
    const res = await fetch(`${gw.url}/System/Info/Public`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ProductName: 'Jellyfin Server' });
  });

  it('lets Jellyfin API keys through, recognised from /Auth/Keys, including one created since the last refresh', async () => {
    const clock = new ManualClock(Date.now());
    const g = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: apiKey } });
    try {
      expect((await fetch(`${g.url}/Sessions`, { headers: { 'x-emby-token': apiKey } })).status).toBe(200);
      const sonarr = jf.createApiKey('sonarr');
      clock.advance(11_000); // an unknown token refreshes the list at most every 10 s
      const res = await fetch(`${g.url}/Sessions`, { headers: { 'x-emby-token': sonarr } });
      expect(res.status).toBe(200);
      const bogus = await fetch(`${g.url}/Sessions`, { headers: { 'x-emby-token': 'e'.repeat(32) } });
      expect(bogus.status).toBe(401);
    } finally {
      await g.close();
    }
  });

  it('a key created through the gateway works at its first use, and one deleted through it stops at once (Jellyseerr’s wizard)', async () => {
    const clock = new ManualClock(Date.now());
    const g = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: apiKey } });
    try {
      const asAdmin = { 'x-emby-token': apiKey };
      // The wizard creates a key through the gateway, reads it back, and uses it at once (no clock moves).
      expect((await fetch(`${g.url}/Auth/Keys?App=Jellyseerr`, { method: 'POST', headers: asAdmin })).status).toBe(204);
      const list = (await (await fetch(`${g.url}/Auth/Keys`, { headers: asAdmin })).json()) as { Items: Array<{ AccessToken: string; AppName: string }> };
      const key = list.Items.find((k) => k.AppName === 'Jellyseerr')!.AccessToken;
      expect((await fetch(`${g.url}/Sessions`, { headers: { 'x-emby-token': key } })).status).toBe(200);
      // Deleted through the gateway: refused at its next use, in every path variant.
      expect((await fetch(`${g.url}/emby/auth/keys/${key}`, { method: 'DELETE', headers: asAdmin })).status).toBe(204);
      expect((await fetch(`${g.url}/Sessions`, { headers: { 'x-emby-token': key } })).status).toBe(401);
    } finally {
      await g.close();
    }
  });

  it('refuses API keys when APIKeyBypassEnabled is false', async () => {
    const strict = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey, APIKeyBypassEnabled: false } });
    try {
      const key = jf.createApiKey('radarr');
      const res = await fetch(`${strict.url}/Sessions?api_key=${key}`);
      expect(res.status).toBe(401);
    } finally {
      await strict.close();
    }
  });

  it('adopts pre-existing sessions only inside the opt-in window', async () => {
    const old = jf.loginDirect('bob', 'bob-pw', 'old-tv');
    const closed = await fetch(`${gw.url}/Users/Me`, { headers: { 'x-emby-token': old } });
    expect(closed.status).toBe(401);
    const adopting = await startGateway({
      upstreamUrl: jf.url,
      config: { JellyfinApiKey: apiKey, AdoptExistingSessionsUntil: new Date(Date.now() + 3600_000).toISOString() },
    });
    try {
      const res = await fetch(`${adopting.url}/Users/Me`, { headers: { 'x-emby-token': old } });
      expect(res.status).toBe(200);
      const bogus = await fetch(`${adopting.url}/Users/Me`, { headers: { 'x-emby-token': 'f'.repeat(32) } });
      expect(bogus.status).toBe(401);
    } finally {
      await adopting.close();
    }
  });
});

describe('streaming and WebSocket', () => {
  it('streams media with Range through the gateway, token in the query', async () => {
    const { token } = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'media-1' }), 'bob', 'bob-pw');
    const res = await fetch(`${gw.url}/Videos/${jf.itemId}/stream?static=true&api_key=${token}`, { headers: { range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toMatch(/^bytes 100-199\//);
    expect((await res.arrayBuffer()).byteLength).toBe(100);
  });

  it('pipes the WebSocket for a verified token and refuses others with 403', async () => {
    const { token } = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'ws-1' }), 'bob', 'bob-pw');
    const ok = await openSocket(`${gw.url.replace('http', 'ws')}/socket?api_key=${token}&deviceId=ws-1`);
    expect('first' in ok && ok.first).toMatchObject({ MessageType: 'ForceKeepAlive', Data: 60 });
    if ('ws' in ok) ok.ws.close();
    const behind = jf.loginDirect('bob', 'bob-pw', 'ws-2');
    for (const [url, headers] of [
      [`/socket?api_key=${behind}`, {}],
      [`/socket?ApiKey=${behind}`, {}],
      [`/socket?api_key%3D${behind}`, {}],
      [`/socket?deviceId%3Dws-2%26api_key%3D${behind}`, {}],
      ['/socket', { authorization: authHeader(behind, 'ws-2') }],
      [`/anything/else?api_key=${behind}`, {}],
    ] as Array<[string, Record<string, string>]>) {
      const before = jf.requests.length;
      const refused = await openSocket(gw.url.replace('http', 'ws') + url, headers);
      expect(refused).toMatchObject({ status: 403, body: 'Error processing request.' });
      expect(jf.requests.length).toBe(before);
    }
  });
});

describe('Quick Connect', () => {
  it('verifies a Quick Connect token authorised through the gateway by a verified session', async () => {
    const tv = jellyfinClient(gw.url, { client: 'Android TV', deviceId: 'tv-qc-1' });
    const init = await getQuickConnectApi(tv).initiateQuickConnect();
    const phone = jellyfinClient(gw.url, { deviceId: 'phone-qc-1' });
    const { token, userId } = await sdkLogin(phone, 'bob', 'bob-pw');
    phone.accessToken = token!;
    // Authorize signs a device in with no password: it is a step-up action (issue 6), here by a TOTP code.
    const { totp } = gw.gateway.services.factors;
    const enrollment = await totp.beginEnrollment(userId!, 'bob');
    await totp.confirmEnrollment(userId!, await totpCodeAt(enrollment.secret, Date.now() - 30_000));
    const auth = await getQuickConnectApi(phone).authorizeQuickConnect(
      { code: init.data.Code! },
      { headers: { 'X-Jellyguard-StepUp': await totpCodeAt(enrollment.secret, Date.now()) } },
    );
    expect(auth.data).toBe(true);
    await totp.remove(userId!);
    const res = await fetch(`${gw.url}/Users/AuthenticateWithQuickConnect`, {
      method: 'POST',
      headers: { authorization: tv.authorizationHeader, 'content-type': 'application/json' },
      body: JSON.stringify({ Secret: init.data.Secret }),
    });
    expect(res.status).toBe(200);
    const tvToken = ((await res.json()) as { AccessToken: string }).AccessToken;
    const me = await fetch(`${gw.url}/Users/Me`, { headers: { 'x-emby-token': tvToken } });
    expect(me.status).toBe(200);
  });

  it('refuses the token of a code authorised behind the gateway, and revokes it', async () => {
    const tv = jellyfinClient(gw.url, { client: 'Android TV', deviceId: 'tv-qc-2' });
    const init = await getQuickConnectApi(tv).initiateQuickConnect();
    jf.authorizeQuickConnectDirect(init.data.Code!, jf.user('bob').id);
    const res = await fetch(`${gw.url}/Users/AuthenticateWithQuickConnect`, {
      method: 'POST',
      headers: { authorization: tv.authorizationHeader, 'content-type': 'application/json' },
      body: JSON.stringify({ Secret: init.data.Secret }),
    });
    expect(res.status).toBe(403);
    // Even the token collected directly at Jellyfin is useless through the gateway.
    const direct = await fetch(`${jf.url}/Users/AuthenticateWithQuickConnect`, {
      method: 'POST',
      headers: { authorization: tv.authorizationHeader, 'content-type': 'application/json' },
      body: JSON.stringify({ Secret: init.data.Secret }),
    });
    if (direct.status === 200) {
      const t = ((await direct.json()) as { AccessToken: string }).AccessToken;
      expect((await fetch(`${gw.url}/Users/Me`, { headers: { 'x-emby-token': t } })).status).toBe(401);
    }
  });
});

describe("the gateway's own routes", () => {
  it('answers under /JellyfinSecurity and never forwards that prefix', async () => {
    expect((await fetch(`${gw.url}/JellyfinSecurity/Health`)).status).toBe(200);
    const before = jf.requests.length;
    const res = await fetch(`${gw.url}/emby/jellyfinsecurity/nothing-here`);
    expect(res.status).toBe(404);
    expect(jf.requests.length).toBe(before);
  });
});
