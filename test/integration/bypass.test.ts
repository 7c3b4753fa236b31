import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { authHeader } from '../helpers/sdk.ts';
import { login, send, variantsOf } from './stepup-admin-helpers.ts';

/**
 * JELLYFIN.md §9: the ways the leading plugin was bypassed, each tried against the gateway. A login the
 * gateway failed to intercept would go straight through the proxy and its token would be unknown to the
 * gate — so "the token works" proves the login was seen; later issues make the same paths demand a factor.
 */
const variantsFor = (base: string, id: string, dashed: string) => [
  `${base}/Users/AuthenticateByName`,
  `${base}/users/authenticatebyname`,
  `${base}/USERS/AUTHENTICATEBYNAME/`,
  `${base}//Users//AuthenticateByName`,
  `${base}/Users/%41uthenticateByName`,
  `${base}/Users/Authenticate%2542yName`,
  `${base}/Users/x/../AuthenticateByName`,
  `${base}/Users/./AuthenticateByName`,
  `${base}/emby/Users/AuthenticateByName`,
  `${base}/mediabrowser/Users/AuthenticateByName`,
  `${base}/Emby/users/authenticatebyname`,
  `${base}/Users/${id}/Authenticate?pw=PW`,
  `${base}/Users/${id.toUpperCase()}/Authenticate?pw=PW`,
  `${base}/Users/${dashed}/Authenticate?pw=PW`,
  `${base}/emby/users/${dashed}/authenticate?PW=PW`,
];

async function loginAt(url: string, username: string, password: string, deviceId: string) {
  return fetch(url.replace('PW', encodeURIComponent(password)), {
    method: 'POST',
    headers: {
      authorization: `MediaBrowser Client="Bypass", Device="Probe", DeviceId="${deviceId}", Version="1"`,
      'content-type': 'application/json',
    },
    body: url.includes('?pw=') || url.includes('?PW=') ? '' : JSON.stringify({ Username: username, Pw: password }),
  });
}

