import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration } from 'kysely';
import type { Database } from './schema.ts';
import * as m001 from './migrations/001_core.ts';
import * as m002 from './migrations/002_factors.ts';
import * as m003 from './migrations/003_guard_audit.ts';
import * as m004 from './migrations/004_approvals.ts';
import * as m005 from './migrations/005_pairing.ts';
import * as m006 from './migrations/006_factor_changes.ts';
import * as m007 from './migrations/007_sso.ts';

export type { Database } from './schema.ts';
export type DB = Kysely<Database>;

/** Numbered migrations, applied in order at start-up. */
export const migrations: Record<string, Migration> = {
  '001_core': m001,
  '002_factors': m002,
  '003_guard_audit': m003,
  '004_approvals': m004,
  '005_pairing': m005,
  '006_factor_changes': m006,
  '007_sso': m007,
};

export interface Store {
  db: DB;
  /** The raw connection, for the few synchronous transactions (better-sqlite3 is synchronous). */
  sqlite: SQLite.Database;
  close(): Promise<void>;
}

/** Open (or create) the SQLite file in the data directory, WAL mode, and apply migrations. */
export async function openStore(dataDir: string, file = 'jellyguard.sqlite'): Promise<Store> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(path.join(dataDir, file));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    await db.destroy();
    throw new Error(`database migration ${failed} failed: ${(error as Error).message ?? String(error)}`);
  }
  return { db, sqlite, close: () => db.destroy() };
}
