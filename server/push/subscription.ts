import { ECDH } from 'node:crypto';

/** A browser's push subscription (RFC 8030 endpoint + RFC 8291 keys), as PushSubscription.toJSON() gives it. */
export interface PushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Whether the gateway may POST to this endpoint. The endpoint comes from a user's browser, so it is a
 * server-side request to a URL a user chose: only https (every real push service), never with
 * credentials in the URL; plain http only to a loopback address when the admin explicitly allowed it
 * (PushAllowHttpLoopback: the local push service of the tests). Returns what is wrong, or undefined.
 */
export function endpointProblem(endpoint: string, opts: { allowHttpLoopback: boolean }): string | undefined {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return 'is not a URL';
  }
  if (u.username || u.password) return 'must not carry credentials';
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && opts.allowHttpLoopback && LOOPBACK_HOST.test(u.hostname)) return undefined;
  return 'must be an https URL of a push service';
}

/** Whether the keys are what RFC 8291 needs: an uncompressed P-256 point and a 16-byte secret. */
export function keysProblem(keys: { p256dh: string; auth: string }): string | undefined {
  const p = Buffer.from(keys.p256dh, 'base64url');
  if (p.length !== 65 || p[0] !== 0x04) return 'p256dh must be an uncompressed P-256 public key';
  try {
    ECDH.convertKey(p, 'prime256v1'); // throws for a point that is not on the curve
  } catch {
    return 'p256dh is not a point on P-256';
  }
  if (Buffer.from(keys.auth, 'base64url').length !== 16) return 'auth must be 16 bytes';
  return undefined;
}

/** The push service's origin, for display (never the whole endpoint: it is a capability URL). */
export function pushServiceOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return 'unknown';
  }
}