const dash = (id: string) => `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;

for (const baseUrl of ['', '/jellyfin']) {
  describe(`login path variants${baseUrl ? ' behind BaseUrl ' + baseUrl : ''}`, () => {
    let jf: Emulator;
    let gw: TestGateway;
    beforeAll(async () => {
      jf = await startEmulator({ version: '10.10', baseUrl, users: [{ name: 'carol', password: 'carol-pw' }] });
      gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, config: { BaseUrl: baseUrl } });
    });
    afterAll(async () => {
      await gw?.close();
      await jf?.close();
    });

    it('intercepts every variant Jellyfin routes: the released token is one the gate knows', async () => {
      const id = jf.user('carol').id;
      const origin = new URL(jf.url).origin;
      let n = 0;
      let routed = 0;
      for (const path of variantsFor(baseUrl, id, dash(id))) {
        // Does Jellyfin (the emulator) itself route this variant to a login?
        const direct = await loginAt(origin + path, 'carol', 'carol-pw', `direct-${n}`);
        const res = await loginAt(gw.url + path, 'carol', 'carol-pw', `variant-${n++}`);
        const body = await res.text();
        if (direct.status === 200) {
          routed++;
          expect(res.status, path).toBe(200);
        }
        if (res.status !== 200) {
          expect(body).not.toMatch(/AccessToken/i);
          continue;
        }
        const token = (JSON.parse(body) as { AccessToken: string }).AccessToken;
        expect(gw.gateway.tokens.isVerified(token), path).toBe(true);
      }
      expect(routed).toBeGreaterThanOrEqual(12);
    });

    it("moves the gateway's own routes under the BaseUrl", async () => {
      const ours = await fetch(`${gw.url}${baseUrl}/JellyfinSecurity/Health`);
      expect(ours.status).toBe(200);
    });
  });
}

describe('forwarding headers', () => {
  let jf: Emulator;
  let gw: TestGateway;
  beforeAll(async () => {
    jf = await startEmulator({ users: [{ name: 'dave', password: 'dave-pw' }] });
    gw = await startGateway({ upstreamUrl: jf.url, config: { TrustedProxyCIDRs: ['10.0.0.0/8'] } });
  });
  afterAll(async () => {
    await gw?.close();
    await jf?.close();
  });

  it('ignores X-Forwarded-For from an untrusted peer and tells Jellyfin the real address', async () => {
    await fetch(`${gw.url}/System/Info/Public`, {
      headers: { 'x-forwarded-for': '192.168.1.50', forwarded: 'for=192.168.1.51', 'x-real-ip': '192.168.1.52' },
    });
    const seen = jf.requests.at(-1)!;
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers.forwarded).toBeUndefined();
    expect(seen.headers['x-real-ip']).toBeUndefined();
  });

  it("never shows the gateway's own cookies to Jellyfin", async () => {
    await fetch(`${gw.url}/System/Info/Public`, { headers: { cookie: 'JellyfinSecurity-TrustedDevice=secret; theme=dark' } });
    expect(jf.requests.at(-1)!.headers.cookie).toBe('theme=dark');
    await fetch(`${gw.url}/Users/AuthenticateByName`, {
      method: 'POST',
      headers: {
        cookie: 'JellyfinSecurity-TrustedDevice=secret',
        authorization: 'MediaBrowser Client="c", Device="d", DeviceId="cookie-1", Version="1"',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ Username: 'dave', Pw: 'dave-pw' }),
    });
    expect(jf.requests.at(-1)!.headers.cookie).toBeUndefined();
  });

  it('refuses a token whatever other header tries to vouch for it', async () => {
    const token = jf.loginDirect('dave', 'dave-pw', 'dave-1');
    const res = await fetch(`${gw.url}/Users/Me`, {
      headers: { authorization: authHeader(token, 'dave-1'), 'x-forwarded-for': '127.0.0.1' },
    });
    expect(res.status).toBe(401);
  });
});

/**
 * The same bypasses against the administrator step-up (server/stepup/admin-actions.ts): every spelling
 * Jellyfin routes to "make bob an administrator", "create an API key" or "list the API keys" is asked for a
 * proof, and none reaches Jellyfin without one. (test/integration/stepup-admin.test.ts covers every listed
 * action; these are the ones a thief wants first.)
 */
for (const baseUrl of ['', '/jellyfin']) {
  describe(`administrator action path variants${baseUrl ? ' behind BaseUrl ' + baseUrl : ''}`, () => {
    let jf: Emulator;
    let gw: TestGateway;
    let root = '';
    beforeAll(async () => {
      jf = await startEmulator({
        baseUrl,
        users: [
          { name: 'root', password: 'root-pw', isAdministrator: true },
          { name: 'bob', password: 'bob-pw' },
        ],
      });
      gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, config: { BaseUrl: baseUrl, JellyfinApiKey: jf.createApiKey('jellyguard') } });
      root = await login(gw, baseUrl, 'root', 'root-pw', 'root-web');
    });
    afterAll(async () => {
      await gw?.close();
      await jf?.close();
    });

    it('asks for a proof in every spelling Jellyfin routes, and forwards none', async () => {
      const bob = jf.user('bob').id;
      const cases = [
        { method: 'POST', path: `/Users/${bob}/Policy`, reaches: 'POST Users/{userId}/Policy', action: 'MakeAdministrator', body: { IsAdministrator: true, AuthenticationProviderId: 'a', PasswordResetProviderId: 'b' } },
        { method: 'POST', path: '/Auth/Keys?app=Thief', reaches: 'POST Auth/Keys', action: 'CreateApiKey' },
        { method: 'GET', path: '/Auth/Keys', reaches: 'GET Auth/Keys', action: 'ViewApiKeys' },
      ];
      for (const c of cases) {
        let routed = 0;
        for (const path of variantsOf(baseUrl, c.path)) {
          const before = jf.reached(c.reaches);
          // Does Jellyfin route this spelling to the action? (No token: counted, then refused by Jellyfin.)
          await send(new URL(jf.url).origin, c.method, path, { body: c.body });
          const isRoute = jf.reached(c.reaches) === before + 1;
          const r = await send(gw.url, c.method, path, { token: root, deviceId: 'root-web', body: c.body });
          expect(jf.reached(c.reaches), `${c.method} ${path} was forwarded`).toBe(before + (isRoute ? 1 : 0));
          if (isRoute) {
            routed++;
            expect(r.status, `${c.method} ${path}: ${r.text}`).toBe(401);
            expect(r.json, path).toMatchObject({ error: 'step_up_required', action: c.action });
          }
        }
        expect(routed, c.action).toBeGreaterThanOrEqual(9);
      }
      expect(jf.user('bob').isAdministrator).toBe(false);
    });
  });
}
