/**
 * The Jellyfin emulator checked against /work/shared/JELLYFIN.md, with @jellyfin/sdk as the client
 * for login and Quick Connect and raw HTTP (node:http, which sends paths exactly as written) for
 * everything a gateway could get wrong.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Jellyfin } from '@jellyfin/sdk/lib/jellyfin.js';
import { getUserApi } from '@jellyfin/sdk/lib/utils/api/user-api.js';
import { getQuickConnectApi } from '@jellyfin/sdk/lib/utils/api/quick-connect-api.js';
import { startEmulator, expectedMedia, type Emulator, type EmulatorOptions, type JellyfinVersion } from '../jellyfin/emulator.ts';
import { getParts, parseAuthorizationHeader } from '../jellyfin/credentials.ts';
import { normalizeTarget, parseGuid, urlDecodeQueryFeature, parseQuery } from '../jellyfin/kestrel.ts';
import { sessionIdFor } from '../jellyfin/state.ts';
import { camelCaseName, chooseEncoding } from '../jellyfin/wire.ts';

const HEX32 = /^[0-9a-f]{32}$/;
const DATE7 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/;

let running: Emulator[] = [];
afterEach(async () => {
  await Promise.all(running.map((e) => e.close()));
  running = [];
});

async function start(opts: EmulatorOptions = {}): Promise<Emulator> {
  const e = await startEmulator(opts);
  running.push(e);
  return e;
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: <T = Record<string, unknown>>() => T;
}

/** One HTTP request with the path sent verbatim and no automatic decompression. */
function raw(
  emu: Emulator,
  path: string,
  init: { method?: string; headers?: Record<string, string | string[]>; body?: unknown } = {},
): Promise<RawResponse> {
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  const headers: Record<string, string | string[]> = { ...(init.headers ?? {}) };
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: emu.port, path, method: init.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: b,
          text: b.toString('utf8'),
          json: <T,>() => JSON.parse(b.toString('utf8')) as T,
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `MediaBrowser Client="…", Device="…", DeviceId="…", Version="…"[, Token="…"]`. */
function mb(opts: { token?: string; deviceId?: string; scheme?: string } = {}): string {
  const parts = [`Client="Test Client"`, `Device="Test Device"`, `DeviceId="${opts.deviceId ?? 'test-device-1'}"`, `Version="1.2.3"`];
  if (opts.token !== undefined) parts.push(`Token="${opts.token}"`);
  return `${opts.scheme ?? 'MediaBrowser'} ${parts.join(', ')}`;
}

async function login(emu: Emulator, name: string, password: string, deviceId = 'test-device-1'): Promise<RawResponse> {
  return raw(emu, '/Users/AuthenticateByName', {
    method: 'POST',
    headers: { Authorization: mb({ deviceId }) },
    body: { Username: name, Pw: password },
  });
}

function sdkApi(emu: Emulator, deviceId = 'sdk-device', token?: string) {
  const jf = new Jellyfin({ clientInfo: { name: 'SDK Test', version: '0.13.0' }, deviceInfo: { name: 'Vitest', id: deviceId } });
  return jf.createApi(emu.url, token);
}

async function axiosStatus(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { response?: { status: number } }).response?.status ?? -1;
  }
}

// ---------------------------------------------------------------------------------------------

describe('credential grammar (AuthorizationContext.GetParts)', () => {
  it('splits on commas outside quotes, keeps case-sensitive keys, decodes values, last key wins', () => {
    const p = getParts('Client="a,b", Device=My+Phone, DeviceId="x%20y", Token="t1", Token="t2", token="lower"');
    expect(p.get('Client')).toBe('a,b');
    expect(p.get('Device')).toBe('My Phone');
    expect(p.get('DeviceId')).toBe('x y');
    expect(p.get('Token')).toBe('t2');
    expect(p.get('token')).toBe('lower');
  });

  it('treats an unquoted "=" as the start of a new key, and an empty value keeps the pending key', () => {
    expect(getParts('Token=abc=def').get('Token')).toBeUndefined();
    expect(getParts('Token=abc=def').get('abc')).toBe('def');
    expect(getParts('Token=,abc').get('Token')).toBe('abc');
    expect(getParts('Token="a=b"').get('Token')).toBe('a=b');
  });

  it('scheme: MediaBrowser any case; Emby only with legacy (always on 10.10)', () => {
    expect(parseAuthorizationHeader('mediabrowser Token="x"', { version: '12.0', enableLegacyAuthorization: false })?.get('Token')).toBe('x');
    expect(parseAuthorizationHeader('Emby Token="x"', { version: '12.0', enableLegacyAuthorization: false })).toBeNull();
    expect(parseAuthorizationHeader('Emby Token="x"', { version: '12.0', enableLegacyAuthorization: true })?.get('Token')).toBe('x');
    expect(parseAuthorizationHeader('EMBY Token="x"', { version: '10.10', enableLegacyAuthorization: false })?.get('Token')).toBe('x');
    expect(parseAuthorizationHeader('Bearer x', { version: '10.11', enableLegacyAuthorization: true })).toBeNull();
  });

  it('Kestrel target normalization, GUID forms, the encoded-query feature, camelCase names, encodings', () => {
    expect(normalizeTarget('/Users/x/../%41uthenticateByName')?.path).toBe('/Users/AuthenticateByName');
    // dot segments are removed first (Kestrel), so `//..` eats the empty segment; then `//` collapses
    expect(normalizeTarget('//Users//%2e%2e/Users/Me?x=1')).toEqual({ path: '/Users/Users/Me', rawQuery: 'x=1' });
    expect(normalizeTarget('/Users//Me')?.path).toBe('/Users/Me');
    expect(normalizeTarget('/Users%2FMe')?.path).toBe('/Users%2FMe');
    const g = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    expect(parseGuid('A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90')).toBe(g);
    expect(parseGuid('{a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90}')).toBe(g);
    expect(parseGuid('(a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90)')).toBe(g);
    expect(parseGuid('not-a-guid')).toBeNull();
    const decoded = urlDecodeQueryFeature(parseQuery('api_key%3Dabc'));
    expect(decoded).toEqual({ pairs: [['api_key', 'abc']], caseInsensitive: false });
    expect(camelCaseName('AccessToken')).toBe('accessToken');
    expect(camelCaseName('URLPath')).toBe('urlPath');
    expect(chooseEncoding('gzip, deflate, br')).toBe('br');
    expect(chooseEncoding('gzip;q=1, br;q=0.5')).toBe('gzip');
    expect(chooseEncoding('identity')).toBeNull();
  });
});

