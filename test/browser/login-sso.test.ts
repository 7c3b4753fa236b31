import net from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { launchBrowser, localStorageOf, openPage, screenshot, type BrowserPage } from '../helpers/browser.ts';
import { startTestIdp, type TestIdp } from '../oidc/provider.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';

/**
 * Single sign-on in a real browser (Debian's Chromium): the login page's button for the provider (the
 * gateway's Authorize URL) → the IdP's own login form → the callback page, whose script collects the session
 * as jellyfin-web and stores it in jellyfin_credentials → jellyfin-web opens signed in, and its stored
 * token works through the gateway. A cancelled sign-in and Quick Connect turned off end on pages that
 * say why. Screenshots go to test-output/screenshots/.
 */
let jf: Emulator;
let gw: TestGateway;
let idp: TestIdp;
let browser: Browser;
const pages: BrowserPage[] = [];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function fresh(): Promise<BrowserPage> {
  const p = await openPage(browser);
  pages.push(p);
  return p;
}

beforeAll(async () => {
  jf = await startEmulator({ users: [{ name: 'admin', password: 'admin-pw', isAdministrator: true }] });
  const port = await freePort();
  idp = await startTestIdp({
    redirectUris: [`http://127.0.0.1:${port}/JellyfinSecurity/OIDC/Callback`],
    users: [
      { sub: 'sub-olga', login: 'olga', password: 'olga-idp', preferred_username: 'olga', groups: ['jellyfin'] },
      { sub: 'sub-pia', login: 'pia', password: 'pia-idp', preferred_username: 'pia', groups: ['jellyfin'] },
    ],
  });
  gw = await startGateway({
    upstreamUrl: jf.url,
    port,
    config: {
      JellyfinApiKey: jf.createApiKey('jellyguard'),
      OIDCProviders: [
        { Name: 'Test IdP', Id: 'main', ClientID: idp.clientId, ClientSecret: idp.clientSecret, Authority: idp.issuer, AllowPrivateEndpoints: true, AutoCreateUsers: true, AllowedGroups: ['jellyfin'] },
      ],
    },
  });
  browser = await launchBrowser();
}, 60_000);

afterEach(async () => {
  while (pages.length) await pages.pop()!.context.close();
});

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await idp?.close();
  await jf?.close();
});

