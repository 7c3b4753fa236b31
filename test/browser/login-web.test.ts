import { generate } from 'otplib';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { DESKTOP, launchBrowser, localStorageOf, openPage, screenshot, screenshotBoth, type BrowserPage } from '../helpers/browser.ts';

/**
 * Issue 3, the web login in a real browser (Debian's Chromium): jellyfin-web's page (the emulator's
 * stand-in, with the injected script) sends the browser to the gateway's login page; the person signs
 * in with a TOTP code, an e-mail code (a real SMTP server), a recovery code, or sets up TOTP when the
 * server requires it; "trust this browser" skips the factor next time; the session lands in
 * jellyfin_credentials exactly as jellyfin-web keeps it, and works through the gateway.
 * Screenshots of every page go to test-output/screenshots/.
 */

let jf: Emulator;
let gw: TestGateway;
let smtp: TestSmtp;
let browser: Browser;
let origin: string;
const clock = new ManualClock();
const pages: BrowserPage[] = [];
let aliceSecret = '';
let aliceRecovery: string[] = [];

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const header = (deviceId: string, token?: string) =>
  `MediaBrowser Client="Jellyguard Tests", Device="Node", DeviceId="${deviceId}", Version="1.0.0"${token ? `, Token="${token}"` : ''}`;

