import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ManualClock } from '../../server/clock.ts';
import { launchPersistent, PHONE, PHONE_UA, screenshot } from '../helpers/browser.ts';
import {
  enrollThroughApp,
  openPhone,
  PLACES,
  serviceWorkerReady,
  signIn,
  startWorld,
  tokenWorks,
  tvLogin,
  USERS,
  type Phone,
  type World,
} from './pwa-helpers.ts';

/**
 * Every page of the Authenticator at a phone's size (390 × 844), with real data behind it, looked at
 * in test-output/screenshots/pwa-page-*.png — and what those pages do: the pending list, my devices
 * (revoking a TV's session revokes its token), the activity of sign-ins, the admin console (users and
 * their factors, bans lifted, the audit log), and keeping the push subscription fresh: at every start,
 * and when the push service replaces it (`pushsubscriptionchange`).
 */

const [alice, , admin] = [USERS[0]!, USERS[1]!, USERS[2]!];
const clock = new ManualClock(Date.now());
/** Someone guessing passwords (a documentation address). */
const GUESSER = '203.0.113.66';
let world: World;
let phone: Phone;
let tvToken = '';

const page = () => phone.page;
/**
 * What the phone shows (the viewport: the tab bar is fixed, so a full-page capture would misplace it);
 * `long` pages are also captured scrolled to the end.
 */
async function shot(p: Page, name: string, long = false): Promise<void> {
  await screenshot(p, `pwa-page-${name}`, { fullPage: false });
  if (!long) return;
  await p.evaluate(() => scrollTo(0, document.body.scrollHeight));
  await screenshot(p, `pwa-page-${name}-end`, { fullPage: false });
  await p.evaluate(() => scrollTo(0, 0));
}
/**
 * Answer "Confirm it's you" for an administrator action with the admin's password (an account with no
 * second factor proves it so); `action` is what the dialog must name, when given.
 */
async function confirmWithPassword(p: Page, action?: string): Promise<void> {
  const dialog = p.getByTestId('step-up');
  await dialog.waitFor();
  if (action) expect(await dialog.getByTestId('step-up-action').innerText()).toContain(action);
  await screenshot(p, 'pwa-page-admin-confirm', { fullPage: false });
  await dialog.getByLabel('Your Jellyfin password').fill(admin.password);
  await dialog.getByRole('button', { name: 'Confirm with my password' }).click();
}
const token = (p: Page) => p.evaluate(() => JSON.parse(localStorage.getItem('jellyguard.session')!).token as string);

beforeAll(async () => {
  world = await startWorld({ clock, config: { HoldSeconds: 0, PushWindowSeconds: 60 } });
  phone = await openPhone(world);
}, 60_000);

afterAll(async () => {
  await phone?.close();
  await world?.close();
});

