import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  DESKTOP,
  addVirtualAuthenticator,
  launchBrowser,
  localStorageOf,
  openPage,
  screenshot,
  screenshotBoth,
  type BrowserPage,
  type VirtualAuthenticator,
} from '../helpers/browser.ts';

/**
 * Passkeys on the web login, in a real browser with the CDP virtual authenticator (user verification
 * required): carol must have a second factor and has none, so she creates a passkey inside her
 * sign-in; next time she signs in with it; an assertion without user verification is refused — by the
 * browser when the page asks for verification as the server says, and by the server when a tampered
 * page does not ask for it.
 */

let jf: Emulator;
let gw: TestGateway;
let browser: Browser;
let origin: string;
let tab: BrowserPage;
let authenticator: VirtualAuthenticator;
const clock = new ManualClock();
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const POLL = { timeout: 10_000, interval: 50 };

async function textOf(l: Locator): Promise<string> {
  return ((await l.first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

async function api(method: string, path: string, opts: { token?: string; body?: unknown; deviceId?: string; stepUp?: string } = {}) {
  const res = await fetch(gw.url + path, {
    method,
    headers: {
      authorization: `MediaBrowser Client="Jellyguard Tests", Device="Node", DeviceId="${opts.deviceId ?? 'passkey-tests'}", Version="1.0.0"${opts.token ? `, Token="${opts.token}"` : ''}`,
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.stepUp ? { 'x-jellyguard-stepup': opts.stepUp } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
}

async function tokenOf(user: string, password: string): Promise<string> {
  const r = await api('POST', '/Users/AuthenticateByName', { body: { Username: user, Pw: password }, deviceId: `setup-${user}` });
  expect(r.status, r.text).toBe(200);
  return r.json.AccessToken as string;
}

async function toLoginPage(p: Page): Promise<void> {
  await p.goto(origin + '/web/');
  await p.waitForURL(/\/JellyfinSecurity\/login\/\?return=/);
  await p.waitForSelector('#username');
}

async function signInWithPassword(p: Page): Promise<void> {
  await p.fill('#username', 'carol');
  await p.fill('#password', 'carol-pw');
  await p.click('[data-testid=password-form] button[type=submit]');
}

/** Signed in: back at jellyfin-web with carol's token saved for it, and the token works. */
async function expectSignedIn(p: Page): Promise<string> {
  await p.waitForURL(origin + '/web/');
  const creds = JSON.parse((await localStorageOf(p)).jellyfin_credentials!) as { Servers: Array<{ AccessToken: string; UserId: string }> };
  const server = creds.Servers[0]!;
  expect(server.UserId).toBe(jf.user('carol').id);
  expect((await api('GET', '/Users/Me', { token: server.AccessToken })).json.Name).toBe('carol');
  return server.AccessToken;
}

/** Sign out the way jellyfin-web does: the token is forgotten (the server entry stays). */
async function signOut(p: Page, token: string): Promise<void> {
  expect((await api('POST', '/Sessions/Logout', { token })).status).toBe(204);
  await p.evaluate(() => {
    const c = JSON.parse(localStorage.getItem('jellyfin_credentials')!);
    for (const s of c.Servers) s.AccessToken = s.UserId = null;
    localStorage.setItem('jellyfin_credentials', JSON.stringify(c));
  });
}

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'carol', password: 'carol-pw' },
    ],
  });
  gw = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: jf.createApiKey('jellyguard') } });
  origin = `http://localhost:${gw.port}`; // WebAuthn wants a domain: localhost is one, and a secure context
  browser = await launchBrowser();
  const admin = await tokenOf('admin', 'admin-pw');
  await tokenOf('carol', 'carol-pw');
  // Changing another user's factors is an administrator action: the admin (no factor) proves it with the password.
  const carol = jf.user('carol').id;
  const proof = await api('POST', '/JellyfinSecurity/StepUp', { token: admin, body: { method: 'password', action: 'ChangeUserFactors', target: carol, password: 'admin-pw' } });
  expect(proof.status, proof.text).toBe(200);
  const require = await api('PUT', `/JellyfinSecurity/Users/${carol}`, { token: admin, body: { requireSecondFactor: true }, stepUp: proof.json.grant });
  expect(require.status, require.text).toBe(200);
  tab = await openPage(browser, { viewport: DESKTOP, userAgent: UA });
  // These tests are about the passkey as a SECOND factor. Chromium's virtual authenticator would answer the
  // login page's passkey autofill offer (conditional mediation) by itself and sign carol in with it alone
  // (test/browser/login-passkey-alone.test.ts): this browser says it has no such autofill.
  await tab.context.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
  authenticator = await addVirtualAuthenticator(tab.context, tab.page);
}, 90_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && tab && !tab.page.isClosed()) await screenshot(tab.page, `weblogin-FAILED-${ctx.task.name.slice(0, 40)}`).catch(() => {});
});

