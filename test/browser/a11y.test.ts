import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ManualClock } from '../../server/clock.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { launchBrowser, openPage, PHONE, PHONE_UA, screenshot } from '../helpers/browser.ts';
import { enrollThroughApp, openPhone, PLACES, serviceWorkerReady, signIn, startWorld, tvLogin, USERS, type Phone, type World } from './pwa-helpers.ts';

/**
 * Every page a person meets, checked by axe-core in a real browser at a phone's size: the web login's
 * steps, the Authenticator's pages (signed out and in, an admin's console too) and the TV's pairing page.
 * No serious or critical violation (WCAG 2.2 A/AA: contrast, names, landmarks), with buttons both enabled
 * and disabled where a page has both states.
 */

const [alice, , admin] = [USERS[0]!, USERS[1]!, USERS[2]!];
const clock = new ManualClock(Date.now());
let world: World;
let phone: Phone;

/** axe over the page as it is; the screenshot is what was checked. */
async function check(p: Page, name: string): Promise<void> {
  await screenshot(p, `a11y-${name}`, { fullPage: false });
  const problems = await seriousViolations(p);
  expect(problems, `${name}: ${JSON.stringify(problems, null, 2)}`).toEqual([]);
}

beforeAll(async () => {
  world = await startWorld({ clock, config: { HoldSeconds: 0, PushWindowSeconds: 60 } });
  phone = await openPhone(world);
}, 60_000);

afterAll(async () => {
  await phone?.close();
  await world?.close();
});

describe('no serious or critical accessibility violation', () => {
  it('the Authenticator signed out, then each page signed in', async () => {
    const p = phone.page;
    await p.goto(world.appUrl);
    await p.getByLabel('User name').waitFor();
    expect(await p.locator('main').count()).toBe(1);
    await check(p, 'app-signin');
    await signIn(p, world, alice);
    await p.getByTestId('setup-phone').waitFor();
    await serviceWorkerReady(p);
    await check(p, 'app-home-new');
    await p.getByTestId('setup-phone').click();
    await p.getByRole('button', { name: 'Set up this phone' }).waitFor();
    await check(p, 'app-enroll');
    await p.goto(world.appUrl);
    await enrollThroughApp(phone);

    clock.advance(61_000);
    expect((await tvLogin(world, alice, { deviceId: 'roku-a11y', ip: PLACES.paris.ip, device: 'Bedroom TV' })).status).toBe(401);
    await p.goto(`${world.appUrl}#/approvals`);
    await p.getByTestId('pending-list').getByText('Bedroom TV').waitFor();
    await check(p, 'app-approvals');
    await p.getByTestId('pending-list').getByText('Bedroom TV').click();
    await p.getByTestId('approval-details').waitFor();
    await check(p, 'app-approve');

    for (const page of ['pair', 'security', 'devices', 'activity']) {
      await p.goto(`${world.appUrl}#/${page}`);
      await p.locator('main').first().waitFor();
      await p.waitForLoadState('networkidle');
      await check(p, `app-${page}`);
    }
  });

  it('the admin console', async () => {
    const browser = await launchBrowser();
    try {
      const { page: p } = await openPage(browser, { viewport: PHONE, userAgent: PHONE_UA });
      p.setDefaultTimeout(10_000);
      await signIn(p, world, admin);
      await p.getByTestId('setup-phone').waitFor();
      for (const tab of ['users', 'bans', 'audit', 'settings']) {
        await p.goto(`${world.appUrl}#/admin/${tab}`);
        await p.locator('main').first().waitFor();
        await p.waitForLoadState('networkidle');
        await check(p, `app-admin-${tab}`);
      }
      // Setting up an authenticator app: the key in groups of four, a copy button and the otpauth: link.
      await p.goto(`${world.appUrl}#/security`);
      await p.getByRole('button', { name: 'Set up an authenticator app' }).click();
      const key = p.getByTestId('totp-key');
      await key.waitFor();
      expect(await key.innerText()).toMatch(/^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/);
      expect(await p.getByTestId('totp-link').getAttribute('href')).toMatch(/^otpauth:\/\/totp\//);
      await p.getByRole('button', { name: 'Copy key' }).waitFor();
      await check(p, 'app-security-totp-setup');
    } finally {
      await browser.close();
    }
  });

  it('the web login: password (empty and filled), the second factor, each other way', async () => {
    const browser = await launchBrowser();
    try {
      const { page: p } = await openPage(browser, { viewport: PHONE, userAgent: PHONE_UA });
      p.setDefaultTimeout(10_000);
      await p.goto(`${world.origin}/JellyfinSecurity/login/?return=${encodeURIComponent('/web/')}`);
      await p.waitForSelector('#username');
      await check(p, 'login-password');
      await p.fill('#username', alice.name);
      await p.fill('#password', 'wrong');
      await p.click('[data-testid=password-form] button[type=submit]');
      await p.getByRole('alert').waitFor();
      await check(p, 'login-password-error');
      await p.fill('#password', alice.password);
      await p.click('[data-testid=password-form] button[type=submit]');
      await p.locator('main[data-step=factor]').waitFor();
      await p.waitForLoadState('networkidle');
      await check(p, 'login-factor');
      const others = await p.locator('[data-method]').evaluateAll((els) => els.map((e) => e.getAttribute('data-method')!));
      for (const m of others) {
        await p.click(`[data-method=${m}]`);
        await p.waitForLoadState('networkidle');
        await check(p, `login-factor-${m}`);
        // The code forms: Verify is disabled while the field is empty, enabled once typed.
        if (await p.locator('#code').count()) {
          await p.fill('#code', '12345678');
          await check(p, `login-factor-${m}-typed`);
        }
      }
    } finally {
      await browser.close();
    }
  });

  it("the TV's pairing page", async () => {
    const browser = await launchBrowser();
    try {
      const { page: p } = await openPage(browser, { viewport: { width: 1280, height: 720 } });
      await p.goto(`${world.origin}/JellyfinSecurity/pair`);
      await p.locator('#code').filter({ hasText: /\S/ }).waitFor();
      // How long the code lasts, counting down; and (no PublicUrl, opened on localhost) why the QR cannot work on a phone.
      await expect.poll(() => p.locator('#expiry').innerText()).toMatch(/^This code changes in \d:\d\d$/);
      expect(await p.getByTestId('qr-warning').innerText()).toContain('PublicUrl');
      await check(p, 'pair-page');
    } finally {
      await browser.close();
    }
  });
});
