import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import { keyedHash, randomId, safeEqual } from '../crypto.ts';

/**
 * "Trust this browser": after a second factor, the browser may receive the cookie
 * `JellyfinSecurity-TrustedDevice` (HttpOnly, SameSite=Strict, Secure over https, `TrustedDeviceDays`
 * long). It names a row of `trusted_browsers` and carries an HMAC over that row's id, the user, the
 * browser and the client's network, so the cookie is worthless:
 * - for another user (the row and the MAC name the user);
 * - in another browser: the MAC covers the browser's Jellyfin DeviceId (jellyfin-web keeps it in
 *   localStorage) and its User-Agent with version numbers removed (a browser update keeps the trust);
 * - from another network: the MAC covers the client address masked to `TrustedDeviceIPv4Prefix` /
 *   `TrustedDeviceIPv6Prefix` bits (0 = anywhere);
 * - once revoked or expired: the server checks the row on every use (it is not a bearer token alone).
 *
 * One cookie can hold trust for a few users of the same browser (entries joined by "~").
 */
export const TRUSTED_DEVICE_COOKIE = 'JellyfinSecurity-TrustedDevice';
const MAX_ENTRIES = 5;
const ENTRY = /^([A-Za-z0-9_-]{22})\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{43})$/;

export interface BrowserBinding {
  /** The Jellyfin DeviceId the browser logs in with. */
  deviceId: string;
  /** The User-Agent header as sent. */
  userAgent: string;
  /** The client's address. */
  ip: string;
}

export interface TrustedBrowserInfo {
  id: string;
  label: string;
  ipPrefix: string;
  createdAt: number;
  expiresAt: number;
  lastUsedAt: number | null;
}

/** The User-Agent without version numbers: a browser update must not end the trust, another browser must. */
export function userAgentFamily(ua: string): string {
  return ua.replace(/\d+([._]\d+)*/g, '#').replace(/\s+/g, ' ').trim().slice(0, 512);
}

import { browserLabel } from '../../shared/user-agent.ts';

export { browserLabel };

/** The client's network as "a.b.c.0/24" or "2001:db8::/64"; "any" when the prefix length is 0. */
export function ipPrefix(ip: string, v4Bits: number, v6Bits: number): string {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(ip); // IPv4-mapped IPv6 becomes IPv4
  } catch {
    return `unparsed:${ip}`;
  }
  const bits = addr.kind() === 'ipv4' ? v4Bits : v6Bits;
  if (bits === 0) return 'any';
  const bytes = addr.toByteArray();
  const masked = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    return keep === 0 ? 0 : b & (0xff << (8 - keep)) & 0xff;
  });
  return `${ipaddr.fromByteArray(masked).toString()}/${bits}`;
}