describe('the pages, as a household member sees them', () => {
  it('sign in, then the home page of a phone not set up yet', async () => {
    await page().goto(world.appUrl);
    await page().getByLabel('User name').waitFor();
    await shot(page(), 'signin');
    await page().getByLabel('User name').fill(alice.name);
    await page().getByLabel('Password').fill('not-the-password');
    await page().getByRole('button', { name: 'Sign in', exact: true }).click();
    await page().getByRole('alert').getByText('do not match').waitFor();
    await shot(page(), 'signin-wrong-password');
    await page().getByLabel('Password').fill(alice.password);
    await page().getByRole('button', { name: 'Sign in', exact: true }).click();
    await page().getByTestId('setup-phone').waitFor();
    await page().getByTestId('no-requests').waitFor();
    await serviceWorkerReady(page());
    await shot(page(), 'home-new');
  });

  it('the notifications step of "Set up this phone", on a browser that has not allowed them', async () => {
    const fresh = await launchPersistent({ viewport: PHONE, userAgent: PHONE_UA });
    try {
      fresh.context.setDefaultTimeout(10_000);
      await signIn(fresh.page, world, USERS[1]!);
      await fresh.page.getByTestId('setup-phone').click();
      await fresh.page.getByRole('button', { name: 'Set up this phone' }).click();
      await fresh.page.getByRole('button', { name: 'Allow notifications' }).waitFor();
      await shot(fresh.page, 'enroll-notifications');
    } finally {
      await fresh.close();
    }
  });

  it('a pending request waits in the list until it is answered', async () => {
    await enrollThroughApp(phone);
    clock.advance(61_000);
    // HoldSeconds 0: the TV is answered 401 at once; its approval stays open for approve-then-retry.
    expect((await tvLogin(world, alice, { deviceId: 'roku-list', ip: PLACES.paris.ip, device: 'Bedroom TV' })).status).toBe(401);
    await page().goto(`${world.appUrl}#/approvals`);
    const list = page().getByTestId('pending-list');
    await list.getByText('Bedroom TV').waitFor();
    expect(await list.innerText()).toContain('Paris, France');
    await shot(page(), 'approvals-pending');
    await list.getByText('Bedroom TV').click();
    await page().getByTestId('approve').click();
    await expect.poll(() => page().getByTestId('approval-result').getAttribute('data-status')).toBe('approved');
    const retry = await tvLogin(world, alice, { deviceId: 'roku-list', ip: PLACES.paris.ip, device: 'Bedroom TV' });
    expect(retry.status).toBe(200);
    tvToken = retry.token!;
    await page().goto(`${world.appUrl}#/approvals`);
    await page().getByTestId('no-requests').waitFor();
  });

  it('my devices: this phone, the Jellyfin sessions, passkeys; signing a TV out revokes its token', async () => {
    await page().goto(`${world.appUrl}#/devices`);
    const sessions = page().getByTestId('sessions');
    await sessions.getByText('Bedroom TV').waitFor();
    expect(await page().getByTestId('phones').innerText()).toContain('This phone');
    expect(await sessions.innerText()).toContain('This app');
    expect(await sessions.innerText()).toContain('approved on a phone');
    await shot(page(), 'devices', true);
    expect(await tokenWorks(world, tvToken)).toBe(true);
    const row = sessions.locator('.item', { hasText: 'Bedroom TV' });
    await row.getByRole('button', { name: 'Sign out' }).click();
    await page().getByRole('alertdialog').getByRole('button', { name: 'Sign out' }).click();
    await page().getByText('Bedroom TV signed out.').waitFor();
    expect(await tokenWorks(world, tvToken)).toBe(false);
    expect(await sessions.getByText('Bedroom TV').count()).toBe(0);
  });

  it('activity: the sign-ins of this account, newest first', async () => {
    await page().goto(`${world.appUrl}#/activity`);
    const list = page().getByTestId('activity');
    await list.getByText('Approved on your phone').first().waitFor();
    const text = await list.innerText();
    expect(text).toContain('Bedroom TV');
    expect(text).toContain(PLACES.paris.ip);
    await shot(page(), 'activity', true);
  });

  it('security: the factors and recovery codes', async () => {
    await page().goto(`${world.appUrl}#/security`);
    await page().getByTestId('passkeys').getByText('Android phone', { exact: true }).waitFor();
    await shot(page(), 'security', true);
    // Rename the passkey.
    await page().getByTestId('passkeys').getByRole('button', { name: 'Rename' }).click();
    await page().getByLabel('Passkey name').fill('Alice’s Pixel');
    await page().getByRole('button', { name: 'Save' }).click();
    await page().getByTestId('passkeys').getByText('Alice’s Pixel').waitFor();
    // New recovery codes replace the old ones (shown once, from the top of the page).
    await page().getByRole('button', { name: 'Make new recovery codes' }).click();
    await page().getByRole('alertdialog').getByRole('button', { name: 'Make new codes' }).click();
    // A step-up action (RegenerateRecoveryCodes): the gateway asks for a fresh proof, a passkey tap gives it.
    const stepUp = page().getByTestId('step-up');
    await stepUp.waitFor();
    await shot(page(), 'security-stepup');
    await stepUp.getByRole('button', { name: 'Use my passkey' }).click();
    await page().getByTestId('recovery-codes').waitFor();
    expect(await page().evaluate(() => scrollY)).toBe(0);
    await page().getByRole('button', { name: 'I saved them' }).click();
    await page().getByText('10 codes left.').waitFor();
  });
});

