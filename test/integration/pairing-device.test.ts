import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ManualClock } from '../../server/clock.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { launchBrowser, openPage } from '../helpers/browser.ts';
import type { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { PAIRING_CODE, pairPageUrl } from '../../shared/api/pairing.ts';
import { api, code, expectChallenge, mbHeader, tapAudit, UA } from './factors-helpers.ts';
import { approveOnPhone, decodeQrPng, enrollPhone, enrollTotp, localOrigin, signIn } from './pairing-helpers.ts';

/**
 * Issue 6, the seed's pairing API for devices that do not speak Quick Connect: PairDevice → a code and a
 * QR → approved by an admin (ApprovePair) or by the user on the phone → the device collects its device
 * token once (CheckPairingStatus) → its password logins with X-Device-Token skip the second factor, for
 * that user and DeviceId only; revocable; codes single use, pending pairings expire, polling rate-limited.
 */
let jf: Emulator;
let gw: TestGateway;
const clock = new ManualClock();
const audit: AuditEvent[] = [];
let adminToken = '';
let bobToken = '';
let bobPhoneToken = '';
let bobKey: SoftAuthenticator;
let aliceToken = '';
let browser: Browser;
let page: Page;

async function pairDevice(deviceName: string, deviceId: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${gw.url}/JellyfinSecurity/PairDevice`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ DeviceName: deviceName, DeviceId: deviceId }),
  });
  return { status: r.status, json: (await r.json()) as any };
}

async function check(pairingCode: string) {
  const r = await fetch(`${gw.url}/JellyfinSecurity/CheckPairingStatus?code=${encodeURIComponent(pairingCode)}`);
  return { status: r.status, json: (await r.json()) as any, headers: r.headers };
}

/**
 * A password login of the device, optionally with its device token. It presents itself as a web client:
 * a native client of a user with a phone would be held open for the phone (server/approvals), which this
 * file does not exercise.
 */
async function deviceLogin(user: string, pw: string, deviceId: string, deviceToken?: string, client = 'Jellyfin Web') {
  const headers: Record<string, string> = { authorization: mbHeader(deviceId, undefined, client), 'content-type': 'application/json', 'user-agent': UA };
  if (deviceToken) headers['x-device-token'] = deviceToken;
  const r = await fetch(`${gw.url}/Users/AuthenticateByName`, { method: 'POST', headers, body: JSON.stringify({ Username: user, Pw: pw }) });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, text, json, setCookie: [] as string[] };
}

beforeAll(async () => {
  jf = await startEmulator({
    now: () => clock.now(),
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' }, // TOTP and a phone
      { name: 'alice', password: 'alice-pw' }, // TOTP
    ],
  });
  // StepUpLevel None: this file is about the admin endpoints themselves; their fresh proof is tested in stepup-admin.test.ts.
  gw = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: jf.createApiKey('jellyguard'), MaxFailedAttempts: 100, StepUpLevel: 'None' } });
  tapAudit(gw, audit);
  adminToken = await signIn(gw, 'admin', 'admin-pw', 'admin-web');
  bobToken = await signIn(gw, 'bob', 'bob-pw', 'bob-web');
  bobPhoneToken = await signIn(gw, 'bob', 'bob-pw', 'bob-phone');
  aliceToken = await signIn(gw, 'alice', 'alice-pw', 'alice-web');
  const bobSecret = await enrollTotp(gw, bobToken, 'bob-web');
  await enrollTotp(gw, aliceToken, 'alice-web');
  clock.advance(30_000); // a fresh TOTP step: setting up the phone is a change to bob's factors, proved with his app
  bobKey = await enrollPhone(gw, bobPhoneToken, 'bob-phone', await code(bobSecret, gw));
  browser = await launchBrowser();
  page = (await openPage(browser)).page;
});

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await jf?.close();
});

describe('PairDevice, approved by an admin', () => {
  let pairingCode = '';
  let deviceToken = '';

  it('gives a code, a QR code of the phone’s approval page, and an expiry', async () => {
    const r = await pairDevice('Living Room Roku', 'roku-12345', { authorization: 'MediaBrowser Client="Roku", Device="Roku", DeviceId="roku-12345", Version="2.1"' });
    expect(r.status).toBe(200);
    expect(r.json.pairingCode).toMatch(PAIRING_CODE);
    pairingCode = r.json.pairingCode;
    expect(r.json.qrCodeUrl).toBe(`/JellyfinSecurity/PairDeviceQR?code=${pairingCode}`);
    expect(Date.parse(r.json.expiresAt)).toBe(clock.now() + 300_000);
    expect(r.json.pairUrl).toBe(pairPageUrl(gw.url, '', pairingCode));

    // The PNG decodes to the phone's approval page for this code.
    const png = await fetch(gw.url + r.json.qrCodeUrl);
    expect(png.headers.get('content-type')).toBe('image/png');
    const decoded = await decodeQrPng(page, Buffer.from(await png.arrayBuffer()));
    expect(decoded).toBe(`${gw.url}/JellyfinSecurity/app/#/pair?code=${pairingCode}`);
    const svg = await fetch(`${gw.url}${r.json.qrCodeUrl}&format=svg`);
    expect(svg.headers.get('content-type')).toContain('image/svg+xml');
    expect(await svg.text()).toMatch(/^<svg/);
    expect(audit.some((e) => e.type === 'pairing.device.requested' && e.deviceId === 'roku-12345')).toBe(true);
  });

  it('reports pending, and answers at most one poll per code every 2 seconds', async () => {
    const first = await check(pairingCode);
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ status: 'pending', expiresAt: new Date(clock.now() + 300_000).toISOString() });
    const fast = await check(pairingCode);
    expect(fast.status).toBe(429);
    expect(fast.json.error).toBe('polling_too_fast');
    expect(Number(fast.headers.get('retry-after'))).toBeGreaterThan(0);
    clock.advance(2000);
    expect((await check(pairingCode)).status).toBe(200);
  });

  it('lists it for admins only', async () => {
    expect((await api(gw, 'GET', '/JellyfinSecurity/PendingPairs')).status).toBe(401);
    expect((await api(gw, 'GET', '/JellyfinSecurity/PendingPairs', { token: bobToken, deviceId: 'bob-web' })).status).toBe(403);
    const list = await api(gw, 'GET', '/JellyfinSecurity/PendingPairs', { token: adminToken, deviceId: 'admin-web' });
    expect(list.status).toBe(200);
    const item = list.json.find((p: { deviceId: string }) => p.deviceId === 'roku-12345');
    expect(item).toMatchObject({ deviceName: 'Living Room Roku', client: 'Roku', appVersion: '2.1', ip: '127.0.0.1', status: 'pending', userId: null });
    expect(JSON.stringify(list.json)).not.toContain(pairingCode); // codes are not kept
  });

  it('is approved for a user by an admin; the device collects its token exactly once', async () => {
    expect((await api(gw, 'POST', '/JellyfinSecurity/ApprovePair', { token: bobToken, deviceId: 'bob-web', body: { PairingCode: pairingCode, UserId: jf.user('bob').id } })).status).toBe(403);
    const bad = await api(gw, 'POST', '/JellyfinSecurity/ApprovePair', { token: adminToken, deviceId: 'admin-web', body: { PairingCode: pairingCode } });
    expect(bad.status).toBe(400);
    const ok = await api(gw, 'POST', '/JellyfinSecurity/ApprovePair', {
      token: adminToken,
      deviceId: 'admin-web',
      body: { pairingCode: pairingCode.toLowerCase().replace('-', ''), userid: jf.user('bob').id }, // any case, as Jellyfin binds JSON
    });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json).toMatchObject({ status: 'approved', userId: jf.user('bob').id, deviceId: 'roku-12345' });
    // Approving twice does nothing.
    expect((await api(gw, 'POST', '/JellyfinSecurity/ApprovePair', { token: adminToken, deviceId: 'admin-web', body: { PairingCode: pairingCode, UserId: jf.user('bob').id } })).status).toBe(404);

    clock.advance(2000);
    const got = await check(pairingCode);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ status: 'approved', userId: jf.user('bob').id, userName: 'bob', deviceId: 'roku-12345' });
    deviceToken = got.json.deviceToken;
    expect(deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Shown once: the code is spent.
    clock.advance(2000);
    expect((await check(pairingCode)).status).toBe(404);
    // Stored hashed only.
    const rows = await gw.gateway.store.db.selectFrom('paired_devices').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(deviceToken);
    const pairingRows = await gw.gateway.store.db.selectFrom('pairings').selectAll().execute();
    expect(JSON.stringify(pairingRows)).not.toContain(deviceToken);
    expect(audit.map((e) => e.type)).toEqual(expect.arrayContaining(['pairing.device.approved', 'pairing.device.collected']));
  });

  it('skips the second factor for that user and DeviceId, and Jellyfin never sees the token', async () => {
    expectChallenge(await deviceLogin('bob', 'bob-pw', 'roku-12345'));
    const r = await deviceLogin('bob', 'bob-pw', 'roku-12345', deviceToken);
    expect(r.status, r.text).toBe(200);
    const token = (r.json as { AccessToken: string }).AccessToken;
    expect(gw.gateway.tokens.lookup(token)).toMatchObject({ state: 'verified', method: 'paired_device', deviceId: 'roku-12345' });
    expect((await fetch(`${gw.url}/Users/Me`, { headers: { 'x-emby-token': token } })).status).toBe(200);
    const forwarded = jf.requests.filter((q) => /authenticatebyname/i.test(q.url)).at(-1)!;
    expect(forwarded.headers['x-device-token']).toBeUndefined();
    expect(audit.some((e) => e.type === 'pairing.device_token.used' && e.deviceId === 'roku-12345')).toBe(true);
    // A native client (which a phone-enrolled user's login would otherwise hold for the phone) is released at once.
    const native = await deviceLogin('bob', 'bob-pw', 'roku-12345', deviceToken, 'Roku');
    expect(native.status, native.text).toBe(200);
  });

  it('refuses the token on another DeviceId or for another user, counting it as a pairing failure', async () => {
    const failures = () => gw.gateway.services.guard.failures('pairing', 'address', '127.0.0.1');
    const before = failures();
    expectChallenge(await deviceLogin('bob', 'bob-pw', 'roku-other', deviceToken));
    expectChallenge(await deviceLogin('alice', 'alice-pw', 'roku-12345', deviceToken));
    expectChallenge(await deviceLogin('bob', 'bob-pw', 'roku-12345', 'x'.repeat(43)));
    expect(failures()).toBe(before + 3);
    const refused = audit.filter((e) => e.type === 'pairing.device_token.refused').map((e) => e.detail?.reason);
    expect(refused).toEqual(expect.arrayContaining(['other_device', 'other_user', 'unknown']));
  });

  it('is listed under the owner’s devices and revocable by them', async () => {
    const mine = await api(gw, 'GET', '/JellyfinSecurity/Me/PairedDevices', { token: bobToken, deviceId: 'bob-web' });
    expect(mine.status).toBe(200);
    expect(mine.json).toHaveLength(1);
    expect(mine.json[0]).toMatchObject({ deviceName: 'Living Room Roku', deviceId: 'roku-12345', approvedVia: 'admin', lastIp: '127.0.0.1' });
    const devices = await api(gw, 'GET', '/JellyfinSecurity/Me/Devices', { token: bobToken, deviceId: 'bob-web' });
    expect(devices.json.pairedDevices.map((d: { id: string }) => d.id)).toEqual([mine.json[0].id]);
    // Nobody else can see or revoke it.
    expect((await api(gw, 'GET', '/JellyfinSecurity/Me/PairedDevices', { token: aliceToken, deviceId: 'alice-web' })).json).toEqual([]);
    expect((await api(gw, 'DELETE', `/JellyfinSecurity/Me/PairedDevices/${mine.json[0].id}`, { token: aliceToken, deviceId: 'alice-web' })).status).toBe(404);
    const del = await api(gw, 'DELETE', `/JellyfinSecurity/Me/PairedDevices/${mine.json[0].id}`, { token: bobToken, deviceId: 'bob-web' });
    expect(del.status).toBe(204);
    expectChallenge(await deviceLogin('bob', 'bob-pw', 'roku-12345', deviceToken));
    expect(audit.some((e) => e.type === 'pairing.device.revoked')).toBe(true);
  });
});

