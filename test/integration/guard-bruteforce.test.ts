import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import { api, comparableHeaders, login, raw, tokenOf } from './guard-helpers.ts';

/**
 * The brute-force guard through the real gateway and the Jellyfin emulator, with real client
 * addresses (each test uses its own 127.0.0.x source address).
 */
let jf: Emulator;
let gw: TestGateway;
let clock: ManualClock;
let adminToken: string;

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'root', password: 'root-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' },
      { name: 'alice', password: 'alice-pw' },
      { name: 'dave', password: 'dave-pw' },
      { name: 'erin', password: 'erin-pw' },
      { name: 'gina', password: 'gina-pw' },
    ],
    // Jellyfin's own lockout would disable an account at 8 failures: the gateway must stop guessing first.
    loginAttemptsBeforeLockout: 8,
  });
  clock = new ManualClock();
  // StepUpLevel None: this file is about the admin endpoints themselves; their fresh proof is tested in stepup-admin.test.ts.
  gw = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: jf.createApiKey('jellyguard'), MaxFailedAttempts: 5, LockoutDuration: 900, StepUpLevel: 'None' } });
  adminToken = tokenOf(await login(gw.url, 'root', 'root-pw', { from: '127.0.0.250', deviceId: 'root-laptop' }));
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

function openSocket(url: string, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress: from });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
}

