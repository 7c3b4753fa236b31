import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { ApprovalsTable } from '../store/schema.ts';
import type { ApprovalKind, ApprovalView, Asking } from '../../shared/api/approvals.ts';

/**
 * The approval record (DESIGN: Push approval): what is asking, and the WebAuthn challenge that commits
 * to it. challenge = SHA-256(nonce ‖ id ‖ canonical JSON of {v, kind, userId, userName, asking}), so
 * a passkey signature made for one approval can approve nothing else, and the approval page can show,
 * and check, exactly what the signature will cover.
 */
export type ApprovalRow = Selectable<ApprovalsTable>;

/** JSON with object keys sorted at every level and no whitespace (a stable byte string to hash). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('canonical JSON has no place for a non-finite number');
    if (value === undefined) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export interface Commitment {
  v: 1;
  kind: ApprovalKind;
  userId: string;
  userName: string;
  asking: Asking;
}

/** base64url(SHA-256(nonce ‖ UTF-8 id ‖ UTF-8 canonical)). */
export function approvalChallenge(nonce: Buffer, id: string, canonical: string): string {
  return createHash('sha256').update(nonce).update(id, 'utf8').update(canonical, 'utf8').digest('base64url');
}

/** A fresh commitment: nonce (32 random bytes), its canonical JSON and the challenge. */
export function commit(id: string, c: Commitment): { nonce: string; canonical: string; challenge: string } {
  const nonce = randomBytes(32);
  const canonical = canonicalJson(c);
  return { nonce: nonce.toString('base64url'), canonical, challenge: approvalChallenge(nonce, id, canonical) };
}

/** The number the login screen shows and the three the phone offers (it among two decoys, shuffled). */
export function numberMatch(): { number: string; choices: string[] } {
  const pick = () => String(randomInt(10, 100));
  const number = pick();
  const set = new Set([number]);
  while (set.size < 3) set.add(pick());
  const choices = [...set];
  for (let i = choices.length - 1; i > 0; i--) {
    const j = randomInt(0, i + 1);
    [choices[i], choices[j]] = [choices[j]!, choices[i]!];
  }
  return { number, choices };
}

export function askingOf(row: ApprovalRow): Asking {
  let place: Asking['place'] = null;
  if (row.place) {
    try {
      const p = JSON.parse(row.place) as { city?: unknown; country?: unknown };
      place = { city: typeof p.city === 'string' ? p.city : null, country: typeof p.country === 'string' ? p.country : null };
    } catch {
      place = null;
    }
  }
  return {
    client: row.client,
    deviceName: row.device_name,
    deviceId: row.device_id,
    ip: row.ip,
    place,
    time: new Date(row.created_at).toISOString(),
    action: row.action,
  };
}

export function choicesOf(row: ApprovalRow): string[] | null {
  if (!row.choices) return null;
  try {
    const c = JSON.parse(row.choices) as unknown;
    return Array.isArray(c) && c.length === 3 && c.every((x) => typeof x === 'string') ? (c as string[]) : null;
  } catch {
    return null;
  }
}

/** The presenter: what an approval shows to its user's phone (never the number itself, nor the login's token). */
export function presentApproval(row: ApprovalRow): ApprovalView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    userId: row.user_id,
    userName: row.user_name,
    asking: askingOf(row),
    choices: choicesOf(row),
    createdAt: new Date(row.created_at).toISOString(),
    expiresAt: new Date(row.expires_at).toISOString(),
    decidedAt: iso(row.decided_at),
    reason: row.reason,
    commitment: { nonce: row.nonce, canonical: row.canonical, challenge: row.challenge },
  };
}

/** One line for a notification: "alice on Roku (Living room) · 203.0.113.7 · Paris, FR". */
export function describe(row: ApprovalRow): { title: string; body: string } {
  const a = askingOf(row);
  const where = a.place ? [a.place.city, a.place.country].filter(Boolean).join(', ') : '';
  const device = [a.client, a.deviceName ? `(${a.deviceName})` : ''].filter(Boolean).join(' ') || 'an unknown device';
  const tail = [a.ip, where].filter(Boolean).join(' · ');
  const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  switch (row.kind) {
    case 'login':
    case 'signin':
      return { title: clip(`Sign in as ${row.user_name}?`, 80), body: clip(`${device} · ${tail}`, 180) };
    case 'pairing':
      return { title: clip(`Pair a device for ${row.user_name}?`, 80), body: clip(`${a.action ?? device} · ${tail}`, 180) };
    case 'stepup':
      return { title: clip(`Allow an admin action?`, 80), body: clip(`${a.action ?? 'An administrative action'} · ${device} · ${tail}`, 180) };
    case 'newdevice':
      return { title: clip(`New device for ${row.user_name}?`, 80), body: clip(`${device} · ${tail}`, 180) };
    case 'change':
      return { title: clip(`${row.user_name}'s sign-in keys changed. Was it you?`, 80), body: clip(`${a.action ?? 'A second factor changed'} · ${device} · ${tail}`, 180) };
  }
}
