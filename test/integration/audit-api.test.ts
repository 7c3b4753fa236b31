import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.ts';
import { parseExport, rowsFromCsv, rowsFromJson, type AuditRow } from '../../server/audit/index.ts';
import { verifyCommand } from '../../server/audit/verify-cli.ts';
import type { AuditLogResponse } from '../../shared/api/guard.ts';
import { api, login, raw, tokenOf } from './guard-helpers.ts';

/**
 * The audit log through the real gateway: events from real logins, the admin-only query API, CSV and
 * JSON export, and the verify command catching an edited row in the real SQLite file.
 */
let jf: Emulator;
let gw: TestGateway;
let clock: ManualClock;
let root: string;
let bob: string;

const ADMIN = '127.0.0.120';
const BOB = '127.0.0.121';

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'root', password: 'root-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' },
    ],
  });
  clock = new ManualClock();
  gw = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: jf.createApiKey('jellyguard') } });
  root = tokenOf(await login(gw.url, 'root', 'root-pw', { from: ADMIN, deviceId: 'root-pc' }));
  clock.advance(60_000);
  bob = tokenOf(await login(gw.url, 'bob', 'bob-pw', { from: BOB, deviceId: 'bob-phone' }));
  clock.advance(60_000);
  await login(gw.url, 'bob', 'wrong', { from: '127.0.0.122', deviceId: 'someone' });
  clock.advance(60_000);
  await login(gw.url, 'mallory', 'wrong', { from: '127.0.0.122', deviceId: 'someone' });
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

const items = (a: { json: unknown }) => (a.json as AuditLogResponse).items;

describe('the audit log API', () => {
  it('answers 401 without a verified token and 403 for a user who is not an administrator', async () => {
    expect((await api(gw.url, '/AuditLog', undefined, { from: BOB })).status).toBe(401);
    expect((await api(gw.url, '/AuditLog', 'f'.repeat(32), { from: BOB })).status).toBe(401);
    const forbidden = await api(gw.url, '/AuditLog', bob, { from: BOB });
    expect(forbidden.status).toBe(403);
    expect(forbidden.json).toMatchObject({ error: 'forbidden' });
    expect((await api(gw.url, '/AuditLog/Export', bob, { from: BOB })).status).toBe(403);
    expect((await api(gw.url, '/AuditLog/Verify', bob, { from: BOB })).status).toBe(403);
  });

  it('records every login with time, type, user, address, device, client and outcome', async () => {
    const all = await api(gw.url, '/AuditLog', root, { from: ADMIN });
    expect(all.status).toBe(200);
    const rows = items(all);
    const failure = rows.find((r) => r.type === 'login.password.failure' && r.userName === 'bob')!;
    expect(failure).toMatchObject({
      outcome: 'failure',
      ip: '127.0.0.122',
      deviceId: 'someone',
      client: 'Jellyguard Guard Tests',
      detail: { status: 401 },
    });
    expect(failure.time).toBe(new Date(failure.at).toISOString());
    const success = rows.find((r) => r.type === 'login.password.success' && r.userName === 'bob')!;
    expect(success).toMatchObject({ outcome: 'success', userId: jf.user('bob').id, ip: BOB, deviceId: 'bob-phone', detail: { method: 'password' } });
  });

  it('filters by type, family, user, address, outcome and time range, with paging', async () => {
    const q = async (query: string) => items(await api(gw.url, `/AuditLog?${query}`, root, { from: ADMIN }));
    expect((await q('type=login.password.failure')).every((r) => r.type === 'login.password.failure')).toBe(true);
    expect((await q('type=login.password.failure')).length).toBe(2);
    expect((await q('type=login.*&outcome=success')).map((r) => r.userName).sort()).toEqual(['bob', 'root']);
    expect((await q('user=BOB')).every((r) => r.userName?.toLowerCase() === 'bob')).toBe(true);
    expect((await q(`userId=${jf.user('bob').id}`)).length).toBeGreaterThan(0);
    expect((await q('ip=127.0.0.122')).map((r) => r.userName).sort()).toEqual(['bob', 'mallory']);
    const t0 = new ManualClock().now();
    const window = await q(`from=${new Date(t0 + 60_000).toISOString()}&to=${t0 + 120_001}`);
    expect(window.map((r) => r.type)).toEqual(expect.arrayContaining(['login.password.success']));
    expect(window.every((r) => r.at >= t0 + 60_000 && r.at < t0 + 120_001)).toBe(true);
    const page1 = await api(gw.url, '/AuditLog?limit=2', root, { from: ADMIN });
    const page2 = await api(gw.url, '/AuditLog?limit=2&offset=2', root, { from: ADMIN });
    expect((page1.json as AuditLogResponse).total).toBeGreaterThanOrEqual(4);
    expect(items(page1)[0]!.id).toBeGreaterThan(items(page2)[0]!.id);
    for (const bad of ['limit=0', 'limit=5000', 'from=yesterday', 'outcome=maybe', 'type=DROP%20TABLE', 'nonsense=1', `from=${t0 + 10}&to=${t0}`]) {
      const r = await api(gw.url, `/AuditLog?${bad}`, root, { from: ADMIN });
      expect(r.status, bad).toBe(400);
      expect(r.json, bad).toMatchObject({ error: 'invalid_request' });
    }
  });

  it('users see only their own events', async () => {
    const mine = items(await api(gw.url, '/Me/AuditLog', bob, { from: BOB }));
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.userId === jf.user('bob').id)).toBe(true);
    // …including someone else's failed attempt at bob's account (by name: the gateway knows bob).
    expect(mine).toContainEqual(expect.objectContaining({ type: 'login.password.failure', ip: '127.0.0.122', deviceId: 'someone' }));
    expect(mine.map((r) => r.userName)).not.toContain('mallory');
    expect((await api(gw.url, '/Me/AuditLog?ip=127.0.0.1', bob, { from: BOB })).status).toBe(400);
  });
});

