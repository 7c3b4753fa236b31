import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { addVirtualAuthenticator, deliverPush, DESKTOP, launchBrowser, openPage, PHONE, screenshot, type BrowserPage } from '../helpers/browser.ts';
import { getQuickConnectApi, jellyfinClient } from '../helpers/sdk.ts';
import { enrollThroughApp, openPhone, PLACES, serviceWorkerReady, signIn, startWorld, USERS, type Phone, type World } from './pwa-helpers.ts';

/**
 * "Confirm it's you" inside jellyfin-web (pwa/login/inject.js), in a real browser: jellyfin-web's /web/
 * page through the gateway (the emulator's page, with the injected script) makes the calls jellyfin-web
 * itself makes to authorise a TV's Quick Connect code — its 10.10/10.11 Quick Connect page calls
 * @jellyfin/sdk's `authorizeQuickConnect` (axios → XMLHttpRequest: POST /QuickConnect/Authorize?code=&userId=
 * with the `Authorization: MediaBrowser …, Token=…` header, no body; any failure shows "Unknown Quick
 * Connect code"), and the legacy jellyfin-apiclient's `ajax` (fetch) is what its dashboard uses. The
 * gateway answers 401 step_up_required; the dialog asks; the phone approves through the real push chain,
 * or a TOTP code, a passkey (CDP virtual authenticator), the password of an account with no factor;
 * the original request is repeated with the grant and the TV is signed in. Cancel hands the page the
 * original 401 and its JSON. Screenshots: test-output/screenshots/stepup-web-*.png.
 */

const [alice, bob, admin] = [USERS[0]!, USERS[1]!, USERS[2]!];
const clock = new ManualClock(Date.now());
/** The address jellyfin-web's browser comes from (through the trusted proxy). */
const WEB_IP = '198.51.100.30';
const AXIOS = readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('axios/package.json')), 'dist', 'axios.min.js'), 'utf8');
const POLL = { timeout: 15_000, interval: 50 };

let world: World;
let phone: Phone;
let browser: Browser;
let bobSecret = '';
let bobRecovery: string[] = [];
const tabs: BrowserPage[] = [];
const sessions: Record<string, { token: string; userId: string; deviceId: string }> = {};

