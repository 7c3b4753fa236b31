import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';

export interface KnownUser {
  id: string;
  name: string;
  isAdmin: boolean;
}

/** Jellyfin users the gateway has seen log in, with their admin flag as Jellyfin last reported it. */
export class UserDirectory {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
  ) {}

  async upsert(u: KnownUser): Promise<void> {
    const row = { id: u.id, name: u.name, is_admin: u.isAdmin ? 1 : 0, updated_at: this.clock.now() };
    await this.db
      .insertInto('users')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet({ name: row.name, is_admin: row.is_admin, updated_at: row.updated_at }))
      .execute();
  }

  async get(id: string): Promise<KnownUser | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r && { id: r.id, name: r.name, isAdmin: r.is_admin === 1 };
  }

  async byName(name: string): Promise<KnownUser | undefined> {
    const r = await this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb.fn('lower', ['name']), '=', name.toLowerCase())
      .executeTakeFirst();
    return r && { id: r.id, name: r.name, isAdmin: r.is_admin === 1 };
  }

  async all(): Promise<KnownUser[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ id: r.id, name: r.name, isAdmin: r.is_admin === 1 }));
  }
}