describe('PairDevice, approved from the phone', () => {
  it('lets the user pair a device to themselves with a passkey tap', async () => {
    const r = await pairDevice('Kodi Box', 'kodi-1');
    const { lookup, approved } = await approveOnPhone(gw, bobPhoneToken, 'bob-phone', bobKey, r.json.pairingCode.replace('-', ' '));
    expect(lookup.json).toMatchObject({ kind: 'device', code: r.json.pairingCode, deviceName: 'Kodi Box', deviceId: 'kodi-1', ip: '127.0.0.1' });
    expect(approved.status, approved.text).toBe(200);
    expect(approved.json).toMatchObject({ status: 'approved', kind: 'device', deviceName: 'Kodi Box' });
    clock.advance(2000);
    const got = await check(r.json.pairingCode);
    expect(got.json).toMatchObject({ status: 'approved', userId: jf.user('bob').id, deviceId: 'kodi-1' });
    const login = await deviceLogin('bob', 'bob-pw', 'kodi-1', got.json.deviceToken);
    expect(login.status, login.text).toBe(200);
    const mine = await api(gw, 'GET', '/JellyfinSecurity/Me/PairedDevices', { token: bobToken, deviceId: 'bob-web' });
    expect(mine.json.find((d: { deviceId: string }) => d.deviceId === 'kodi-1')).toMatchObject({ approvedVia: 'phone' });
  });

  it('denies from the phone: the device hears "denied"', async () => {
    const r = await pairDevice('Unknown Box', 'unknown-1');
    const o = { token: bobPhoneToken, deviceId: 'bob-phone', origin: localOrigin(gw) };
    const started = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approval', { ...o, body: { code: r.json.pairingCode } });
    expect(started.status).toBe(200);
    expect((await api(gw, 'POST', '/JellyfinSecurity/Pair/Deny', { ...o, body: { approvalId: started.json.approvalId } })).status).toBe(204);
    clock.advance(2000);
    expect((await check(r.json.pairingCode)).json).toEqual({ status: 'denied' });
    expect(audit.some((e) => e.type === 'pairing.device.denied' && e.detail?.via === 'phone')).toBe(true);
  });
});