/** A session of jellyfin-web's kind (Client "Jellyfin Web"), signed in through the gateway. */
async function webSignIn(user: { name: string; password: string }, deviceId: string) {
  const res = await fetch(`${world.gw.url}/Users/AuthenticateByName`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': WEB_IP,
      authorization: `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="${deviceId}", Version="10.11.11"`,
    },
    body: JSON.stringify({ Username: user.name, Pw: user.password }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { AccessToken: string; User: { Id: string } };
  sessions[user.name] = { token: body.AccessToken, userId: body.User.Id, deviceId };
}

/** jellyfin-web's Authorization header (its @jellyfin/sdk and its apiclient both send this form). */
function webAuth(name: string): string {
  const s = sessions[name]!;
  return `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="${s.deviceId}", Version="10.11.11", Token="${s.token}"`;
}

/** A TV waiting with a Quick Connect code (the real SDK, through the gateway). */
async function waitingTv(deviceId: string) {
  const api = jellyfinClient(world.gw.url, { client: 'Jellyfin Android TV', device: 'Living room TV', deviceId });
  api.axiosInstance.defaults.headers.common['X-Forwarded-For'] = PLACES.london.ip;
  const { data } = await getQuickConnectApi(api).initiateQuickConnect();
  return {
    code: data.Code!,
    /** Whether Jellyfin now says this TV's Quick Connect is authorised. */
    authorized: async () => (await getQuickConnectApi(api).getQuickConnectState({ secret: data.Secret! })).data.Authenticated === true,
  };
}

interface Web extends BrowserPage {
  user: string;
  /** The page's requests to /QuickConnect/Authorize, as the browser sent them. */
  sent: Array<{ method: string; url: string; type: string; headers: Record<string, string>; body: string | null }>;
}

/** jellyfin-web signed in as `user`: its stored credentials, /web/ through the gateway, axios loaded as its bundle has it. */
async function openWeb(user: string, viewport: { width: number; height: number } = DESKTOP): Promise<Web> {
  const tab = await openPage(browser, { viewport });
  tabs.push(tab);
  await tab.context.setExtraHTTPHeaders({ 'x-forwarded-for': WEB_IP });
  const s = sessions[user]!;
  const credentials = {
    Servers: [{ ManualAddress: world.origin, Id: 'f'.repeat(32), AccessToken: s.token, UserId: s.userId, LastConnectionMode: 2, DateLastAccessed: Date.now() }],
  };
  await tab.context.addInitScript(
    `localStorage.setItem('jellyfin_credentials', ${JSON.stringify(JSON.stringify(credentials))}); localStorage.setItem('_deviceId2', ${JSON.stringify(s.deviceId)});`,
  );
  const sent: Web['sent'] = [];
  tab.page.on('request', (r: Request) => {
    if (/\/QuickConnect\/Authorize/i.test(r.url())) sent.push({ method: r.method(), url: r.url(), type: r.resourceType(), headers: r.headers(), body: r.postData() });
  });
  await tab.page.goto(`${world.origin}/web/`);
  await tab.page.waitForFunction(() => (window as unknown as { __jellyguardInjected?: boolean }).__jellyguardInjected === true);
  expect(tab.page.url()).toBe(`${world.origin}/web/`); // signed in: the script leaves the page alone
  await tab.page.addScriptTag({ content: AXIOS });
  // jellyfin-web names the page's language once its strings load (src/lib/globalize: <html lang>).
  await tab.page.evaluate(() => document.documentElement.setAttribute('lang', 'en-us'));
  return { ...tab, user, sent };
}

interface PageOutcome {
  outcome: 'success' | 'QuickConnectAuthorizeFail';
  status?: number;
  data?: unknown;
  /** What jellyfin-web shows: its page says "Unknown Quick Connect code" for any failure. */
  shown: string;
}

/**
 * jellyfin-web 10.10.7 / 10.11.11 src/apps/stable/routes/quickConnect/index.tsx: whitespace taken out of
 * the code, then `getQuickConnectApi(api).authorizeQuickConnect({ code, userId })` — the SDK's generated
 * client builds `/QuickConnect/Authorize?code=…&userId=…` and calls `axios.request({ method: 'POST',
 * headers: { Authorization }, url: basePath + url })`; success shows QuickConnectAuthorizeSuccess, any
 * error QuickConnectAuthorizeFail. Not awaited here: the dialog is answered while it waits.
 */
function quickConnectPage(w: Web, typed: string): Promise<PageOutcome> {
  const s = sessions[w.user]!;
  return settled(w.page.evaluate(
    async ({ typed, userId, auth }) => {
      const axios = (window as unknown as { axios: { request: (c: unknown) => Promise<{ status: number; data: unknown }> } }).axios;
      const code = typed.replace(/\s/g, '');
      const url = new URL('/QuickConnect/Authorize', 'https://dummy.invalid');
      const q = new URLSearchParams(url.search);
      q.set('code', code);
      q.set('userId', userId);
      url.search = q.toString();
      try {
        const r = await axios.request({ method: 'POST', headers: { Authorization: auth }, url: location.origin + url.pathname + url.search });
        return { outcome: 'success' as const, status: r.status, data: r.data, shown: 'You have successfully authenticated your device!' };
      } catch (e) {
        const res = (e as { response?: { status: number; data: unknown } }).response;
        return { outcome: 'QuickConnectAuthorizeFail' as const, status: res?.status, data: res?.data, shown: 'Unknown Quick Connect code' };
      }
    },
    { typed, userId: s.userId, auth: webAuth(w.user) },
  ));
}

/**
 * The legacy jellyfin-apiclient's `ajax({ type: 'POST', url })` (getFetchPromise): `fetch(url, { headers,
 * method, credentials: 'same-origin' })`, a status of 400 or more rejected with the Response. This is
 * how jellyfin-web's dashboard pages send their saves; the old Quick Connect helper sent `?Code=` this way.
 */
function apiClientAjax(w: Web, code: string): Promise<PageOutcome> {
  return settled(w.page.evaluate(
    async ({ code, auth }) => {
      const response = await fetch(`${location.origin}/QuickConnect/Authorize?Code=${code}`, { headers: { Authorization: auth }, method: 'POST', credentials: 'same-origin' });
      const text = await response.text();
      const data = text ? JSON.parse(text) : undefined;
      if (response.status < 400) return { outcome: 'success' as const, status: response.status, data, shown: 'You have successfully authenticated your device!' };
      return { outcome: 'QuickConnectAuthorizeFail' as const, status: response.status, data, shown: 'Unknown Quick Connect code' };
    },
    { code, auth: webAuth(w.user) },
  ));
}

/** A page call awaited later: if the test fails first and closes the page, that is not a second error. */
function settled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

function dialogOf(p: Page) {
  return p.getByRole('dialog', { name: "Confirm it's you" });
}

/** The dialog is up, names the action, and passes axe (serious and critical rules). */
async function expectDialog(p: Page, label = 'Sign in a device with Quick Connect') {
  const dialog = dialogOf(p);
  await dialog.waitFor({ timeout: 15_000 });
  expect(await dialog.getByText(label, { exact: true }).isVisible()).toBe(true);
  expect(await seriousViolations(p)).toEqual([]);
  return dialog;
}

/** The original request and its repeat: the same method, URL, headers and body, plus the grant. */
function expectRepeatedExactly(w: Web, type: 'xhr' | 'fetch') {
  expect(w.sent).toHaveLength(2);
  const [first, again] = w.sent as [Web['sent'][number], Web['sent'][number]];
  expect(first.type).toBe(type);
  expect(again.type).toBe(type);
  expect(first.headers['x-jellyguard-stepup']).toBeUndefined();
  expect(again.headers['x-jellyguard-stepup']).toMatch(/\S{16,}/);
  const { 'x-jellyguard-stepup': _grant, ...rest } = again.headers;
  expect(rest).toEqual(first.headers);
  expect({ method: again.method, url: again.url, body: again.body }).toEqual({ method: first.method, url: first.url, body: first.body });
}

const totp = (secret: string) => totpCodeAt(secret, clock.now());

beforeAll(async () => {
  world = await startWorld({ clock, config: { PushWindowSeconds: 60 } });
  // jellyfin-web sessions signed in before alice and bob set up a second factor (admin never does).
  await webSignIn(alice, 'alice-chrome');
  await webSignIn(bob, 'bob-chrome');
  await webSignIn(admin, 'admin-chrome');
  // alice sets up her phone in the Authenticator (a passkey on it, push notifications).
  phone = await openPhone(world);
  await signIn(phone.page, world, alice);
  await phone.page.getByTestId('setup-phone').waitFor();
  await serviceWorkerReady(phone.page);
  await enrollThroughApp(phone);
  // bob has an authenticator app.
  const bobId = world.emu.user(bob.name).id;
  const totpFactor = world.gw.gateway.services.factors.totp;
  bobSecret = (await totpFactor.beginEnrollment(bobId, bob.name)).secret;
  expect(await totpFactor.confirmEnrollment(bobId, await totp(bobSecret))).toBe(true);
  bobRecovery = await world.gw.gateway.services.factors.recovery.generate(bobId);
  clock.advance(31_000); // the next code is a new one
  browser = await launchBrowser();
}, 120_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const t of tabs) if (!t.page.isClosed()) await screenshot(t.page, `stepup-web-FAILED-${ctx.task.name.slice(0, 40)}`).catch(() => {});
  }
  while (tabs.length) await tabs.pop()!.context.close().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await phone?.close();
  await world?.close();
});

