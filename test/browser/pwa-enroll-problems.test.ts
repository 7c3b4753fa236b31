import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../helpers/browser.ts';
import { openPhone, serviceWorkerReady, signIn, startWorld, USERS, type Phone, type World } from './pwa-helpers.ts';

/**
 * "Set up this phone" when something goes wrong, at a phone's size: the browser's push service never
 * answers `pushManager.subscribe` (a spinner, then after the timeout a retry and "Continue without
 * notifications"), and the test notification says what the push service really answered.
 */

const bob = USERS[1]!;
let world: World;
let phone: Phone;

beforeAll(async () => {
  world = await startWorld();
  phone = await openPhone(world);
  // While the flag is set, pushManager.subscribe never answers (as when the vendor's push service is unreachable).
  await phone.context.addInitScript(`(() => {
    const real = PushManager.prototype.subscribe;
    PushManager.prototype.subscribe = function (options) {
      return localStorage.getItem('__jgHangSubscribe') ? new Promise(() => {}) : real.call(this, options);
    };
  })();`);
}, 60_000);

afterAll(async () => {
  await phone?.close();
  await world?.close();
});

describe('setting up the phone when the push service does not answer', { timeout: 90_000 }, () => {
  it('shows a spinner, then after the timeout offers a retry and to continue without notifications', async () => {
    const p = phone.page;
    await signIn(p, world, bob);
    await p.getByTestId('setup-phone').waitFor();
    await serviceWorkerReady(p);
    await p.evaluate(() => localStorage.setItem('__jgHangSubscribe', '1'));
    await p.reload();
    await p.getByTestId('setup-phone').click();
    await p.getByRole('button', { name: 'Set up this phone' }).click();
    await p.getByRole('status').getByText('Turning on notifications…').waitFor();
    await screenshot(p, 'pwa-enroll-subscribing', { fullPage: false });
    const problem = p.getByTestId('push-problem');
    await problem.waitFor({ timeout: 25_000 });
    expect(await problem.innerText()).toContain('did not answer');
    await p.getByRole('button', { name: 'Continue without notifications' }).waitFor();
    await screenshot(p, 'pwa-enroll-subscribe-timeout', { fullPage: false });

    // The push service answers again: "Try again" goes on to the passkey.
    await p.evaluate(() => localStorage.removeItem('__jgHangSubscribe'));
    await p.getByRole('button', { name: 'Try again' }).click();
    await p.getByRole('button', { name: 'Create passkey' }).click();
    await p.getByTestId('enroll-done').waitFor();
  });

  it('the test notification reports what the push service answered', async () => {
    const p = phone.page;
    const result = p.getByTestId('test-result');
    await p.getByRole('button', { name: 'Send me a test notification' }).click();
    await expect.poll(() => result.getAttribute('data-status')).toBe('sent');
    await world.push.nextMessage((m) => m.subscriberId === phone.subscriber.id && m.json?.kind === 'test');

    // No answer from the push service (as for ENOTFOUND): the phone is told, not "sent".
    world.push.answer(phone.subscriber.id, 'hang');
    await p.getByRole('button', { name: 'Send another test notification' }).click();
    await expect.poll(() => result.getAttribute('data-status'), { timeout: 15_000 }).toBe('unreachable');
    expect(await result.innerText()).toContain('could not be reached');
    await screenshot(p, 'pwa-enroll-test-unreachable', { fullPage: false });
    world.push.answer(phone.subscriber.id, 201);
  });
});
