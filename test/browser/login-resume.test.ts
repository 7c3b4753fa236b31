import type { Browser, Page } from 'playwright-core';
import { LEAVE_GRACE_MS } from '../../server/approvals/login.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, localStorageOf, openPage, PHONE, PHONE_UA, screenshot, type BrowserPage } from '../helpers/browser.ts';
import { advance, approvalRow, call, enrollPhone, nextApproval, startWorld, tap, type Phone, type World } from '../integration/approvals-helpers.ts';

/**
 * A web sign-in that is interrupted, in a real browser at a phone's size: a reload or Back during the
 * second step keeps the challenge (the same number, no second push to the phone) until it expires; a
 * sign-in given up ("Cancel and start over", a closed tab) withdraws its request from the phone; two
 * tabs of one browser make one request, not two.
 */

let w: World;
let browser: Browser;
let phone: Phone;
const tabs: BrowserPage[] = [];

async function tab(): Promise<Page> {
  const t = await openPage(browser, { viewport: PHONE, userAgent: PHONE_UA });
  t.page.setDefaultTimeout(10_000);
  tabs.push(t);
  return t.page;
}

/** Up to the number on the login page; the approval comes with the push. */
async function askPhone(p: Page, waitForPush = true): Promise<{ number: string; approvalId: string }> {
  await p.goto(w.origin + '/web/');
  await p.waitForURL(/\/JellyfinSecurity\/login\/\?return=/);
  await p.fill('#username', 'gina');
  await p.fill('#password', 'gina-pw');
  await p.click('[data-testid=password-form] button[type=submit]');
  const number = await shownNumber(p);
  if (!waitForPush) return { number, approvalId: '' };
  const push = await nextApproval(w, phone);
  return { number, approvalId: push.json.approvalId };
}

async function shownNumber(p: Page): Promise<string> {
  const match = p.getByTestId('match-number');
  await match.waitFor();
  const number = ((await match.textContent()) ?? '').trim();
  expect(number).toMatch(/^\d{2}$/);
  return number;
}

const pushesToPhone = () => w.push.messagesFor(phone.sub.id).filter((m) => m.json?.type === 'approval' && m.json?.kind !== 'change').length;

beforeAll(async () => {
  w = await startWorld({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'gina', password: 'gina-pw' },
    ],
  });
  phone = await enrollPhone(w, 'gina', 'gina-pw');
  browser = await launchBrowser();
}, 90_000);

afterEach(async (ctx) => {
  const last = tabs.at(-1);
  if (ctx.task.result?.state === 'fail' && last && !last.page.isClosed()) await screenshot(last.page, `login-resume-FAILED-${ctx.task.name.slice(0, 40)}`).catch(() => {});
  await Promise.all(tabs.splice(0).map((t) => t.context.close().catch(() => {})));
});

afterAll(async () => {
  await browser?.close();
  await w?.close();
});

describe('back and reload during the second step', { timeout: 60_000 }, () => {
  it('a reload resumes the challenge with the same number and sends no second push; Back stays too', async () => {
    const p = await tab();
    const { number, approvalId } = await askPhone(p);
    expect(pushesToPhone()).toBe(1);

    await p.reload();
    expect(await shownNumber(p)).toBe(number);
    expect(await p.locator('#password').count()).toBe(0);
    await screenshot(p, 'login-resume-after-reload', { fullPage: false });

    await p.goBack();
    await p.waitForLoadState('load');
    expect(p.url()).toMatch(/\/JellyfinSecurity\/login\/\?return=/);
    expect(await shownNumber(p)).toBe(number);
    // The reload's unload sent "leaving"; the page came back, so the request outlives the grace.
    await new Promise((r) => setTimeout(r, LEAVE_GRACE_MS + 1000));

    // The resumed challenge is the one the phone was asked about: approving it signs this tab in.
    expect(pushesToPhone()).toBe(1);
    expect((await approvalRow(w, approvalId)).status).toBe('pending');
    const approved = await tap(w, phone, approvalId, 'Approve', { number });
    expect(approved.status, approved.text).toBe(200);
    await p.waitForURL(w.origin + '/web/');
    const creds = JSON.parse((await localStorageOf(p)).jellyfin_credentials!) as { Servers: Array<{ UserId: string }> };
    expect(creds.Servers[0]!.UserId).toBe(w.jf.user('gina').id);
    expect(await p.evaluate(() => sessionStorage.getItem('jellyguard.challenge'))).toBeNull();
  });

  it('after the challenge expired, a reload asks for the password again', async () => {
    const p = await tab();
    await askPhone(p, false);
    await advance(w, 11 * 60_000);
    await p.reload();
    await p.waitForSelector('#password');
    expect(await p.locator('#username').inputValue()).toBe('');
    expect(await p.evaluate(() => sessionStorage.getItem('jellyguard.challenge'))).toBeNull();
  });
});

describe('requests of abandoned sign-ins', { timeout: 60_000 }, () => {
  const pendingLogins = async () => {
    const r = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token: phone.token, deviceId: phone.deviceId });
    expect(r.status, r.text).toBe(200);
    return (r.json as { items: Array<{ id: string; kind: string }> }).items.filter((a) => a.kind === 'login');
  };
  const POLL = { timeout: LEAVE_GRACE_MS + 10_000, interval: 250 };

  it('"Cancel and start over" withdraws the request from the phone at once', async () => {
    const p = await tab();
    const { approvalId } = await askPhone(p, false).then(async (a) => ({ ...a, approvalId: (await pendingLogins())[0]!.id }));
    await p.getByRole('button', { name: 'Cancel and start over' }).click();
    await p.waitForSelector('#password');
    await expect.poll(async () => (await approvalRow(w, approvalId)).status, { timeout: 5000 }).toBe('expired');
    expect((await approvalRow(w, approvalId)).reason).toBe('withdrawn');
    expect(await pendingLogins()).toEqual([]);
    const view = await call(w, 'GET', `/JellyfinSecurity/Approvals/${approvalId}`);
    expect((view.json as { status: string }).status).toBe('expired');
  });

  it('a closed tab withdraws its request once it has not come back', async () => {
    const p = await tab();
    await askPhone(p, false);
    const [open] = await pendingLogins();
    expect(open).toBeDefined();
    await p.close({ runBeforeUnload: true });
    expect((await approvalRow(w, open!.id)).status).toBe('pending'); // not yet: it might be a reload
    await expect.poll(async () => (await approvalRow(w, open!.id)).status, POLL).toBe('expired');
    expect(await pendingLogins()).toEqual([]);
  });

  it('two tabs of one browser make one request', async () => {
    const first = await tab();
    await askPhone(first, false);
    const second = await first.context().newPage();
    await askPhone(second, false);
    const pending = await pendingLogins();
    expect(pending).toHaveLength(1);
    await screenshot(second, 'login-resume-second-tab', { fullPage: false });
  });
});