describe('export and verification', () => {
  const storedRows = () => {
    const db = new SQLite(path.join(gw.dataDir, 'jellyguard.sqlite'), { readonly: true });
    try {
      return db.prepare('select * from audit_log order by id').all() as AuditRow[];
    } finally {
      db.close();
    }
  };

  it('CSV and JSON exports round-trip to the stored rows and verify on their own; exporting is audited', async () => {
    await gw.gateway.services.audit.flush();
    const csv = await api(gw.url, '/AuditLog/Export?format=csv', root, { from: ADMIN });
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toMatch(/^attachment; filename="jellyguard-audit-.*\.csv"$/);
    const json = await api(gw.url, '/AuditLog/Export?format=json', root, { from: ADMIN });
    expect(json.status).toBe(200);
    const fromCsv = rowsFromCsv(csv.text);
    const fromJson = rowsFromJson(json.text);
    const stored = storedRows();
    // Each export holds what was stored when it started (the export of the CSV is itself recorded after it).
    expect(fromCsv).toEqual(stored.slice(0, fromCsv.length));
    expect(fromJson).toEqual(stored.slice(0, fromJson.length));
    expect(fromJson.slice(0, fromCsv.length)).toEqual(fromCsv);
    expect(fromJson.length).toBeGreaterThan(fromCsv.length);

    const dir = tempDir('jellyguard-export-');
    writeFileSync(path.join(dir, 'audit.csv'), csv.text);
    writeFileSync(path.join(dir, 'audit.json'), json.text);
    const out: string[] = [];
    expect(await verifyCommand(['--file', path.join(dir, 'audit.json'), '--data-dir', gw.dataDir], { JELLYGUARD_HMAC_KEY: gw.keys.hmacKey.toString('base64') }, (l) => out.push(l))).toBe(0);
    expect(await verifyCommand(['--file', path.join(dir, 'audit.csv')], { JELLYGUARD_HMAC_KEY: gw.keys.hmacKey.toString('base64'), JELLYGUARD_DATA_DIR: dir }, (l) => out.push(l))).toBe(0);
    expect(out.join('\n')).toMatch(/intact/);
    // The complete JSON export carries the sealed chain ends.
    expect(parseExport(json.text).chain?.head_id).toBe(fromJson.at(-1)!.id);

    // A filtered export holds only what matches.
    const failures = rowsFromJson((await api(gw.url, '/AuditLog/Export?format=json&type=login.password.failure', root, { from: ADMIN })).text);
    expect(failures.map((r) => r.type)).toEqual(['login.password.failure', 'login.password.failure']);

    await gw.gateway.services.audit.flush();
    const exported = items(await api(gw.url, '/AuditLog?type=audit.exported', root, { from: ADMIN }));
    expect(exported.length).toBe(3);
    expect(exported[0]!.detail).toMatchObject({ by: jf.user('root').id, format: 'json', complete: false });
  });

  it('the chain detects an edited row: the verify command and the API both report it', async () => {
    await gw.gateway.services.audit.flush();
    const env = { JELLYGUARD_DATA_DIR: gw.dataDir, JELLYGUARD_HMAC_KEY: gw.keys.hmacKey.toString('base64') };
    const out: string[] = [];
    expect(await verifyCommand([], env, (l) => out.push(l)), out.join("\n")).toBe(0);
    expect((await api(gw.url, '/AuditLog/Verify', root, { from: ADMIN })).json).toMatchObject({ ok: true, problems: [] });

    // Someone with access to the database file hides a failed login of bob's.
    const target = storedRows().find((r) => r.type === 'login.password.failure' && r.user_name === 'bob')!;
    const db = new SQLite(path.join(gw.dataDir, 'jellyguard.sqlite'));
    db.prepare("update audit_log set outcome = 'success', type = 'login.password.success' where id = ?").run(target.id);
    db.close();

    out.length = 0;
    expect(await verifyCommand([], env, (l) => out.push(l))).toBe(1);
    expect(out.join('\n')).toContain(`row ${target.id}: edited`);
    const api1 = (await api(gw.url, '/AuditLog/Verify', root, { from: ADMIN })).json as { ok: boolean; problems: Array<{ id: number; problem: string }> };
    expect(api1.ok).toBe(false);
    expect(api1.problems).toContainEqual(expect.objectContaining({ id: target.id, problem: 'edited' }));

    // An export made now shows the edit too, in either format.
    const csv = (await api(gw.url, '/AuditLog/Export?format=csv', root, { from: ADMIN })).text;
    const file = path.join(tempDir('jellyguard-export-'), 'tampered.csv');
    writeFileSync(file, csv);
    expect(await verifyCommand(['--file', file], env, () => {})).toBe(1);

    // Deleting the row instead leaves a gap.
    const db2 = new SQLite(path.join(gw.dataDir, 'jellyguard.sqlite'));
    db2.prepare('delete from audit_log where id = ?').run(target.id);
    db2.close();
    out.length = 0;
    expect(await verifyCommand(['--json'], env, (l) => out.push(l))).toBe(1);
    expect(JSON.parse(out[0]!).problems.map((p: { problem: string }) => p.problem)).toContain('gap');
  });

  it('without a key the verify command says so and changes nothing', async () => {
    const out: string[] = [];
    expect(await verifyCommand([], { JELLYGUARD_DATA_DIR: tempDir('jellyguard-nokey-') }, (l) => out.push(l))).toBe(2);
    expect(out[0]).toMatch(/no key/);
    expect((await raw(gw.url, '/JellyfinSecurity/Health', { from: ADMIN })).status).toBe(200);
  });
});
