import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { TEST_PLACES, writeTestGeoDb } from '../helpers/mmdb.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { login } from './guard-helpers.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';

/**
 * Impossible travel and new-device notices through the real gateway: a MaxMind DB file written by the
 * test, clients placed by X-Forwarded-For from a trusted proxy, notices e-mailed through a real SMTP
 * server to the addresses users confirmed.
 */
let jf: Emulator;
let smtp: TestSmtp;
let geoFile: string;
const HOUR = 3600_000;
const gateways: TestGateway[] = [];

async function gateway(clock: ManualClock, config: Partial<ConfigInput> = {}): Promise<TestGateway> {
  const gw = await startGateway({
    upstreamUrl: jf.url,
    clock,
    config: {
      JellyfinApiKey: jf.createApiKey(`jg-${gateways.length}`),
      TrustedProxyCIDRs: ['127.0.0.1/32'],
      ImpossibleTravelEnabled: true,
      GeoIPDatabasePath: geoFile,
      AdminEmailAlerts: true,
      SMTP: smtp.config(),
      ...config,
    },
  });
  gateways.push(gw);
  // Confirmed e-mail addresses (the second-factor work's table): the user's own, and the admin's.
  const { factors, users } = gw.gateway.services;
  await users.upsert({ id: jf.user('root').id, name: 'root', isAdmin: true });
  await factors.email.setAddress(jf.user('root').id, 'root@example.test', 'admin');
  await factors.email.setAddress(jf.user('bob').id, 'bob@example.test', 'admin');
  return gw;
}

const from = (place: keyof typeof TEST_PLACES, deviceId = 'bob-phone') => ({ from: '127.0.0.1', xff: TEST_PLACES[place].ip, deviceId });

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'root', password: 'root-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' },
    ],
  });
  smtp = await startSmtp();
  geoFile = writeTestGeoDb(path.join(tempDir('jellyguard-geo-'), 'GeoLite2-City.mmdb'));
});

afterAll(async () => {
  for (const g of gateways) await g.close();
  await smtp?.close();
  await jf?.close();
});

