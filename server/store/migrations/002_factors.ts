import type { Kysely } from 'kysely';

/**
 * Second factors and the login challenge. Landed migrations are never edited; add a new
 * numbered file instead. Secrets are sealed (AES-256-GCM, owner id as associated data) or hashed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // TOTP (RFC 6238): one confirmed secret per user, plus at most one enrollment waiting for its first code.
  await db.schema
    .createTable('factor_totp')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('secret_enc', 'text') // sealed base32 secret, AAD = user id; null until confirmed
    .addColumn('confirmed_at', 'integer')
    .addColumn('pending_secret_enc', 'text') // an enrollment waiting for its first code
    .addColumn('pending_created_at', 'integer')
    .addColumn('last_step', 'integer') // highest RFC 6238 time step accepted: a step is never accepted twice
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute();

  // Recovery codes: slow salted hashes (scrypt) only; a used code keeps its row with used_at set.
  await db.schema
    .createTable('factor_recovery_codes')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('used_at', 'integer')
    .execute();
  await db.schema.createIndex('factor_recovery_codes_user').on('factor_recovery_codes').column('user_id').execute();

  // WebAuthn credentials (passkeys). The credential id is unique across all users.
  await db.schema
    .createTable('factor_passkeys')
    .addColumn('credential_id', 'text', (c) => c.primaryKey()) // base64url
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull()) // COSE public key, base64url (not a secret)
    .addColumn('counter', 'integer', (c) => c.notNull())
    .addColumn('transports', 'text', (c) => c.notNull()) // JSON array
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('rp_id', 'text', (c) => c.notNull())
    .addColumn('aaguid', 'text')
    .addColumn('device_type', 'text')
    .addColumn('backed_up', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('last_used_at', 'integer')
    .execute();
  await db.schema.createIndex('factor_passkeys_user').on('factor_passkeys').column('user_id').execute();

  // One WebAuthn ceremony (its challenge), used at most once.
  await db.schema
    .createTable('webauthn_ceremonies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull()) // registration | authentication
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('challenge', 'text', (c) => c.notNull()) // base64url
    .addColumn('login_challenge_id', 'text')
    .addColumn('rp_id', 'text', (c) => c.notNull())
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('used_at', 'integer')
    .execute();

  // A user's confirmed e-mail address for one-time codes.
  await db.schema
    .createTable('factor_email')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('set_by', 'text', (c) => c.notNull()) // self | admin
    .addColumn('confirmed_at', 'integer', (c) => c.notNull())
    .execute();

  // E-mail one-time codes (HMAC of the code only): login codes and address confirmations.
  await db.schema
    .createTable('email_codes')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull()) // login | confirm
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('used_at', 'integer')
    .execute();
  await db.schema.createIndex('email_codes_user').on('email_codes').columns(['user_id', 'purpose']).execute();

  // Every request to send a code (sent or not), for the per-user, per-recipient and per-address limits.
  await db.schema
    .createTable('email_sends')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('user_id', 'text')
    .addColumn('email', 'text')
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('at', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('email_sends_at').on('email_sends').column('at').execute();

  // Browsers a user chose to trust after a second factor; the cookie names a row, so revoking works.
  await db.schema
    .createTable('trusted_browsers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull()) // browser and OS as the user agent names them
    .addColumn('ip_prefix', 'text', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('last_used_at', 'integer')
    .execute();
  await db.schema.createIndex('trusted_browsers_user').on('trusted_browsers').column('user_id').execute();

  // A password login waiting for its second factor. The upstream answer is sealed (AAD = challenge id).
  await db.schema
    .createTable('login_challenges')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('is_admin', 'integer', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('result_enc', 'text') // wiped once released or revoked
    .addColumn('content_type', 'text')
    .addColumn('methods', 'text', (c) => c.notNull()) // JSON array
    .addColumn('device_id', 'text')
    .addColumn('device_name', 'text')
    .addColumn('client', 'text')
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('state', 'text', (c) => c.notNull()) // pending | satisfied | verified | failed | expired | superseded
    .addColumn('method', 'text') // the factor that satisfied it
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('ended_at', 'integer')
    .addColumn('revoked_at', 'integer') // set once the token is revoked at Jellyfin (failed/expired/superseded)
    .execute();
  await db.schema.createIndex('login_challenges_user').on('login_challenges').columns(['user_id', 'state']).execute();
  await db.schema.createIndex('login_challenges_expiry').on('login_challenges').columns(['state', 'expires_at']).execute();

  // Per-user second-factor settings an admin sets (null: follow EnforcementScope).
  await db.schema
    .createTable('factor_user_settings')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('require_second_factor', 'integer')
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute();

  // Wrong codes per user across challenges and self-service, in a sliding window.
  await db.schema
    .createTable('factor_user_failures')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_start', 'integer', (c) => c.notNull())
    .addColumn('locked_until', 'integer')
    .execute();
}