describe("jellyfin-web's Quick Connect page through the step-up prompt", { timeout: 90_000 }, () => {
  it('(a) the phone approves through the real push chain; the SDK call is repeated with the grant and the TV is in', async () => {
    const tv = await waitingTv('atv-phone');
    const w = await openWeb(alice.name);
    const answer = quickConnectPage(w, `${tv.code.slice(0, 3)} ${tv.code.slice(3)}`);
    const dialog = await expectDialog(w.page);
    expect(await dialog.getByRole('button', { name: 'Approve on my phone' }).isVisible()).toBe(true);
    expect(await dialog.getByRole('button', { name: 'Use a passkey' }).isVisible()).toBe(true);
    expect(await dialog.getByLabel('One of your recovery codes').isVisible()).toBe(true);
    expect(await dialog.getByLabel('Code from your authenticator app').count()).toBe(0); // alice has no app
    await screenshot(w.page, 'stepup-web-dialog-phone-desktop', { fullPage: false });
    await w.page.setViewportSize(PHONE);
    await screenshot(w.page, 'stepup-web-dialog-phone-phone', { fullPage: false });
    await w.page.setViewportSize(DESKTOP);
    // The first way has the focus; a TV remote's up and down move through the dialog (it has no Tab).
    const focused = () => w.page.evaluate(() => (document.activeElement as HTMLElement | null)?.textContent ?? '');
    expect(await focused()).toBe('Approve on my phone');
    await w.page.keyboard.press('ArrowDown');
    expect(await focused()).toBe('Use a passkey');
    await w.page.keyboard.press('ArrowUp');
    await w.page.keyboard.press('ArrowUp');
    expect(await focused()).toBe('Cancel');
    await w.page.keyboard.press('Tab');
    expect(await focused()).toBe('Approve on my phone');

    await dialog.getByRole('button', { name: 'Approve on my phone' }).click();
    await dialog.getByText('Waiting for your phone…', { exact: false }).waitFor();
    expect(await seriousViolations(w.page)).toEqual([]);
    await screenshot(w.page, 'stepup-web-waiting', { fullPage: false });

    // The gateway's Web Push → the local push service → the phone's service worker → the approval page.
    const push = await world.push.nextMessage((m) => m.subscriberId === phone.subscriber.id && m.json?.type === 'approval');
    await deliverPush(phone.context, phone.page, world.appUrl, push.payload.toString('utf8'));
    await phone.page.goto(`${world.appUrl}#/approve/${push.json.approvalId}`);
    await phone.page.getByTestId('approve').click();
    await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status'), POLL).toBe('approved');

    const result = await answer;
    expect(result).toEqual({ outcome: 'success', status: 200, data: true, shown: 'You have successfully authenticated your device!' });
    expect(await dialogOf(w.page).count()).toBe(0);
    expectRepeatedExactly(w, 'xhr');
    expect(new URL(w.sent[0]!.url).search).toBe(`?code=${tv.code}&userId=${sessions[alice.name]!.userId}`);
    expect(await tv.authorized()).toBe(true);
  });

  it('(b) a TOTP code; the legacy apiclient fetch is repeated the same way', async () => {
    const tv = await waitingTv('atv-totp');
    const w = await openWeb(bob.name);
    const answer = apiClientAjax(w, tv.code);
    const dialog = await expectDialog(w.page);
    expect(await dialog.getByRole('button', { name: 'Approve on my phone' }).count()).toBe(0);
    await screenshot(w.page, 'stepup-web-dialog-code-desktop', { fullPage: false });
    await w.page.setViewportSize(PHONE);
    await screenshot(w.page, 'stepup-web-dialog-code-phone', { fullPage: false });
    await dialog.getByLabel('Code from your authenticator app, or a recovery code').fill(await totp(bobSecret));
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    expect(await answer).toMatchObject({ outcome: 'success', status: 200, data: true });
    expectRepeatedExactly(w, 'fetch');
    expect(await tv.authorized()).toBe(true);
    clock.advance(31_000);
  });

  it('(c) a passkey (the CDP virtual authenticator holding alice’s passkey, synced from her phone)', async () => {
    const tv = await waitingTv('atv-passkey');
    const w = await openWeb(alice.name);
    const authenticator = await addVirtualAuthenticator(w.context, w.page);
    const [passkey] = await phone.authenticator.credentials();
    await authenticator.cdp.send('WebAuthn.addCredential', { authenticatorId: authenticator.authenticatorId, credential: { ...passkey, signCount: passkey!.signCount + 100 } as never });
    const answer = quickConnectPage(w, tv.code);
    const dialog = await expectDialog(w.page);
    await dialog.getByRole('button', { name: 'Use a passkey' }).click();
    expect(await answer).toMatchObject({ outcome: 'success', status: 200, data: true });
    expectRepeatedExactly(w, 'xhr');
    expect(await tv.authorized()).toBe(true);
    expect((await authenticator.credentials())[0]!.signCount).toBeGreaterThan(passkey!.signCount + 100);
  });

  it('(d) an account with no second factor gives its password again', async () => {
    const tv = await waitingTv('atv-password');
    const w = await openWeb(admin.name, PHONE);
    const answer = quickConnectPage(w, tv.code);
    const dialog = await expectDialog(w.page);
    expect(await dialog.getByRole('button').allInnerTexts()).toEqual(['Confirm with my password', 'Cancel']);
    await screenshot(w.page, 'stepup-web-dialog-password-phone', { fullPage: false });
    await dialog.getByLabel('Your Jellyfin password').fill(admin.password);
    await dialog.getByRole('button', { name: 'Confirm with my password' }).click();
    expect(await answer).toMatchObject({ outcome: 'success', status: 200, data: true });
    expectRepeatedExactly(w, 'xhr');
    expect(await tv.authorized()).toBe(true);
  });

  it('(e) Cancel: the page gets the original 401 and its JSON (XHR and fetch), Escape too; nothing is authorised', async () => {
    const tv = await waitingTv('atv-cancel');
    const w = await openWeb(bob.name);
    const viaSdk = quickConnectPage(w, tv.code);
    const dialog = await expectDialog(w.page);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    const a = await viaSdk;
    expect(a).toMatchObject({ outcome: 'QuickConnectAuthorizeFail', status: 401, shown: 'Unknown Quick Connect code' });
    expect(a.data).toMatchObject({ error: 'step_up_required', action: 'QuickConnectAuthorize', label: 'Sign in a device with Quick Connect', target: tv.code, methods: ['totp', 'recovery'] });
    expect(await dialogOf(w.page).count()).toBe(0);

    const viaFetch = apiClientAjax(w, tv.code);
    await expectDialog(w.page);
    await w.page.keyboard.press('Escape');
    const b = await viaFetch;
    expect(b).toMatchObject({ outcome: 'QuickConnectAuthorizeFail', status: 401, data: { error: 'step_up_required', action: 'QuickConnectAuthorize' } });
    expect(w.sent.map((r) => r.headers['x-jellyguard-stepup'])).toEqual([undefined, undefined]); // never repeated
    expect(await tv.authorized()).toBe(false);
    // That 401 is no dead session: the page stays, and so does jellyfin-web's stored token.
    expect(w.page.url()).toBe(`${world.origin}/web/`);
    expect(await w.page.evaluate(() => JSON.parse(localStorage.getItem('jellyfin_credentials')!).Servers[0].AccessToken)).toBe(sessions[bob.name]!.token);
  });

  it('(f) a wrong code is said in words and the next try works', async () => {
    const tv = await waitingTv('atv-retry');
    const w = await openWeb(bob.name);
    const answer = quickConnectPage(w, tv.code);
    const dialog = await expectDialog(w.page);
    const right = await totp(bobSecret);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const field = dialog.getByLabel('Code from your authenticator app, or a recovery code');
    await field.fill(wrong);
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    const problem = dialog.getByRole('alert');
    await expect.poll(() => problem.innerText(), POLL).toBe('That code is not right. Check it and try again.');
    expect(await field.inputValue()).toBe('');
    expect(await seriousViolations(w.page)).toEqual([]);
    await screenshot(w.page, 'stepup-web-wrong-code', { fullPage: false });
    // Too short for the app: said before anything is sent.
    await field.fill('12345');
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    await expect.poll(() => problem.innerText(), POLL).toBe('The code from your authenticator app has 6 digits.');
    await field.fill(right);
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    expect(await answer).toMatchObject({ outcome: 'success', status: 200, data: true });
    expectRepeatedExactly(w, 'xhr');
    expect(await tv.authorized()).toBe(true);
    clock.advance(31_000);
  });

  it('(f2) denied on the phone: the dialog says so, and another way works', async () => {
    clock.advance(61_000); // a new push-budget window for alice's browser session
    const tv = await waitingTv('atv-denied');
    const w = await openWeb(alice.name);
    const answer = quickConnectPage(w, tv.code);
    const dialog = await expectDialog(w.page);
    await dialog.getByRole('button', { name: 'Approve on my phone' }).click();
    const push = await world.push.nextMessage((m) => m.subscriberId === phone.subscriber.id && m.json?.type === 'approval');
    await phone.page.goto(`${world.appUrl}#/approve/${push.json.approvalId}`);
    await phone.page.getByTestId('deny').click();
    await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status'), POLL).toBe('denied');
    await expect.poll(() => dialog.getByRole('alert').innerText(), POLL).toBe('It was denied on your phone. Try again, or use another way.');
    expect(await dialog.getByRole('button', { name: 'Approve on my phone' }).isVisible()).toBe(true);
    expect(await seriousViolations(w.page)).toEqual([]);
    await screenshot(w.page, 'stepup-web-denied', { fullPage: false });
    expect(w.sent).toHaveLength(1); // nothing repeated
    // "…or use another way": alice's passkey, synced to this browser.
    const authenticator = await addVirtualAuthenticator(w.context, w.page);
    const [passkey] = await phone.authenticator.credentials();
    await authenticator.cdp.send('WebAuthn.addCredential', { authenticatorId: authenticator.authenticatorId, credential: { ...passkey, signCount: passkey!.signCount + 200 } as never });
    await dialog.getByRole('button', { name: 'Use a passkey' }).click();
    expect(await answer).toMatchObject({ outcome: 'success', status: 200, data: true });
    expectRepeatedExactly(w, 'xhr');
    expect(await tv.authorized()).toBe(true);
  });

  it('(g) a recovery code (longer than the app’s six digits) is taken as one, and used up', async () => {
    const tv = await waitingTv('atv-recovery');
    const w = await openWeb(bob.name);
    const answer = apiClientAjax(w, tv.code);
    const dialog = await expectDialog(w.page);
    await dialog.getByLabel('Code from your authenticator app, or a recovery code').fill(bobRecovery[0]!.toLowerCase());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    expect(await answer).toMatchObject({ outcome: 'success', status: 200, data: true });
    expectRepeatedExactly(w, 'fetch');
    expect(await tv.authorized()).toBe(true);
    const left = await world.gw.gateway.services.factors.recovery.remaining(world.emu.user(bob.name).id);
    expect(left).toBe(bobRecovery.length - 1);
  });
});