describe('logging in (§3)', () => {
  it('AuthenticateByName through @jellyfin/sdk returns a full AuthenticationResult', async () => {
    const emu = await start();
    const api = sdkApi(emu, 'sdk-device-1');
    const res = await getUserApi(api).authenticateUserByName({ authenticateUserByName: { Username: 'admin', Pw: 'admin' } });
    const r = res.data;
    expect(r.AccessToken).toMatch(HEX32);
    expect(r.ServerId).toBe(emu.serverId);
    expect(r.User?.Id).toBe(emu.user('admin').id);
    expect(r.User?.Policy?.IsAdministrator).toBe(true);
    expect(r.User?.Policy?.LoginAttemptsBeforeLockout).toBe(-1);
    expect(r.User?.LastLoginDate).toMatch(DATE7);
    expect(r.User).not.toHaveProperty('PrimaryImageTag'); // null fields are omitted
    expect(r.SessionInfo?.Id).toBe(sessionIdFor('SDK Test', 'sdk-device-1'));
    expect(r.SessionInfo?.Id).toMatch(HEX32);
    expect(r.SessionInfo?.DeviceId).toBe('sdk-device-1');
    expect(r.SessionInfo?.Client).toBe('SDK Test');
    expect(r.SessionInfo?.RemoteEndPoint).toBe('127.0.0.1');
    expect(emu.isTokenValid(r.AccessToken!)).toBe(true);

    const me = await getUserApi(sdkApi(emu, 'sdk-device-1', r.AccessToken!)).getCurrentUser();
    expect(me.data.Name).toBe('admin');
  });

  it('401 wrong password or unknown user, 400 without device fields, all with the text error body', async () => {
    const emu = await start();
    const api = sdkApi(emu);
    expect(await axiosStatus(getUserApi(api).authenticateUserByName({ authenticateUserByName: { Username: 'admin', Pw: 'nope' } }))).toBe(401);
    const unknown = await login(emu, 'nobody', 'x');
    expect(unknown.status).toBe(401);
    expect(unknown.headers['content-type']).toBe('text/plain');
    expect(unknown.text).toBe('Error processing request.');
    const noDevice = await raw(emu, '/Users/AuthenticateByName', {
      method: 'POST',
      headers: { Authorization: 'MediaBrowser Client="c", Device="d", Version="1"' },
      body: { Username: 'admin', Pw: 'admin' },
    });
    expect(noDevice.status).toBe(400);
    expect(noDevice.text).toBe('Error processing request.');
    expect(emu.loginAttempts).toBe(3);
  });

  it('Kodi-style lowercase JSON property names are accepted', async () => {
    const emu = await start();
    const r = await raw(emu, '/Users/AuthenticateByName', { method: 'POST', headers: { Authorization: mb() }, body: { username: 'alice', pw: 'alice' } });
    expect(r.status).toBe(200);
  });

  it('a new login by the same user and DeviceId revokes the earlier token; other devices keep theirs', async () => {
    const emu = await start();
    const first = (await login(emu, 'alice', 'alice', 'dev-a')).json<{ AccessToken: string }>().AccessToken;
    const other = (await login(emu, 'alice', 'alice', 'dev-b')).json<{ AccessToken: string }>().AccessToken;
    const second = (await login(emu, 'alice', 'alice', 'dev-a')).json<{ AccessToken: string }>().AccessToken;
    expect(second).not.toBe(first);
    expect(emu.isTokenValid(first)).toBe(false);
    expect(emu.isTokenValid(other)).toBe(true);
    expect((await raw(emu, '/Users/Me', { headers: { Authorization: mb({ token: first }) } })).status).toBe(401);
  });

  it('lockout: LoginAttemptsBeforeLockout failures disable the user, then even the right password gets 403', async () => {
    const emu = await start({ loginAttemptsBeforeLockout: 3 });
    const token = emu.loginDirect('alice', 'alice', 'phone');
    for (let i = 0; i < 2; i++) expect((await login(emu, 'alice', 'bad')).status).toBe(401);
    expect(emu.user('alice').invalidLoginAttemptCount).toBe(2);
    expect(emu.user('alice').isDisabled).toBe(false);
    expect((await login(emu, 'alice', 'bad')).status).toBe(401);
    expect(emu.user('alice').isDisabled).toBe(true);
    const locked = await login(emu, 'alice', 'alice');
    expect(locked.status).toBe(403);
    expect(locked.text).toBe('Error processing request.');
    // the disabled user's existing token stops working too
    expect((await raw(emu, '/Users/Me', { headers: { Authorization: mb({ token }) } })).status).toBe(401);
    expect(emu.loginAttempts).toBe(4);
  });

  it('lockout policy 0 means 3; a success resets the count; the default (null) never locks out', async () => {
    const emu = await start({ loginAttemptsBeforeLockout: 0 });
    expect(emu.user('alice').loginAttemptsBeforeLockout).toBe(3);
    await login(emu, 'alice', 'bad');
    await login(emu, 'alice', 'alice');
    expect(emu.user('alice').invalidLoginAttemptCount).toBe(0);

    const lenient = await start();
    for (let i = 0; i < 6; i++) expect((await login(lenient, 'alice', 'bad')).status).toBe(401);
    expect((await login(lenient, 'alice', 'alice')).status).toBe(200);
  });

  it('the hidden POST /Users/{id}/Authenticate?pw= logs in with any GUID spelling', async () => {
    const emu = await start();
    const id = emu.user('alice').id;
    const dashed = `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`.toUpperCase();
    for (const form of [id, dashed, `%7B${dashed}%7D`]) {
      const r = await raw(emu, `/users/${form}/authenticate?pw=alice`, { method: 'POST', headers: { Authorization: mb() } });
      expect(r.status, form).toBe(200);
    }
    expect((await raw(emu, `/Users/${id}/Authenticate?pw=bad`, { method: 'POST', headers: { Authorization: mb() } })).status).toBe(401);
    expect((await raw(emu, `/Users/${id}/Authenticate`, { method: 'POST', headers: { Authorization: mb() } })).status).toBe(400);
    expect(emu.loginAttempts).toBe(5);
  });
});

