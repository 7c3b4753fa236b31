import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../server/clock.ts';
import { silentLogger } from '../../server/log.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { AuditLog, type AuditLogOptions } from '../../server/audit/log.ts';
import { chainKey, verifyRows, type AuditRow } from '../../server/audit/chain.ts';
import { csvHeader, csvLine, exportItem, EXPORT_FORMAT, parseCsv, rowsFromCsv, rowsFromExport, rowsFromJson } from '../../server/audit/export.ts';

const DAY = 24 * 3600_000;

describe('the audit log', () => {
  let dir: string;
  let store: Store;
  let clock: ManualClock;
  let key: Buffer;
  let audit: AuditLog;

  const make = (opts: Partial<AuditLogOptions> = {}) =>
    new AuditLog(store.db, clock, key, { maxAgeMs: 0, maxRows: 0, excluded: [], ...opts }, silentLogger);

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jellyguard-audit-'));
    store = await openStore(dir);
    clock = new ManualClock();
    key = randomBytes(32);
    audit = make();
  });
  afterEach(async () => {
    await audit.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const some = (n: number, from = 0) => {
    for (let i = from; i < from + n; i++) {
      audit.record({
        type: i % 2 ? 'login.password.failure' : 'login.password.success',
        outcome: i % 2 ? 'failure' : 'success',
        userId: i % 3 ? 'a'.repeat(32) : 'b'.repeat(32),
        userName: i % 3 ? 'Alice' : 'Bob',
        ip: `198.51.100.${i % 7}`,
        deviceId: `dev-${i}`,
        deviceName: i === 3 ? '=HYPERLINK("http://x")' : 'Phone',
        client: 'Jellyfin Web',
        detail: { n: i, note: 'plain, "quoted"\nline' },
      });
      clock.advance(1000);
    }
  };

  const rows = () => store.sqlite.prepare('select * from audit_log order by id').all() as AuditRow[];

  it('writes in the background: record() returns at once, rows appear with consecutive ids and a valid chain', async () => {
    some(25);
    expect(rows()).toHaveLength(0); // nothing written synchronously
    expect(audit.pending).toBe(25);
    await audit.flush();
    const r = rows();
    expect(r.map((x) => x.id)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(r[0]!.prev_mac).toBe('');
    expect(r[1]!.prev_mac).toBe(r[0]!.mac);
    expect(await audit.verify()).toMatchObject({ ok: true, rows: 25, firstId: 1, lastId: 25 });
  });

  it('detects an edited row, a deleted row, a deleted tail and an edited seal', async () => {
    some(10);
    await audit.flush();
    store.sqlite.prepare("update audit_log set outcome = 'success' where id = 4").run();
    let v = await audit.verify();
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([expect.objectContaining({ id: 4, problem: 'edited' })]);
    store.sqlite.prepare("update audit_log set outcome = 'failure' where id = 4").run();
    expect((await audit.verify()).ok).toBe(true);

    // Editing the detail JSON, even by one character, is caught too.
    const d = (store.sqlite.prepare('select detail from audit_log where id = 5').get() as { detail: string }).detail;
    store.sqlite.prepare('update audit_log set detail = ? where id = 5').run(d.replace('"n":4', '"n":40'));
    expect((await audit.verify()).problems.map((p) => p.problem)).toEqual(['edited']);
    store.sqlite.prepare('update audit_log set detail = ? where id = 5').run(d);

    store.sqlite.prepare('delete from audit_log where id = 6').run();
    v = await audit.verify();
    expect(v.problems.map((p) => [p.id, p.problem])).toEqual([[7, 'gap'], [7, 'link']]);

    store.sqlite.prepare('delete from audit_log where id >= 6').run();
    v = await audit.verify();
    expect(v.problems.map((p) => p.problem)).toEqual(['head']);

    store.sqlite.prepare('update audit_chain set head_id = 5').run();
    v = await audit.verify();
    expect(v.problems.map((p) => p.problem)).toContain('seal');
  });

  it('a bad seal found at start-up is written into the log itself', async () => {
    some(3);
    await audit.flush();
    store.sqlite.prepare('update audit_chain set head_id = 2').run();
    const errors: string[] = [];
    const reopened = new AuditLog(store.db, clock, key, { maxAgeMs: 0, maxRows: 0, excluded: [] }, { ...silentLogger, error: (m) => errors.push(m) });
    await reopened.open();
    await reopened.flush();
    expect(errors).toEqual([expect.stringMatching(/seal does not match/)]);
    const last = rows().at(-1)!;
    expect(last).toMatchObject({ id: 4, type: 'audit.seal_invalid', outcome: 'failure' });
    expect(JSON.parse(last.detail!)).toMatchObject({ sealedHeadId: 2, storedHeadId: 3 });
    await reopened.close();
  });

  it('continues the chain across a restart', async () => {
    some(5);
    await audit.close();
    audit = make();
    some(5, 5);
    await audit.flush();
    expect(rows().map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await audit.verify()).ok).toBe(true);
  });

  it('retention by age and by size removes the oldest rows and moves the anchor; the rest still verifies', async () => {
    await audit.close();
    audit = make({ maxAgeMs: 10 * DAY, maxRows: 0 });
    some(5); // day 0
    clock.advance(20 * DAY);
    some(5, 5); // day 20
    await audit.applyRetention(); // removes the five that are 20 days old
    const left = rows();
    expect(left[0]!.id).toBe(6);
    expect(left.at(-1)!.type).toBe('audit.purged');
    expect(JSON.parse(left.at(-1)!.detail!)).toMatchObject({ rows: 5, reason: 'age', upTo: 5 });
    expect((await audit.verify()).ok).toBe(true);
    // A row removed at the start outside retention is caught.
    store.sqlite.prepare('delete from audit_log where id = 6').run();
    expect((await audit.verify()).problems.map((p) => p.problem)).toContain('anchor');
  });

  it('retention by size keeps the newest AuditLogMaxSize rows', async () => {
    await audit.close();
    audit = make({ maxAgeMs: 0, maxRows: 20 });
    some(50);
    await audit.applyRetention();
    const left = rows();
    // 20 kept, plus the audit.purged row written afterwards.
    expect(left[0]!.id).toBe(31);
    expect(left).toHaveLength(21);
    expect((await audit.verify()).ok).toBe(true);
  });

  it('leaves out AuditLogExcludedEvents, exactly or by family', async () => {
    await audit.close();
    audit = make({ excluded: ['login.password.success', 'guard.*'] });
    some(4);
    audit.record({ type: 'guard.device.new', outcome: 'info' });
    audit.record({ type: 'session.logout', outcome: 'success' });
    await audit.flush();
    expect(rows().map((r) => r.type)).toEqual(['login.password.failure', 'login.password.failure', 'session.logout']);
  });

  it('never throws, even when the store is gone; an overflowing queue is counted, not grown', async () => {
    await audit.close();
    audit = make({ queueLimit: 10 });
    some(15);
    expect(audit.pending).toBe(10);
    await audit.flush();
    const r = rows();
    expect(r).toHaveLength(11);
    expect(r.at(-1)).toMatchObject({ type: 'audit.dropped', outcome: 'failure' });
    expect(JSON.parse(r.at(-1)!.detail!)).toEqual({ count: 5 });

    await store.close();
    expect(() => audit.record({ type: 'session.logout', outcome: 'success' })).not.toThrow();
    await audit.flush(); // the failed write is logged, not thrown
    store = await openStore(dir);
  });

  it('queries by type, family, user, address, outcome and time, newest first, with paging', async () => {
    some(30);
    await audit.flush();
    const t0 = new ManualClock().now();
    const all = await audit.query({}, { limit: 10, offset: 0 });
    expect(all.total).toBe(30);
    expect(all.items.map((i) => i.id)).toEqual([30, 29, 28, 27, 26, 25, 24, 23, 22, 21]);
    const page3 = await audit.query({}, { limit: 10, offset: 20 });
    expect(page3.items.at(-1)!.id).toBe(1);
    expect((await audit.query({ types: ['login.password.failure'] }, { limit: 100, offset: 0 })).total).toBe(15);
    expect((await audit.query({ types: ['login.*'] }, { limit: 100, offset: 0 })).total).toBe(30);
    expect((await audit.query({ types: ['session.*'] }, { limit: 100, offset: 0 })).total).toBe(0);
    expect((await audit.query({ userId: 'b'.repeat(32) }, { limit: 100, offset: 0 })).total).toBe(10);
    expect((await audit.query({ userName: 'bob' }, { limit: 100, offset: 0 })).total).toBe(10);
    expect((await audit.query({ ip: '198.51.100.0' }, { limit: 100, offset: 0 })).total).toBe(5);
    expect((await audit.query({ outcome: 'success' }, { limit: 100, offset: 0 })).total).toBe(15);
    const window = await audit.query({ from: t0 + 10_000, to: t0 + 20_000 }, { limit: 100, offset: 0 });
    expect(window.items.map((i) => i.id)).toEqual([20, 19, 18, 17, 16, 15, 14, 13, 12, 11]);
  });

  it('CSV and JSON exports round-trip to exactly the stored rows, and verify on their own', async () => {
    some(12);
    await audit.flush();
    const stored = rows();
    let csv = csvHeader();
    for (const r of stored) csv += csvLine(r);
    const json = JSON.stringify({ format: EXPORT_FORMAT, items: stored.map(exportItem) });
    expect(rowsFromCsv(csv)).toEqual(stored);
    expect(rowsFromJson(json)).toEqual(stored);
    expect(rowsFromExport(csv)).toEqual(stored);
    // A spreadsheet never sees a formula: the cell starting with "=" is escaped with a quote.
    expect(csv).toContain(`"'=HYPERLINK(""http://x"")"`);
    expect(csv).not.toMatch(/(^|,)"=/m);
    expect((await verifyRows(chainKey(key), rowsFromCsv(csv))).ok).toBe(true);
    // An edit to the exported file shows.
    const tampered = csv.replace('"198.51.100.3"', '"198.51.100.4"');
    expect((await verifyRows(chainKey(key), rowsFromCsv(tampered))).problems[0]).toMatchObject({ id: 4, problem: 'edited' });
  });

  it('the CSV parser tells null from the empty string and handles quotes, commas and newlines', () => {
    expect(parseCsv('a,,"",\r\n"x""y","1,2","l1\nl2"\r\n')).toEqual([
      ['a', null, '', null],
      ['x"y', '1,2', 'l1\nl2'],
    ]);
    expect(() => parseCsv('"open')).toThrow(/not closed/);
  });
});
