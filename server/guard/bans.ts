import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { BanScope, BansTable } from '../store/schema.ts';
import type { Selectable } from 'kysely';

export type { BanScope } from '../store/schema.ts';

/** One ban (an address) or lock (a user name, or a user name at one address). */
export interface Ban {
  /** The row id once written; undefined for the moment between imposing and persisting. */
  id: number | undefined;
  scope: BanScope;
  /** The regulator's key for the subject (see server/guard/subjects.ts). */
  subject: string;
  /** For people: the address or /64, and the user name or id, when the scope has one. */
  address: string | null;
  userName: string | null;
  /** What happened, for people: "5 wrong passwords for alice", "20 wrong authenticator codes, the last for bob". */
  reason: string;
  /** How many bans this subject has had within the memory window (1 = first). */
  strikes: number;
  /** Failures that led to these bans, in total (compared with PermanentBanThreshold). */
  failures: number;
  createdAt: number;
  /** Epoch ms; null = permanent until an admin lifts it. */
  expiresAt: number | null;
}

export interface BanPolicy {
  /** The first ban's length; each further strike doubles it. */
  lockoutMs: number;
  /** Total failures that make a ban permanent; 0 = never. */
  permanentThreshold: number;
  /** How long after a ban expires it still counts for escalation. */
  memoryMs: number;
  /** Bans and ban histories held in memory (least recently used go first). */
  maxInMemory: number;
}

/** A ban never lasts longer than this unless it is permanent (2^12 × 15 min would be 42 days). */
export const MAX_TEMPORARY_BAN_MS = 30 * 24 * 3600 * 1000;
/** Ban history is remembered this long after a ban ends: repeated offenders within a day escalate. */
export const BAN_MEMORY_MS = 24 * 3600 * 1000;

const keyOf = (scope: BanScope, subject: string) => `${scope}\0${subject}`;

/**
 * The ban list. Checking is memory only (the hot path: every request's address); every change is written
 * through to SQLite in order, and the list is loaded back at start-up, so bans survive a restart.
 * Memory is bounded: at most `maxInMemory` subjects, least recently used first out (a flood from millions
 * of addresses cannot grow it; an evicted subject simply starts counting again).
 */
export class BanList {
  private readonly entries: LRUCache<string, Ban>;
  private writes: Promise<void> = Promise.resolve();
  /** Bans imposed and not yet written; written together, one transaction per tick. */
  private readonly pending = new Map<string, Ban>();
  private scheduled = false;

  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly policy: BanPolicy,
    private readonly log: (msg: string, err?: unknown) => void = () => {},
  ) {
    this.entries = new LRUCache<string, Ban>({ max: policy.maxInMemory });
  }

  async load(): Promise<void> {
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom('bans')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now - this.policy.memoryMs)]))
      .orderBy('created_at', 'desc')
      .limit(this.policy.maxInMemory)
      .execute();
    this.entries.clear();
    // Oldest first, so that the most recent end up most recently used.
    for (const r of rows.reverse()) this.entries.set(keyOf(r.scope, r.subject), fromRow(r));
  }

  /** The ban in force on a subject, or undefined. Memory only. */
  active(scope: BanScope, subject: string): Ban | undefined {
    if (this.entries.size === 0) return undefined;
    const b = this.entries.get(keyOf(scope, subject));
    if (!b) return undefined;
    return b.expiresAt === null || b.expiresAt > this.clock.now() ? b : undefined;
  }

  /** Whether any ban or history is held (lets the hot path skip work when there is none). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Ban a subject now (in memory at once; written to the store in the background, in order). Repeated
   * bans grow: the n-th within the memory window lasts LockoutDuration × 2^(n-1); once the failures that
   * led to them reach PermanentBanThreshold the ban is permanent.
   */
  impose(scope: BanScope, subject: string, info: { reason: string; failures: number; address: string | null; userName: string | null }): Ban {
    const now = this.clock.now();
    const key = keyOf(scope, subject);
    const prev = this.entries.get(key);
    const remembered = prev && (prev.expiresAt === null || now < prev.expiresAt + this.policy.memoryMs);
    const strikes = remembered ? prev.strikes + 1 : 1;
    const failures = info.failures + (remembered ? prev.failures : 0);
    const permanent = this.policy.permanentThreshold > 0 && failures >= this.policy.permanentThreshold;
    const length = Math.min(this.policy.lockoutMs * 2 ** Math.min(strikes - 1, 40), MAX_TEMPORARY_BAN_MS);
    const ban: Ban = {
      id: prev?.id,
      scope,
      subject,
      address: info.address,
      userName: info.userName,
      reason: info.reason,
      strikes,
      failures,
      createdAt: now,
      expiresAt: permanent ? null : now + length,
    };
    this.entries.set(key, ban);
    this.pending.set(key, ban);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.enqueue(() => this.writePending());
      });
    }
    return ban;
  }

  /** Bans in force, newest first, from the store (every pending write included). */
  async list(): Promise<Ban[]> {
    await this.flush();
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom('bans')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(fromRow);
  }

  /** Lift one ban (and forget its history, so the next offence starts from the first strike). */
  async lift(id: number): Promise<Ban | undefined> {
    await this.flush();
    const ban = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('bans').selectAll().where('id', '=', id).executeTakeFirst();
      if (row) await trx.deleteFrom('bans').where('id', '=', id).execute();
      return row;
    });
    if (!ban) return undefined;
    this.entries.delete(keyOf(ban.scope, ban.subject));
    return fromRow(ban);
  }

  /** Lift every ban in force and forget all history. Returns what was in force. */
  async liftAll(): Promise<Ban[]> {
    await this.flush();
    const now = this.clock.now();
    const lifted = await this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('bans')
        .selectAll()
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .execute();
      await trx.deleteFrom('bans').execute();
      return rows;
    });
    this.entries.clear();
    return lifted.map(fromRow);
  }

  /** Forget histories older than the memory window (rows and memory). */
  async purge(): Promise<number> {
    await this.flush();
    const cutoff = this.clock.now() - this.policy.memoryMs;
    const r = await this.db.deleteFrom('bans').where('expires_at', 'is not', null).where('expires_at', '<', cutoff).executeTakeFirst();
    for (const [k, b] of this.entries.entries()) if (b.expiresAt !== null && b.expiresAt < cutoff) this.entries.delete(k);
    return Number(r.numDeletedRows);
  }

  /** Wait for every pending write. */
  flush(): Promise<void> {
    if (this.pending.size) this.enqueue(() => this.writePending());
    return this.writes;
  }

  private async writePending(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    await this.db.transaction().execute(async (trx) => {
      for (const ban of batch) {
        const row = toRow(ban);
        const r = await trx
          .insertInto('bans')
          .values(row)
          .onConflict((oc) => oc.columns(['scope', 'subject']).doUpdateSet(row))
          .returning('id')
          .executeTakeFirst();
        if (r) ban.id = r.id;
      }
    });
  }

  private enqueue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).catch((e) => this.log('writing a ban failed; it holds until restart', e));
  }
}

function fromRow(r: Selectable<BansTable>): Ban {
  return {
    id: r.id,
    scope: r.scope,
    subject: r.subject,
    address: r.address,
    userName: r.user_name,
    reason: r.reason,
    strikes: r.strikes,
    failures: r.failures,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

function toRow(b: Ban) {
  return {
    scope: b.scope,
    subject: b.subject,
    address: b.address,
    user_name: b.userName,
    reason: b.reason,
    strikes: b.strikes,
    failures: b.failures,
    created_at: b.createdAt,
    expires_at: b.expiresAt,
  };
}