describe('credential forms by version (§1)', () => {
  type Form = { name: string; legacy: boolean; build: (t: string) => { path: string; headers: Record<string, string> } };
  const forms: Form[] = [
    { name: 'Authorization MediaBrowser Token', legacy: false, build: (t) => ({ path: '/Users/Me', headers: { Authorization: mb({ token: t }) } }) },
    { name: 'Authorization Emby scheme', legacy: true, build: (t) => ({ path: '/Users/Me', headers: { Authorization: mb({ token: t, scheme: 'Emby' }) } }) },
    { name: 'X-Emby-Authorization', legacy: true, build: (t) => ({ path: '/Users/Me', headers: { 'X-Emby-Authorization': mb({ token: t }) } }) },
    { name: 'X-Emby-Token', legacy: true, build: (t) => ({ path: '/Users/Me', headers: { 'X-Emby-Token': t } }) },
    { name: 'X-MediaBrowser-Token', legacy: true, build: (t) => ({ path: '/Users/Me', headers: { 'x-mediabrowser-token': t } }) },
    { name: 'query ApiKey', legacy: false, build: (t) => ({ path: `/Users/Me?ApiKey=${t}`, headers: {} }) },
    { name: 'query apikey (any case)', legacy: false, build: (t) => ({ path: `/Users/Me?APIKEY=${t}`, headers: {} }) },
    { name: 'query api_key', legacy: true, build: (t) => ({ path: `/Users/Me?api_key=${t}`, headers: {} }) },
    { name: 'query API_KEY', legacy: true, build: (t) => ({ path: `/Users/Me?API_KEY=${t}`, headers: {} }) },
  ];
  const cases: Array<{ version: JellyfinVersion; legacy?: boolean; legacyWorks: boolean }> = [
    { version: '10.10', legacyWorks: true },
    { version: '10.10', legacy: false, legacyWorks: true },
    { version: '10.11', legacyWorks: true },
    { version: '10.11', legacy: false, legacyWorks: false },
    { version: '12.0', legacyWorks: false },
    { version: '12.0', legacy: true, legacyWorks: true },
  ];
  for (const c of cases) {
    it(`${c.version} legacy=${c.legacy ?? 'default'}: modern forms always, legacy forms ${c.legacyWorks ? 'too' : 'refused'}`, async () => {
      const emu = await start({ version: c.version, ...(c.legacy === undefined ? {} : { enableLegacyAuthorization: c.legacy }) });
      const token = emu.loginDirect('alice', 'alice');
      for (const f of forms) {
        const { path, headers } = f.build(token);
        const r = await raw(emu, path, { headers });
        expect(r.status, f.name).toBe(!f.legacy || c.legacyWorks ? 200 : 401);
      }
    });
  }

  it('10.11+: another scheme in Authorization hides X-Emby-Authorization; 10.10 reads X-Emby-Authorization first', async () => {
    for (const version of ['10.10', '10.11'] as const) {
      const emu = await start({ version });
      const token = emu.loginDirect('alice', 'alice');
      const r = await raw(emu, '/Users/Me', { headers: { Authorization: 'Basic Zm9vOmJhcg==', 'X-Emby-Authorization': mb({ token }) } });
      expect(r.status, version).toBe(version === '10.10' ? 200 : 401);
    }
  });

  it('token precedence: the first non-empty wins; Token="" falls through; `token=` is not Token', async () => {
    const emu = await start();
    const token = emu.loginDirect('alice', 'alice');
    const bad = 'ffffffffffffffffffffffffffffffff';
    expect((await raw(emu, '/Users/Me', { headers: { Authorization: mb({ token: bad }), 'X-Emby-Token': token } })).status).toBe(401);
    expect((await raw(emu, '/Users/Me', { headers: { Authorization: mb({ token: '' }), 'X-Emby-Token': token } })).status).toBe(200);
    expect((await raw(emu, `/Users/Me?ApiKey=${bad}&api_key=${token}`)).status).toBe(401);
    expect((await raw(emu, '/Users/Me', { headers: { Authorization: `MediaBrowser token="${token}"` } })).status).toBe(401);
    // only the first Authorization header value is parsed
    expect((await raw(emu, '/Users/Me', { headers: { Authorization: [mb({ token: bad }), mb({ token })] } })).status).toBe(401);
  });

  it('API keys: 400 on /Users/Me, admin on /Auth/Keys; users get 403 there, anonymous and invalid tokens 401', async () => {
    const emu = await start();
    const key = emu.createApiKey('tests');
    expect(key).toMatch(HEX32);
    const me = await raw(emu, '/Users/Me', { headers: { Authorization: mb({ token: key }) } });
    expect(me.status).toBe(400);
    expect(me.headers['content-type']).toContain('application/problem+json');
    expect((await raw(emu, '/Users/Me', { headers: { Authorization: mb({ token: 'deadbeefdeadbeefdeadbeefdeadbeef' }) } })).status).toBe(401);
    expect((await raw(emu, '/Users/Me')).status).toBe(401);

    const keys = await raw(emu, `/Auth/Keys?ApiKey=${key}`);
    expect(keys.status).toBe(200);
    const list = keys.json<{ Items: Array<{ AccessToken: string; AppName: string; DateCreated: string }>; TotalRecordCount: number; StartIndex: number }>();
    expect(list.Items[0]).toMatchObject({ AccessToken: key, AppName: 'tests' });
    expect(list.Items[0]!.DateCreated).toMatch(DATE7);
    expect(list).toMatchObject({ TotalRecordCount: 1, StartIndex: 0 });

    const userToken = emu.loginDirect('alice', 'alice');
    expect((await raw(emu, '/Auth/Keys', { headers: { Authorization: mb({ token: userToken }) } })).status).toBe(403);
    expect((await raw(emu, '/Auth/Keys')).status).toBe(401);

    const admin = emu.loginDirect('admin', 'admin');
    expect((await raw(emu, '/Auth/Keys?app=second', { method: 'POST', headers: { Authorization: mb({ token: admin }) } })).status).toBe(204);
    expect((await raw(emu, `/Auth/Keys/${key}`, { method: 'DELETE', headers: { Authorization: mb({ token: admin }) } })).status).toBe(204);
    expect((await raw(emu, `/Users/Me?ApiKey=${key}`)).status).toBe(401);
    const after = (await raw(emu, '/Auth/Keys', { headers: { Authorization: mb({ token: admin }) } })).json<{ Items: Array<{ AppName: string }> }>();
    expect(after.Items.map((k) => k.AppName)).toEqual(['second']);
  });
});

