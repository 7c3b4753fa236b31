import type { Kysely } from 'kysely';

/** Landed migrations are never edited; add a new numbered file instead (test/unit/store.test.ts pins the latest). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey()) // Jellyfin user id, 32 lowercase hex
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute();

  // Tokens the gate knows, by HMAC of the token: the token itself is never stored.
  await db.schema
    .createTable('tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull()) // verified | pending
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text')
    .addColumn('device_name', 'text')
    .addColumn('client', 'text')
    .addColumn('app_version', 'text')
    .addColumn('ip', 'text')
    .addColumn('method', 'text', (c) => c.notNull()) // how it was verified: password, quickconnect, adopted, …
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('last_seen_at', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tokens_user').on('tokens').columns(['user_id', 'device_id']).execute();

  // Quick Connect requests seen through the gateway, and whether a verified session authorised them here.
  await db.schema
    .createTable('quick_connect')
    .addColumn('secret_hash', 'text', (c) => c.primaryKey())
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text')
    .addColumn('device_name', 'text')
    .addColumn('app_name', 'text')
    .addColumn('app_version', 'text')
    .addColumn('ip', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .addColumn('authorized_user_id', 'text')
    .addColumn('authorized_at', 'integer')
    .execute();
  await db.schema.createIndex('quick_connect_code').on('quick_connect').column('code').execute();
}
