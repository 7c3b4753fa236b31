import { generate } from 'otplib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { PHONE, PHONE_UA, launchBrowser, localStorageOf, openPage, screenshot, screenshotBoth, type BrowserPage } from '../helpers/browser.ts';

/**
 * The web login behind a Jellyfin BaseUrl (/jellyfin), on a phone-sized browser: the injected script,
 * the login page and its assets, the hand-over address jellyfin-web will look for, the way back to the
 * route jellyfin-web wanted, and a token revoked elsewhere (the gateway answers 401): the script clears
 * it and sends the browser to the login page — from fetch and from XMLHttpRequest (axios) alike.
 */

let jf: Emulator;
let gw: TestGateway;
let browser: Browser;
let origin: string;
let tab: BrowserPage;
let secret = '';
const clock = new ManualClock();
const POLL = { timeout: 10_000, interval: 50 };

async function api(method: string, path: string, opts: { token?: string; body?: unknown; deviceId?: string } = {}) {
  const res = await fetch(gw.url + path, {
    method,
    headers: {
      authorization: `MediaBrowser Client="Jellyguard Tests", Device="Node", DeviceId="${opts.deviceId ?? 'baseurl-tests'}", Version="1.0.0"${opts.token ? `, Token="${opts.token}"` : ''}`,
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
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

const totp = () => generate({ secret, epoch: Math.floor(clock.now() / 1000), period: 30, digits: 6, algorithm: 'sha1' });

async function signIn(p: Page): Promise<void> {
  await p.waitForSelector('#username');
  await p.fill('#username', 'frank');
  await p.fill('#password', 'frank-pw');
  await p.click('[data-testid=password-form] button[type=submit]');
  await p.waitForSelector('#code');
  await p.fill('#code', await totp());
  clock.advance(30_000);
  await p.click('[data-testid=code-form] button[type=submit]');
}

async function savedServer(p: Page): Promise<{ AccessToken: string | null; UserId: string | null; ManualAddress: string }> {
  return JSON.parse((await localStorageOf(p)).jellyfin_credentials!).Servers[0];
}

beforeAll(async () => {
  jf = await startEmulator({ baseUrl: '/jellyfin', users: [{ name: 'frank', password: 'frank-pw' }] });
  gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, clock, config: { BaseUrl: '/jellyfin' } });
  origin = `http://localhost:${gw.port}`;
  browser = await launchBrowser();
  const login = await api('POST', '/jellyfin/Users/AuthenticateByName', { body: { Username: 'frank', Pw: 'frank-pw' } });
  expect(login.status, login.text).toBe(200);
  const enrollment = await api('POST', '/jellyfin/JellyfinSecurity/Me/TOTP', { token: login.json.AccessToken });
  expect(enrollment.status, enrollment.text).toBe(200);
  secret = enrollment.json.secret;
  const confirm = await api('POST', '/jellyfin/JellyfinSecurity/Me/TOTP/Confirm', { token: login.json.AccessToken, body: { code: await totp() } });
  expect(confirm.status, confirm.text).toBe(200);
  clock.advance(30_000);
  tab = await openPage(browser, { viewport: PHONE, userAgent: PHONE_UA });
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

describe('the web login under a BaseUrl', { timeout: 90_000 }, () => {
  it('leads from /jellyfin/web/ to /jellyfin/JellyfinSecurity/login/ and back, signed in', async () => {
    const p = tab.page;
    await p.goto(origin + '/jellyfin/web/');
    await p.waitForURL(`${origin}/jellyfin/JellyfinSecurity/login/?return=%2Fjellyfin%2Fweb%2F`);
    await screenshot(p, 'weblogin-baseurl-phone');
    await signIn(p);
    await p.waitForURL(origin + '/jellyfin/web/');
    const server = await savedServer(p);
    // jellyfin-web at /jellyfin/web/ talks to the server at <origin>/jellyfin and looks its credentials up by that address.
    expect(server.ManualAddress).toBe(origin + '/jellyfin');
    expect(server.UserId).toBe(jf.user('frank').id);
    expect((await api('GET', '/jellyfin/Users/Me', { token: server.AccessToken! })).json.Name).toBe('frank');
    expect(tab.errors.filter((e) => /Content.Security.Policy/i.test(e))).toEqual([]);
  });

  it('takes over when jellyfin-web navigates to its own login route, and comes back to the route it wanted', async () => {
    const p = tab.page;
    await p.evaluate(() => history.pushState(null, '', '#/login?serverid=abc&url=%2Fmovies%3FtopParentId%3D1'));
    await p.waitForURL(/\/jellyfin\/JellyfinSecurity\/login\/\?return=/);
    expect(new URL(p.url()).searchParams.get('return')).toBe('/jellyfin/web/#/movies?topParentId=1');
    await signIn(p);
    await p.waitForURL(origin + '/jellyfin/web/#/movies?topParentId=1');
  });

  it('clears a token the gateway refuses (revoked elsewhere) and goes to the login page: fetch', async () => {
    const p = tab.page;
    const { AccessToken: token } = await savedServer(p);
    expect((await api('POST', '/jellyfin/Sessions/Logout', { token: token! })).status).toBe(204);
    // jellyfin-web's next request with the stored token gets the gateway's 401.
    const status = await p.evaluate(
      (t) => fetch('/jellyfin/UserViews', { headers: { Authorization: `MediaBrowser Client="Jellyfin Web", Token="${t}"` } }).then((r) => r.status),
      token,
    );
    expect(status).toBe(401);
    await p.waitForURL(/\/jellyfin\/JellyfinSecurity\/login\/\?return=/, POLL);
    expect(await savedServer(p)).toMatchObject({ AccessToken: null, UserId: null, ManualAddress: origin + '/jellyfin' });
  });

  it('does the same for XMLHttpRequest (the SDK’s axios), and leaves a 401 of the login itself alone', async () => {
    const p = tab.page;
    await signIn(p);
    await p.waitForURL(/\/jellyfin\/web\//);
    const { AccessToken: token } = await savedServer(p);
    expect(token).toMatch(/^[0-9a-f]{32}$/);

    // A wrong password in some other form on the page is not a dead session: no check, nothing cleared.
    const checks: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (/\/Users\/Me$/i.test(new URL(r.url()).pathname)) checks.push(r.url());
    };
    p.on('request', onRequest);
    await p.evaluate(() =>
      fetch('/jellyfin/Users/AuthenticateByName', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="x", Version="10.11.0"' },
        body: JSON.stringify({ Username: 'frank', Pw: 'wrong' }),
      }).then((r) => r.status),
    );
    // The script's check (if it made one) is sent as the answer arrives; one more round trip flushes it.
    await p.evaluate(() => fetch('/jellyfin/System/Info/Public').then((r) => r.status));
    p.off('request', onRequest);
    expect(checks).toEqual([]);
    expect((await savedServer(p)).AccessToken).toBe(token);
    expect(p.url()).toContain('/jellyfin/web/');

    expect((await api('POST', '/jellyfin/Sessions/Logout', { token: token! })).status).toBe(204);
    const status = await p.evaluate(
      (t) =>
        new Promise<number>((resolve) => {
          const x = new XMLHttpRequest();
          x.open('GET', '/jellyfin/Users/Me');
          x.setRequestHeader('Authorization', `MediaBrowser Client="Jellyfin Web", Token="${t}"`);
          x.onloadend = () => resolve(x.status);
          x.send();
        }),
      token,
    );
    expect(status).toBe(401);
    await p.waitForURL(/\/jellyfin\/JellyfinSecurity\/login\/\?return=/, POLL);
    expect((await savedServer(p)).AccessToken).toBeNull();
  });

  it('tells a guesser that the network is banned, and for how long (last: it bans this test’s address)', async () => {
    const p = tab.page;
    await p.goto(origin + '/jellyfin/JellyfinSecurity/login/');
    await p.waitForSelector('#username');
    let message = '';
    for (let i = 0; i < 10 && !/Too many failed sign-in attempts/.test(message); i++) {
      await p.fill('#username', 'mallory');
      await p.fill('#password', `guess-${i}`);
      await p.click('[data-testid=password-form] button[type=submit]');
      await expect.poll(async () => (await p.getByTestId('error').count()) > 0 && !(await p.locator('button[type=submit]').isDisabled()), POLL).toBe(true);
      message = ((await p.getByTestId('error').textContent()) ?? '').trim();
    }
    expect(message).toMatch(/^Too many failed sign-in attempts from your network\. Devices that are already signed in keep working\. To sign in now, wait \d+ minutes?, use another network/);
    await screenshotBoth(p, 'weblogin-error-banned');
  });
});
