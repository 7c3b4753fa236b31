import type { Kysely } from 'kysely';

/**
 * OIDC single sign-on (server/sso): which Jellyfin user an identity at a provider is, keyed by the
 * provider's (issuer, subject) as OpenID Connect Core §5.7 says (never by name or e-mail, which change
 * hands); and the states spent by callbacks, so a replayed callback is refused even after a restart.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sso_links')
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text', (c) => c.notNull())
    .addColumn('linked_by', 'text', (c) => c.notNull()) // name | email | created
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('last_login_at', 'integer')
    .addPrimaryKeyConstraint('sso_links_pk', ['issuer', 'subject'])
    .execute();
  await db.schema.createIndex('sso_links_user').on('sso_links').column('user_id').execute();
  await db.schema
    .createTable('sso_spent_states')
    .addColumn('state_hash', 'text', (c) => c.primaryKey())
    .addColumn('expires_at', 'integer', (c) => c.notNull())
    .execute();
}
