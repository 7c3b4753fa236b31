import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { TokensTable } from '../store/schema.ts';
import { tokenHash } from '../crypto.ts';

/** What the gate knows about a token it let through. Never holds the token itself. */
export interface TokenEntry {
  tokenHash: string;
  state: TokensTable['state'];
  userId: string;
  deviceId: string | null;
  deviceName: string | null;
  client: string | null;
  appVersion: string | null;
  ip: string | null;
  method: string;
  createdAt: number;
  lastSeenAt: number;
}

export type TokenInfo = Pick<TokenEntry, 'userId'> &
  Partial<Pick<TokenEntry, 'deviceId' | 'deviceName' | 'client' | 'appVersion' | 'ip'>> & { method: string };

/** Tokens whose hash `lookup` remembers; past this the memo starts afresh. */
const HASH_MEMO_MAX = 4096;

/**
 * The registry of tokens issued through the gateway. The hot path (`lookup`) is two Map lookups: the
 * HMAC of a token in use is remembered in memory (`hashMemo`, tokens the registry knows only, bounded,
 * never written anywhere), so it is computed once rather than on every request; the entry itself is always
 * read from `byHash`, so a forgotten or replaced token fails at once. The table is loaded once at start-up
 * and every change is written through to SQLite in one transaction, so a restart loses nothing. Last-seen
 * times are flushed in batches, not per request.
 */
export class TokenRegistry {
  private readonly byHash = new Map<string, TokenEntry>();
  private readonly seenDirty = new Set<string>();
  private readonly hashMemo = new Map<string, string>();

  constructor(
    private readonly db: DB,
    private readonly hmacKey: Buffer,
    private readonly clock: Clock,
  ) {}

  /** HMAC-SHA256 under the gateway's key: a stolen database does not reveal or confirm tokens. */
  hash(token: string): string {
    return tokenHash(this.hmacKey, token);
  }

  async load(): Promise<void> {
    const rows = await this.db.selectFrom('tokens').selectAll().execute();
    this.byHash.clear();
    for (const r of rows) this.byHash.set(r.token_hash, fromRow(r));
  }

  /** The entry for a token, or undefined. Touches last-seen in memory only. */
  lookup(token: string): TokenEntry | undefined {
    const memo = this.hashMemo.get(token);
    const entry = this.byHash.get(memo ?? this.hash(token));
    if (entry) {
      if (memo === undefined) {
        if (this.hashMemo.size >= HASH_MEMO_MAX) this.hashMemo.clear();
        this.hashMemo.set(token, entry.tokenHash);
      }
      entry.lastSeenAt = this.clock.now();
      this.seenDirty.add(entry.tokenHash);
    } else if (memo !== undefined) {
      this.hashMemo.delete(token); // forgotten or replaced since: keep no revoked token in memory
    }
    return entry;
  }

  /** A token whose every requirement is met: the gate lets it through. */
  isVerified(token: string): boolean {
    return this.lookup(token)?.state === 'verified';
  }

  /**
   * Record a token as verified (or pending). A new login by the same user and device replaces the
   * device's earlier token, as Jellyfin itself revokes it (JELLYFIN.md §3).
   */
  async record(token: string, info: TokenInfo, state: TokensTable['state'] = 'verified'): Promise<TokenEntry> {
    const now = this.clock.now();
    const entry: TokenEntry = {
      tokenHash: this.hash(token),
      state,
      userId: info.userId,
      deviceId: info.deviceId ?? null,
      deviceName: info.deviceName ?? null,
      client: info.client ?? null,
      appVersion: info.appVersion ?? null,
      ip: info.ip ?? null,
      method: info.method,
      createdAt: now,
      lastSeenAt: now,
    };
    const replaced: string[] = [];
    await this.db.transaction().execute(async (trx) => {
      if (entry.deviceId) {
        const old = await trx
          .selectFrom('tokens')
          .select('token_hash')
          .where('user_id', '=', entry.userId)
          .where('device_id', '=', entry.deviceId)
          .where('token_hash', '!=', entry.tokenHash)
          .execute();
        replaced.push(...old.map((o) => o.token_hash));
        if (replaced.length) await trx.deleteFrom('tokens').where('token_hash', 'in', replaced).execute();
      }
      await trx
        .insertInto('tokens')
        .values(toRow(entry))
        .onConflict((oc) => oc.column('token_hash').doUpdateSet(toRow(entry)))
        .execute();
    });
    for (const h of replaced) this.byHash.delete(h);
    this.byHash.set(entry.tokenHash, entry);
    return entry;
  }

  /** Move a pending token to verified (the second factor was given). */
  async verify(tokenHash: string, method: string): Promise<boolean> {
    const entry = this.byHash.get(tokenHash);
    if (!entry) return false;
    await this.db.updateTable('tokens').set({ state: 'verified', method }).where('token_hash', '=', tokenHash).execute();
    entry.state = 'verified';
    entry.method = method;
    return true;
  }

  /** Forget a token (logout, revocation). */
  async forget(token: string): Promise<void> {
    await this.forgetHash(this.hash(token));
  }

  async forgetHash(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('token_hash', '=', tokenHash).execute();
    this.byHash.delete(tokenHash);
    this.seenDirty.delete(tokenHash);
  }

  byHashEntry(tokenHash: string): TokenEntry | undefined {
    return this.byHash.get(tokenHash);
  }

  forUser(userId: string): TokenEntry[] {
    return [...this.byHash.values()].filter((e) => e.userId === userId);
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Write batched last-seen times; called on a timer and at shutdown. */
  async flushLastSeen(): Promise<void> {
    if (!this.seenDirty.size) return;
    const dirty = [...this.seenDirty];
    this.seenDirty.clear();
    await this.db.transaction().execute(async (trx) => {
      for (const h of dirty) {
        const e = this.byHash.get(h);
        if (e) await trx.updateTable('tokens').set({ last_seen_at: e.lastSeenAt }).where('token_hash', '=', h).execute();
      }
    });
  }
}

function fromRow(r: TokensTable): TokenEntry {
  return {
    tokenHash: r.token_hash,
    state: r.state,
    userId: r.user_id,
    deviceId: r.device_id,
    deviceName: r.device_name,
    client: r.client,
    appVersion: r.app_version,
    ip: r.ip,
    method: r.method,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
  };
}

function toRow(e: TokenEntry): TokensTable {
  return {
    token_hash: e.tokenHash,
    state: e.state,
    user_id: e.userId,
    device_id: e.deviceId,
    device_name: e.deviceName,
    client: e.client,
    app_version: e.appVersion,
    ip: e.ip,
    method: e.method,
    created_at: e.createdAt,
    last_seen_at: e.lastSeenAt,
  };
}