describe('routing (§2)', () => {
  it('routes are case-insensitive and tolerate doubled slashes, dot segments and percent-encoding, but not %2F', async () => {
    const emu = await start();
    for (const path of ['/users/authenticatebyname', '/USERS/AuthenticateByName', '//Users//AuthenticateByName', '/Users/x/../AuthenticateByName', '/%55sers/Authenticate%42yName', '/Users/AuthenticateByName/']) {
      expect((await raw(emu, path, { method: 'POST', headers: { Authorization: mb() }, body: { Username: 'alice', Pw: 'alice' } })).status, path).toBe(200);
    }
    expect((await raw(emu, '/Users%2FAuthenticateByName', { method: 'POST', headers: { Authorization: mb() }, body: { Username: 'alice', Pw: 'alice' } })).status).toBe(404);
    expect((await raw(emu, '/Nope')).status).toBe(404);
    expect((await raw(emu, '/Sessions/Logout')).status).toBe(405);
  });

  it('/emby and /mediabrowser prefixes route in 10.10/10.11 (with a second decoding pass), not in 12.0', async () => {
    for (const version of ['10.10', '10.11', '12.0'] as const) {
      const emu = await start({ version });
      const body = { Username: 'alice', Pw: 'alice' };
      const expected = version === '12.0' ? 404 : 200;
      for (const path of ['/emby/Users/AuthenticateByName', '/MediaBrowser/users/authenticatebyname', '/emby/Users/AuthenticateBy%254Eame']) {
        const r = await raw(emu, path, { method: 'POST', headers: { Authorization: mb() }, body });
        expect(r.status, `${version} ${path}`).toBe(expected);
      }
      if (version !== '12.0') {
        expect((await raw(emu, '/embyUsers/AuthenticateByName', { method: 'POST', headers: { Authorization: mb() }, body })).status).toBe(400);
      }
    }
  });

  it('BaseUrl: every route lives under it; anything outside is redirected to the web client', async () => {
    const emu = await start({ baseUrl: 'jellyfin/' });
    expect(emu.url).toMatch(/\/jellyfin$/);
    const ok = await raw(emu, '/JELLYFIN/Users/AuthenticateByName', { method: 'POST', headers: { Authorization: mb() }, body: { Username: 'alice', Pw: 'alice' } });
    expect(ok.status).toBe(200);
    const outside = await raw(emu, '/Users/AuthenticateByName', { method: 'POST', headers: { Authorization: mb() }, body: { Username: 'alice', Pw: 'alice' } });
    expect(outside.status).toBe(302);
    expect(outside.headers.location).toBe('/jellyfin/web/');
    expect((await raw(emu, '/jellyfin/emby/System/Info/Public')).status).toBe(200);
    const sdk = await getUserApi(sdkApi(emu)).authenticateUserByName({ authenticateUserByName: { Username: 'admin', Pw: 'admin' } });
    expect(sdk.data.AccessToken).toMatch(HEX32);
  });
});

