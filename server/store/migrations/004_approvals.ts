import type { Kysely } from 'kysely';

/**
 * Push approval (server/approvals, server/push): the gateway's VAPID keys, the phones users enrolled
 * (a passkey and a push subscription in one record), the approvals themselves and the per-user hold that
 * repeated "This wasn't me" reports put on an account. Landed migrations are never edited; add a new file.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // The VAPID key pair (RFC 8292), made on first start. The private key is sealed (AES-256-GCM, AAD "vapid").
  await db.schema
    .createTable('push_vapid')
    .addColumn('id', 'integer', (c) => c.primaryKey()) // always 1
    .addColumn('public_key', 'text', (c) => c.notNull()) // base64url, uncompressed P-256 point
    .addColumn('private_key_enc', 'text', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .execute();

  // Enrolled phones: the passkey they approve with (factor_passkeys.credential_id) and their push
  // subscription, sealed with the phone's owner (user and phone id) as associated data. One endpoint
  // belongs to one phone at most (endpoint_hash: HMAC of the endpoint under the gateway's key).
  await db.schema
    .createTable('phones')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('credential_id', 'text', (c) => c.notNull().unique())
    .addColumn('subscription_enc', 'text') // null: no live subscription (never given, or the push service said 404/410)
    .addColumn('endpoint_hash', 'text', (c) => c.unique())
    .addColumn('push_service', 'text') // the endpoint's origin, for display
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('last_seen_at', 'integer')
    .addColumn('subscribed_at', 'integer')
    .execute();
  await db.schema.createIndex('phones_user').on('phones').column('user_id').execute();

  // Approvals. `challenge` = base64url(SHA-256(nonce ‖ id ‖ canonical)); `canonical` is the exact JSON the
  // challenge commits to. Every state change is one conditional UPDATE … WHERE status = 'pending'.
  await db.schema
    .createTable('approvals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull()) // login | pairing | stepup | newdevice
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // pending | approved | denied | reported | expired
    .addColumn('reason', 'text') // why it ended: user | wrong_number | too_many_failures | expired | superseded
    .addColumn('mode', 'text', (c) => c.notNull()) // hold (a held native login) | poll (the login page) | none
    .addColumn('client', 'text')
    .addColumn('device_name', 'text')
    .addColumn('device_id', 'text')
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('address_key', 'text', (c) => c.notNull()) // the guard's key of ip (IPv6 by /64)
    .addColumn('place', 'text') // JSON {city, country} or null
    .addColumn('action', 'text')
    .addColumn('number', 'text') // the 2 digits the login screen shows, or null
    .addColumn('choices', 'text') // JSON array of 3 numbers, or null
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('canonical', 'text', (c) => c.notNull())
    .addColumn('challenge', 'text', (c) => c.notNull())
    .addColumn('login_challenge_id', 'text') // the held login (login_challenges.id) it is for
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0)) // refused assertions
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('decided_at', 'integer')
    .addColumn('decided_ip', 'text')
    .addColumn('credential_id', 'text') // the passkey that approved or reported
    .addColumn('retry_until', 'integer') // approved held logins: the same device may log in again until then
    .addColumn('used_at', 'integer') // an approved login was released with it (single use)
    .addColumn('pushed_at', 'integer') // a push went out (push-fatigue window)
    .addColumn('push_skipped', 'text')
    .execute();
  await db.schema.createIndex('approvals_user_status').on('approvals').columns(['user_id', 'status']).execute();
  await db.schema.createIndex('approvals_status_expiry').on('approvals').columns(['status', 'expires_at']).execute();
  await db.schema.createIndex('approvals_login_challenge').on('approvals').column('login_challenge_id').execute();
  await db.schema.createIndex('approvals_user_pushed').on('approvals').columns(['user_id', 'pushed_at']).execute();

  // Accounts held after repeated "This wasn't me": password logins wait for the phone until it approves one.
  await db.schema
    .createTable('approval_holds')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('held_at', 'integer') // null: not held now
    .addColumn('lifted_at', 'integer') // reports before this no longer count
    .addColumn('reports', 'integer', (c) => c.notNull())
    .execute();
}
