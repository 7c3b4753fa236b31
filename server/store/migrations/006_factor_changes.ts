import type { Kysely } from 'kysely';

/**
 * Changes to an account's second factors (server/stepup/changes.ts): who made each one (the session as
 * its TokenRegistry hash, and the address), what it added, and the notice the owner's phones got about
 * it. "This wasn't me" on that notice revokes the session, removes what it added and bans the address.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('factor_changes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('change', 'text', (c) => c.notNull()) // the step-up action: AddPasskey, RemovePhone, …
    .addColumn('ref', 'text') // what it added or removed: a passkey or phone id, an e-mail address; null = the kind alone
    .addColumn('token_hash', 'text', (c) => c.notNull()) // the session that made it
    .addColumn('device_id', 'text')
    .addColumn('device_name', 'text')
    .addColumn('client', 'text')
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('proof', 'text', (c) => c.notNull()) // how the session proved itself: totp, passkey, phone, recovery, password, recent_sign_in
    .addColumn('previous', 'text') // a changed e-mail address: the one before (restored by "This wasn't me")
    .addColumn('approval_id', 'text') // the notice on the phones (an approval of kind "change")
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('undone_at', 'integer')
    .execute();
  await db.schema.createIndex('factor_changes_approval').on('factor_changes').column('approval_id').execute();
  await db.schema.alterTable('phones').addColumn('device_id', 'text').execute();
  await db.schema.createIndex('factor_changes_user').on('factor_changes').columns(['user_id', 'created_at']).execute();
}