describe('keeping the push subscription fresh', () => {
  it('re-subscribes at every start of the app', async () => {
    const sent = page().waitForRequest((r) => r.method() === 'PUT' && /\/Me\/Phones\/[^/]+\/Subscription$/.test(r.url()));
    await page().reload();
    const body = JSON.parse((await sent).postData()!);
    expect(body.subscription.endpoint).toBe(phone.subscriber.subscription.endpoint);
  });

  it('pushsubscriptionchange: the worker posts the new subscription; the next push goes to it', async () => {
    const renewed = world.push.subscribe();
    const worker = phone.context.serviceWorkers()[0]!;
    // The push service replaced the subscription (Chromium has no such event to fire, so the test
    // dispatches one with the new subscription: the worker's real handler runs).
    await worker.evaluate(`(async () => {
      const sub = ${JSON.stringify(renewed.subscription)};
      const e = new ExtendableEvent('pushsubscriptionchange');
      Object.defineProperty(e, 'newSubscription', { value: { endpoint: sub.endpoint, toJSON: () => sub } });
      Object.defineProperty(e, 'oldSubscription', { value: null });
      self.dispatchEvent(e);
    })()`);
    const me = await token(page());
    const phoneId = await page().evaluate(() => JSON.parse(localStorage.getItem('jellyguard.phone')!).phoneId as string);
    // The gateway now sends to the new endpoint: ask it for a test notification.
    await expect
      .poll(async () => {
        const res = await fetch(`${world.gw.url}/JellyfinSecurity/Me/Phones/${phoneId}/Test`, { method: 'POST', headers: { 'x-emby-token': me } });
        await res.arrayBuffer();
        return world.push.messagesFor(renewed.id).length;
      })
      .toBeGreaterThan(0);
  });
});

describe('the admin console', () => {
  let adminPhone: Phone;

  beforeAll(async () => {
    // A ban to lift: MaxFailedAttempts (5) wrong passwords from one address.
    for (let i = 0; i < 5; i++) await tvLogin(world, { name: 'mallory', password: 'guess' + i }, { ip: GUESSER, deviceId: 'kodi-x' });
    adminPhone = await openPhone(world, { ip: '198.51.100.50' });
    await signIn(adminPhone.page, world, admin);
    await adminPhone.page.getByTestId('setup-phone').waitFor();
  });

  afterAll(async () => {
    await adminPhone?.close();
  });

  it('users with their second factors, and a reset', async () => {
    const p = adminPhone.page;
    await p.getByRole('link', { name: 'Admin' }).click();
    const users = p.getByTestId('admin-users');
    await users.getByText('alice').waitFor();
    const aliceRow = users.locator('.item', { hasText: 'alice' });
    expect(await aliceRow.innerText()).toMatch(/1 passkey/);
    await shot(p, 'admin-users', true);
    await aliceRow.getByRole('button', { name: 'Reset' }).click();
    await p.getByRole('alertdialog').getByRole('button', { name: 'Reset' }).click();
    // An administrator action: confirmed first (this admin has no second factor: the password again).
    await confirmWithPassword(p, 'alice');
    await p.getByText('alice’s second factors were reset.').waitFor();
    await expect.poll(() => aliceRow.innerText()).toContain('Password only');
  });

  it('bans: see one and lift it', async () => {
    const p = adminPhone.page;
    await p.goto(`${world.appUrl}#/admin/bans`);
    const bans = p.getByTestId('admin-bans');
    await bans.getByText(GUESSER).first().waitFor();
    await shot(p, 'admin-bans');
    const before = await bans.locator('.item').count();
    await bans.locator('.item', { hasText: GUESSER }).first().getByRole('button', { name: 'Lift' }).click();
    await confirmWithPassword(p);
    await p.getByText('Ban lifted.').waitFor();
    await expect.poll(() => bans.locator('.item').count()).toBeLessThan(before);
  });

  it('the audit log, filtered', async () => {
    const p = adminPhone.page;
    await p.goto(`${world.appUrl}#/admin/audit`);
    const audit = p.getByTestId('admin-audit');
    await audit.getByText('approval.approved').first().waitFor();
    expect(await audit.innerText()).toContain('Approved on the phone');
    await p.getByLabel('Filter by user name or event type').fill('guard');
    await p.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(async () => (await audit.innerText()).includes('approval.approved')).toBe(false);
    expect(await audit.innerText()).toContain('guard.ban.lifted');
    // Sentences, as Jellyfin's own activity log reads; the type stays beneath for filtering.
    expect(await audit.innerText()).toContain('An administrator lifted a block');
    await shot(p, 'admin-audit');
  });

  it('is not there for a household member', async () => {
    await page().goto(`${world.appUrl}#/admin/users`);
    await page().getByTestId('no-requests').waitFor(); // the admin route falls back to the home page
    expect(await page().getByRole('link', { name: 'Admin' }).count()).toBe(0);
  });
});