describe('response format (§2, §3)', () => {
  it('camelCase with Accept profile="CamelCase", PascalCase otherwise', async () => {
    const emu = await start();
    const camel = await raw(emu, '/Users/AuthenticateByName', {
      method: 'POST',
      headers: { Authorization: mb(), Accept: 'application/json; profile="CamelCase"' },
      body: { Username: 'admin', Pw: 'admin' },
    });
    const c = camel.json<{ accessToken: string; serverId: string; user: { policy: { isAdministrator: boolean } }; sessionInfo: { id: string } }>();
    expect(c.accessToken).toMatch(HEX32);
    expect(c.user.policy.isAdministrator).toBe(true);
    expect(c.sessionInfo.id).toMatch(HEX32);
    expect(camel.headers['content-type']).toContain('profile="CamelCase"');
    expect(camel.text).not.toContain('AccessToken');

    const pascal = await login(emu, 'admin', 'admin', 'dev-2');
    expect(pascal.json()).toHaveProperty('AccessToken');
    expect(pascal.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('gzip and br on JSON and the web page unless identity; error bodies are never compressed', async () => {
    const emu = await start();
    const plain = await raw(emu, '/System/Info/Public');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gz = await raw(emu, '/System/Info/Public', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(gz.body).toString())).toEqual(plain.json());
    const br = await raw(emu, '/System/Info/Public', { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(JSON.parse(brotliDecompressSync(br.body).toString())).toEqual(plain.json());
    expect((await raw(emu, '/System/Info/Public', { headers: { 'Accept-Encoding': 'identity' } })).headers['content-encoding']).toBeUndefined();

    const page = await raw(emu, '/web/index.html', { headers: { 'Accept-Encoding': 'br' } });
    expect(page.headers['content-type']).toBe('text/html');
    expect(brotliDecompressSync(page.body).toString()).toContain('<head>');
    const dir = await raw(emu, '/web/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gunzipSync(dir.body).toString()).toContain('<title>Jellyfin</title>');
    expect((await raw(emu, '/web')).status).toBe(301);

    const err = await raw(emu, '/Users/AuthenticateByName', { method: 'POST', headers: { Authorization: mb(), 'Accept-Encoding': 'gzip' }, body: { Username: 'x', Pw: 'y' } });
    expect(err.headers['content-encoding']).toBeUndefined();
    expect(err.text).toBe('Error processing request.');
  });

  it('anonymous endpoints: System/Info/Public, Branding, Users/Public, QuickConnect/Enabled', async () => {
    const emu = await start({ version: '12.0' });
    const info = (await raw(emu, '/System/Info/Public')).json();
    expect(info).toMatchObject({ ProductName: 'Jellyfin Server', OperatingSystem: '', Id: emu.serverId, StartupWizardCompleted: true, Version: '12.0.0' });
    expect(info['LocalAddress']).toBe(emu.url);
    expect((await raw(emu, '/Branding/Configuration')).json()).toEqual({ SplashscreenEnabled: false });
    expect((await raw(emu, '/users/public')).json()).toEqual([]);
    expect((await raw(emu, '/QuickConnect/Enabled')).text).toBe('true');
    expect((await raw(emu, '/System/Info')).status).toBe(401);
    // an invalid token does not break an anonymous endpoint
    expect((await raw(emu, '/System/Info/Public', { headers: { Authorization: mb({ token: 'nope' }) } })).status).toBe(200);
  });
});

describe('media (§5)', () => {
  it('serves the fake video with Range, token in the query', async () => {
    const size = 1_000_000;
    const emu = await start({ mediaSize: size });
    const token = emu.loginDirect('alice', 'alice');
    const full = await raw(emu, `/Videos/${emu.itemId}/stream?static=true&ApiKey=${token}`);
    expect(full.status).toBe(200);
    expect(full.headers['accept-ranges']).toBe('bytes');
    expect(full.body.equals(expectedMedia(0, size - 1))).toBe(true);

    const part = await raw(emu, `/videos/${emu.itemId.toUpperCase()}/stream.mp4?api_key=${token}`, { headers: { Range: 'bytes=1000-1999' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${size}`);
    expect(part.headers['content-type']).toBe('video/mp4');
    expect(part.body.equals(expectedMedia(1000, 1999))).toBe(true);

    const tail = await raw(emu, `/Videos/${emu.itemId}/stream`, { headers: { Range: 'bytes=-10', 'X-Emby-Token': token } });
    expect(tail.headers['content-range']).toBe(`bytes ${size - 10}-${size - 1}/${size}`);
    expect((await raw(emu, `/Videos/${emu.itemId}/stream?ApiKey=${token}`, { headers: { Range: `bytes=${size}-` } })).status).toBe(416);
    expect((await raw(emu, `/Videos/${emu.itemId}/stream`)).status).toBe(401);
    expect((await raw(emu, `/Videos/${'0'.repeat(32)}/stream?ApiKey=${token}`)).status).toBe(404);
  });
});

describe('WebSocket (§1)', () => {
  function connect(emu: Emulator, path: string, headers: Record<string, string> = {}) {
    const ws = new WebSocket(`ws://127.0.0.1:${emu.port}${path}`, { headers });
    const messages: Array<Record<string, unknown>> = [];
    const waiters: Array<() => void> = [];
    ws.on('message', (d) => {
      messages.push(JSON.parse(String(d)) as Record<string, unknown>);
      waiters.splice(0).forEach((w) => w());
    });
    const next = async (n: number) => {
      while (messages.length < n) await new Promise<void>((r) => waiters.push(r));
      return messages[n - 1]!;
    };
    const opened = new Promise<{ ok: true } | { ok: false; status: number; body: string; type: string | undefined }>((resolve) => {
      ws.on('open', () => resolve({ ok: true }));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
      });
      ws.on('error', () => undefined);
    });
    return { ws, opened, next };
  }

  it('web client form /socket?api_key=&deviceId= gets ForceKeepAlive and KeepAlive answers (10.11)', async () => {
    const emu = await start();
    const token = emu.loginDirect('alice', 'alice', 'web-1');
    const c = connect(emu, `/socket?api_key=${token}&deviceId=web-1`);
    expect(await c.opened).toEqual({ ok: true });
    expect(await c.next(1)).toMatchObject({ MessageType: 'ForceKeepAlive', Data: 60 });
    c.ws.send(JSON.stringify({ MessageType: 'KeepAlive' }));
    expect(await c.next(2)).toMatchObject({ MessageType: 'KeepAlive' });
    c.ws.send(JSON.stringify({ MessageType: 'Echo', Data: { hello: 'world' } }));
    expect(await c.next(3)).toMatchObject({ MessageType: 'Echo', Data: { hello: 'world' } });
    c.ws.close();
  });

  it('refused upgrades are 403 text/plain; 12.0 refuses api_key but takes ApiKey and the header; any path works', async () => {
    const emu = await start({ version: '12.0' });
    const token = emu.loginDirect('alice', 'alice');
    const legacy = await connect(emu, `/socket?api_key=${token}`).opened;
    expect(legacy).toEqual({ ok: false, status: 403, body: 'Error processing request.', type: 'text/plain' });
    const none = await connect(emu, '/socket').opened;
    expect(none).toMatchObject({ ok: false, status: 403 });
    const modern = connect(emu, `/socket?ApiKey=${token}`);
    expect(await modern.opened).toEqual({ ok: true });
    modern.ws.close();
    const kodi = connect(emu, '/some/other/path', { Authorization: mb({ token }) });
    expect(await kodi.opened).toEqual({ ok: true });
    expect(await kodi.next(1)).toMatchObject({ MessageType: 'ForceKeepAlive' });
    kodi.ws.close();
  });

  it('an encoded query string (?api_key%3D…) still authenticates the socket, decoded after authentication', async () => {
    const emu = await start();
    const token = emu.loginDirect('alice', 'alice');
    const c = connect(emu, `/socket?api_key%3D${token}`);
    expect(await c.opened).toEqual({ ok: true });
    c.ws.close();
    // ...but not an ordinary [Authorize] endpoint, whose identity was computed before decoding
    expect((await raw(emu, `/Users/Me?api_key%3D${token}`)).status).toBe(401);
  });
});

describe('Quick Connect (§4)', () => {
  it('initiate, poll, approve from a logged-in phone, exchange the secret repeatedly for the same token', async () => {
    const emu = await start();
    const tv = sdkApi(emu, 'tv-1');
    const qc = getQuickConnectApi(tv);
    expect((await qc.getQuickConnectEnabled()).data).toBe(true);
    const init = (await qc.initiateQuickConnect()).data;
    expect(init.Code).toMatch(/^\d{6}$/);
    expect(init.Secret).toMatch(/^[0-9A-F]{64}$/);
    expect(init).toMatchObject({ Authenticated: false, DeviceId: 'tv-1', DeviceName: 'Vitest', AppName: 'SDK Test', AppVersion: '0.13.0' });
    expect(init.DateAdded).toMatch(DATE7);
    expect((await qc.getQuickConnectState({ secret: init.Secret! })).data.Authenticated).toBe(false);
    expect(await axiosStatus(getUserApi(tv).authenticateWithQuickConnect({ quickConnectDto: { Secret: init.Secret! } }))).toBe(404);

    const phoneToken = emu.loginDirect('alice', 'alice', 'phone');
    const phone = getQuickConnectApi(sdkApi(emu, 'phone', phoneToken));
    expect((await phone.authorizeQuickConnect({ code: init.Code! })).data).toBe(true);
    expect((await qc.getQuickConnectState({ secret: init.Secret! })).data.Authenticated).toBe(true);

    const a = (await getUserApi(tv).authenticateWithQuickConnect({ quickConnectDto: { Secret: init.Secret! } })).data;
    const b = (await getUserApi(tv).authenticateWithQuickConnect({ quickConnectDto: { Secret: init.Secret! } })).data;
    expect(a.AccessToken).toMatch(HEX32);
    expect(b.AccessToken).toBe(a.AccessToken);
    expect(a.User?.Name).toBe('alice');
    expect(emu.isTokenValid(a.AccessToken!)).toBe(true);
    expect(await axiosStatus(phone.authorizeQuickConnect({ code: init.Code! }))).toBe(500); // already authorized
    expect(await axiosStatus(qc.getQuickConnectState({ secret: 'F'.repeat(64) }))).toBe(404);
  });

  it('only administrators may name another user; anonymous Authorize is 401', async () => {
    const emu = await start();
    const code = (await raw(emu, '/QuickConnect/Initiate', { method: 'POST', headers: { Authorization: mb({ deviceId: 'tv' }) } })).json<{ Code: string }>().Code;
    const alice = emu.loginDirect('alice', 'alice');
    const adminId = emu.user('admin').id;
    expect((await raw(emu, `/QuickConnect/Authorize?code=${code}`, { method: 'POST' })).status).toBe(401);
    expect((await raw(emu, `/QuickConnect/Authorize?code=${code}&userId=${adminId}`, { method: 'POST', headers: { Authorization: mb({ token: alice }) } })).status).toBe(403);
    const admin = emu.loginDirect('admin', 'admin');
    const r = await raw(emu, `/QuickConnect/Authorize?code=${code}&userId=${emu.user('alice').id}`, { method: 'POST', headers: { Authorization: mb({ token: admin }) } });
    expect(r.status).toBe(200);
    expect(r.text).toBe('true');
  });

  it('disabled: Enabled false, Initiate/Connect 401 JSON string, AuthenticateWithQuickConnect 401 text', async () => {
    const emu = await start({ quickConnectEnabled: false });
    expect((await raw(emu, '/QuickConnect/Enabled')).text).toBe('false');
    const init = await raw(emu, '/QuickConnect/Initiate', { method: 'POST', headers: { Authorization: mb() } });
    expect(init.status).toBe(401);
    expect(init.text).toBe('"Quick connect is disabled"');
    expect((await raw(emu, '/QuickConnect/Initiate', { method: 'POST' })).status).toBe(400); // device fields first
    const exch = await raw(emu, '/Users/AuthenticateWithQuickConnect', { method: 'POST', body: { Secret: 'x' } });
    expect(exch.status).toBe(401);
    expect(exch.text).toBe('Error processing request.');
  });

  it('GET Initiate exists in 10.10/10.11, not 12.0; requests and approvals expire after 10 minutes', async () => {
    let now = Date.UTC(2030, 0, 1);
    for (const version of ['10.10', '10.11', '12.0'] as const) {
      const emu = await start({ version, now: () => now });
      expect((await raw(emu, '/QuickConnect/Initiate', { headers: { Authorization: mb() } })).status, version).toBe(version === '12.0' ? 405 : 200);
    }
    const emu = await start({ now: () => now });
    const init = (await raw(emu, '/QuickConnect/Initiate', { method: 'POST', headers: { Authorization: mb() } })).json<{ Code: string; Secret: string }>();
    emu.authorizeQuickConnectDirect(init.Code, emu.user('alice').id);
    const exchange = () => raw(emu, '/Users/AuthenticateWithQuickConnect', { method: 'POST', body: { secret: init.Secret } });
    expect((await exchange()).status).toBe(200);
    now += 9 * 60_000;
    expect((await exchange()).status).toBe(200);
    now += 2 * 60_000;
    expect((await exchange()).status).toBe(404);
    const stale = (await raw(emu, '/QuickConnect/Initiate', { method: 'POST', headers: { Authorization: mb() } })).json<{ Secret: string }>();
    now += 11 * 60_000;
    expect((await raw(emu, `/QuickConnect/Connect?secret=${stale.Secret}`)).status).toBe(404);
  });
});

describe('sessions, devices and users (§5)', () => {
  it('Logout deletes the token; /Sessions shows all to admins and API keys, own to users', async () => {
    const emu = await start();
    const alice = emu.loginDirect('alice', 'alice', 'a-dev');
    const admin = emu.loginDirect('admin', 'admin', 'adm-dev');
    const key = emu.createApiKey('k');
    const ids = async (headers: Record<string, string>) =>
      (await raw(emu, '/Sessions', { headers })).json<Array<{ UserName: string }>>().map((s) => s.UserName).sort();
    expect(await ids({ Authorization: mb({ token: admin }) })).toEqual(['admin', 'alice']);
    expect(await ids({ 'X-Emby-Token': key })).toEqual(['admin', 'alice']);
    expect(await ids({ Authorization: mb({ token: alice }) })).toEqual(['alice']);

    const devices = (await raw(emu, '/Devices', { headers: { Authorization: mb({ token: admin }) } })).json<{ Items: Array<{ Id: string }> }>();
    expect(devices.Items.map((d) => d.Id).sort()).toEqual(['a-dev', 'adm-dev']);
    expect((await raw(emu, '/Devices', { headers: { Authorization: mb({ token: alice }) } })).status).toBe(403);

    const out = await raw(emu, '/Sessions/Logout', { method: 'POST', headers: { Authorization: mb({ token: alice }) } });
    expect(out.status).toBe(204);
    expect(emu.isTokenValid(alice)).toBe(false);
    expect((await raw(emu, '/Users/Me', { headers: { Authorization: mb({ token: alice }) } })).status).toBe(401);
    expect(await ids({ Authorization: mb({ token: admin }) })).toEqual(['admin']);

    const again = emu.loginDirect('alice', 'alice', 'a-dev');
    expect((await raw(emu, '/Devices?id=a-dev', { method: 'DELETE', headers: { Authorization: mb({ token: admin }) } })).status).toBe(204);
    expect(emu.isTokenValid(again)).toBe(false);
    expect((await raw(emu, '/Devices?id=a-dev', { method: 'DELETE', headers: { Authorization: mb({ token: admin }) } })).status).toBe(404);
  });

  it('admin user management: New, Policy (disable revokes tokens), Delete; users listing', async () => {
    const emu = await start();
    const admin = emu.loginDirect('admin', 'admin');
    const auth = { Authorization: mb({ token: admin }) };
    const created = await raw(emu, '/Users/New', { method: 'POST', headers: auth, body: { name: 'bob', password: 'pw' } });
    expect(created.status).toBe(200);
    const bob = created.json<{ Id: string; Policy: Record<string, unknown> }>();
    expect(bob.Id).toMatch(HEX32);
    expect(bob.Policy['IsHidden']).toBe(true);
    expect((await raw(emu, '/Users/New', { method: 'POST', headers: auth, body: { Name: 'BOB' } })).status).toBe(400);
    const bobToken = emu.loginDirect('bob', 'pw');
    expect((await raw(emu, `/Users/${bob.Id}`, { headers: { Authorization: mb({ token: bobToken }) } })).json()['Name']).toBe('bob');
    expect((await raw(emu, '/Users', { headers: auth })).json<Array<{ Name: string }>>().map((u) => u.Name)).toEqual(['admin', 'alice', 'bob']);
    expect((await raw(emu, `/Users/${bob.Id}/Policy`, { method: 'POST', headers: { Authorization: mb({ token: bobToken }) }, body: bob.Policy })).status).toBe(403);

    const disable = await raw(emu, `/Users/${bob.Id}/Policy`, { method: 'POST', headers: auth, body: { ...bob.Policy, IsDisabled: true } });
    expect(disable.status).toBe(204);
    expect(emu.isTokenValid(bobToken)).toBe(false);
    expect(emu.user('bob').isDisabled).toBe(true);
    expect((await login(emu, 'bob', 'pw')).status).toBe(403);
    expect((await raw(emu, `/Users/${bob.Id}/Policy`, { method: 'POST', headers: auth, body: { IsDisabled: false } })).status).toBe(400);
    const selfDisable = await raw(emu, `/Users/${emu.user('admin').id}/Policy`, { method: 'POST', headers: auth, body: { ...bob.Policy, IsAdministrator: true, IsDisabled: true } });
    expect(selfDisable.status).toBe(403);
    expect(selfDisable.text).toBe('"Administrators cannot be disabled."');

    expect((await raw(emu, `/Users/${bob.Id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect(() => emu.user('bob')).toThrow();
    expect((await raw(emu, `/Users/${bob.Id}`, { headers: auth })).status).toBe(404);
    expect((await raw(emu, '/System/Info', { headers: auth })).json()['Id']).toBe(emu.serverId);
  });

  it('password change checks CurrentPw (counting failures) and revokes the other tokens; rename', async () => {
    const emu = await start({ loginAttemptsBeforeLockout: 5 });
    const phone = emu.loginDirect('alice', 'alice', 'phone');
    const tv = emu.loginDirect('alice', 'alice', 'tv');
    const auth = { Authorization: mb({ token: phone, deviceId: 'phone' }) };
    const wrong = await raw(emu, '/Users/Password', { method: 'POST', headers: auth, body: { CurrentPw: 'bad', NewPw: 'new' } });
    expect(wrong.status).toBe(403);
    expect(emu.user('alice').invalidLoginAttemptCount).toBe(1);
    expect((await raw(emu, '/Users/Password', { method: 'POST', headers: auth, body: { CurrentPw: 'alice', NewPw: 'new' } })).status).toBe(204);
    expect(emu.isTokenValid(phone)).toBe(true);
    expect(emu.isTokenValid(tv)).toBe(false);
    expect((await login(emu, 'alice', 'new')).status).toBe(200);
    const id = emu.user('alice').id;
    expect((await raw(emu, `/Users/${id}`, { method: 'POST', headers: auth, body: { Name: 'alicia' } })).status).toBe(204);
    expect(emu.user('alicia').id).toBe(id);
    expect((await raw(emu, `/Users/${emu.user('admin').id}`, { method: 'POST', headers: auth, body: { Name: 'x' } })).status).toBe(403);
  });

  it('records every request for forwarding assertions', async () => {
    const emu = await start();
    await raw(emu, '/System/Info/Public?x=1', { headers: { 'X-Test': 'yes' } });
    expect(emu.requests.at(-1)).toMatchObject({ method: 'GET', url: '/System/Info/Public?x=1', headers: { 'x-test': 'yes' } });
  });
});
