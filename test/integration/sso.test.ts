import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/index.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { getUserApi, jellyfinClient } from '../helpers/sdk.ts';
import { startTestIdp, type TestIdp } from '../oidc/provider.ts';
import { CookieBrowser } from '../oidc/browser-jar.ts';
import { api, code, expectRefusedEverywhere, heldToken, tapAudit } from './factors-helpers.ts';

/**
 * OIDC single sign-on against a real provider (oidc-provider) over HTTP, with a cookie jar per browser:
 * the whole flow ends with a Jellyfin session of the browser's own that works through the gateway; every
 * way the provider's answer can be wrong or replayed is refused with a page that says why and an audit row.
 */
let jf: Emulator;
let gw: TestGateway;
let idp: TestIdp;
let linkIdp: TestIdp;
let briefIdp: TestIdp;
const audit: AuditEvent[] = [];
let callbackPrefix = '';
/** The gateway's clock: the real time, moved by `offset` to play a server whose clock is wrong. */
const clock = { offset: 0, now: () => Date.now() + clock.offset };

const WEB = 'MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="%ID%", Version="10.11.11"';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const authorizeUrl = (provider: string, ret?: string) =>
  `${gw.url}/JellyfinSecurity/OIDC/Authorize?providerId=${provider}${ret ? `&return=${encodeURIComponent(ret)}` : ''}`;

/** The page the callback answers: status, the reason a refusal gives, and the body. */
async function openCallback(b: CookieBrowser, url: string) {
  const res = await b.fetch(url);
  const html = await res.text();
  return { status: res.status, reason: /data-reason="([^"]+)"/.exec(html)?.[1], html, csp: res.headers.get('content-security-policy') };
}