describe('impossible travel', () => {
  it('blocks a login faster than the threshold, revokes its token, audits it, tells the user and e-mails the admins', async () => {
    const clock = new ManualClock();
    const gw = await gateway(clock);
    expect((await login(gw.url, 'bob', 'bob-pw', from('london'))).status).toBe(200);

    clock.advance(HOUR); // London → Sydney (≈17,000 km) in an hour
    const logouts = jf.requests.filter((r) => /\/sessions\/logout/i.test(r.url)).length;
    const blocked = await login(gw.url, 'bob', 'bob-pw', from('sydney'));
    expect(blocked.status).toBe(403);
    expect(blocked.json).toMatchObject({ error: 'impossible_travel' });
    expect(blocked.text).not.toMatch(/accesstoken/i);
    expect(jf.requests.filter((r) => /\/sessions\/logout/i.test(r.url)).length).toBe(logouts + 1);

    await gw.gateway.services.audit.flush();
    const [event] = (await gw.gateway.services.audit.query({ types: ['guard.travel.impossible'] }, { limit: 5, offset: 0 })).items;
    expect(event).toMatchObject({ outcome: 'refused', ip: TEST_PLACES.sydney.ip, user_name: 'bob' });
    const detail = JSON.parse(event!.detail!);
    expect(detail).toMatchObject({ from: { city: 'London', country: 'GB' }, to: { city: 'Sydney', country: 'AU' }, action: 'blocked', hours: 1 });
    expect(detail.speedKmh).toBeGreaterThan(16_000);

    const toUser = await smtp.nextMessage((m) => m.to.includes('bob@example.test') && /blocked/.test(m.subject));
    expect(toUser.text).toContain('Sydney');
    const toAdmin = await smtp.nextMessage((m) => m.to.includes('root@example.test') && /blocked/.test(m.subject));
    expect(toAdmin.text).toContain('London');

    // A day later the same trip is possible: allowed, and the new network is announced to the user.
    clock.advance(30 * HOUR);
    expect((await login(gw.url, 'bob', 'bob-pw', from('sydney'))).status).toBe(200);
    const note = await smtp.nextMessage((m) => m.to.includes('bob@example.test') && /new network/.test(m.subject));
    expect(note.text).toContain(TEST_PLACES.sydney.ip);
    // Nearby (London → Paris in two hours) is no travel at all.
    const clock2 = new ManualClock();
    const gw2 = await gateway(clock2);
    expect((await login(gw2.url, 'bob', 'bob-pw', from('london'))).status).toBe(200);
    clock2.advance(2 * HOUR);
    expect((await login(gw2.url, 'bob', 'bob-pw', from('paris'))).status).toBe(200);
  });

  it('with ImpossibleTravelAction Alert, the login goes through and everyone is told', async () => {
    const clock = new ManualClock();
    const gw = await gateway(clock, { ImpossibleTravelAction: 'Alert' });
    expect((await login(gw.url, 'bob', 'bob-pw', from('london'))).status).toBe(200);
    clock.advance(10 * 60_000);
    expect((await login(gw.url, 'bob', 'bob-pw', from('tokyo'))).status).toBe(200); // an IPv6 client
    await gw.gateway.services.audit.flush();
    const [event] = (await gw.gateway.services.audit.query({ types: ['guard.travel.impossible'] }, { limit: 5, offset: 0 })).items;
    expect(event).toMatchObject({ outcome: 'info', ip: TEST_PLACES.tokyo.ip });
    expect(JSON.parse(event!.detail!)).toMatchObject({ action: 'alerted', to: { city: 'Tokyo' } });
    await smtp.nextMessage((m) => m.to.includes('root@example.test') && /unusual sign-in/.test(m.subject));
  });

  it('holds a user with a second factor to the same check: blocked before any challenge is issued', async () => {
    const clock = new ManualClock();
    const gw = await gateway(clock);
    const carol = jf.addUser(`carol-${Date.now()}`, 'carol-pw');
    const { totp } = gw.gateway.services.factors;
    const enrollment = await totp.beginEnrollment(carol.id, carol.name);
    expect(await totp.confirmEnrollment(carol.id, await totpCodeAt(enrollment.secret, clock.now()))).toBe(true);
    const first = await login(gw.url, carol.name, 'carol-pw', from('london', 'carol-phone'));
    expect(first.status).toBe(401); // the challenge: the password was right, a factor is still needed
    expect(first.json).toMatchObject({ error: 'second_factor_required' });
    clock.advance(HOUR);
    const blocked = await login(gw.url, carol.name, 'carol-pw', from('sydney', 'carol-phone'));
    expect(blocked.status).toBe(403);
    expect(blocked.json).toMatchObject({ error: 'impossible_travel' });
  });

  it('refuses to start when enabled without a readable database, naming the setting', async () => {
    await expect(startGateway({ upstreamUrl: jf.url, config: { ImpossibleTravelEnabled: true } })).rejects.toThrow(/GeoIPDatabasePath/);
    await expect(startGateway({ upstreamUrl: jf.url, config: { ImpossibleTravelEnabled: true, GeoIPDatabasePath: '/nonexistent.mmdb' } })).rejects.toThrow(
      /GeoIPDatabasePath.*nonexistent/,
    );
  });
});

describe('new devices', () => {
  it('a login from a device never seen for the user is audited and e-mailed to the user; the first ever login is not', async () => {
    const clock = new ManualClock();
    const gw = await gateway(clock, { ImpossibleTravelEnabled: false });
    for (const g of gateways) await g.gateway.services.guard.mailSent(); // earlier tests' mail is out
    const before = smtp.messages.length;
    expect((await login(gw.url, 'bob', 'bob-pw', from('london', 'bob-tv'))).status).toBe(200);
    expect((await login(gw.url, 'bob', 'bob-pw', from('london', 'bob-tv'))).status).toBe(200);
    await gw.gateway.services.guard.mailSent();
    expect(smtp.messages.length).toBe(before); // first login and a known device: nothing to say
    expect((await login(gw.url, 'bob', 'bob-pw', from('london', 'stranger-laptop'))).status).toBe(200);
    const m = await smtp.nextMessage((x) => x.to.includes('bob@example.test') && /new device/.test(x.subject));
    expect(m.text).toContain('Jellyguard Guard Tests');
    await gw.gateway.services.audit.flush();
    const rows = await gw.gateway.services.audit.query({ types: ['guard.device.new', 'guard.network.new'] }, { limit: 5, offset: 0 });
    expect(rows.items.map((r) => r.type)).toEqual(['guard.device.new']);
    expect(rows.items[0]).toMatchObject({ device_id: 'stranger-laptop', user_name: 'bob' });
  });
});