export class TrustedBrowsers {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly hmacKey: Buffer,
    private readonly opts: { days: number; v4Prefix: number; v6Prefix: number },
  ) {}

  get enabled(): boolean {
    return this.opts.days > 0;
  }

  private prefixOf(ip: string): string {
    return ipPrefix(ip, this.opts.v4Prefix, this.opts.v6Prefix);
  }

  private mac(id: string, userId: string, b: BrowserBinding, prefix: string, exp: string): string {
    const ua = createHash('sha256').update(userAgentFamily(b.userAgent)).digest('base64url');
    return keyedHash(this.hmacKey, 'jellyguard-trusted-browser', id, userId, b.deviceId, ua, prefix, exp);
  }

  /**
   * Trust a browser for a user; returns the new cookie value (keeping other users' entries of the
   * same cookie, newest first).
   */
  async issue(userId: string, binding: BrowserBinding, existingCookie: string | undefined): Promise<{ cookie: string; maxAgeSeconds: number; info: TrustedBrowserInfo }> {
    const id = randomId();
    const now = this.clock.now();
    const expiresAt = now + this.opts.days * 86_400_000;
    const prefix = this.prefixOf(binding.ip);
    const exp = Math.floor(expiresAt / 1000).toString(36);
    const label = browserLabel(binding.userAgent);
    await this.db
      .insertInto('trusted_browsers')
      .values({ id, user_id: userId, device_id: binding.deviceId, label, ip_prefix: prefix, created_at: now, expires_at: expiresAt, last_used_at: null })
      .execute();
    // Keep other users' entries; this user's older entry in this browser is replaced.
    const kept: string[] = [];
    for (const e of parseCookie(existingCookie)) {
      const row = await this.db.selectFrom('trusted_browsers').select(['user_id']).where('id', '=', e.id).executeTakeFirst();
      if (row && row.user_id !== userId) kept.push(e.raw);
      else if (row) await this.db.deleteFrom('trusted_browsers').where('id', '=', e.id).where('user_id', '=', userId).execute();
    }
    const entry = `${id}.${exp}.${this.mac(id, userId, binding, prefix, exp)}`;
    return {
      cookie: [entry, ...kept].slice(0, MAX_ENTRIES).join('~'),
      maxAgeSeconds: this.opts.days * 86_400,
      info: { id, label, ipPrefix: prefix, createdAt: now, expiresAt, lastUsedAt: null },
    };
  }

  /** The id of a valid trust of this browser for this user, checked against the table; else undefined. */
  async check(cookie: string | undefined, userId: string, binding: BrowserBinding): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    const now = this.clock.now();
    const prefix = this.prefixOf(binding.ip);
    for (const e of parseCookie(cookie)) {
      const row = await this.db.selectFrom('trusted_browsers').selectAll().where('id', '=', e.id).executeTakeFirst();
      if (!row || row.user_id !== userId || row.expires_at <= now) continue;
      if (Math.floor(row.expires_at / 1000).toString(36) !== e.exp) continue;
      if (!safeEqual(e.mac, this.mac(e.id, userId, binding, prefix, e.exp))) continue;
      await this.db.updateTable('trusted_browsers').set({ last_used_at: now }).where('id', '=', e.id).execute();
      return e.id;
    }
    return undefined;
  }

  async list(userId: string): Promise<TrustedBrowserInfo[]> {
    const rows = await this.db
      .selectFrom('trusted_browsers')
      .selectAll()
      .where('user_id', '=', userId)
      .where('expires_at', '>', this.clock.now())
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      label: r.label,
      ipPrefix: r.ip_prefix,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      lastUsedAt: r.last_used_at,
    }));
  }

  async count(userId: string): Promise<number> {
    return (await this.list(userId)).length;
  }

  async revoke(userId: string, id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('trusted_browsers').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return res.numDeletedRows === 1n;
  }

  async revokeAll(userId: string): Promise<number> {
    const res = await this.db.deleteFrom('trusted_browsers').where('user_id', '=', userId).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async sweep(): Promise<void> {
    await this.db.deleteFrom('trusted_browsers').where('expires_at', '<', this.clock.now()).execute();
  }
}

export function parseCookie(value: string | undefined): Array<{ id: string; exp: string; mac: string; raw: string }> {
  if (!value || value.length > 1024) return [];
  const out: Array<{ id: string; exp: string; mac: string; raw: string }> = [];
  for (const raw of value.split('~').slice(0, MAX_ENTRIES)) {
    const m = ENTRY.exec(raw);
    if (m) out.push({ id: m[1]!, exp: m[2]!, mac: m[3]!, raw });
  }
  return out;
}

/** The Set-Cookie header value. */
export function trustedDeviceCookie(value: string, opts: { maxAgeSeconds: number; secure: boolean; path: string }): string {
  return [
    `${TRUSTED_DEVICE_COOKIE}=${value}`,
    `Path=${opts.path}`,
    `Max-Age=${opts.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

/** Read the cookie from a Cookie header (the last occurrence wins, like most servers). */
export function readTrustedDeviceCookie(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  let found: string | undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === TRUSTED_DEVICE_COOKIE) found = part.slice(eq + 1).trim();
  }
  return found;
}
