import type { ExpressionBuilder, Expression, SqlBool } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Database, DB } from '../store/index.ts';
import type { AuditEvent, AuditSink } from './event.ts';
import { GENESIS_MAC, chainKey, rowMac, sameMac, sealOf, sealed, verifyRows, type AuditRow, type ChainState, type VerifyResult } from './chain.ts';

export interface AuditLogOptions {
  /** AuditLogMaxAge in ms; 0 = keep for ever. */
  maxAgeMs: number;
  /** AuditLogMaxSize in rows; 0 = no limit. */
  maxRows: number;
  /** AuditLogExcludedEvents: exact types, or "prefix.*". */
  excluded: readonly string[];
  /** Events waiting to be written before new ones are dropped (and counted). */
  queueLimit?: number;
  /** Rows written per transaction. */
  batchSize?: number;
  /** How long an event may wait for others to share its transaction (ms). */
  flushDelayMs?: number;
}

/** What a query or an export selects. Every field narrows; none = everything. */
export interface AuditFilter {
  /** Exact types, or "prefix.*". */
  types?: readonly string[];
  userId?: string;
  /** Case-insensitive. */
  userName?: string;
  ip?: string;
  outcome?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

/** Longest detail kept (as JSON text); longer details are replaced by a note saying so. */
const MAX_DETAIL = 4096;
/** Longest text field kept (a DeviceId or client name is the client's to choose). */
const MAX_FIELD = 512;

const clip = (v: string | null | undefined) => (v === undefined || v === null ? null : v.length > MAX_FIELD ? v.slice(0, MAX_FIELD) : v);

function matcher(patterns: readonly string[]): (type: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith('.*')));
  const prefixes = patterns.filter((p) => p.endsWith('.*')).map((p) => p.slice(0, -1));
  return (t) => exact.has(t) || prefixes.some((p) => t.startsWith(p));
}

/**
 * The audit log (DESIGN: Audit): every security event as a row, chained with a keyed HMAC.
 * `record` never blocks nor fails the request that caused it: events go to a bounded queue that a
 * background writer drains in batches, one transaction each. Retention (age and size) runs in the same
 * writer, so the chain's anchor moves in the same transaction as the rows it removes.
 */
