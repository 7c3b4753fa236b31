import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { ManualClock } from '../../server/clock.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { StepUpGrants, GRANT_TTL_MS } from '../../server/stepup/grants.ts';
import { DevicePairings, POLL_INTERVAL_MS } from '../../server/pairing/devices.ts';
import { QuickConnectRequests } from '../../server/login/quick-connect.ts';
import { tempDir } from '../helpers/gateway.ts';

/** The pairing and step-up stores on a real SQLite file, with a manual clock. */
let dir: string;
let store: Store;
const clock = new ManualClock();
const keys = { encryptionKey: randomBytes(32), hmacKey: randomBytes(32) };
const USER = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);

beforeEach(async () => {
  dir = tempDir();
  store = await openStore(dir);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('step-up grants', () => {
  const req = (tokenHash = 'session-1', target: string | null = '123456') => ({ tokenHash, userId: USER, action: 'QuickConnectAuthorize', target, method: 'totp' });

  it('are spent once, by the session they belong to, for their action and target', async () => {
    const grants = new StepUpGrants(store.db, clock, keys.hmacKey);
    const g = await grants.issue(req(), 'granted');
    expect(await grants.spend(g.grant, 'session-2', 'QuickConnectAuthorize', '123456')).toEqual({ ok: false, reason: 'other_session' });
    expect(await grants.spend(g.grant, 'session-1', 'QuickConnectAuthorize', '654321')).toEqual({ ok: false, reason: 'other_action' });
    expect(await grants.spend(g.grant, 'session-1', 'SomethingElse', '123456')).toEqual({ ok: false, reason: 'other_action' });
    expect((await grants.spend(g.grant, 'session-1', 'QuickConnectAuthorize', '123456')).ok).toBe(true);
    expect(await grants.spend(g.grant, 'session-1', 'QuickConnectAuthorize', '123456')).toEqual({ ok: false, reason: 'used' });
    expect(await grants.spend(randomBytes(32).toString('base64url'), 'session-1', 'QuickConnectAuthorize', '123456')).toEqual({ ok: false, reason: 'unknown' });
    // Only the HMAC is stored.
    const rows = await store.db.selectFrom('stepup_grants').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(g.grant);
  });

  it('cannot be spent twice by racing requests', async () => {
    const grants = new StepUpGrants(store.db, clock, keys.hmacKey);
    const g = await grants.issue(req(), 'granted');
    const results = await Promise.all(Array.from({ length: 8 }, () => grants.spend(g.grant, 'session-1', 'QuickConnectAuthorize', '123456')));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  it('expire, and a pending one works only once its approval is approved', async () => {
    const grants = new StepUpGrants(store.db, clock, keys.hmacKey);
    const g = await grants.issue(req(), 'granted');
    clock.advance(GRANT_TTL_MS);
    expect(await grants.spend(g.grant, 'session-1', 'QuickConnectAuthorize', '123456')).toEqual({ ok: false, reason: 'expired' });

    const p = await grants.issue(req(), 'pending', clock.now() + 60_000, 'approval-1');
    expect(await grants.spend(p.grant, 'session-1', 'QuickConnectAuthorize', '123456')).toEqual({ ok: false, reason: 'pending' });
    expect((await grants.settle('approval-1', true))?.state).toBe('granted');
    expect(await grants.settle('approval-1', true)).toBeUndefined(); // decided once
    expect((await grants.spend(p.grant, 'session-1', 'QuickConnectAuthorize', '123456')).ok).toBe(true);

    const d = await grants.issue(req(), 'pending', clock.now() + 60_000, 'approval-2');
    await grants.settle('approval-2', false);
    expect(await grants.spend(d.grant, 'session-1', 'QuickConnectAuthorize', '123456')).toEqual({ ok: false, reason: 'denied' });
    await grants.sweep();
  });

  it('match their target exactly: a grant without one is no grant for a code, nor one for a code for another', async () => {
    const grants = new StepUpGrants(store.db, clock, keys.hmacKey);
    const none = await grants.issue(req('session-1', null), 'granted');
    expect(await grants.spend(none.grant, 'session-1', 'QuickConnectAuthorize', '999999')).toEqual({ ok: false, reason: 'other_action' });
    expect((await grants.spend(none.grant, 'session-1', 'QuickConnectAuthorize', null)).ok).toBe(true);
    const one = await grants.issue(req('session-1', '123456'), 'granted');
    expect(await grants.spend(one.grant, 'session-1', 'QuickConnectAuthorize', '999999')).toEqual({ ok: false, reason: 'other_action' });
    expect((await grants.spend(one.grant, 'session-1', 'QuickConnectAuthorize', '123456')).ok).toBe(true);
  });
});

describe('PairDevice pairings', () => {
  const input = { deviceName: 'Roku', deviceId: 'roku-1', client: 'Roku', appVersion: '1', ip: '192.0.2.7' };
  const make = () => new DevicePairings(store.db, clock, keys, () => 300_000);

  it('approve once, hand the token over once, and bind it to the user and DeviceId', async () => {
    const p = make();
    const { code, row } = await p.request(input);
    expect((await p.poll(code)).kind).toBe('pending');
    const approved = await p.approve(row.id, USER, { userId: OTHER, via: 'admin' });
    expect(approved?.status).toBe('approved');
    expect(await p.approve(row.id, USER, { userId: OTHER, via: 'admin' })).toBeUndefined();
    expect(await p.deny(row.id, { userId: OTHER, via: 'admin' })).toBeUndefined();
    // Polled too soon: no answer.
    expect((await p.poll(code)).kind).toBe('too_fast');
    clock.advance(POLL_INTERVAL_MS);
    const got = await p.poll(code);
    expect(got.kind).toBe('approved');
    const token = got.kind === 'approved' ? got.deviceToken : '';
    clock.advance(POLL_INTERVAL_MS);
    expect((await p.poll(code)).kind).toBe('collected');
    expect((await p.checkDeviceToken(token, USER, 'roku-1', '192.0.2.7')).ok).toBe(true);
    expect(await p.checkDeviceToken(token, USER, 'roku-2', '192.0.2.7')).toMatchObject({ ok: false, reason: 'other_device' });
    expect(await p.checkDeviceToken(token, USER, undefined, '192.0.2.7')).toMatchObject({ ok: false, reason: 'other_device' });
    expect(await p.checkDeviceToken(token, OTHER, 'roku-1', '192.0.2.7')).toMatchObject({ ok: false, reason: 'other_user' });
    expect(await p.checkDeviceToken('x'.repeat(43), USER, 'roku-1', '192.0.2.7')).toMatchObject({ ok: false, reason: 'unknown' });
    // Nothing secret at rest: no code, no token.
    const all = JSON.stringify([await store.db.selectFrom('pairings').selectAll().execute(), await store.db.selectFrom('paired_devices').selectAll().execute()]);
    expect(all).not.toContain(token);
    expect(all).not.toContain(code);
  });

  it('pairing the same device again replaces its old token; revoking stops it at once', async () => {
    const p = make();
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { code, row } = await p.request(input);
      await p.approve(row.id, USER, { userId: USER, via: 'phone' });
      clock.advance(POLL_INTERVAL_MS);
      const got = await p.poll(code);
      if (got.kind === 'approved') tokens.push(got.deviceToken);
    }
    expect(tokens).toHaveLength(2);
    expect((await p.checkDeviceToken(tokens[0]!, USER, 'roku-1', 'x')).ok).toBe(false);
    expect((await p.checkDeviceToken(tokens[1]!, USER, 'roku-1', 'x')).ok).toBe(true);
    const [device] = await p.devicesOf(USER);
    expect(device?.approved_via).toBe('phone');
    expect(await p.revoke(OTHER, device!.id)).toBeUndefined();
    expect(await p.revoke(USER, device!.id)).toBeDefined();
    expect((await p.checkDeviceToken(tokens[1]!, USER, 'roku-1', 'x')).ok).toBe(false);
  });

  it('expire when pending, and when approved but never collected (the device is unpaired)', async () => {
    const p = make();
    const a = await p.request(input);
    const b = await p.request({ ...input, deviceId: 'roku-2' });
    await p.approve(b.row.id, USER, { userId: USER, via: 'admin' });
    clock.advance(300_000);
    const expired = await p.sweep();
    expect(expired.map((r) => r.id).sort()).toEqual([a.row.id, b.row.id].sort());
    expect((await p.poll(a.code)).kind).toBe('expired');
    expect(await p.devicesOf(USER)).toEqual([]);
    expect(await p.approve(a.row.id, USER, { userId: USER, via: 'admin' })).toBeUndefined();
    // Finished pairings are forgotten after a day.
    clock.advance(24 * 3600 * 1000 + 1);
    await p.sweep();
    expect(await store.db.selectFrom('pairings').selectAll().execute()).toEqual([]);
  });

  it('survive a reopen of the store (the sealed token included)', async () => {
    const p = make();
    const { code, row } = await p.request(input);
    await p.approve(row.id, USER, { userId: USER, via: 'admin' });
    await store.close();
    store = await openStore(dir);
    const again = new DevicePairings(store.db, clock, keys, () => 300_000);
    clock.advance(POLL_INTERVAL_MS);
    const got = await again.poll(code);
    expect(got.kind).toBe('approved');
  });
});

describe('Quick Connect codes', () => {
  it('are claimed once, and given back when Jellyfin refuses', async () => {
    const codes = new QuickConnectRequests(store.db, clock, randomBytes(32));
    const now = clock.now();
    await store.db
      .insertInto('quick_connect')
      .values({ secret_hash: 's1', code: '123456', device_id: 'tv', device_name: 'TV', app_name: 'App', app_version: '1', ip: '192.0.2.1', created_at: now, expires_at: now + 600_000, authorized_user_id: null, authorized_at: null })
      .execute();
    expect((await codes.pending('123 456'))?.device_name).toBe('TV');
    const at = await codes.claim('123456', USER);
    expect(at).toBe(now);
    expect(await codes.claim('123456', OTHER)).toBeUndefined();
    expect(await codes.pending('123456')).toBeUndefined();
    await codes.unclaim('123456', USER, at!);
    expect(await codes.pending('123456')).toBeDefined();
    clock.advance(600_001);
    expect(await codes.pending('123456')).toBeUndefined();
    expect(await codes.claim('123456', USER)).toBeUndefined();
  });
});
