import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../helpers/browser.ts';
import { openPhone, PLACES, serviceWorkerReady, signIn, startWorld, tvLogin, USERS, type Phone, type World } from './pwa-helpers.ts';

/**
 * "Set up this phone" when something goes wrong, at a phone's size: the browser's push service never
 * answers `pushManager.subscribe` (a spinner, then after the timeout a retry and "Continue without
 * notifications"), and the test notification says what the push service really answered; approving
 * a TV's sign-in after the TV stopped waiting tells the person to sign in again on the TV.
 */

const bob = USERS[1]!;
let world: World;
let phone: Phone;

beforeAll(async () => {
  // HoldSeconds 0: a TV's login is answered 401 at once, as when a client gives up before anyone looked.
  world = await startWorld({ config: { HoldSeconds: 0 } });
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

  it('approving after the TV stopped waiting says to sign in again on the TV, and that works', async () => {
    const p = phone.page;
    expect((await tvLogin(world, bob, { deviceId: 'roku-gave-up', ip: PLACES.paris.ip, device: 'Bedroom TV' })).status).toBe(401);
    await p.goto(`${world.appUrl}#/approvals`);
    await p.getByTestId('pending-list').getByText('Bedroom TV').click();
    await p.getByTestId('approve').click();
    await expect.poll(() => p.getByTestId('approval-result').getAttribute('data-status')).toBe('approved');
    const hint = await p.getByTestId('retry-hint').innerText();
    expect(hint).toContain('stopped waiting');
    expect(hint).toContain('Sign in again on Bedroom TV in the next');
    expect(hint).not.toContain('is signing in now');
    await screenshot(p, 'pwa-approve-after-tv-gave-up', { fullPage: false });
    const retry = await tvLogin(world, bob, { deviceId: 'roku-gave-up', ip: PLACES.paris.ip, device: 'Bedroom TV' });
    expect(retry.status).toBe(200);
  });
});
