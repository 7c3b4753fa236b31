import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DESKTOP, launchBrowser, localStorageOf, openPage, screenshot, screenshotBoth, type BrowserPage } from '../helpers/browser.ts';
import { call, enrollPhone, startWorld, tap, type Phone, type World } from '../integration/approvals-helpers.ts';

/**
 * "Approve on my phone" with the user name alone, in a real browser (Debian's Chromium): a new browser
 * types only "hana", taps the button, and shows the number; her phone (a software passkey and a real push
 * subscription to the local push service) receives the push, picks that number among three and approves
 * with a passkey tap; the page receives a session minted through Quick Connect, stores it as jellyfin-web
 * does and opens jellyfin-web signed in. A user name nobody has looks the same on the page.
 */
let w: World;
let browser: Browser;
let phone: Phone;
const tabs: BrowserPage[] = [];
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const POLL = { timeout: 10_000, interval: 50 };

async function fresh(): Promise<BrowserPage> {
  const t = await openPage(browser, { viewport: DESKTOP, userAgent: UA });
  tabs.push(t);
  return t;
}

beforeAll(async () => {
  w = await startWorld({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'hana', password: 'hana-pw' },
    ],
  });
  phone = await enrollPhone(w, 'hana', 'hana-pw');
  browser = await launchBrowser();
}, 90_000);

afterEach(async (ctx) => {
  const t = tabs.at(-1);
  if (ctx.task.result?.state === 'fail' && t && !t.page.isClosed()) await screenshot(t.page, `phone-signin-FAILED-${ctx.task.name.slice(0, 40)}`).catch(() => {});
  while (tabs.length) await tabs.pop()!.context.close().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await w?.close();
});

describe('approve on my phone, with the user name alone', { timeout: 90_000 }, () => {
  it('a new browser reaches jellyfin-web signed in, with no password', async () => {
    const { page: p, errors } = await fresh();
    await p.goto(w.origin + '/web/');
    await p.waitForURL(/\/JellyfinSecurity\/login\/\?return=/);
    const before = errors.length; // the emulator's jellyfin-web stand-in has no bundles (404s)
    await p.fill('#username', 'hana');
    await p.click('[data-testid=phone-signin]');
    const match = p.getByTestId('match-number');
    await match.waitFor();
    const number = ((await match.textContent()) ?? '').trim();
    expect(number).toMatch(/^\d{2}$/);
    await screenshotBoth(p, 'phone-signin-number');
    expect(errors.slice(before)).toEqual([]); // the login page itself works cleanly

    const push = await w.push.nextMessage((m) => m.subscriberId === phone.sub.id && m.json?.type === 'approval' && m.json?.kind === 'signin');
    const approvalId = (push.json as { approvalId: string }).approvalId;
    const view = await call(w, 'GET', `/JellyfinSecurity/Approvals/${approvalId}`);
    expect((view.json as { choices: string[]; asking: { client: string } }).choices).toContain(number);
    expect((view.json as { asking: { client: string } }).asking.client).toBe('Jellyfin Web');

    const approved = await tap(w, phone, approvalId, 'Approve', { number });
    expect(approved.status, approved.text).toBe(200);
    await p.waitForURL(w.origin + '/web/');
    const creds = JSON.parse((await localStorageOf(p)).jellyfin_credentials!) as { Servers: Array<{ AccessToken: string; UserId: string }> };
    expect(creds.Servers[0]!.UserId).toBe(w.jf.user('hana').id);
    const me = await fetch(`${w.gw.url}/Users/Me`, { headers: { authorization: `MediaBrowser Token="${creds.Servers[0]!.AccessToken}"` } });
    expect(me.status).toBe(200);
  });

  it('denied on the phone: the page goes back to the first step and says so', async () => {
    const { page: p } = await fresh();
    await p.goto(w.origin + '/JellyfinSecurity/login/');
    await p.fill('#username', 'hana');
    await p.click('[data-testid=phone-signin]');
    await p.getByTestId('match-number').waitFor();
    const pending = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token: phone.token, deviceId: phone.deviceId });
    const approvalId = (pending.json as { items: Array<{ id: string; kind: string }> }).items.find((a) => a.kind === 'signin')!.id;
    const denied = await call(w, 'POST', `/JellyfinSecurity/Approvals/${approvalId}/Deny`, { body: {} });
    expect(denied.status, denied.text).toBe(200);
    await expect.poll(async () => ((await p.getByTestId('error').count()) ? ((await p.getByTestId('error').textContent()) ?? '').trim() : ''), POLL)
      .toBe('This sign-in was denied on your phone. If that was a mistake, sign in again.');
    expect(await p.locator('#username').inputValue()).toBe('hana');
    await screenshot(p, 'phone-signin-denied');
  });

  it('a user name nobody has shows the same waiting page, and expires like any request', async () => {
    const { page: p } = await fresh();
    await p.goto(w.origin + '/JellyfinSecurity/login/');
    await p.fill('#username', 'nobody-here');
    await p.click('[data-testid=phone-signin]');
    await p.getByTestId('match-number').waitFor();
    expect(await p.locator('.card').innerText()).toContain('If this account has the Jellyguard app on a phone');
    await screenshot(p, 'phone-signin-unknown');
    // Past the approval's lifetime the page's next poll is told it expired, and offers a new request.
    w.clock.advance(130_000);
    w.gw.gateway.services.approvals.waiters.tick();
    await p.getByTestId('phone-retry').waitFor({ timeout: 40_000 });
    await expect.poll(async () => ((await p.getByTestId('error').textContent()) ?? '').trim(), POLL).toBe('Nobody approved on the phone in time. Send a new request, or choose another way.');
    await p.click('[data-testid=phone-cancel]');
    await p.locator('#password').waitFor();
  });

  it('asks for the user name first', async () => {
    const { page: p } = await fresh();
    await p.goto(w.origin + '/JellyfinSecurity/login/');
    await p.locator('#username').waitFor();
    await screenshotBoth(p, 'phone-signin-password-step');
    await p.click('[data-testid=phone-signin]');
    await expect.poll(async () => ((await p.getByTestId('error').textContent()) ?? '').trim(), POLL).toBe('Enter your user name first.');
  });
});