describe('codes are single use, pending pairings expire, guessing is counted', () => {
  it('expires a pending pairing after PairingCodeExpiration', async () => {
    const r = await pairDevice('Slow Box', 'slow-1');
    clock.advance(300_000 + 1);
    const late = await check(r.json.pairingCode);
    expect(late.status).toBe(410);
    expect(late.json.error).toBe('pairing_expired');
    const approve = await api(gw, 'POST', '/JellyfinSecurity/ApprovePair', { token: adminToken, deviceId: 'admin-web', body: { PairingCode: r.json.pairingCode, UserId: jf.user('bob').id } });
    expect(approve.status).toBe(404);
    await gw.gateway.services.pairing.sweep();
    expect(audit.some((e) => e.type === 'pairing.device.expired' && e.deviceId === 'slow-1')).toBe(true);
  });

  it('unpairs a device whose approved token was never collected in time', async () => {
    const r = await pairDevice('Never Collects', 'never-1');
    const ok = await api(gw, 'POST', '/JellyfinSecurity/ApprovePair', { token: adminToken, deviceId: 'admin-web', body: { PairingCode: r.json.pairingCode, UserId: jf.user('bob').id } });
    expect(ok.status).toBe(200);
    clock.advance(300_000 + 1);
    await gw.gateway.services.pairing.sweep();
    expect((await check(r.json.pairingCode)).status).toBe(410);
    const rows = await gw.gateway.store.db.selectFrom('paired_devices').selectAll().where('device_id', '=', 'never-1').execute();
    expect(rows).toEqual([]);
  });

  it('denied by an admin', async () => {
    const r = await pairDevice('Denied Box', 'denied-1');
    const list = await api(gw, 'GET', '/JellyfinSecurity/PendingPairs', { token: adminToken, deviceId: 'admin-web' });
    const id = list.json.find((p: { deviceId: string }) => p.deviceId === 'denied-1').id;
    expect((await api(gw, 'POST', '/JellyfinSecurity/DenyPair', { token: adminToken, deviceId: 'admin-web', body: { Id: id } })).status).toBe(204);
    clock.advance(2000);
    expect((await check(r.json.pairingCode)).json).toEqual({ status: 'denied' });
    expect((await api(gw, 'POST', '/JellyfinSecurity/ApprovePair', { token: adminToken, deviceId: 'admin-web', body: { Id: id, UserId: jf.user('bob').id } })).status).toBe(404);
  });

  it('counts wrong codes as pairing failures, and bad input changes nothing', async () => {
    const failures = () => gw.gateway.services.guard.failures('pairing', 'address', '127.0.0.1');
    const before = failures();
    expect((await check('ZZZZ-ZZZZ')).status).toBe(404);
    expect((await check('not a code')).status).toBe(404);
    expect(failures()).toBe(before + 2);
    const count = async () => (await gw.gateway.store.db.selectFrom('pairings').selectAll().execute()).length;
    const n = await count();
    for (const body of ['{', JSON.stringify({ DeviceName: '' , DeviceId: 'x' }), JSON.stringify({ DeviceName: 'x' }), JSON.stringify({ DeviceName: 'x'.repeat(200), DeviceId: 'y' })]) {
      const r = await fetch(`${gw.url}/JellyfinSecurity/PairDevice`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(/^(malformed_body|invalid_request)$/);
    }
    expect(await count()).toBe(n);
    expect((await fetch(`${gw.url}/JellyfinSecurity/PairDeviceQR?code=123`)).status).toBe(400);
  });

  it('bans an address that guesses codes MaxFailedAttempts times', async () => {
    const strict = await startGateway({ upstreamUrl: jf.url, clock, config: { MaxFailedAttempts: 3 } });
    try {
      for (const guess of ['AAAA-AAAA', 'BBBB-BBBB', 'CCCC-CCCC']) {
        expect((await fetch(`${strict.url}/JellyfinSecurity/CheckPairingStatus?code=${guess}`)).status).toBe(404);
      }
      const banned = await fetch(`${strict.url}/JellyfinSecurity/CheckPairingStatus?code=DDDD-DDDD`);
      expect(banned.status).toBe(429);
      expect(((await banned.json()) as { error: string }).error).toBe('address_banned');
      // Everything from that address is refused now, pairing included.
      expect((await fetch(`${strict.url}/JellyfinSecurity/PairDevice`, { method: 'POST', body: '{}' })).status).toBe(429);
    } finally {
      await strict.close();
    }
  });

  it('limits how many pairings one address may have waiting', async () => {
    await gw.gateway.store.db.deleteFrom('pairings').execute();
    for (let i = 0; i < 5; i++) expect((await pairDevice(`Box ${i}`, `flood-${i}`)).status).toBe(200);
    const sixth = await pairDevice('Box 6', 'flood-6');
    expect(sixth.status).toBe(429);
    expect(sixth.json.error).toBe('too_many_pairings');
  });
});

describe('restart and configuration', () => {
  it('keeps an approved pairing, its sealed token and paired devices across a restart', async () => {
    await gw.gateway.store.db.deleteFrom('pairings').execute();
    const r = await pairDevice('Restart Box', 'restart-1');
    expect((await api(gw, 'POST', '/JellyfinSecurity/ApprovePair', { token: adminToken, deviceId: 'admin-web', body: { PairingCode: r.json.pairingCode, UserId: jf.user('bob').id } })).status).toBe(200);
    await gw.stop();
    gw = await startGateway({ upstreamUrl: jf.url, clock, dataDir: gw.dataDir, keys: gw.keys, config: { JellyfinApiKey: gw.config.JellyfinApiKey, MaxFailedAttempts: 100, StepUpLevel: 'None' } });
    clock.advance(2000);
    const got = await check(r.json.pairingCode);
    expect(got.json.status).toBe('approved');
    expect((await deviceLogin('bob', 'bob-pw', 'restart-1', got.json.deviceToken)).status).toBe(200);
  });

  it('turns the pairing API off with TVPairingEnabled: false', async () => {
    const off = await startGateway({ upstreamUrl: jf.url, clock, config: { TVPairingEnabled: false } });
    try {
      const r = await fetch(`${off.url}/JellyfinSecurity/PairDevice`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ DeviceName: 'a', DeviceId: 'b' }) });
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: string }).error).toBe('pairing_disabled');
      expect((await fetch(`${off.url}/JellyfinSecurity/pair`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