/** Answer the open dialog with bob's current authenticator code (then the next code is a new one). */
async function answerWithCode(p: Page): Promise<void> {
  const dialog = await expectDialog(p);
  await dialog.getByLabel('Code from your authenticator app, or a recovery code').fill(await totp(bobSecret));
  const granted = p.waitForResponse((r) => r.url().endsWith('/JellyfinSecurity/StepUp'));
  await dialog.getByRole('button', { name: 'Confirm with code' }).click();
  expect((await granted).status()).toBe(200);
  clock.advance(31_000);
}

type XhrReport = {
  log: string[];
  readyState: number;
  status: number;
  statusText: string;
  response: unknown;
  contentType: string | null;
  allHeaders: string;
  responseURL: string;
  timeout: number;
  afterwards?: number;
};

describe('what the page’s own code sees: the stand-in XHR behaves as the native one', { timeout: 90_000 }, () => {
  it('a plain XHR user (on* handlers, addEventListener, upload, responseType json, timeout) sees one answer, the repeat’s', async () => {
    const tv = await waitingTv('atv-plain-xhr');
    const w = await openWeb(bob.name);
    const report = settled(
      w.page.evaluate(
        ({ code, auth }) =>
          new Promise<XhrReport>((resolve) => {
            const log: string[] = [];
            const x = new XMLHttpRequest();
            x.open('POST', `/QuickConnect/Authorize?code=${code}`);
            x.setRequestHeader('Authorization', auth);
            x.setRequestHeader('Content-Type', 'application/json');
            x.responseType = 'json';
            x.timeout = 20_000;
            x.onreadystatechange = () => log.push(`readystatechange ${x.readyState}`);
            x.onload = () => log.push(`load ${x.status}`);
            x.onerror = () => log.push('error');
            x.upload.addEventListener('load', () => log.push('upload load'));
            x.addEventListener('loadend', () =>
              resolve({
                log,
                readyState: x.readyState,
                status: x.status,
                statusText: x.statusText,
                response: x.response,
                contentType: x.getResponseHeader('Content-Type'),
                allHeaders: x.getAllResponseHeaders(),
                responseURL: x.responseURL,
                timeout: x.timeout,
              }),
            );
            x.send(JSON.stringify({ from: 'a plain XHR' }));
          }),
        { code: tv.code, auth: webAuth(bob.name) },
      ),
    );
    await answerWithCode(w.page);
    const r = await report;
    expect(r).toMatchObject({ readyState: 4, status: 200, statusText: 'OK', response: true, timeout: 20_000 });
    expect(r.contentType).toMatch(/^application\/json/);
    expect(r.allHeaders).toMatch(/^content-type: application\/json/m);
    expect(r.responseURL).toBe(`${world.origin}/QuickConnect/Authorize?code=${tv.code}`);
    // Each event once, in the native order; nothing of the held 401 reached the page.
    expect(r.log.filter((e) => e !== 'readystatechange 3')).toEqual(['upload load', 'readystatechange 2', 'readystatechange 4', 'load 200']);
    expectRepeatedExactly(w, 'xhr');
    expect(w.sent[0]!.body).toBe('{"from":"a plain XHR"}');
    expect(await tv.authorized()).toBe(true);
  });

  it('abort() while the dialog asks: the dialog goes, the page hears abort (status 0), nothing is authorised', async () => {
    const tv = await waitingTv('atv-abort');
    const w = await openWeb(bob.name);
    const report = settled(
      w.page.evaluate(
        ({ code, auth }) =>
          new Promise<XhrReport>((resolve) => {
            const log: string[] = [];
            const x = new XMLHttpRequest();
            (window as unknown as { pending: XMLHttpRequest }).pending = x;
            x.open('POST', `/QuickConnect/Authorize?code=${code}`);
            x.setRequestHeader('Authorization', auth);
            x.onreadystatechange = () => log.push(`readystatechange ${x.readyState} ${x.status}`);
            x.onabort = () => log.push('abort');
            x.onload = () => log.push('load');
            x.onloadend = () => {
              const seen = { log, readyState: x.readyState, status: x.status, statusText: x.statusText, response: x.response, contentType: x.getResponseHeader('Content-Type'), allHeaders: x.getAllResponseHeaders(), responseURL: x.responseURL, timeout: x.timeout };
              setTimeout(() => resolve({ ...seen, afterwards: x.readyState }), 0);
            };
            x.send();
          }),
        { code: tv.code, auth: webAuth(bob.name) },
      ),
    );
    await expectDialog(w.page);
    await w.page.evaluate(() => (window as unknown as { pending: XMLHttpRequest }).pending.abort());
    const r = await report;
    expect(r.log.filter((e) => !e.startsWith('readystatechange 2') && !e.startsWith('readystatechange 3'))).toEqual(['readystatechange 4 0', 'abort']);
    expect(r).toMatchObject({ readyState: 4, status: 0, response: '', contentType: null, allHeaders: '', afterwards: 0 });
    expect(await dialogOf(w.page).count()).toBe(0);
    expect(w.sent).toHaveLength(1);
    expect(await tv.authorized()).toBe(false);
  });

  it('GET requests keep the browser’s own XHR object: nothing stands in', async () => {
    const w = await openWeb(bob.name);
    const own = await w.page.evaluate(
      (auth) =>
        new Promise<{ status: number; shadowed: string[] }>((resolve) => {
          const x = new XMLHttpRequest();
          x.open('GET', '/Users/Me');
          x.setRequestHeader('Authorization', auth);
          x.onloadend = () => resolve({ status: x.status, shadowed: ['status', 'readyState', 'response', 'abort'].filter((k) => Object.getOwnPropertyDescriptor(x, k)) });
          x.send();
        }),
      webAuth(bob.name),
    );
    expect(own).toEqual({ status: 200, shadowed: [] });
    // The dialog's script is loaded only when a step-up is asked for.
    expect(await w.page.evaluate(() => '__jellyguardStepUpDialog' in window)).toBe(false);
  });

  it('only the gateway asks: a step-up 401 that came from another origin (a redirect) opens no dialog and gets no grant', async () => {
    const w = await openWeb(bob.name);
    // A fetch under the page that answers a same-origin POST with a step-up 401 whose final URL is another
    // origin (as after a redirect) — or this origin, for comparison. inject.js wraps whatever fetch it finds.
    await w.page.context().addInitScript(() => {
      const real = window.fetch.bind(window);
      window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (!/\/(away|here)\/answer$/.test(url)) return real(input, init);
        const body = { error: 'step_up_required', message: 'x', action: 'CreateApiKey', label: 'Create an API key “Elsewhere”', target: 'Elsewhere', methods: ['password'] };
        const res = new Response(JSON.stringify(body), { status: 401, headers: { 'content-type': 'application/json' } });
        Object.defineProperty(res, 'url', { value: url.includes('/away/') ? 'https://elsewhere.example/away/answer' : `${location.origin}/here/answer` });
        return Promise.resolve(res);
      };
    });
    await w.page.reload();
    await w.page.waitForFunction(() => (window as unknown as { __jellyguardInjected?: boolean }).__jellyguardInjected === true);
    const ask = (where: string) =>
      settled(w.page.evaluate(async (path) => {
        const r = await fetch(`${location.origin}${path}`, { method: 'POST' });
        return { status: r.status, error: ((await r.json()) as { error: string }).error };
      }, where));
    // From another origin: handed over untouched, no dialog.
    expect(await ask('/away/answer')).toEqual({ status: 401, error: 'step_up_required' });
    expect(await dialogOf(w.page).count()).toBe(0);
    // The same answer from this origin does open it (Cancel hands the 401 over).
    const here = ask('/here/answer');
    const dialog = dialogOf(w.page);
    await dialog.waitFor({ timeout: 15_000 });
    expect(await dialog.getByText('Create an API key “Elsewhere”', { exact: true }).isVisible()).toBe(true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await here).toEqual({ status: 401, error: 'step_up_required' });
  });

  it('if the dialog cannot be loaded, the page gets the original 401 (and the next step-up tries again)', async () => {
    const tv = await waitingTv('atv-no-dialog');
    const w = await openWeb(bob.name);
    await w.page.route('**/JellyfinSecurity/stepup.js', (route) => route.abort('connectionfailed'));
    const warned = w.page.waitForEvent('console', (m) => m.type() === 'warning' && /step-up dialog could not be loaded/.test(m.text()));
    const a = await quickConnectPage(w, tv.code);
    expect(a).toMatchObject({ outcome: 'QuickConnectAuthorizeFail', status: 401, data: { error: 'step_up_required' } });
    await warned;
    await w.page.unroute('**/JellyfinSecurity/stepup.js');
    const b = quickConnectPage(w, tv.code);
    await answerWithCode(w.page);
    expect(await b).toMatchObject({ outcome: 'success', status: 200 });
    expect(await tv.authorized()).toBe(true);
  });

  it('fetch with a JSON body (as the apiclient sends the dashboard’s saves): the body is sent again with the grant', async () => {
    const tv = await waitingTv('atv-body');
    const w = await openWeb(bob.name);
    const answer = settled(
      w.page.evaluate(
        async ({ code, auth }) => {
          const headers = { Authorization: auth, accept: 'application/json', 'Content-Type': 'application/json' };
          const res = await fetch(`${location.origin}/QuickConnect/Authorize?code=${code}`, { headers, method: 'POST', credentials: 'same-origin', body: JSON.stringify({ from: 'the apiclient' }) });
          return { status: res.status, data: await res.json(), url: res.url };
        },
        { code: tv.code, auth: webAuth(bob.name) },
      ),
    );
    await answerWithCode(w.page);
    expect(await answer).toEqual({ status: 200, data: true, url: `${world.origin}/QuickConnect/Authorize?code=${tv.code}` });
    expectRepeatedExactly(w, 'fetch');
    expect(w.sent[0]!.body).toBe('{"from":"the apiclient"}');
    expect(await tv.authorized()).toBe(true);
  });

  it('fetch with a Request object: a copy kept before sending is repeated with the grant', async () => {
    const tv = await waitingTv('atv-request');
    const w = await openWeb(bob.name);
    const answer = settled(
      w.page.evaluate(
        async ({ code, auth }) => {
          const req = new Request(`/QuickConnect/Authorize?code=${code}`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: '{}' });
          const res = await fetch(req);
          return { status: res.status, data: await res.json(), url: res.url };
        },
        { code: tv.code, auth: webAuth(bob.name) },
      ),
    );
    await answerWithCode(w.page);
    expect(await answer).toEqual({ status: 200, data: true, url: `${world.origin}/QuickConnect/Authorize?code=${tv.code}` });
    // (Chromium does not show a Request object's body to DevTools: method, URL and headers are compared.)
    expectRepeatedExactly(w, 'fetch');
    expect(await tv.authorized()).toBe(true);
  });

  it('two guarded requests at once: one dialog, then the next', async () => {
    const [tv1, tv2] = [await waitingTv('atv-two-1'), await waitingTv('atv-two-2')];
    const w = await openWeb(bob.name);
    const first = quickConnectPage(w, tv1.code);
    await expectDialog(w.page);
    const second = apiClientAjax(w, tv2.code);
    await expect.poll(() => w.sent.length, POLL).toBe(2);
    expect(await dialogOf(w.page).count()).toBe(1);
    await answerWithCode(w.page);
    expect(await first).toMatchObject({ outcome: 'success', status: 200 });
    await answerWithCode(w.page);
    expect(await second).toMatchObject({ outcome: 'success', status: 200 });
    expect([await tv1.authorized(), await tv2.authorized()]).toEqual([true, true]);
  });
});

