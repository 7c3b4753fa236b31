import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import { CidrList } from '../net/cidr.ts';
import type { ClientAddress } from '../net/client-address.ts';

/** Most entries one user's allowlist may hold. */
export const MAX_ALLOWED_IPS = 64;

/**
 * LAN bypass: a login from one of LANBypassCIDRs may skip the second factor (the second-factor policy
 * asks). Off by default. An address that is a trusted proxy which sent no usable forwarding
 * header is a proxy whose client is unknown, never a LAN client. A forged X-Forwarded-For from a peer
 * that is not a trusted proxy was never believed (server/net/client-address.ts), so it cannot claim a
 * LAN address either.
 */
export class LanBypass {
  private readonly lan: CidrList;

  constructor(
    private readonly enabled: boolean,
    cidrs: readonly string[],
  ) {
    this.lan = new CidrList(cidrs);
  }

  applies(client: Pick<ClientAddress, 'ip' | 'proxyWithoutForwarding'>): boolean {
    if (!this.enabled || client.proxyWithoutForwarding) return false;
    return this.lan.contains(client.ip);
  }
}

/** Validate and normalise an allowlist: addresses or CIDR ranges, trimmed, duplicates removed. */
export function parseAllowList(entries: readonly string[]): string[] {
  if (entries.length > MAX_ALLOWED_IPS) throw new Error(`at most ${MAX_ALLOWED_IPS} entries`);
  const list = [...new Set(entries.map((e) => e.trim()))];
  new CidrList(list); // throws an Error naming the first bad entry
  return list;
}

export interface AllowList {
  userId: string;
  cidrs: string[];
  updatedAt: number;
  updatedBy: string | null;
}

/**
 * Per-user IP allowlists, managed by admins and visible to the user: a user with a non-empty list may
 * sign in only from those addresses. Checked before the password is forwarded (when the user name is
 * one the gateway knows) and again once Jellyfin named the user (so a renamed or never-seen user cannot
 * slip through). Held in memory, written through.
 */
export class AllowLists {
  private readonly lists = new Map<string, { entry: AllowList; cidrs: CidrList }>();

  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
  ) {}

  async load(): Promise<void> {
    const rows = await this.db.selectFrom('allowed_ips').selectAll().execute();
    this.lists.clear();
    for (const r of rows) {
      const cidrs = JSON.parse(r.cidrs) as string[];
      this.lists.set(r.user_id, { entry: { userId: r.user_id, cidrs, updatedAt: r.updated_at, updatedBy: r.updated_by }, cidrs: new CidrList(cidrs) });
    }
  }

  get(userId: string): AllowList | undefined {
    return this.lists.get(userId)?.entry;
  }

  /** Whether this user may sign in from `ip` (true when the user has no list). */
  permits(userId: string, ip: string): boolean {
    const l = this.lists.get(userId);
    return !l || l.cidrs.contains(ip);
  }

  /** Replace a user's list (an empty list removes the restriction). `cidrs` must come from parseAllowList. */
  async set(userId: string, cidrs: string[], by: string | null): Promise<AllowList | undefined> {
    const now = this.clock.now();
    if (cidrs.length === 0) {
      await this.db.deleteFrom('allowed_ips').where('user_id', '=', userId).execute();
      this.lists.delete(userId);
      return undefined;
    }
    const list = new CidrList(cidrs);
    const row = { user_id: userId, cidrs: JSON.stringify(cidrs), updated_at: now, updated_by: by };
    await this.db
      .insertInto('allowed_ips')
      .values(row)
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ cidrs: row.cidrs, updated_at: now, updated_by: by }))
      .execute();
    const entry = { userId, cidrs, updatedAt: now, updatedBy: by };
    this.lists.set(userId, { entry, cidrs: list });
    return entry;
  }
}
