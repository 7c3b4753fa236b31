import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { deliverPush, screenshot } from '../helpers/browser.ts';
import { enrollThroughApp, openPhone, signIn, startWorld, tokenWorks, USERS, type Phone, type World } from './pwa-helpers.ts';

/**
 * The owner hears of every change to the account's factors, in a real browser: a session signed in long
 * ago (the kind a TV keeps for months) is used by someone who also found alice's recovery codes; he adds
 * his own passkey → the gateway's real Web Push reaches the local push service (VAPID verified, payload
 * decrypted) → the payload goes to the app's service worker → the notification shows → the app's page
 * says what changed, from where → "This wasn't me" with the phone's passkey → that session stops
 * working, his passkey is gone, his address is banned. Phone-size screenshots: pwa-change-*.png.
 */
const [alice] = [USERS[0]!];
// The gateway's clock starts 10 minutes back and catches up with the browser's when the story moves on.
const clock = new ManualClock(Date.now() - 10 * 60_000);
const THIEF_IP = '198.51.100.99';
let world: World;
let phone: Phone;
let oldToken = '';
let recoveryCodes: string[] = [];

/** Our API from Node, as the thief (at the app's origin: passkey ceremonies need its host). */
async function asThief(method: string, path: string, body?: unknown, stepUp?: string) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-forwarded-for': THIEF_IP,
    authorization: `MediaBrowser Client="Jellyfin Android TV", Device="Bedroom TV", DeviceId="bedroom-tv", Version="0.17.0", Token="${oldToken}"`,
  };
  if (stepUp) headers['x-jellyguard-stepup'] = stepUp;
  const res = await fetch(`${world.origin}/JellyfinSecurity/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  world = await startWorld({ clock });
  // Months ago, before alice had a second factor, the bedroom TV signed in with her password.
  const login = await fetch(`${world.gw.url}/Users/AuthenticateByName`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'MediaBrowser Client="Jellyfin Android TV", Device="Bedroom TV", DeviceId="bedroom-tv", Version="0.17.0"',
    },
    body: JSON.stringify({ Username: alice.name, Pw: alice.password }),
  });
  expect(login.status).toBe(200);
  oldToken = ((await login.json()) as { AccessToken: string }).AccessToken;
  clock.advance(10 * 60_000);
  phone = await openPhone(world);
  await signIn(phone.page, world, alice);
  await phone.page.getByTestId('setup-phone').waitFor();
  await enrollThroughApp(phone);
  const codes = phone.page.getByTestId('recovery-codes');
  await codes.waitFor();
  recoveryCodes = (await codes.locator('li').allInnerTexts()).map((c) => c.trim()).filter(Boolean);
  expect(recoveryCodes.length).toBe(10);
}, 90_000);

afterAll(async () => {
  await phone?.close();
  await world?.close();
});

describe('a change made with a stolen session', () => {
  it('without a proof the old session can add nothing', async () => {
    const r = await asThief('POST', 'Me/Passkeys/Options', {});
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: 'step_up_required', action: 'AddPasskey', methods: ['phone', 'passkey', 'recovery'] });
  });

  it('with a found recovery code it can — and the phone is told at once; "This wasn’t me" undoes it', async () => {
    const g = await asThief('POST', 'StepUp', { action: 'AddPasskey', method: 'recovery', code: recoveryCodes[0] });
    expect(g.status).toBe(200);
    const opts = await asThief('POST', 'Me/Passkeys/Options', {}, g.json.grant);
    expect(opts.status).toBe(200);
    const key = new SoftAuthenticator(world.origin);
    const reg = await asThief('POST', 'Me/Passkeys', { name: 'My laptop', response: key.create(opts.json) });
    expect(reg.status).toBe(201);

    const push = await world.push.nextMessage((m) => m.subscriberId === phone.subscriber.id && m.json?.type === 'approval' && m.json?.kind === 'change');
    await deliverPush(phone.context, phone.page, world.appUrl, push.payload.toString('utf8'));
    await phone.page.goto(`${world.appUrl}#/approve/${push.json.approvalId}`);
    await phone.page.getByText('Did you make this change').waitFor();
    const details = await phone.page.getByTestId('approval-details').innerText();
    expect(details).toContain('A passkey “My laptop” was added');
    expect(details).toContain('Bedroom TV');
    expect(details).toContain(THIEF_IP);
    expect(await phone.page.getByTestId('deny').count()).toBe(0); // answered with the passkey only
    await screenshot(phone.page, 'pwa-change-notice', { fullPage: false });

    await phone.page.getByTestId('report').click();
    await phone.page.getByRole('button', { name: 'Yes, it wasn’t me' }).click();
    await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status')).toBe('reported');
    expect(await phone.page.getByTestId('approval-result').innerText()).toContain('was signed out');
    await screenshot(phone.page, 'pwa-change-reported', { fullPage: false });

    await world.gw.gateway.services.approvals.idle();
    expect(await tokenWorks(world, oldToken)).toBe(false);
    const passkeys = await world.gw.gateway.services.factors.passkeys.list(world.emu.user(alice.name).id);
    expect(passkeys.map((p) => p.name)).not.toContain('My laptop');
    const banned = await fetch(`${world.gw.url}/JellyfinSecurity/Push/Config`, { headers: { 'x-forwarded-for': THIEF_IP } });
    expect(banned.status).toBe(429);
  });
});