afterAll(async () => {
  await tab?.context.close().catch(() => {});
  await browser?.close();
  await gw?.close();
  await jf?.close();
});

describe('passkeys on the web login', { timeout: 90_000 }, () => {
  let token = '';

  it('lets carol create a passkey inside her sign-in (the administrator requires a factor)', async () => {
    const p = tab.page;
    await toLoginPage(p);
    await signInWithPassword(p);
    await p.waitForSelector('[data-enroll=passkey]');
    await p.click('[data-enroll=passkey]');
    await p.getByTestId('create-passkey').waitFor();
    await screenshotBoth(p, 'weblogin-enroll-passkey');
    await p.getByTestId('create-passkey').click();
    await expect.poll(() => p.getByTestId('recovery-codes').locator('li').count(), POLL).toBe(10);
    const creds = await authenticator.credentials();
    expect(creds).toHaveLength(1);
    expect(creds[0]!.rpId).toBe('localhost');
    await p.getByTestId('codes-saved').check();
    await p.getByRole('button', { name: 'Continue to Jellyfin' }).click();
    token = await expectSignedIn(p);
    const me = await api('GET', '/JellyfinSecurity/Me', { token });
    expect(me.json.factors.passkeys).toHaveLength(1);
    expect(me.json.factors.passkeys[0].name).toBe('Chrome on Linux');
  });

  it('signs her in with the passkey next time', async () => {
    const p = tab.page;
    await signOut(p, token);
    await toLoginPage(p);
    await signInWithPassword(p);
    await p.getByTestId('use-passkey').waitFor();
    expect(await textOf(p.locator('h1'))).toBe('Two-step verification');
    await screenshotBoth(p, 'weblogin-passkey');
    const before = (await authenticator.credentials())[0]!.signCount;
    await p.getByTestId('use-passkey').click();
    token = await expectSignedIn(p);
    expect((await authenticator.credentials())[0]!.signCount).toBeGreaterThan(before);
  });

  it('refuses an assertion without user verification, in the browser and at the server', async () => {
    const p = tab.page;
    await signOut(p, token);
    await toLoginPage(p);
    await signInWithPassword(p);
    await p.getByTestId('use-passkey').waitFor();

    // The page asks for user verification as the server says: the authenticator cannot give it, the browser refuses.
    await authenticator.setUserVerified(false);
    await p.getByTestId('use-passkey').click();
    await expect.poll(() => textOf(p.getByTestId('error')), POLL).toMatch(/^The passkey was not used: .*could not verify you/);
    expect(JSON.parse((await localStorageOf(p)).jellyfin_credentials!).Servers[0].AccessToken).toBeNull();
    await screenshotBoth(p, 'weblogin-error-passkey');

    // A page that does not ask for it (tampered options): the browser signs without UV, the server refuses.
    await p.route('**/JellyfinSecurity/VerifyPasskey/Options', async (route) => {
      const res = await route.fetch();
      const options = (await res.json()) as Record<string, unknown>;
      expect(options.userVerification).toBe('required');
      await route.fulfill({ response: res, json: { ...options, userVerification: 'discouraged' } });
    });
    const verdicts: number[] = [];
    p.on('response', (r) => {
      if (/\/JellyfinSecurity\/VerifyPasskey$/.test(new URL(r.url()).pathname)) verdicts.push(r.status());
    });
    await p.getByTestId('use-passkey').click();
    await expect.poll(() => textOf(p.getByTestId('error')), POLL).toBe('The passkey was not accepted. 4 tries left.');
    expect(verdicts).toEqual([401]);
    expect(JSON.parse((await localStorageOf(p)).jellyfin_credentials!).Servers[0].AccessToken).toBeNull();
    await p.unroute('**/JellyfinSecurity/VerifyPasskey/Options');

    // With verification back, the same sign-in completes.
    await authenticator.setUserVerified(true);
    await p.getByTestId('use-passkey').click();
    token = await expectSignedIn(p);
    expect(verdicts).toEqual([401, 200]);
  });
});