export class AuditLog implements AuditSink {
  private readonly key: Buffer;
  private readonly isExcluded: (type: string) => boolean;
  private readonly queueLimit: number;
  private readonly batchSize: number;
  private readonly flushDelayMs: number;
  private queue: AuditRowDraft[] = [];
  private dropped = 0;
  private scheduled = false;
  /** Every write and retention pass, one after another. */
  private serial: Promise<void> = Promise.resolve();
  /** The chain's ends as this writer last sealed them (memory is trusted over the table). */
  private chain: ChainState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    hmacKey: Buffer,
    private readonly opts: AuditLogOptions,
    private readonly log: Logger,
  ) {
    this.key = chainKey(hmacKey);
    this.isExcluded = matcher(opts.excluded);
    this.queueLimit = opts.queueLimit ?? 10_000;
    this.batchSize = opts.batchSize ?? 500;
    this.flushDelayMs = opts.flushDelayMs ?? 50;
  }

  /**
   * Load the chain's ends and check their seal. A bad seal is itself written into the log, so that the
   * next write (which seals again) cannot launder the tampering.
   */
  async open(): Promise<void> {
    const row = await this.db.selectFrom('audit_chain').selectAll().where('id', '=', 1).executeTakeFirst();
    if (!row) {
      this.chain = sealed(this.key, { head_id: 0, head_mac: GENESIS_MAC, anchor_id: 0, anchor_mac: GENESIS_MAC });
      return;
    }
    this.chain = { head_id: row.head_id, head_mac: row.head_mac, anchor_id: row.anchor_id, anchor_mac: row.anchor_mac, seal: row.seal };
    if (!sameMac(row.seal, sealOf(this.key, row))) {
      this.log.error('the audit chain seal does not match: the audit log was edited (run `npm run audit:verify`)');
      // Carry on after the last row actually stored (the sealed head cannot be believed), and say so.
      const last = await this.db.selectFrom('audit_log').select(['id', 'mac']).orderBy('id', 'desc').limit(1).executeTakeFirst();
      this.chain = { ...this.chain, head_id: last?.id ?? row.anchor_id, head_mac: last?.mac ?? row.anchor_mac };
      this.record({ type: 'audit.seal_invalid', outcome: 'failure', detail: { sealedHeadId: row.head_id, storedHeadId: last?.id ?? null, anchorId: row.anchor_id } });
    }
  }

  /** Called with every event recorded, excluded types too (metrics count what happened). Must not throw. */
  readonly observers: Array<(event: AuditEvent) => void> = [];

  /** Queue an event; never throws, never waits. */
  record(event: AuditEvent): void {
    try {
      for (const observe of this.observers) observe(event);
      if (this.closed || this.isExcluded(event.type)) return;
      if (this.queue.length >= this.queueLimit) {
        this.dropped++;
        return;
      }
      this.queue.push(draft(event, this.clock.now()));
      this.schedule();
    } catch (e) {
      this.log.error('an audit event could not be queued', e);
    }
  }

  /** Resolves once everything queued so far is written. */
  flush(): Promise<void> {
    this.scheduled = false;
    return this.run(() => this.drain());
  }

  /** Run retention every `intervalMs` (and once now). */
  start(intervalMs = 3600_000): void {
    this.timer = setInterval(() => void this.applyRetention().catch((e) => this.log.error('audit retention failed', e)), intervalMs);
    this.timer.unref();
    void this.applyRetention().catch((e) => this.log.error('audit retention failed', e));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    this.closed = true;
  }

  /** How many events wait to be written. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Write soon, not at once: events that arrive within `flushDelayMs` share one transaction (under a
   * flood that is thousands of rows, not thousands of commits).
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const t = setTimeout(() => {
      if (!this.scheduled) return;
      this.scheduled = false;
      void this.run(() => this.drain());
    }, this.flushDelayMs);
    t.unref();
  }

  private run(job: () => Promise<void>): Promise<void> {
    const next = this.serial.then(job).catch((e) => this.log.error('writing the audit log failed', e));
    this.serial = next;
    return next;
  }

  private async drain(): Promise<void> {
    if (!this.chain) await this.open();
    while (this.queue.length > 0 || this.dropped > 0) {
      if (this.dropped > 0 && this.queue.length < this.queueLimit) {
        this.queue.push(draft({ type: 'audit.dropped', outcome: 'failure', detail: { count: this.dropped } }, this.clock.now()));
        this.dropped = 0;
      }
      const batch = this.queue.slice(0, this.batchSize);
      await this.writeBatch(batch);
      this.queue.splice(0, batch.length);
    }
  }

  private async writeBatch(batch: AuditRowDraft[]): Promise<void> {
    const start = this.chain!;
    let id = start.head_id;
    let prev = start.head_mac;
    const rows: AuditRow[] = batch.map((d) => {
      id++;
      const base = { ...d, id, prev_mac: prev };
      const mac = rowMac(this.key, base);
      prev = mac;
      return { ...base, mac };
    });
    const next = sealed(this.key, { head_id: id, head_mac: prev, anchor_id: start.anchor_id, anchor_mac: start.anchor_mac });
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('audit_log').values(rows).execute();
      await writeChain(trx, next);
    });
    this.chain = next;
  }

  /** Remove rows older than AuditLogMaxAge and beyond AuditLogMaxSize, oldest first; moves the anchor. */
  applyRetention(): Promise<void> {
    return this.run(async () => {
      await this.drain();
      const chain = this.chain!;
      let cut = chain.anchor_id;
      let reason = '';
      if (this.opts.maxAgeMs > 0) {
        const old = await this.db
          .selectFrom('audit_log')
          .select((eb) => eb.fn.max('id').as('id'))
          .where('at', '<', this.clock.now() - this.opts.maxAgeMs)
          .executeTakeFirst();
        if (old?.id != null && old.id > cut) {
          cut = old.id;
          reason = 'age';
        }
      }
      if (this.opts.maxRows > 0 && chain.head_id - cut > this.opts.maxRows) {
        cut = chain.head_id - this.opts.maxRows;
        reason = 'size';
      }
      if (cut <= chain.anchor_id) return;
      const last = await this.db.selectFrom('audit_log').select('mac').where('id', '=', cut).executeTakeFirst();
      if (!last) {
        this.log.error(`audit retention: row ${cut} is missing; nothing removed (run \`npm run audit:verify\`)`);
        return;
      }
      const next = sealed(this.key, { head_id: chain.head_id, head_mac: chain.head_mac, anchor_id: cut, anchor_mac: last.mac });
      const removed = await this.db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('audit_log').where('id', '<=', cut).executeTakeFirst();
        await writeChain(trx, next);
        return Number(r.numDeletedRows);
      });
      this.chain = next;
      this.queue.push(draft({ type: 'audit.purged', outcome: 'info', detail: { rows: removed, reason, upTo: cut } }, this.clock.now()));
      await this.drain();
    });
  }

  // ---- reading ----

  /** Rows matching `filter`, newest first, a page at a time, and how many match in all. */
  async query(filter: AuditFilter, page: { limit: number; offset: number }): Promise<{ items: AuditRow[]; total: number }> {
    await this.flush();
    const where = (eb: ExpressionBuilder<Database, 'audit_log'>) => whereOf(eb, filter);
    const [items, total] = await Promise.all([
      this.db.selectFrom('audit_log').selectAll().where(where).orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      this.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).where(where).executeTakeFirstOrThrow(),
    ]);
    return { items, total: Number(total.n) };
  }

  /** Every row matching `filter`, oldest first, read a page at a time (memory stays flat). */
  async *rows(filter: AuditFilter = {}, opts: { maxId?: number; pageSize?: number } = {}): AsyncGenerator<AuditRow> {
    await this.flush();
    const pageSize = opts.pageSize ?? 1000;
    const maxId = opts.maxId ?? Number.MAX_SAFE_INTEGER;
    let after = 0;
    for (;;) {
      const page = await this.db
        .selectFrom('audit_log')
        .selectAll()
        .where((eb) => eb.and([whereOf(eb, filter), eb('id', '>', after), eb('id', '<=', maxId)]))
        .orderBy('id', 'asc')
        .limit(pageSize)
        .execute();
      for (const r of page) yield r;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.id;
    }
  }

  /** The sealed ends as stored. */
  async storedChain(): Promise<ChainState | undefined> {
    await this.flush();
    return readChain(this.db);
  }

  /** Check the whole stored chain (the same check as `npm run audit:verify`). */
  async verify(): Promise<VerifyResult> {
    return verifyStore(this.db, this.key, this.rows());
  }
}