describe('bans', () => {
  it('a ban stops the password reaching Jellyfin: its own lockout counter never moves again', async () => {
    const from = '127.0.0.2';
    for (let i = 0; i < 5; i++) {
      const a = await login(gw.url, 'bob', `guess-${i}`, { from });
      expect(a.status).toBe(401); // Jellyfin's own answer, relayed
    }
    expect(jf.user('bob').invalidLoginAttemptCount).toBe(5);
    const attempts = jf.loginAttempts;

    // Banned: even the right password is refused before Jellyfin sees it, with a clear answer.
    const banned = await login(gw.url, 'bob', 'bob-pw', { from });
    expect(banned.status).toBe(429);
    expect(banned.headers['retry-after']).toBe('900');
    expect(banned.json).toMatchObject({ error: 'address_banned', message: expect.stringContaining('15 minutes') });
    for (let i = 0; i < 10; i++) expect((await login(gw.url, 'bob', `more-${i}`, { from })).status).toBe(429);
    expect(jf.loginAttempts).toBe(attempts);
    expect(jf.user('bob').invalidLoginAttemptCount).toBe(5);
    expect(jf.user('bob').isDisabled).toBe(false);

    // …and before anything else: other routes, our own API, WebSocket upgrades.
    const requests = jf.requests.length;
    expect((await raw(gw.url, '/System/Info/Public', { from })).status).toBe(429);
    expect((await raw(gw.url, '/JellyfinSecurity/Health', { from })).status).toBe(429);
    expect(await openSocket(`${gw.url.replace('http', 'ws')}/socket`, from)).toBe(403);
    expect(jf.requests.length).toBe(requests);

    // Another address is not affected by the address ban.
    expect((await raw(gw.url, '/System/Info/Public', { from: '127.0.0.3' })).status).toBe(200);

    // The ban ends with LockoutDuration (the injected clock moves; nobody sleeps).
    clock.advance(900_000);
    expect((await raw(gw.url, '/System/Info/Public', { from })).status).toBe(200);
  });

  it('a forged X-Forwarded-For from an untrusted peer cannot dodge a ban', async () => {
    const from = '127.0.0.20';
    for (let i = 0; i < 5; i++) {
      const a = await login(gw.url, 'dave', `guess-${i}`, { from, xff: `198.51.100.${i + 1}` });
      expect(a.status).toBe(401);
    }
    const attempts = jf.loginAttempts;
    const again = await login(gw.url, 'dave', 'dave-pw', { from, xff: '203.0.113.99' });
    expect(again.status).toBe(429);
    expect(jf.loginAttempts).toBe(attempts);
    // The ban is on the real peer, not on any of the addresses it claimed.
    const bans = (await api(gw.url, '/Bans', adminToken, { from: '127.0.0.250' })).json as { items: Array<{ scope: string; address: string | null }> };
    expect(bans.items.filter((b) => b.scope === 'address').map((b) => b.address)).toContain('127.0.0.20');
    expect(bans.items.map((b) => b.address)).not.toContain('198.51.100.1');
  });

  it('a locked user name answers exactly like a wrong password, and still admits devices that signed in before', async () => {
    // alice signs in from her TV once: that device is known from now on.
    expect((await login(gw.url, 'alice', 'alice-pw', { from: '127.0.0.30', deviceId: 'alice-tv' })).status).toBe(200);
    // A guesser spreads five wrong passwords over five addresses: no address reaches the limit…
    let wrong;
    for (let i = 0; i < 5; i++) wrong = await login(gw.url, 'ALICE', `guess-${i}`, { from: `127.0.0.${31 + i}`, deviceId: `bot-${i}` });
    expect(wrong!.status).toBe(401);
    // …but the name is locked: a new device with the RIGHT password gets Jellyfin's wrong-password answer.
    const attempts = jf.loginAttempts;
    const locked = await login(gw.url, 'alice', 'alice-pw', { from: '127.0.0.36', deviceId: 'new-phone' });
    expect(jf.loginAttempts).toBe(attempts); // decided before Jellyfin
    expect(locked.status).toBe(wrong!.status);
    expect(locked.text).toBe(wrong!.text);
    expect(locked.text).toBe('Error processing request.');
    expect(comparableHeaders(locked.headers)).toEqual(comparableHeaders(wrong!.headers));
    // The TV still gets in, from anywhere.
    const tv = await login(gw.url, 'alice', 'alice-pw', { from: '127.0.0.37', deviceId: 'alice-tv' });
    expect(tv.status).toBe(200);
    expect(jf.loginAttempts).toBe(attempts + 1);
    // The lock is listed for admins as a user lock.
    const bans = (await api(gw.url, '/Bans', adminToken, { from: '127.0.0.250' })).json as { items: Array<{ scope: string; user: string | null; reason: string }> };
    expect(bans.items).toContainEqual(expect.objectContaining({ scope: 'user', user: 'alice', reason: '5 wrong passwords for alice' }));
    // Attempts answered as locked still count against their address: a flood gets banned.
    for (let i = 0; i < 4; i++) await login(gw.url, 'alice', `x-${i}`, { from: '127.0.0.36', deviceId: 'new-phone' });
    expect((await login(gw.url, 'alice', 'alice-pw', { from: '127.0.0.36', deviceId: 'new-phone' })).status).toBe(429);
    expect(jf.loginAttempts).toBe(attempts + 1);
  });

  it('a locked name cannot be slipped past under a decoy: Jellyfin binds the LAST property of any case', async () => {
    // alice's name is locked by the test before. {"Username":"decoy","username":"alice"} is alice at Jellyfin.
    const attempts = jf.loginAttempts;
    const body = '{"Username":"decoy","username":"alice","Pw":"alice-pw"}';
    const r = await raw(gw.url, '/Users/AuthenticateByName', {
      method: 'POST',
      from: '127.0.0.38',
      body,
      headers: { 'content-type': 'application/json', authorization: 'MediaBrowser Client="Bot", Device="Bot", DeviceId="decoy-1", Version="1"' },
    });
    expect(r.status).toBe(401);
    expect(jf.loginAttempts).toBe(attempts); // decided before Jellyfin, as for "alice" itself
  });

  it('a device that signed in through a second factor also passes a lock of its user name', async () => {
    // gina enrolls TOTP, then signs in on her phone: the password is held behind a challenge, TOTP releases it.
    const setup = tokenOf(await login(gw.url, 'gina', 'gina-pw', { from: '127.0.0.45', deviceId: 'gina-setup' }));
    const enrollment = await api(gw.url, '/Me/TOTP', setup, { method: 'POST', from: '127.0.0.45' });
    const secret = (enrollment.json as { secret: string }).secret;
    const confirmed = await api(gw.url, '/Me/TOTP/Confirm', setup, { method: 'POST', body: { code: await totpCodeAt(secret, clock.now()) }, from: '127.0.0.45' });
    expect(confirmed.status, confirmed.text).toBe(200);
    const held = await login(gw.url, 'gina', 'gina-pw', { from: '127.0.0.46', deviceId: 'gina-phone' });
    expect(held.json).toMatchObject({ error: 'second_factor_required' });
    clock.advance(30_000); // the next TOTP step: a code is single-use
    const released = await api(gw.url, '/VerifyTOTP', undefined, {
      method: 'POST',
      body: { challengeId: (held.json as { challengeId: string }).challengeId, code: await totpCodeAt(secret, clock.now()) },
      from: '127.0.0.46',
    });
    expect(released.status, released.text).toBe(200);
    // Her name gets locked by guesses from five addresses.
    for (let i = 0; i < 5; i++) await login(gw.url, 'gina', `guess-${i}`, { from: `127.0.0.${150 + i}` });
    const attempts = jf.loginAttempts;
    const stranger = await login(gw.url, 'gina', 'gina-pw', { from: '127.0.0.47', deviceId: 'stranger' });
    expect(stranger.text).toBe('Error processing request.');
    expect(jf.loginAttempts).toBe(attempts);
    // Her phone still reaches Jellyfin (and gets her second-factor challenge, not a wrong-password answer).
    const phone = await login(gw.url, 'gina', 'gina-pw', { from: '127.0.0.48', deviceId: 'gina-phone' });
    expect(phone.json).toMatchObject({ error: 'second_factor_required' });
    expect(jf.loginAttempts).toBe(attempts + 1);
  });

  it('lists bans with reason and expiry, lifts one and all (audited), for admins only', async () => {
    const from = '127.0.0.40';
    const erin = tokenOf(await login(gw.url, 'erin', 'erin-pw', { from: '127.0.0.41', deviceId: 'erin-laptop' }));
    for (let i = 0; i < 5; i++) await login(gw.url, 'erin', `guess-${i}`, { from });
    expect((await raw(gw.url, '/System/Info/Public', { from })).status).toBe(429);

    expect((await api(gw.url, '/Bans', undefined, { from: '127.0.0.250' })).status).toBe(401);
    expect((await api(gw.url, '/Bans', erin, { from: '127.0.0.41' })).status).toBe(403);

    const list = await api(gw.url, '/Bans', adminToken, { from: '127.0.0.250' });
    expect(list.status).toBe(200);
    const items = (list.json as { items: Array<{ id: number; scope: string; address: string | null; reason: string; expiresAt: string | null; strikes: number }> }).items;
    const ban = items.find((b) => b.scope === 'address' && b.address === from)!;
    expect(ban).toMatchObject({ reason: '5 wrong passwords, the last for erin', strikes: 1 });
    expect(Date.parse(ban.expiresAt!) - clock.now()).toBe(900_000);

    expect((await api(gw.url, '/Bans/abc', adminToken, { method: 'DELETE', from: '127.0.0.250' })).status).toBe(400);
    expect((await api(gw.url, '/Bans/999999', adminToken, { method: 'DELETE', from: '127.0.0.250' })).status).toBe(404);
    expect((await api(gw.url, `/Bans/${ban.id}`, erin, { method: 'DELETE', from: '127.0.0.41' })).status).toBe(403);
    expect((await api(gw.url, `/Bans/${ban.id}`, adminToken, { method: 'DELETE', from: '127.0.0.250' })).status).toBe(204);
    expect((await raw(gw.url, '/System/Info/Public', { from })).status).toBe(200);

    const all = await api(gw.url, '/Bans', adminToken, { method: 'DELETE', from: '127.0.0.250' });
    expect(all.status).toBe(200);
    expect((all.json as { lifted: number }).lifted).toBeGreaterThan(0);
    expect(((await api(gw.url, '/Bans', adminToken, { from: '127.0.0.250' })).json as { items: unknown[] }).items).toEqual([]);

    await gw.gateway.services.audit.flush();
    const lifted = await gw.gateway.services.audit.query({ types: ['guard.ban.lifted', 'guard.ban.lifted_all'] }, { limit: 10, offset: 0 });
    expect(lifted.items.map((r) => r.type).sort()).toEqual(['guard.ban.lifted', 'guard.ban.lifted_all']);
    expect(JSON.parse(lifted.items.find((r) => r.type === 'guard.ban.lifted')!.detail!)).toMatchObject({ scope: 'address', address: from });
  });

  it('keeps bans across a restart', async () => {
    const from = '127.0.0.50';
    for (let i = 0; i < 5; i++) await login(gw.url, `nobody-${i}`, 'x', { from });
    expect((await raw(gw.url, '/System/Info/Public', { from })).status).toBe(429);
    await gw.stop();
    gw = await startGateway({ upstreamUrl: jf.url, clock, dataDir: gw.dataDir, keys: gw.keys, config: { JellyfinApiKey: gw.config.JellyfinApiKey, MaxFailedAttempts: 5, LockoutDuration: 900, StepUpLevel: 'None' } });
    expect((await raw(gw.url, '/System/Info/Public', { from })).status).toBe(429);
    expect((await raw(gw.url, '/System/Info/Public', { from: '127.0.0.51' })).status).toBe(200);
  });
});

describe('counting attempts in flight', () => {
  it('a burst of concurrent guesses from one address: at most MaxFailedAttempts reach Jellyfin', async () => {
    const from = '127.0.0.60';
    const before = jf.loginAttempts;
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => login(gw.url, `burst-${i}`, 'x', { from })));
    expect(jf.loginAttempts - before).toBeLessThanOrEqual(5);
    expect(answers.filter((a) => a.status === 401).length).toBeLessThanOrEqual(5);
    expect(answers.every((a) => a.status === 401 || a.status === 429)).toBe(true);
  });
});
