import type { Kysely } from 'kysely';

/**
 * TV pairing and step-up (server/pairing, server/stepup): single-use step-up grants bound to one session,
 * the seed's PairDevice pairings, paired devices and their device tokens, and the phone approvals that
 * pairing asked the approvals engine for. Secrets are stored as HMACs under the gateway's key, or sealed
 * (AES-256-GCM) while they wait to be collected. Landed migrations are never edited; add a new file.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // A fresh proof given by one session for one action. `secret_hash` is the HMAC of the grant the client
  // holds; `id` is a public handle for polling a phone approval. Spent once (state granted → used).
  await db.schema
    .createTable('stepup_grants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
    .addColumn('token_hash', 'text', (c) => c.notNull()) // the session (TokenRegistry hash) it belongs to
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull()) // e.g. QuickConnectAuthorize
    .addColumn('target', 'text') // what the action is for (the Quick Connect code), null = any
    .addColumn('method', 'text', (c) => c.notNull()) // totp | phone
    .addColumn('state', 'text', (c) => c.notNull()) // pending | granted | used | denied | expired
    .addColumn('approval_id', 'text') // the phone approval behind a pending grant
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('used_at', 'integer')
    .execute();
  await db.schema.createIndex('stepup_grants_approval').on('stepup_grants').column('approval_id').execute();

  // PairDevice requests. The code ("AB23-CD45") is kept only as an HMAC; the device token minted on
  // approval is sealed (AAD: the pairing id) until the device collects it once, then erased.
  await db.schema
    .createTable('pairings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('device_name', 'text', (c) => c.notNull())
    .addColumn('client', 'text')
    .addColumn('app_version', 'text')
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // pending | approved | denied | expired | collected
    .addColumn('user_id', 'text') // the user the device is paired to (set on approval)
    .addColumn('decided_by', 'text') // the user who approved or denied
    .addColumn('decided_via', 'text') // admin | phone
    .addColumn('device_token_enc', 'text')
    .addColumn('paired_device_id', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('decided_at', 'integer')
    .addColumn('collected_at', 'integer')
    .execute();
  await db.schema.createIndex('pairings_status').on('pairings').columns(['status', 'expires_at']).execute();

  // Devices paired to a user: their device token (HMAC) skips the second factor for that user and
  // DeviceId only. One per (user, DeviceId): pairing the same device again replaces the old token.
  await db.schema
    .createTable('paired_devices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('device_name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('pairing_id', 'text')
    .addColumn('approved_by', 'text', (c) => c.notNull())
    .addColumn('approved_via', 'text', (c) => c.notNull()) // admin | phone
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('last_used_at', 'integer')
    .addColumn('last_ip', 'text')
    .execute();
  await db.schema.createIndex('paired_devices_user_device').on('paired_devices').columns(['user_id', 'device_id']).unique().execute();

  // What each phone approval asked for by pairing is FOR: a Quick Connect code, a PairDevice pairing or a
  // step-up grant. The approvals engine keeps the approval itself; this row says what to do once approved.
  await db.schema
    .createTable('pairing_approvals')
    .addColumn('approval_id', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull()) // quickconnect | pairdevice | stepup
    .addColumn('ref', 'text', (c) => c.notNull()) // the QC code, the pairing id, or the step-up grant id
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull()) // the session that asked
    .addColumn('state', 'text', (c) => c.notNull()) // pending | done | failed
    .addColumn('outcome', 'text') // for the asking page: authorized | refused | …
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .execute();
}
