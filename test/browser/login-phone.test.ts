import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DESKTOP, launchBrowser, localStorageOf, openPage, screenshot, screenshotBoth, type BrowserPage } from '../helpers/browser.ts';
import { call, enrollPhone, nextApproval, startWorld, tap, type Phone, type World } from '../integration/approvals-helpers.ts';

/**
 * "Approve on your phone" on the web login, in a real browser: gina's only factor is the Authenticator
 * on her phone (a software passkey and a real push subscription to the local push service). The login
 * page shows the number to pick and waits (long poll); the phone receives the encrypted push, and its
 * passkey tap with the right number signs the browser in. A denial on the phone ends the sign-in.
 */

let w: World;
let browser: Browser;
let tab: BrowserPage;
let phone: Phone;
const POLL = { timeout: 10_000, interval: 50 };
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

/** Sign in as gina up to the number; the approval id comes from the push (or, when the push budget
 *  held it back, from her phone's list of pending approvals, as the app would show it). */
async function askPhone(p: Page, via: 'push' | 'app' = 'push'): Promise<{ number: string; approvalId: string }> {
  await p.goto(w.origin + '/web/');
  await p.waitForURL(/\/JellyfinSecurity\/login\/\?return=/);
  await p.fill('#username', 'gina');
  await p.fill('#password', 'gina-pw');
  await p.click('[data-testid=password-form] button[type=submit]');
  const match = p.getByTestId('match-number');
  await match.waitFor();
  const number = ((await match.textContent()) ?? '').trim();
  expect(number).toMatch(/^\d{2}$/);
  let approvalId: string;
  if (via === 'push') {
    const push = await nextApproval(w, phone);
    expect(push.json.kind).toBe('login');
    approvalId = push.json.approvalId;
  } else {
    const pending = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token: phone.token, deviceId: phone.deviceId });
    expect(pending.status, pending.text).toBe(200);
    approvalId = (pending.json as { items: Array<{ id: string; kind: string }> }).items.find((a) => a.kind === 'login')!.id;
  }
  // The phone offers three numbers; the one the browser shows is among them.
  const view = await call(w, 'GET', `/JellyfinSecurity/Approvals/${approvalId}`);
  expect(view.status).toBe(200);
  expect((view.json as { choices: string[] }).choices).toContain(number);
  return { number, approvalId };
}

beforeAll(async () => {
  w = await startWorld({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'gina', password: 'gina-pw' },
    ],
  });
  phone = await enrollPhone(w, 'gina', 'gina-pw');
  browser = await launchBrowser();
  tab = await openPage(browser, { viewport: DESKTOP, userAgent: UA });
}, 90_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && tab && !tab.page.isClosed()) await screenshot(tab.page, `weblogin-FAILED-${ctx.task.name.slice(0, 40)}`).catch(() => {});
});

afterAll(async () => {
  await tab?.context.close().catch(() => {});
  await browser?.close();
  await w?.close();
});

describe('approve on the phone, from the web login', { timeout: 90_000 }, () => {
  it('shows the number, waits for the phone, and signs in once it approves', async () => {
    const p = tab.page;
    const { number, approvalId } = await askPhone(p);
    expect(await p.locator('[data-method=recovery]').count()).toBe(1); // her recovery codes stay a way in
    await screenshotBoth(p, 'weblogin-phone');
    const approved = await tap(w, phone, approvalId, 'Approve', { number });
    expect(approved.status, approved.text).toBe(200);
    await p.waitForURL(w.origin + '/web/');
    const creds = JSON.parse((await localStorageOf(p)).jellyfin_credentials!) as { Servers: Array<{ AccessToken: string; UserId: string }> };
    expect(creds.Servers[0]!.UserId).toBe(w.jf.user('gina').id);
    const me = await fetch(`${w.gw.url}/Users/Me`, { headers: { authorization: `MediaBrowser Token="${creds.Servers[0]!.AccessToken}"` } });
    expect(me.status).toBe(200);
  });

  it('ends the sign-in when the phone denies it', async () => {
    const p = tab.page;
    await p.evaluate(() => {
      const c = JSON.parse(localStorage.getItem('jellyfin_credentials')!);
      for (const s of c.Servers) s.AccessToken = s.UserId = null;
      localStorage.setItem('jellyfin_credentials', JSON.stringify(c));
    });
    const { approvalId } = await askPhone(p, 'app');
    await screenshotBoth(p, 'weblogin-phone-again');
    const denied = await call(w, 'POST', `/JellyfinSecurity/Approvals/${approvalId}/Deny`, { body: {} });
    expect(denied.status, denied.text).toBe(200);
    await expect
      .poll(async () => ((await p.getByTestId('error').count()) ? ((await p.getByTestId('error').textContent()) ?? '').trim() : ''), POLL)
      .toBe('This sign-in was denied on your phone. If that was a mistake, sign in again.');
    expect(await p.locator('#username').inputValue()).toBe('gina');
    expect(JSON.parse((await localStorageOf(p)).jellyfin_credentials!).Servers[0].AccessToken).toBeNull();
    await screenshotBoth(p, 'weblogin-error-phone-denied');
  });
});
