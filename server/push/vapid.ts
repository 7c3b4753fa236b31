import webpush from 'web-push';
import type { DB } from '../store/index.ts';
import { open, seal } from '../crypto.ts';

/**
 * The gateway's VAPID key pair (RFC 8292 §3): an ECDSA P-256 key the push services know this server
 * by. Made on first start, kept in the store; the private key is sealed with AES-256-GCM under the
 * gateway's encryption key ("vapid" as associated data). Every subscription is bound to the public key,
 * so it must never change: a new key pair would silence every enrolled phone until it re-subscribes.
 */
export interface VapidKeys {
  /** base64url of the uncompressed point (65 bytes): the browser's `applicationServerKey`. */
  publicKey: string;
  /** base64url of the 32-byte private scalar. Memory only. */
  privateKey: string;
}

const OWNER = 'vapid';

export async function loadOrCreateVapidKeys(db: DB, encryptionKey: Buffer, now: number): Promise<VapidKeys> {
  const existing = await db.selectFrom('push_vapid').selectAll().where('id', '=', 1).executeTakeFirst();
  if (!existing) {
    const fresh = webpush.generateVAPIDKeys();
    // Two gateways starting on one store at once: the first insert wins, both read it back.
    await db
      .insertInto('push_vapid')
      .values({ id: 1, public_key: fresh.publicKey, private_key_enc: seal(encryptionKey, OWNER, fresh.privateKey), created_at: now })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
  const row = await db.selectFrom('push_vapid').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
  let privateKey: string;
  try {
    privateKey = open(encryptionKey, OWNER, row.private_key_enc).toString('utf8');
  } catch {
    // Fail closed, loudly: a different key file cannot silently mint a new identity for the push services.
    throw new Error('the stored VAPID private key cannot be opened with this encryption key (was the key file replaced?)');
  }
  return { publicKey: row.public_key, privateKey };
}

/**
 * The VAPID `sub` claim (RFC 8292 §2.1): the configured subject, else PublicUrl when it is https, else a
 * mailto: placeholder (push services accept it; Apple's wants a real contact — set VapidSubject).
 */
export function vapidSubject(configured: string | undefined, publicUrl: string | undefined): { subject: string; fallback: boolean } {
  if (configured) return { subject: configured, fallback: false };
  if (publicUrl) {
    const u = new URL(publicUrl);
    if (u.protocol === 'https:' && u.hostname !== 'localhost') return { subject: u.origin, fallback: false };
  }
  return { subject: 'mailto:jellyguard@example.invalid', fallback: true };
}
