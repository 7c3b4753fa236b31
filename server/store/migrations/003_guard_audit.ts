import type { Kysely } from 'kysely';

/**
 * The guard (bans, known devices and networks, last login places, IP allowlists, breach-check outcomes)
 * and the HMAC-chained audit log. Landed migrations are never edited; add a new numbered file instead.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // Bans and locks. One row per subject: an address (IPv4, or an IPv6 /64), a user (soft lock), or a
  // user at an address. The row outlives its expiry for a while so that repeated bans grow.
  await db.schema
    .createTable('bans')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('scope', 'text', (c) => c.notNull()) // address | user | user_address
    .addColumn('subject', 'text', (c) => c.notNull()) // the regulator's key for the subject
    .addColumn('address', 'text') // for display: the address or /64 network, when the scope has one
    .addColumn('user_name', 'text') // for display: the user name or id, when the scope has one
    .addColumn('reason', 'text', (c) => c.notNull()) // the attempt kind that tipped it: password, totp, …
    .addColumn('strikes', 'integer', (c) => c.notNull()) // bans so far (escalation)
    .addColumn('failures', 'integer', (c) => c.notNull()) // failures that led to them (PermanentBanThreshold)
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer') // null: permanent, until an admin lifts it
    .execute();
  await db.schema.createIndex('bans_subject').on('bans').columns(['scope', 'subject']).unique().execute();

  // Devices (user + DeviceId) that signed in successfully: a locked user name still admits them.
  // The DeviceId is stored as an HMAC under the gateway's key.
  await db.schema
    .createTable('known_devices')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_hash', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull()) // case-folded, as the regulator keys it
    .addColumn('device_name', 'text')
    .addColumn('client', 'text')
    .addColumn('first_seen_at', 'integer', (c) => c.notNull())
    .addColumn('last_seen_at', 'integer', (c) => c.notNull())
    .addColumn('last_ip', 'text')
    .addPrimaryKeyConstraint('known_devices_pk', ['user_id', 'device_hash'])
    .execute();

  // Networks (IPv4 /24, IPv6 /64) each user signed in from: a new one notifies the user.
  await db.schema
    .createTable('known_networks')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('network', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'integer', (c) => c.notNull())
    .addColumn('last_seen_at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('known_networks_pk', ['user_id', 'network'])
    .execute();

  // Where and when each user last signed in (impossible travel).
  await db.schema
    .createTable('login_places')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('latitude', 'real', (c) => c.notNull())
    .addColumn('longitude', 'real', (c) => c.notNull())
    .addColumn('accuracy_km', 'real', (c) => c.notNull())
    .addColumn('city', 'text')
    .addColumn('country', 'text')
    .addColumn('at', 'integer', (c) => c.notNull())
    .execute();

  // Per-user IP allowlists, managed by admins.
  await db.schema
    .createTable('allowed_ips')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('cidrs', 'text', (c) => c.notNull()) // JSON array of CIDRs
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .addColumn('updated_by', 'text')
    .execute();

  // The last breached-password check of each user's password (the password itself is never stored).
  await db.schema
    .createTable('password_checks')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('result', 'text', (c) => c.notNull()) // clean | breached | unavailable
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('checked_at', 'integer', (c) => c.notNull())
    .execute();

  // The audit log: one row per security event, chained with a keyed HMAC. Ids are assigned by the
  // writer (head + 1), so they are consecutive and a deleted row leaves a gap.
  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('at', 'integer', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('user_name', 'text')
    .addColumn('ip', 'text')
    .addColumn('device_id', 'text')
    .addColumn('device_name', 'text')
    .addColumn('client', 'text')
    .addColumn('detail', 'text') // JSON object or null
    .addColumn('prev_mac', 'text', (c) => c.notNull())
    .addColumn('mac', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
  await db.schema.createIndex('audit_log_type').on('audit_log').columns(['type', 'id']).execute();
  await db.schema.createIndex('audit_log_user').on('audit_log').columns(['user_id', 'id']).execute();
  await db.schema.createIndex('audit_log_ip').on('audit_log').columns(['ip', 'id']).execute();

  // The chain's two ends, each sealed with the key: the head (last row written) and the anchor (last
  // row removed by retention), so that a truncated tail or a trimmed start is detected too.
  await db.schema
    .createTable('audit_chain')
    .addColumn('id', 'integer', (c) => c.primaryKey()) // always 1
    .addColumn('head_id', 'integer', (c) => c.notNull())
    .addColumn('head_mac', 'text', (c) => c.notNull())
    .addColumn('anchor_id', 'integer', (c) => c.notNull())
    .addColumn('anchor_mac', 'text', (c) => c.notNull())
    .addColumn('seal', 'text', (c) => c.notNull())
    .execute();
}