describe('single sign-on in a browser', () => {
  it("IdP form → callback → jellyfin_credentials stored → jellyfin-web's session works through the gateway", async () => {
    const { page, errors } = await fresh();
    // jellyfin-web sends the browser to the login page, which offers one button per provider.
    await page.goto(`${gw.url}/web/`);
    await page.waitForURL(/\/JellyfinSecurity\/login\/\?return=/);
    const button = page.locator('[data-provider=main]');
    await button.waitFor();
    expect((await button.textContent())?.trim()).toBe('Sign in with Test IdP');
    // On an IP address no passkey can work: the page does not offer one.
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).count()).toBe(0);
    await screenshot(page, 'sso-login-page-button');
    await button.click();
    await page.waitForURL((u) => u.origin === idp.issuer);
    expect(new URL(page.url()).origin).toBe(idp.issuer);
    await page.fill('#login', 'olga');
    await page.fill('#password', 'olga-idp');
    await screenshot(page, 'sso-idp-form');
    await page.click('#submit');
    await page.waitForURL((u) => u.pathname.startsWith('/web'), { timeout: 15_000 });

    const storage = await localStorageOf(page);
    const creds = JSON.parse(storage.jellyfin_credentials!) as { Servers: Array<Record<string, unknown>> };
    expect(creds.Servers).toHaveLength(1);
    const server = creds.Servers[0]!;
    const olga = jf.user('olga');
    expect(server).toMatchObject({ Id: jf.serverId, UserId: olga.id, ManualAddress: gw.url, LastConnectionMode: 2 });
    expect(JSON.parse(storage[`user-${olga.id}-${jf.serverId}`]!)).toMatchObject({ Id: olga.id, Name: 'olga' });
    expect(storage.enableAutoLogin).toBe('true');
    // The session is this browser's own: jellyfin-web's DeviceId, created by the page.
    const deviceId = storage._deviceId2!;
    expect(deviceId).toBeTruthy();
    const entry = gw.gateway.tokens.forUser(olga.id)[0]!;
    expect(entry).toMatchObject({ deviceId, client: 'Jellyfin Web', method: 'oidc', state: 'verified' });
    const token = String(server.AccessToken);
    const me = await page.evaluate(async (t) => {
      const r = await fetch('/Users/Me', { headers: { authorization: `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="x", Version="10.11.11", Token="${t}"` } });
      return { status: r.status, name: ((await r.json()) as { Name: string }).Name };
    }, token);
    expect(me).toEqual({ status: 200, name: 'olga' });
    await screenshot(page, 'sso-signed-in-web');
    expect(errors.filter((e) => /Content Security Policy|Refused/i.test(e))).toEqual([]);
  });

  it("an account that needs this server's second factor continues on the login page and gets in after it", async () => {
    const throughIdp = async (page: BrowserPage['page']) => {
      await page.goto(`${gw.url}/JellyfinSecurity/OIDC/Authorize?providerId=main`);
      await page.fill('#login', 'pia');
      await page.fill('#password', 'pia-idp');
      await page.click('#submit');
    };
    // pia's first sign-in creates her account; then the administrator requires a second factor of her.
    const first = await fresh();
    await throughIdp(first.page);
    await first.page.waitForURL((u) => u.pathname.startsWith('/web'), { timeout: 15_000 });
    const auth = 'MediaBrowser Client="Jellyguard Tests", Device="Node", DeviceId="sso-admin", Version="1.0.0"';
    const admin = (await (await fetch(`${gw.url}/Users/AuthenticateByName`, {
      method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ Username: 'admin', Pw: 'admin-pw' }),
    })).json()) as { AccessToken: string };
    // Changing another user's factors is an administrator action: the admin (no factor) proves it with the password.
    const asAdmin = { authorization: `${auth}, Token="${admin.AccessToken}"`, 'content-type': 'application/json' };
    const proof = (await (await fetch(`${gw.url}/JellyfinSecurity/StepUp`, {
      method: 'POST', headers: asAdmin, body: JSON.stringify({ method: 'password', action: 'ChangeUserFactors', target: jf.user('pia').id, password: 'admin-pw' }),
    })).json()) as { grant: string };
    const required = await fetch(`${gw.url}/JellyfinSecurity/Users/${jf.user('pia').id}`, {
      method: 'PUT', headers: { ...asAdmin, 'x-jellyguard-stepup': proof.grant }, body: JSON.stringify({ requireSecondFactor: true }),
    });
    expect(required.status).toBe(200);

    // A new browser: the IdP's sign-in (a password alone) → the gateway's login page, at the second step.
    const { page } = await fresh();
    await throughIdp(page);
    await page.waitForURL(/\/JellyfinSecurity\/login\/\?return=/, { timeout: 15_000 });
    await page.waitForSelector('[data-enroll=totp]');
    expect(((await page.locator('h1').textContent()) ?? '').trim()).toBe('Set up two-step verification');
    expect((await localStorageOf(page)).jellyfin_credentials).toBeUndefined(); // nothing usable before the second step
    expect(gw.gateway.tokens.forUser(jf.user('pia').id).filter((t) => t.state === 'verified')).toHaveLength(1); // the first browser's
    await screenshot(page, 'sso-second-step-login-page');
    await page.click('[data-enroll=totp]');
    const secret = (await page.getByTestId('totp-secret').getAttribute('data-secret'))!;
    await page.fill('#enroll-code', await totpCodeAt(secret, Date.now()));
    await page.click('[data-testid=enroll-totp-form] button[type=submit]');
    await page.getByTestId('codes-saved').check();
    await page.getByRole('button', { name: 'Continue to Jellyfin' }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/web'), { timeout: 15_000 });
    const creds = JSON.parse((await localStorageOf(page)).jellyfin_credentials!) as { Servers: Array<{ AccessToken: string; UserId: string }> };
    expect(creds.Servers[0]!.UserId).toBe(jf.user('pia').id);
    const me = await fetch(`${gw.url}/Users/Me`, { headers: { authorization: `${auth}, Token="${creds.Servers[0]!.AccessToken}"` } });
    expect(me.status).toBe(200);
  });

  it('Cancel at the IdP ends on a page that says so', async () => {
    const { page } = await fresh();
    await page.goto(`${gw.url}/JellyfinSecurity/OIDC/Authorize?providerId=main`);
    await page.click('#cancel');
    await page.waitForURL((u) => u.pathname.endsWith('/OIDC/Callback'));
    await expect.poll(() => page.textContent('#message')).toMatch(/cancelled or refused/);
    await screenshot(page, 'sso-cancelled');
  });

  it('Quick Connect turned off at Jellyfin: the page says what to tell the administrator, and nothing is stored', async () => {
    jf.quickConnectEnabled = false;
    try {
      const { page } = await fresh();
      await page.goto(`${gw.url}/JellyfinSecurity/OIDC/Authorize?providerId=main`);
      await page.fill('#login', 'olga');
      await page.fill('#password', 'olga-idp');
      await page.click('#submit');
      await page.waitForURL((u) => u.pathname.endsWith('/OIDC/Callback'));
      await expect.poll(() => page.textContent('#status'), { timeout: 10_000 }).toMatch(/Quick Connect.*turned off/);
      expect(await page.isVisible('#again')).toBe(true);
      expect((await localStorageOf(page)).jellyfin_credentials).toBeUndefined();
      await screenshot(page, 'sso-quick-connect-off');
    } finally {
      jf.quickConnectEnabled = true;
    }
  });
});