/** What the callback page's script does: collect the session as jellyfin-web. */
async function collect(b: CookieBrowser, deviceId: string) {
  const res = await b.fetch(`${gw.url}/JellyfinSecurity/OIDC/Session`, {
    method: 'POST',
    headers: { authorization: WEB.replace('%ID%', deviceId), 'content-type': 'application/json' },
    body: '{}',
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function signIn(b: CookieBrowser, provider: string, who: { login: string; password: string }, deviceId: string) {
  const cb = await b.throughIdp(authorizeUrl(provider), who, { callbackPrefix });
  const page = await openCallback(b, cb);
  expect(page.status, page.html).toBe(200);
  return collect(b, deviceId);
}

const meStatus = async (token: string) => (await fetch(`${gw.url}/Users/Me`, { headers: { authorization: `${WEB.replace('%ID%', 'x')}, Token="${token}"` } })).status;
const events = (type: string) => audit.filter((e) => e.type === type);

beforeAll(async () => {
  jf = await startEmulator({ users: [{ name: 'admin', password: 'admin-pw', isAdministrator: true }, { name: 'dana', password: 'dana-pw' }, { name: 'erin', password: 'erin-pw' }] });
  const apiKey = jf.createApiKey('jellyguard');
  const port = await freePort();
  callbackPrefix = `http://127.0.0.1:${port}/JellyfinSecurity/OIDC/Callback`;
  idp = await startTestIdp({
    redirectUris: [callbackPrefix],
    users: [
      { sub: 'sub-ivan', login: 'ivan', password: 'ivan-idp', preferred_username: 'ivan', email: 'ivan@example.org', email_verified: true, groups: ['jellyfin'] },
      { sub: 'sub-grace', login: 'grace', password: 'grace-idp', preferred_username: 'grace', groups: ['jellyfin', 'jellyfin-admins'], amr: ['pwd', 'otp'] },
      { sub: 'sub-henry', login: 'henry', password: 'henry-idp', preferred_username: 'henry', groups: ['jellyfin', 'jellyfin-admins'], amr: ['pwd'] },
      { sub: 'sub-mallory', login: 'mallory', password: 'mallory-idp', preferred_username: 'mallory', groups: ['guests'] },
      { sub: 'sub-qc', login: 'quinn', password: 'quinn-idp', preferred_username: 'quinn', groups: ['jellyfin'] },
    ],
  });
  linkIdp = await startTestIdp({
    redirectUris: [callbackPrefix],
    users: [
      { sub: 'sub-dana', login: 'dana', password: 'dana-idp', preferred_username: 'dana', email: 'dana@example.org', email_verified: false },
      { sub: 'sub-sneaky', login: 'sneaky', password: 'sneaky-idp', preferred_username: 'admin', email: 'sneaky@example.org', email_verified: true },
    ],
  });
  briefIdp = await startTestIdp({
    redirectUris: [callbackPrefix],
    codeTtlSeconds: 1,
    users: [{ sub: 'sub-ivan', login: 'ivan', password: 'ivan-idp', preferred_username: 'ivan' }],
  });
  gw = await startGateway({
    upstreamUrl: jf.url,
    port,
    clock,
    config: {
      JellyfinApiKey: apiKey,
      EnforcementScope: 'Admins',
      DisablePasswordLoginForSSOUsers: true,
      OIDCProviders: [
        {
          Name: 'Test IdP', Id: 'main', ClientID: idp.clientId, ClientSecret: idp.clientSecret, Authority: idp.issuer,
          AllowPrivateEndpoints: true, AutoCreateUsers: true, AllowedGroups: ['jellyfin'], AdminGroups: ['jellyfin-admins'],
          OIDCSatisfiesSecondFactor: true,
        },
        {
          Name: 'Family IdP', Id: 'family', ClientID: linkIdp.clientId, ClientSecret: linkIdp.clientSecret, Authority: linkIdp.issuer,
          AllowPrivateEndpoints: true, LinkExistingUsers: true, ButtonText: 'Family sign-in',
        },
        {
          Name: 'Brief IdP', Id: 'brief', ClientID: briefIdp.clientId, ClientSecret: briefIdp.clientSecret, Authority: briefIdp.issuer,
          AllowPrivateEndpoints: true, AutoCreateUsers: true,
        },
        { Name: 'Gone IdP', Id: 'gone', ClientID: 'x', ClientSecret: 'y', Authority: 'http://127.0.0.1:1', AllowPrivateEndpoints: true },
      ],
    },
  });
  tapAudit(gw, audit);
});

afterAll(async () => {
  await gw?.close();
  await idp?.close();
  await linkIdp?.close();
  await briefIdp?.close();
  await jf?.close();
});

describe('single sign-on: the happy path', () => {
  it('lists the providers publicly, with their buttons', async () => {
    const res = await fetch(`${gw.url}/JellyfinSecurity/OIDC/Providers`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      providers: [
        { id: 'main', buttonText: 'Sign in with Test IdP' },
        { id: 'family', buttonText: 'Family sign-in' },
        { id: 'brief', buttonText: 'Sign in with Brief IdP' },
        { id: 'gone', buttonText: 'Sign in with Gone IdP' },
      ],
    });
  });

  it('a new browser signs in at the IdP and ends with a Jellyfin session of its own that works through the gateway', async () => {
    const b = new CookieBrowser();
    const authorize = await b.fetch(authorizeUrl('main', '/web/#/home'));
    expect(authorize.status).toBe(302);
    const to = new URL(authorize.headers.get('location')!);
    expect(to.origin).toBe(idp.issuer);
    expect(to.searchParams.get('code_challenge_method')).toBe('S256');
    expect(to.searchParams.get('scope')).toBe('openid profile email groups');
    expect(to.searchParams.get('redirect_uri')).toBe(callbackPrefix);
    const cookie = authorize.headers.getSetCookie().find((c) => c.startsWith('jg_sso='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\/JellyfinSecurity\/OIDC\//);
    // The state, nonce and verifier are sealed: none of them is readable in the cookie.
    expect(b.jar.get('jg_sso')).not.toContain(to.searchParams.get('state'));

    const cb = await b.throughIdp(authorizeUrl('main', '/web/#/home'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
    const page = await openCallback(b, cb);
    expect(page.status, page.html).toBe(200);
    expect(page.html).toContain('/JellyfinSecurity/OIDC/complete.js');
    expect(page.csp).toContain("script-src 'self'");
    expect(b.jar.has('jg_sso')).toBe(false); // spent
    const script = await fetch(`${gw.url}/JellyfinSecurity/OIDC/complete.js`);
    expect(script.status).toBe(200);
    expect(await script.text()).toContain('jellyfin_credentials');

    const ticket = b.jar.get('jg_sso_done')!;
    expect(ticket).toBeTruthy();
    const done = await collect(b, 'ivan-browser');
    expect(done.status, JSON.stringify(done.json)).toBe(200);
    expect(done.json.returnPath).toBe('/web/#/home');
    const result = done.json.AuthenticationResult;
    const ivan = jf.user('ivan'); // created through Jellyfin's API
    expect(ivan.isAdministrator).toBe(false);
    expect(result.User.Id).toBe(ivan.id);
    expect(result.SessionInfo.DeviceId).toBe('ivan-browser');
    expect(result.SessionInfo.Client).toBe('Jellyfin Web');
    expect(await meStatus(result.AccessToken)).toBe(200);
    // jellyfin-web's next request with the stored token, as the SDK sends it.
    const api = jellyfinClient(gw.url, { client: 'Jellyfin Web', device: 'Chrome', deviceId: 'ivan-browser' });
    api.accessToken = result.AccessToken;
    expect((await getUserApi(api).getCurrentUser()).data.Name).toBe('ivan');
    // Nobody knows the password it was created with.
    const pw = await fetch(`${gw.url}/Users/AuthenticateByName`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: WEB.replace('%ID%', 'pw') },
      body: JSON.stringify({ Username: 'ivan', Pw: '' }),
    });
    expect(pw.status).toBe(401);

    expect(events('sso.user.created').some((e) => e.userId === ivan.id)).toBe(true);
    expect(events('sso.success').some((e) => e.userId === ivan.id && e.detail?.secondFactor === 'not_required')).toBe(true);
    expect(events('session.minted').some((e) => e.userId === ivan.id && e.detail?.method === 'oidc')).toBe(true);

    // The ticket is single use: gone from this browser, and spent for anyone who kept a copy.
    expect((await collect(b, 'ivan-browser')).json.error).toBe('ticket_invalid');
    const copy = new CookieBrowser();
    copy.jar.set('jg_sso_done', ticket);
    const replay = await collect(copy, 'thief-browser');
    expect(replay.status).toBe(400);
    expect(replay.json.error).toBe('ticket_invalid');
  });

  it('a second sign-in finds the same user by (issuer, subject) and creates nobody', async () => {
    const before = events('sso.user.created').length;
    const done = await signIn(new CookieBrowser(), 'main', { login: 'ivan', password: 'ivan-idp' }, 'ivan-phone');
    expect(done.status).toBe(200);
    expect(done.json.AuthenticationResult.User.Id).toBe(jf.user('ivan').id);
    expect(events('sso.user.created').length).toBe(before);
  });

  it('a return path off jellyfin-web is replaced by its home', async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('main', 'https://evil.example/'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
    expect((await openCallback(b, cb)).html).toContain('data-return="/web/"');
    const dots = new CookieBrowser();
    const cb2 = await dots.throughIdp(authorizeUrl('main', '/web/../JellyfinSecurity/Me'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
    expect((await openCallback(dots, cb2)).html).toContain('data-return="/web/"');
  });
});

describe('second factor after the IdP', () => {
  it("an administrator (EnforcementScope Admins) whose IdP sign-in used a second factor needs no other", async () => {
    const done = await signIn(new CookieBrowser(), 'main', { login: 'grace', password: 'grace-idp' }, 'grace-browser');
    expect(done.status).toBe(200);
    expect(jf.user('grace').isAdministrator).toBe(true); // AdminGroups
    expect(events('sso.success').some((e) => e.userName === 'grace' && e.detail?.secondFactor === 'provider')).toBe(true);
  });

  it('one whose IdP sign-in was a password alone continues in the login challenge, and the session works only after it', async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('main'), { login: 'henry', password: 'henry-idp' }, { callbackPrefix });
    expect((await openCallback(b, cb)).status).toBe(200);
    // The page's script collects as jellyfin-web: the same challenge a password login opens (henry is an
    // administrator without a factor, whom policy requires to have one: he sets one up inside it).
    const held = await collect(b, 'henry-browser');
    expect(held.status).toBe(401);
    expect(held.json).toMatchObject({ error: 'second_factor_required', methods: ['enroll'], returnPath: '/web/' });
    expect(JSON.stringify(held.json)).not.toMatch(/accesstoken/i);
    const challengeId = held.json.challengeId as string;
    // The minted token exists at Jellyfin but is refused everywhere until the challenge passes.
    const token = await heldToken(gw, challengeId);
    expect(jf.isTokenValid(token)).toBe(true);
    await expectRefusedEverywhere(gw, token);
    expect(gw.gateway.tokens.forUser(jf.user('henry').id).every((t) => t.state === 'pending')).toBe(true);
    // The ticket was single-use.
    expect((await collect(b, 'henry-browser')).status).toBe(400);

    const enrollment = await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollTOTP', { body: { challengeId } });
    expect(enrollment.status, enrollment.text).toBe(200);
    const confirmed = await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollTOTP/Confirm', { body: { challengeId, code: await code(enrollment.json.secret, gw) } });
    expect(confirmed.status, confirmed.text).toBe(200);
    const done = await api(gw, 'POST', '/JellyfinSecurity/Challenge/Complete', { body: { challengeId } });
    expect(done.status, done.text).toBe(200);
    expect(done.json.AccessToken).toBe(token);
    expect(await meStatus(token)).toBe(200);
    expect(gw.gateway.tokens.forUser(jf.user('henry').id).find((t) => t.deviceId === 'henry-browser')).toMatchObject({ state: 'verified' });
  });
});

describe('refusals: every one a page that says why, and an audit row', () => {
  it('the IdP answers error=access_denied (the person pressed Cancel)', async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('main'), 'cancel', { callbackPrefix });
    expect(new URL(cb).searchParams.get('error')).toBe('access_denied');
    const page = await openCallback(b, cb);
    expect(page.status).toBe(403);
    expect(page.reason).toBe('idp_access_denied');
    expect(page.html).toMatch(/cancelled or refused/);
    expect(events('sso.failure').some((e) => e.detail?.reason === 'idp_access_denied')).toBe(true);
  });

  it('a replayed callback is refused, with or without the spent cookie', async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('main'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
    const sealed = b.jar.get('jg_sso')!;
    expect((await openCallback(b, cb)).status).toBe(200);
    // The same browser again: its cookie is gone.
    expect((await openCallback(b, cb)).reason).toBe('state_foreign');
    // Someone who kept the cookie too: the state is spent (remembered in SQLite).
    const thief = new CookieBrowser();
    thief.jar.set('jg_sso', sealed);
    const replay = await openCallback(thief, cb);
    expect(replay.status).toBe(400);
    expect(replay.reason).toBe('state_replayed');
    expect(events('sso.failure').some((e) => e.detail?.reason === 'state_replayed')).toBe(true);
  });

  it("a callback opened in another browser (login CSRF) is refused and does not spend the victim's sign-in", async () => {
    const victim = new CookieBrowser();
    const cb = await victim.throughIdp(authorizeUrl('main'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
    const noCookie = await openCallback(new CookieBrowser(), cb);
    expect(noCookie.status).toBe(400);
    expect(noCookie.reason).toBe('state_foreign');
    // A browser with a sign-in of its own in progress: the states differ.
    const other = new CookieBrowser();
    await other.fetch(authorizeUrl('main'));
    expect((await openCallback(other, cb)).reason).toBe('state_foreign');
    // The browser that started it still completes.
    expect((await openCallback(victim, cb)).status).toBe(200);
  });

  it('a nonce changed on the way to the IdP makes the ID token not match', async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('main'), { login: 'ivan', password: 'ivan-idp' }, {
      callbackPrefix,
      tamperAuthorization: (u) => u.searchParams.set('nonce', 'attacker-chosen-nonce'),
    });
    const page = await openCallback(b, cb);
    expect(page.status, page.html).toBe(400);
    expect(page.reason).toBe('nonce_mismatch');
  });

  it('an answer that names another issuer is refused', async () => {
    const b = new CookieBrowser();
    const cb = new URL(await b.throughIdp(authorizeUrl('main'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix }));
    cb.searchParams.set('iss', linkIdp.issuer);
    const page = await openCallback(b, cb.href);
    expect(page.status, page.html).toBe(400);
    expect(page.reason).toBe('wrong_issuer');
  });

  it("the gateway's clock two hours ahead of the IdP's: the ID token looks expired, and the page says the clocks disagree", async () => {
    clock.offset = 2 * 3600_000;
    try {
      const b = new CookieBrowser();
      const cb = await b.throughIdp(authorizeUrl('main'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
      const page = await openCallback(b, cb);
      expect(page.status).toBe(400);
      expect(page.reason).toBe('clock_skew');
      expect(page.html).toMatch(/clocks of this server and Test IdP disagree/);
    } finally {
      clock.offset = 0;
    }
  });

  it('a code already used is refused by the IdP, and said so', async () => {
    const b = new CookieBrowser();
    const first = await b.throughIdp(authorizeUrl('main'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
    expect((await openCallback(b, first)).status).toBe(200);
    // A fresh sign-in of the same browser, answered with the old code.
    const second = new URL(await b.throughIdp(authorizeUrl('main'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix }));
    second.searchParams.set('code', new URL(first).searchParams.get('code')!);
    const page = await openCallback(b, second.href);
    expect(page.status).toBe(400);
    expect(page.reason).toBe('code_invalid');
  });

  it('a code that expired before it was exchanged', async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('brief'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
    await new Promise((r) => setTimeout(r, 2100)); // the IdP's code lives 1 s
    const page = await openCallback(b, cb);
    expect(page.status).toBe(400);
    expect(page.reason).toBe('code_invalid');
    expect(page.html).toMatch(/had expired or was already used/);
  });

  it('a provider that cannot be reached: a page, not a crash', async () => {
    const res = await new CookieBrowser().fetch(authorizeUrl('gone'));
    const html = await res.text();
    expect(res.status).toBe(502);
    expect(html).toContain('data-reason="idp_unreachable"');
    expect(html).toContain('Gone IdP cannot be reached');
    expect(events('sso.failure').some((e) => e.detail?.reason === 'idp_unreachable' && e.detail?.provider === 'gone')).toBe(true);
  });

  it('an unknown provider id', async () => {
    const res = await new CookieBrowser().fetch(authorizeUrl('nope'));
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('data-reason="unknown_provider"');
  });

  it('someone outside AllowedGroups is refused and no Jellyfin user is created', async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('main'), { login: 'mallory', password: 'mallory-idp' }, { callbackPrefix });
    const page = await openCallback(b, cb);
    expect(page.status).toBe(403);
    expect(page.reason).toBe('not_in_allowed_groups');
    expect(() => jf.user('mallory')).toThrow();
  });

  it('a user removed from AllowedGroups is refused at the next sign-in and their gateway sessions are revoked', async () => {
    const ivan = jf.user('ivan');
    const sessions = gw.gateway.tokens.forUser(ivan.id);
    expect(sessions.length).toBeGreaterThan(0);
    const live = await signIn(new CookieBrowser(), 'main', { login: 'ivan', password: 'ivan-idp' }, 'ivan-tv');
    const token = live.json.AuthenticationResult.AccessToken as string;
    expect(await meStatus(token)).toBe(200);

    idp.users.get('ivan')!.groups = ['former-members'];
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('main'), { login: 'ivan', password: 'ivan-idp' }, { callbackPrefix });
    const page = await openCallback(b, cb);
    expect(page.status).toBe(403);
    expect(page.reason).toBe('not_in_allowed_groups');
    expect(gw.gateway.tokens.forUser(ivan.id)).toEqual([]);
    expect(await meStatus(token)).toBe(401);
    expect(jf.isTokenValid(token)).toBe(false); // the device was deleted at Jellyfin too
    expect(events('sso.refused').some((e) => e.userId === ivan.id && (e.detail?.sessionsRevoked as number) > 0)).toBe(true);
  });
});

describe('linking an existing Jellyfin user (LinkExistingUsers)', () => {
  it('is refused while the IdP has not verified the e-mail address, and works once it has', async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('family'), { login: 'dana', password: 'dana-idp' }, { callbackPrefix });
    const page = await openCallback(b, cb);
    expect(page.status).toBe(403);
    expect(page.reason).toBe('email_unverified');
    expect(await gw.gateway.store.db.selectFrom('sso_links').selectAll().where('user_id', '=', jf.user('dana').id).execute()).toEqual([]);

    linkIdp.users.get('dana')!.email_verified = true;
    const done = await signIn(new CookieBrowser(), 'family', { login: 'dana', password: 'dana-idp' }, 'dana-browser');
    expect(done.status).toBe(200);
    expect(done.json.AuthenticationResult.User.Id).toBe(jf.user('dana').id);
    const link = await gw.gateway.store.db.selectFrom('sso_links').selectAll().where('user_id', '=', jf.user('dana').id).executeTakeFirst();
    expect(link).toMatchObject({ issuer: linkIdp.issuer, subject: 'sub-dana', linked_by: 'name', provider_id: 'family' });
  });
});

describe('linking never takes over an administrator by name', () => {
  it("an IdP user who calls themselves 'admin' is refused, and nothing is linked", async () => {
    const b = new CookieBrowser();
    const cb = await b.throughIdp(authorizeUrl('family'), { login: 'sneaky', password: 'sneaky-idp' }, { callbackPrefix });
    const page = await openCallback(b, cb);
    expect(page.status).toBe(403);
    expect(page.reason).toBe('link_admin_by_name');
    expect(await gw.gateway.store.db.selectFrom('sso_links').selectAll().where('subject', '=', 'sub-sneaky').execute()).toEqual([]);
    expect(events('sso.refused').some((e) => e.detail?.reason === 'link_admin_by_name')).toBe(true);
  });
});

describe('Quick Connect turned off at Jellyfin', () => {
  it('the IdP sign-in is checked, then collecting the session says clearly why not; password sign-in still works', async () => {
    jf.quickConnectEnabled = false;
    try {
      const b = new CookieBrowser();
      const cb = await b.throughIdp(authorizeUrl('main'), { login: 'quinn', password: 'quinn-idp' }, { callbackPrefix });
      expect((await openCallback(b, cb)).status).toBe(200);
      const done = await collect(b, 'quinn-browser');
      expect(done.status).toBe(503);
      expect(done.json.error).toBe('quick_connect_disabled');
      expect(done.json.message).toMatch(/Quick Connect/);
      expect(events('session.mint.failed').some((e) => e.detail?.reason === 'quick_connect_disabled')).toBe(true);
      const pw = await fetch(`${gw.url}/Users/AuthenticateByName`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: WEB.replace('%ID%', 'erin-pw') },
        body: JSON.stringify({ Username: 'erin', Pw: 'erin-pw' }),
      });
      expect(pw.status).toBe(200);
    } finally {
      jf.quickConnectEnabled = true;
    }
  });
});

describe('DisablePasswordLoginForSSOUsers', () => {
  it("refuses a linked user's correct password (its token revoked at Jellyfin); users without a link sign in as before", async () => {
    const logouts = () => jf.requests.filter((r) => /\/sessions\/logout/i.test(r.url)).length;
    const before = logouts();
    const refused = await fetch(`${gw.url}/Users/AuthenticateByName`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: WEB.replace('%ID%', 'dana-pw-2') },
      body: JSON.stringify({ Username: 'dana', Pw: 'dana-pw' }),
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'password_login_disabled' });
    expect(logouts()).toBe(before + 1);
    expect(gw.gateway.tokens.forUser(jf.user('dana').id).some((t) => t.deviceId === 'dana-pw-2')).toBe(false);
    expect(events('sso.password.refused').some((e) => e.userId === jf.user('dana').id)).toBe(true);
    const erin = await fetch(`${gw.url}/Users/AuthenticateByName`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: WEB.replace('%ID%', 'erin-pw-2') },
      body: JSON.stringify({ Username: 'erin', Pw: 'erin-pw' }),
    });
    expect(erin.status).toBe(200);
  });
});
