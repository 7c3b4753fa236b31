import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import { deliverPush, launchPersistent, PHONE, PHONE_UA, screenshot, type PersistentBrowser } from '../helpers/browser.ts';
import { enrollThroughApp, openPhone, serviceWorkerReady, signIn, startWorld, tokenWorks, USERS, type Phone, type World } from './pwa-helpers.ts';

/**
 * Signing in to the Authenticator follows the same policy as any login (issue 4, item 2): the password,
 * then a second factor through the challenge endpoints — here an authenticator-app code set up on the
 * Security page — or, on a new phone, an approval from the phone already enrolled, with number matching
 * (the new phone shows 2 digits, the enrolled one offers 3).
 */

const alice = USERS[0]!;
const clock = new ManualClock(Date.now());
let world: World;
let phone: Phone;
let totpSecret = '';

beforeAll(async () => {
  world = await startWorld({ clock, config: { PushWindowSeconds: 60 } });
  phone = await openPhone(world);
  await signIn(phone.page, world, alice);
  await phone.page.getByTestId('setup-phone').waitFor();
  await serviceWorkerReady(phone.page);
}, 60_000);

afterAll(async () => {
  await phone?.close();
  await world?.close();
});

/** A second browser: another phone signing in to the app for the first time. */
async function newPhone(): Promise<PersistentBrowser> {
  const b = await launchPersistent({ viewport: PHONE, userAgent: PHONE_UA });
  b.context.setDefaultTimeout(10_000);
  await b.context.setExtraHTTPHeaders({ 'x-forwarded-for': '198.51.100.40' });
  return b;
}

describe('second factors on the Security page', () => {
  it('sets up an authenticator app with its QR code, shows and downloads the first recovery codes', async () => {
    const { page } = phone;
    await page.goto(`${world.appUrl}#/security`);
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
    await qr.waitFor();
    expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    // The key is shown in groups of four; an authenticator app takes it with or without the spaces.
    totpSecret = (await page.locator('.secret').innerText()).replace(/\s+/g, '');
    expect(totpSecret).toMatch(/^[A-Z2-7]{16,}$/);
    await screenshot(page, 'pwa-security-totp-setup', { fullPage: false });

    await page.getByLabel('Code').fill(await totpCodeAt(totpSecret, clock.now()));
    await page.getByRole('button', { name: 'Confirm' }).click();
    const codes = page.getByTestId('recovery-codes');
    await codes.waitFor();
    const shown = (await codes.locator('li').allInnerTexts()).map((s) => s.trim());
    expect(shown).toHaveLength(10);
    await screenshot(page, 'pwa-recovery-codes', { fullPage: false });

    const download = page.waitForEvent('download');
    await codes.getByRole('button', { name: 'Download' }).click();
    const file = await (await download).path();
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('Account: alice');
    for (const c of shown) expect(text).toContain(c);
    await codes.getByRole('button', { name: 'I saved them' }).click();
    await page.getByText('10 codes left.').waitFor();
  });

  it('signs in again with password + authenticator code', async () => {
    const other = await newPhone();
    try {
      await signIn(other.page, world, alice);
      await other.page.getByText('One more step').waitFor();
      await screenshot(other.page, 'pwa-signin-choose', { fullPage: false });
      await other.page.getByRole('button', { name: /Code from my authenticator app/ }).click();
      await other.page.getByLabel('Code').fill('000000');
      await other.page.getByRole('button', { name: 'Continue' }).click();
      await other.page.getByRole('alert').getByText('That code is not right').waitFor();
      await screenshot(other.page, 'pwa-signin-code-wrong', { fullPage: false });
      await other.page.getByLabel('Code').fill(await totpCodeAt(totpSecret, clock.now() + 30_000));
      await other.page.getByRole('button', { name: 'Continue' }).click();
      await other.page.getByTestId('setup-phone').waitFor();
      const token = await other.page.evaluate(() => JSON.parse(localStorage.getItem('jellyguard.session')!).token as string);
      expect(await tokenWorks(world, token)).toBe(true);
    } finally {
      await other.close();
    }
  });
});

describe('signing in on a new phone, approved by the enrolled one', () => {
  beforeAll(async () => {
    await phone.page.goto(world.appUrl);
    // alice already has an authenticator app: making this phone a key is a change it must confirm.
    clock.advance(61_000);
    await enrollThroughApp(phone, {
      stepUpCode: () => totpCodeAt(totpSecret, clock.now()),
      shots: (name) => screenshot(phone.page, `pwa-${name}`, { fullPage: false }),
    });
  });

  async function startOnNewPhone(other: PersistentBrowser): Promise<string> {
    await signIn(other.page, world, alice);
    await other.page.getByRole('button', { name: /Approve on my phone/ }).click();
    const number = other.page.getByTestId('match-number');
    await number.waitFor();
    return (await number.innerText()).trim();
  }

  async function openRequestOnPhone(): Promise<void> {
    const m = await world.push.nextMessage((x) => x.subscriberId === phone.subscriber.id && x.json?.type === 'approval');
    await deliverPush(phone.context, phone.page, world.appUrl, m.payload.toString('utf8'));
    await phone.page.goto(`${world.appUrl}#/approve/${m.json.approvalId}`);
    await phone.page.getByRole('radiogroup').waitFor();
  }

  it('the new phone shows 2 digits; the enrolled phone offers 3; the right one and a passkey tap sign it in', async () => {
    clock.advance(61_000);
    const other = await newPhone();
    try {
      const number = await startOnNewPhone(other);
      expect(number).toMatch(/^\d{2}$/);
      await screenshot(other.page, 'pwa-signin-phone-number', { fullPage: false });

      await openRequestOnPhone();
      const choices = (await phone.page.getByRole('radio').allInnerTexts()).map((s) => s.trim());
      expect(choices).toHaveLength(3);
      expect(choices).toContain(number);
      expect(await phone.page.getByTestId('approval-details').innerText()).toContain('Jellyguard Authenticator');
      expect(await phone.page.getByTestId('approve').isDisabled()).toBe(true); // pick the number first
      await phone.page.getByRole('radio', { name: number }).click();
      await screenshot(phone.page, 'pwa-approve-number', { fullPage: false });
      await phone.page.getByTestId('approve').click();
      await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status')).toBe('approved');

      await other.page.getByTestId('setup-phone').waitFor({ timeout: 30_000 });
      const token = await other.page.evaluate(() => JSON.parse(localStorage.getItem('jellyguard.session')!).token as string);
      expect(await tokenWorks(world, token)).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('a wrong number ends the sign-in on both phones', async () => {
    clock.advance(61_000);
    const other = await newPhone();
    try {
      const number = await startOnNewPhone(other);
      await openRequestOnPhone();
      const wrong = (await phone.page.getByRole('radio').allInnerTexts()).map((s) => s.trim()).find((n) => n !== number)!;
      await phone.page.getByRole('radio', { name: wrong }).click();
      await phone.page.getByTestId('approve').click();
      await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status')).toBe('denied');
      expect(await phone.page.getByTestId('approval-result').innerText()).toContain('number did not match');
      await screenshot(phone.page, 'pwa-approve-wrong-number', { fullPage: false });

      await other.page.getByRole('alert').getByText('denied on your phone').waitFor({ timeout: 30_000 });
      await other.page.getByLabel('User name').waitFor(); // back to the start: nothing was released
      expect(await other.page.evaluate(() => localStorage.getItem('jellyguard.session'))).toBeNull();
    } finally {
      await other.close();
    }
  });
});
