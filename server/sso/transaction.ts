import type { Clock } from '../clock.ts';
import { keyedHash, openString, seal } from '../crypto.ts';
import type { DB } from '../store/index.ts';

/** How long a browser has between leaving for the provider and coming back (and then to collect its session). */
export const SSO_STATE_SECONDS = 600;
export const SSO_TICKET_SECONDS = 120;

export const STATE_COOKIE = 'jg_sso';
export const TICKET_COOKIE = 'jg_sso_done';

/** What the browser carries to the provider and back, sealed (AES-256-GCM) in an HttpOnly cookie. */
export interface SsoState {
  providerId: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  redirectUri: string;
  returnPath: string;
  expiresAt: number;
}

/** A checked sign-in waiting for this browser to collect its Jellyfin session (single use). */
export interface SsoTicket {
  id: string;
  providerId: string;
  userId: string;
  returnPath: string;
  expiresAt: number;
  /** The user must still pass the gateway's own second factor (the session is held behind a challenge). */
  secondFactor?: boolean;
}

export function cookieHeader(name: string, value: string, opts: { path: string; maxAgeSeconds: number; secure: boolean }): string {
  return [
    `${name}=${value}`,
    `Path=${opts.path}`,
    `Max-Age=${opts.maxAgeSeconds}`,
    'HttpOnly',
    // Lax: the provider's redirect back is a top-level GET from another site, which must carry it.
    'SameSite=Lax',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

/** A cookie's value from a Cookie header (the last occurrence wins). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) found = part.slice(i + 1).trim();
  }
  return found;
}

/**
 * Sealing and single use. The sealed cookie binds the state to the browser that started the sign-in
 * (a callback in another browser has no cookie, or one with another state: a login-CSRF is refused);
 * a state or ticket is spent in SQLite before it is acted on, so a replay is refused even after a restart.
 */
export class SsoTransactions {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly encryptionKey: Buffer,
    private readonly hmacKey: Buffer,
  ) {}

  sealState(s: SsoState): string {
    return seal(this.encryptionKey, 'sso-state', JSON.stringify(s));
  }

  openState(cookie: string | undefined): SsoState | undefined {
    return this.open<SsoState>(cookie, 'sso-state');
  }

  sealTicket(t: SsoTicket): string {
    return seal(this.encryptionKey, 'sso-ticket', JSON.stringify(t));
  }

  openTicket(cookie: string | undefined): SsoTicket | undefined {
    return this.open<SsoTicket>(cookie, 'sso-ticket');
  }

  private open<T extends { expiresAt: number }>(cookie: string | undefined, owner: string): T | undefined {
    if (!cookie) return undefined;
    try {
      const v = JSON.parse(openString(this.encryptionKey, owner, cookie)) as T;
      return typeof v.expiresAt === 'number' && v.expiresAt > this.clock.now() ? v : undefined;
    } catch {
      return undefined;
    }
  }

  /** Spend a state or ticket id; false when it was spent before (a replay). */
  async spend(kind: 'state' | 'ticket', value: string, expiresAt: number): Promise<boolean> {
    const now = this.clock.now();
    const hash = keyedHash(this.hmacKey, `sso-${kind}`, value);
    const res = await this.db
      .insertInto('sso_spent_states')
      .values({ state_hash: hash, expires_at: expiresAt })
      .onConflict((oc) => oc.column('state_hash').doNothing())
      .executeTakeFirst();
    await this.db.deleteFrom('sso_spent_states').where('expires_at', '<', now).execute();
    return Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
  }
}