describe('jellyfin-web’s dashboard through the prompt (administrator actions)', { timeout: 90_000 }, () => {
  it('“Make bob an administrator” (the apiclient’s updateUserPolicy, fetch with the policy JSON) and “Create an API key” (the SDK’s createKey, XHR)', async () => {
    const w = await openWeb(admin.name);
    const bobId = world.emu.user(bob.name).id;
    expect(world.emu.user(bob.name).isAdministrator).toBe(false);
    // src/apps/dashboard/routes/users/profile.tsx: the user is read, its policy changed and saved whole with
    // ApiClient.updateUserPolicy → ajax({ type: 'POST', url: Users/{id}/Policy, data: JSON, contentType: 'application/json' }).
    const saved = settled(
      w.page.evaluate(
        async ({ bobId, auth }) => {
          const user = await (await fetch(`${location.origin}/Users/${bobId}`, { headers: { Authorization: auth } })).json();
          const policy = { ...user.Policy, IsAdministrator: true };
          const res = await fetch(`${location.origin}/Users/${bobId}/Policy`, {
            headers: { Authorization: auth, 'Content-Type': 'application/json' },
            method: 'POST',
            credentials: 'same-origin',
            body: JSON.stringify(policy),
          });
          return { status: res.status };
        },
        { bobId, auth: webAuth(admin.name) },
      ),
    );
    let dialog = await expectDialog(w.page, 'Make bob an administrator');
    await screenshot(w.page, 'stepup-web-dashboard-admin', { fullPage: false });
    await dialog.getByLabel('Your Jellyfin password').fill(admin.password);
    await dialog.getByRole('button', { name: 'Confirm with my password' }).click();
    expect(await saved).toEqual({ status: 204 });
    expect(world.emu.user(bob.name).isAdministrator).toBe(true); // the repeat carried the policy

    // src/apps/dashboard/features/keys/api/useCreateKey.ts: getApiKeyApi(api).createKey({ app }) → axios.
    const before = world.emu.reached('POST Auth/Keys');
    const created = settled(
      w.page.evaluate(
        async ({ auth }) => {
          const axios = (window as unknown as { axios: { request: (c: unknown) => Promise<{ status: number }> } }).axios;
          const r = await axios.request({ method: 'POST', headers: { Authorization: auth }, url: `${location.origin}/Auth/Keys?app=Sonarr` });
          return { status: r.status };
        },
        { auth: webAuth(admin.name) },
      ),
    );
    dialog = await expectDialog(w.page, 'Create an API key “Sonarr”');
    await dialog.getByLabel('Your Jellyfin password').fill(admin.password);
    await dialog.getByRole('button', { name: 'Confirm with my password' }).click();
    expect(await created).toEqual({ status: 204 });
    expect(world.emu.reached('POST Auth/Keys')).toBe(before + 1);

    // src/apps/dashboard/features/keys/api/useApiKeys.ts: getApiKeyApi(api).getKeys() → axios GET. The list
    // hands out every key in clear text, so it is the one read that asks (once per window).
    const listed = settled(
      w.page.evaluate(
        async ({ auth }) => {
          const axios = (window as unknown as { axios: { request: (c: unknown) => Promise<{ status: number; data: { Items: { AppName: string }[] } }> } }).axios;
          const r = await axios.request({ method: 'GET', headers: { Authorization: auth }, url: `${location.origin}/Auth/Keys` });
          return { status: r.status, apps: r.data.Items.map((k) => k.AppName) };
        },
        { auth: webAuth(admin.name) },
      ),
    );
    dialog = await expectDialog(w.page, 'See the API keys (each one works like an administrator’s password)');
    await dialog.getByLabel('Your Jellyfin password').fill(admin.password);
    await dialog.getByRole('button', { name: 'Confirm with my password' }).click();
    const list = await listed;
    expect(list.status).toBe(200);
    expect(list.apps).toContain('Sonarr');
  });
});