async function api(method: string, path: string, opts: { token?: string; body?: unknown; deviceId?: string; stepUp?: string } = {}) {
  const res = await fetch(gw.url + path, {
    method,
    headers: {
      authorization: header(opts.deviceId ?? 'browser-tests', opts.token),
      'user-agent': UA,
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.stepUp ? { 'x-jellyguard-stepup': opts.stepUp } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

async function tokenOf(user: string, password: string): Promise<string> {
  const r = await api('POST', '/Users/AuthenticateByName', { body: { Username: user, Pw: password }, deviceId: `setup-${user}` });
  expect(r.status, r.text).toBe(200);
  return r.json.AccessToken as string;
}

/** The current TOTP code of `secret` at the gateway's clock (RFC 6238: SHA-1, 6 digits, 30 s). */
function totp(secret: string): Promise<string> {
  return generate({ secret, epoch: Math.floor(clock.now() / 1000), period: 30, digits: 6, algorithm: 'sha1' });
}

async function page(): Promise<BrowserPage> {
  const p = await openPage(browser, { viewport: DESKTOP, userAgent: UA });
  pages.push(p);
  return p;
}

/** Open jellyfin-web and follow the injected script to the login page. */
async function openJellyfin(p: Page, path = '/web/'): Promise<void> {
  await p.goto(origin + path);
  await p.waitForURL(/\/JellyfinSecurity\/login\/\?return=/);
  await p.waitForSelector('#username');
}

async function submitPassword(p: Page, user: string, password: string): Promise<void> {
  await p.fill('#username', user);
  await p.fill('#password', password);
  await p.click('[data-testid=password-form] button[type=submit]');
}

async function submitCode(p: Page, code: string): Promise<void> {
  await p.fill('#code', code);
  await p.click('[data-testid=code-form] button[type=submit]');
}

/** Back at jellyfin-web's home, signed in: the injected script stays quiet. */
async function expectHome(p: Page, path = '/web/'): Promise<void> {
  await p.waitForURL(origin + path);
  await p.waitForLoadState('load');
  expect(await p.evaluate(() => (window as unknown as { __jellyguardInjected?: boolean }).__jellyguardInjected)).toBe(true);
  expect(p.url()).toBe(origin + path);
}

/** What jellyfin-web will find: its credentials for this server, and that the token works. */
async function expectHandedOver(p: Page, userName: string): Promise<{ token: string; deviceId: string }> {
  const ls = await localStorageOf(p);
  const creds = JSON.parse(ls.jellyfin_credentials!) as { Servers: Array<Record<string, unknown>> };
  expect(creds.Servers).toHaveLength(1);
  const server = creds.Servers[0]!;
  const user = jf.user(userName);
  expect(server).toMatchObject({ ManualAddress: origin, LastConnectionMode: 2, UserId: user.id });
  expect(server.Id).toMatch(/^[0-9a-f]{32}$/);
  expect(server.AccessToken).toMatch(/^[0-9a-f]{32}$/);
  expect(typeof server.DateLastAccessed).toBe('number');
  expect(JSON.parse(ls[`user-${user.id}-${server.Id}`]!)).toMatchObject({ Name: userName, Id: user.id });
  expect(ls.enableAutoLogin).toBe('true');
  const deviceId = ls._deviceId2!;
  expect(deviceId).toBeTruthy();
  const token = server.AccessToken as string;
  // The token works through the gateway, from the page as jellyfin-web would use it…
  const me = await p.evaluate(async (t) => {
    const r = await fetch('/Users/Me', { headers: { Authorization: `MediaBrowser Client="Jellyfin Web", Device="Chrome", Version="10.11.0", Token="${t}"` } });
    return { status: r.status, name: ((await r.json()) as { Name?: string }).Name };
  }, token);
  expect(me).toEqual({ status: 200, name: userName });
  // …and the session Jellyfin opened is jellyfin-web's: its Client and its DeviceId from _deviceId2.
  const sessions = await api('GET', '/Sessions', { token });
  expect(sessions.status).toBe(200);
  const mine = (sessions.json as Array<{ DeviceId: string; Client: string; UserName: string }>).filter((s) => s.UserName === userName);
  expect(mine.map((s) => [s.Client, s.DeviceId])).toContainEqual(['Jellyfin Web', decodeURIComponent(deviceId.replace(/\+/g, ' '))]);
  return { token, deviceId };
}

const POLL = { timeout: 10_000, interval: 50 };

/** An element's text, whitespace collapsed (waits for the element to exist). */
async function textOf(l: Locator): Promise<string> {
  return ((await l.first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

async function expectText(l: Locator, want: string): Promise<void> {
  await expect.poll(() => textOf(l), POLL).toBe(want);
}

async function expectContains(l: Locator, want: string): Promise<void> {
  await expect.poll(() => textOf(l), POLL).toContain(want);
}

async function expectCount(l: Locator, n: number): Promise<void> {
  await expect.poll(() => l.count(), POLL).toBe(n);
}

function cspViolations(p: BrowserPage): string[] {
  return p.errors.filter((e) => /Content.Security.Policy/i.test(e));
}

beforeAll(async () => {
  smtp = await startSmtp();
  jf = await startEmulator({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'alice', password: 'alice-pw' }, // TOTP (self-service) + recovery codes
      { name: 'bob', password: 'bob-pw' }, // an e-mail address only
      { name: 'erin', password: 'erin-pw' }, // no factor, but the admin requires one
    ],
  });
  gw = await startGateway({
    upstreamUrl: jf.url,
    clock,
    config: { JellyfinApiKey: jf.createApiKey('jellyguard'), EmailOTPEnabled: true, SMTP: smtp.config() },
  });
  origin = `http://localhost:${gw.port}`;
  browser = await launchBrowser();

  // alice enrolls TOTP herself, through the self-service API with her token.
  const alice = await tokenOf('alice', 'alice-pw');
  const enrollment = await api('POST', '/JellyfinSecurity/Me/TOTP', { token: alice });
  expect(enrollment.status, enrollment.text).toBe(200);
  aliceSecret = enrollment.json.secret;
  const confirm = await api('POST', '/JellyfinSecurity/Me/TOTP/Confirm', { token: alice, body: { code: await totp(aliceSecret) } });
  expect(confirm.status, confirm.text).toBe(200);
  aliceRecovery = confirm.json.recoveryCodes;
  expect(aliceRecovery).toHaveLength(10);
  clock.advance(30_000);

  // The admin gives bob an e-mail address and requires a second factor of erin.
  const admin = await tokenOf('admin', 'admin-pw');
  await tokenOf('bob', 'bob-pw');
  await tokenOf('erin', 'erin-pw');
  // Changing another user's factors is an administrator action: the admin (no factor) proves it with the password.
  const proof = async (target: string) =>
    (await api('POST', '/JellyfinSecurity/StepUp', { token: admin, body: { method: 'password', action: 'ChangeUserFactors', target, password: 'admin-pw' } })).json.grant as string;
  const email = await api('PUT', `/JellyfinSecurity/Users/${jf.user('bob').id}`, { token: admin, body: { email: 'bob@example.test' }, stepUp: await proof(jf.user('bob').id) });
  expect(email.status, email.text).toBe(200);
  const require = await api('PUT', `/JellyfinSecurity/Users/${jf.user('erin').id}`, { token: admin, body: { requireSecondFactor: true }, stepUp: await proof(jf.user('erin').id) });
  expect(require.status, require.text).toBe(200);
}, 90_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  for (const [i, p] of pages.entries()) {
    if (!p.page.isClosed()) await screenshot(p.page, `weblogin-FAILED-${ctx.task.name.slice(0, 40)}-${i}`).catch(() => {});
  }
});

afterAll(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  await gw?.close();
  await jf?.close();
  await smtp?.close();
});

describe('the web login', { timeout: 90_000 }, () => {
  it('is where jellyfin-web sends a browser without a session; it looks right on a desktop, a phone and a TV', async () => {
    const p = await page();
    await openJellyfin(p.page, '/web/index.html#/details?id=1');
    expect(new URL(p.page.url()).searchParams.get('return')).toBe('/web/index.html#/details?id=1');
    await expectText(p.page.locator('h1'), 'Sign in');
    expect(await p.page.locator('.brand').textContent()).toContain('jellyfin-emulator');
    await screenshotBoth(p.page, 'weblogin-login');

    const tv = await openPage(browser, {
      viewport: { width: 1920, height: 1080 },
      userAgent: 'Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.5) AppleWebKit/537.36 (KHTML, like Gecko) 85.0.4183.93/6.5 TV Safari/537.36',
    });
    pages.push(tv);
    await tv.page.goto(origin + '/JellyfinSecurity/login/');
    await tv.page.waitForSelector('html.tv #username');
    await screenshot(tv.page, 'weblogin-tv');
    expect(cspViolations(p)).toEqual([]);
    expect(cspViolations(tv)).toEqual([]);
  });

  it('says so when the password is wrong', async () => {
    const p = await page();
    await openJellyfin(p.page);
    await submitPassword(p.page, 'alice', 'not-her-password');
    await expectText(p.page.getByTestId('error'), 'Wrong user name or password.');
    expect(await p.page.locator('#password').evaluate((el) => el === document.activeElement)).toBe(true);
    await screenshotBoth(p.page, 'weblogin-error-password');
  });

  it('says so when the network is down', async () => {
    const p = await page();
    await openJellyfin(p.page);
    await p.page.route('**/Users/AuthenticateByName', (route) => route.abort('internetdisconnected'));
    await submitPassword(p.page, 'alice', 'alice-pw');
    await expectText(p.page.getByTestId('error'), 'No connection to the server. Check your network and try again.');
    await screenshotBoth(p.page, 'weblogin-error-network');
    await p.page.unroute('**/Users/AuthenticateByName');
  });

  it('signs alice in with a TOTP code (a wrong one shows the tries left) and hands the session to jellyfin-web', async () => {
    const p = await page();
    await openJellyfin(p.page);
    await submitPassword(p.page, 'alice', 'alice-pw');
    await p.page.waitForSelector('[data-testid=code-form]');
    await expectText(p.page.locator('h1'), 'Two-step verification');
    // Her other way in is listed.
    await expectCount(p.page.locator('[data-method]'), 1);
    await p.page.locator('[data-method=recovery]').waitFor({ state: 'visible' });
    await screenshotBoth(p.page, 'weblogin-totp');

    const good = await totp(aliceSecret);
    await submitCode(p.page, good === '000000' ? '111111' : '000000');
    await expectText(p.page.getByTestId('error'), 'That code is not right. 4 tries left.');
    await screenshotBoth(p.page, 'weblogin-error-code');
    expect((await localStorageOf(p.page)).jellyfin_credentials).toBeUndefined();

    await submitCode(p.page, good);
    await expectHome(p.page);
    await expectHandedOver(p.page, 'alice');
    clock.advance(30_000);
    expect(cspViolations(p)).toEqual([]);
  });

  it('trusts this browser when asked: the next sign-in needs the password only, other browsers still a factor', async () => {
    const p = await page();
    await openJellyfin(p.page);
    await submitPassword(p.page, 'alice', 'alice-pw');
    await p.page.waitForSelector('[data-testid=code-form]');
    await p.page.getByTestId('trust').check();
    await expectContains(p.page.locator('label.check'), 'Trust this browser for 90 days');
    await screenshotBoth(p.page, 'weblogin-totp-trust');
    await submitCode(p.page, await totp(aliceSecret));
    clock.advance(30_000);
    await expectHome(p.page);
    const first = await expectHandedOver(p.page, 'alice');
    const cookie = (await p.context.cookies()).find((c) => c.name === 'JellyfinSecurity-TrustedDevice');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });

    // She signs out (as jellyfin-web does: /Sessions/Logout, then its stored token is cleared)…
    await p.page.evaluate(async (t) => {
      await fetch('/Sessions/Logout', { method: 'POST', headers: { Authorization: `MediaBrowser Client="Jellyfin Web", Device="Chrome", Version="10.11.0", Token="${t}"` } });
      const c = JSON.parse(localStorage.getItem('jellyfin_credentials')!);
      for (const s of c.Servers) s.AccessToken = s.UserId = null;
      localStorage.setItem('jellyfin_credentials', JSON.stringify(c));
    }, first.token);
    expect((await api('GET', '/Users/Me', { token: first.token })).status).toBe(401);

    // …and signs in again: the password is enough in this browser.
    const factorCalls: string[] = [];
    p.page.on('request', (r) => {
      if (/\/JellyfinSecurity\/(Verify|Challenge)/i.test(r.url())) factorCalls.push(r.url());
    });
    await openJellyfin(p.page);
    await submitPassword(p.page, 'alice', 'alice-pw');
    await expectHome(p.page);
    expect(factorCalls).toEqual([]);
    const second = await expectHandedOver(p.page, 'alice');
    expect(second.token).not.toBe(first.token);
    expect(second.deviceId).toBe(first.deviceId);

    // Another browser (no cookie) still gets the challenge.
    const other = await page();
    await openJellyfin(other.page);
    await submitPassword(other.page, 'alice', 'alice-pw');
    await other.page.waitForSelector('[data-testid=code-form]');
  });

  it('signs bob in with a code e-mailed through a real SMTP server', async () => {
    const p = await page();
    await openJellyfin(p.page);
    await submitPassword(p.page, 'bob', 'bob-pw');
    await p.page.waitForSelector('[data-testid=send-email]');
    await expectContains(p.page.locator('.card'), 'b***@example.test');
    await screenshotBoth(p.page, 'weblogin-email');
    await p.page.getByTestId('send-email').click();
    await p.page.waitForSelector('[data-testid=code-form]');
    await expectContains(p.page.getByTestId('info'), 'one is on its way to b***@example.test');
    await screenshotBoth(p.page, 'weblogin-email-sent');
    const mail = await smtp.nextMessage((m) => m.to.includes('bob@example.test'));
    await submitCode(p.page, codeIn(mail));
    await expectHome(p.page);
    await expectHandedOver(p.page, 'bob');
  });

  it('lets erin set up TOTP inside the sign-in when the administrator requires a factor, then shows her recovery codes', async () => {
    const p = await page();
    await openJellyfin(p.page);
    await submitPassword(p.page, 'erin', 'erin-pw');
    await p.page.waitForSelector('[data-enroll=totp]');
    await expectText(p.page.locator('h1'), 'Set up two-step verification');
    await screenshotBoth(p.page, 'weblogin-enroll');
    await p.page.click('[data-enroll=totp]');
    const secretEl = p.page.getByTestId('totp-secret');
    await secretEl.waitFor();
    const secret = (await secretEl.getAttribute('data-secret'))!;
    expect(secret).toMatch(/^[A-Z2-7]+=*$/);
    const qr = await p.page.getByTestId('totp-qr').getAttribute('src');
    expect(qr).toMatch(/^data:image\/png;base64,/);
    await screenshotBoth(p.page, 'weblogin-enroll-totp');

    await p.page.fill('#enroll-code', await totp(secret));
    await p.page.click('[data-testid=enroll-totp-form] button[type=submit]');
    const codes = p.page.getByTestId('recovery-codes').locator('li');
    await expectCount(codes, 10);
    await screenshotBoth(p.page, 'weblogin-recovery-codes');
    const continueButton = p.page.getByRole('button', { name: 'Continue to Jellyfin' });
    expect(await continueButton.isDisabled()).toBe(true);
    await p.page.getByTestId('codes-saved').check();
    await continueButton.click();
    await expectHome(p.page);
    const { token } = await expectHandedOver(p.page, 'erin');
    clock.advance(30_000);
    const me = await api('GET', '/JellyfinSecurity/Me', { token });
    expect(me.json.factors.totp.enrolled).toBe(true);
    expect(me.json.factors.recoveryCodesRemaining).toBe(10);
  });

  it('switches to a recovery code when the phone is not at hand', async () => {
    const p = await page();
    await openJellyfin(p.page);
    await submitPassword(p.page, 'alice', 'alice-pw');
    await p.page.waitForSelector('[data-testid=code-form]');
    await p.page.click('[data-method=recovery]');
    await expectContains(p.page.locator('label[for=code]'), 'recovery codes');
    await p.page.locator('[data-method=totp]').waitFor({ state: 'visible' });
    await screenshotBoth(p.page, 'weblogin-recovery');
    await submitCode(p.page, aliceRecovery[0]!);
    await expectHome(p.page);
    await expectHandedOver(p.page, 'alice');
  });

  it('starts again when the sign-in took too long', async () => {
    const p = await page();
    await openJellyfin(p.page);
    await submitPassword(p.page, 'alice', 'alice-pw');
    await p.page.waitForSelector('[data-testid=code-form]');
    clock.advance((gw.config.ChallengeSeconds + 1) * 1000);
    await submitCode(p.page, await totp(aliceSecret));
    await expectText(p.page.getByTestId('error'), 'This sign-in took too long and has expired. Sign in again.');
    expect(await p.page.locator('#username').inputValue()).toBe('alice');
    await screenshotBoth(p.page, 'weblogin-error-expired');
    clock.advance(30_000);
    await submitPassword(p.page, 'alice', 'alice-pw');
    await p.page.waitForSelector('[data-testid=code-form]');
    await submitCode(p.page, await totp(aliceSecret));
    clock.advance(30_000);
    await expectHome(p.page);
  });
});
