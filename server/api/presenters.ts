import { createHash } from 'node:crypto';
import type { PasskeyInfo as StoredPasskey } from '../factors/passkeys.ts';
import type { TrustedBrowserInfo } from '../factors/trusted-browser.ts';
import type { PhoneRow } from '../approvals/index.ts';
import type { Ban } from '../guard/index.ts';
import type { TokenEntry } from '../gate/tokens.ts';
import type { PairedDevicesTable } from '../store/schema.ts';
import { isoOrNull } from './http.ts';
import type { PasskeyInfo, TrustedBrowser } from '../../shared/api/factors.ts';
import type { PairedDeviceInfo, PhoneInfo, SessionInfo } from '../../shared/api/approvals.ts';
import type { BanInfo } from '../../shared/api/guard.ts';

/** What the API shows of the gateway's records (shared/api): times as ISO 8601, never a secret or a hash. */

export function presentPasskey(p: StoredPasskey): PasskeyInfo {
  return { id: p.id, name: p.name, createdAt: new Date(p.createdAt).toISOString(), lastUsedAt: isoOrNull(p.lastUsedAt), backedUp: p.backedUp };
}

export function presentTrustedBrowser(t: TrustedBrowserInfo): TrustedBrowser {
  return {
    id: t.id,
    label: t.label,
    ipPrefix: t.ipPrefix,
    createdAt: new Date(t.createdAt).toISOString(),
    expiresAt: new Date(t.expiresAt).toISOString(),
    lastUsedAt: isoOrNull(t.lastUsedAt),
  };
}

export function presentPhone(p: PhoneRow): PhoneInfo {
  return {
    id: p.id,
    name: p.name,
    passkeyId: p.credential_id,
    push: p.subscription_enc !== null,
    pushService: p.push_service,
    createdAt: new Date(p.created_at).toISOString(),
    lastSeenAt: isoOrNull(p.last_seen_at),
    subscribedAt: isoOrNull(p.subscribed_at),
  };
}

/**
 * A session's id in the API: derived from the gate's token hash (the token itself is never stored, and
 * the hash is not shown either).
 */
export function sessionId(tokenHash: string): string {
  return createHash('sha256').update('jellyguard-session\0').update(tokenHash).digest('base64url').slice(0, 22);
}

/** A Jellyfin session opened through the gateway, named by an opaque id (never its token or hash). */
export function presentSession(e: TokenEntry, current: string | undefined): SessionInfo {
  return {
    id: sessionId(e.tokenHash),
    client: e.client,
    deviceName: e.deviceName,
    deviceId: e.deviceId,
    appVersion: e.appVersion,
    ip: e.ip,
    method: e.method,
    state: e.state,
    createdAt: new Date(e.createdAt).toISOString(),
    lastSeenAt: new Date(e.lastSeenAt).toISOString(),
    current: e.tokenHash === current,
  };
}

/** A paired device as "my devices" lists it (oldest first). */
export function presentMyPairedDevice(r: PairedDevicesTable): PairedDeviceInfo {
  return {
    id: r.id,
    deviceName: r.device_name,
    deviceId: r.device_id,
    client: null,
    createdAt: new Date(r.created_at).toISOString(),
    lastSeenAt: isoOrNull(r.last_used_at),
  };
}

/** What an admin sees of a ban (never the regulator's internal key). */
export function presentBan(b: Ban): BanInfo {
  return {
    id: b.id ?? 0,
    scope: b.scope,
    address: b.address,
    user: b.userName,
    reason: b.reason,
    strikes: b.strikes,
    failures: b.failures,
    createdAt: new Date(b.createdAt).toISOString(),
    expiresAt: b.expiresAt === null ? null : new Date(b.expiresAt).toISOString(),
  };
}