/** Verify a store's audit log with the chain key (`chainKey(hmacKey)`), as the API and the verify command do. */
export async function verifyStore(db: DB, key: Buffer, rows?: AsyncIterable<AuditRow>): Promise<VerifyResult> {
  const chain = (await readChain(db)) ?? sealed(key, { head_id: 0, head_mac: GENESIS_MAC, anchor_id: 0, anchor_mac: GENESIS_MAC });
  return verifyRows(key, rows ?? allRows(db), chain);
}

async function* allRows(db: DB, pageSize = 1000): AsyncGenerator<AuditRow> {
  let after = -1;
  for (;;) {
    const page = await db.selectFrom('audit_log').selectAll().where('id', '>', after).orderBy('id', 'asc').limit(pageSize).execute();
    for (const r of page) yield r;
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.id;
  }
}

async function readChain(db: DB): Promise<ChainState | undefined> {
  const r = await db.selectFrom('audit_chain').selectAll().where('id', '=', 1).executeTakeFirst();
  return r && { head_id: r.head_id, head_mac: r.head_mac, anchor_id: r.anchor_id, anchor_mac: r.anchor_mac, seal: r.seal };
}

async function writeChain(trx: DB, c: ChainState): Promise<void> {
  await trx
    .insertInto('audit_chain')
    .values({ id: 1, ...c })
    .onConflict((oc) => oc.column('id').doUpdateSet({ ...c }))
    .execute();
}

function whereOf(eb: ExpressionBuilder<Database, 'audit_log'>, f: AuditFilter): Expression<SqlBool> {
  const parts: Expression<SqlBool>[] = [];
  if (f.types && f.types.length) {
    const exact = f.types.filter((t) => !t.endsWith('.*'));
    const prefixes = f.types.filter((t) => t.endsWith('.*')).map((t) => t.slice(0, -1));
    const any: Expression<SqlBool>[] = [];
    if (exact.length) any.push(eb('type', 'in', exact));
    for (const p of prefixes) any.push(eb(eb.fn('substr', ['type', eb.val(1), eb.val(p.length)]), '=', p));
    parts.push(eb.or(any));
  }
  if (f.userId) parts.push(eb('user_id', '=', f.userId));
  if (f.userName) parts.push(eb(eb.fn('lower', ['user_name']), '=', f.userName.toLowerCase()));
  if (f.ip) parts.push(eb('ip', '=', f.ip));
  if (f.outcome) parts.push(eb('outcome', '=', f.outcome));
  if (f.from !== undefined) parts.push(eb('at', '>=', f.from));
  if (f.to !== undefined) parts.push(eb('at', '<', f.to));
  return eb.and(parts);
}

type AuditRowDraft = Omit<AuditRow, 'id' | 'prev_mac' | 'mac'>;

function draft(e: AuditEvent, at: number): AuditRowDraft {
  let detail: string | null = null;
  if (e.detail && Object.keys(e.detail).length) {
    try {
      detail = JSON.stringify(e.detail);
    } catch {
      detail = JSON.stringify({ note: 'detail could not be serialised' });
    }
    if (detail.length > MAX_DETAIL) detail = JSON.stringify({ note: `detail of ${detail.length} characters left out` });
  }
  return {
    at,
    type: e.type,
    outcome: e.outcome,
    user_id: clip(e.userId),
    user_name: clip(e.userName),
    ip: clip(e.ip),
    device_id: clip(e.deviceId),
    device_name: clip(e.deviceName),
    client: clip(e.client),
    detail,
  };
}
