/**
 * `npm run audit:verify` — check the audit log's HMAC chain.
 *
 *   npm run audit:verify                         the store in $JELLYGUARD_DATA_DIR (default ./data)
 *   npm run audit:verify -- --data-dir /srv/jg   another data directory
 *   npm run audit:verify -- --file export.csv    an export (CSV or JSON) instead of the store
 *   add --json for a machine-readable answer
 *
 * The key is the gateway's HMAC key (keys.json in the data directory, or JELLYGUARD_HMAC_KEY); this
 * command never creates one. The database is opened read-only. Exit status: 0 intact, 1 tampered,
 * 2 could not check.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from '../store/schema.ts';
import { loadKeys } from '../store/keys.ts';
import { chainKey, verifyRows, type VerifyResult } from './chain.ts';
import { verifyStore } from './log.ts';
import { parseExport } from './export.ts';

interface Args {
  dataDir: string;
  file: string | undefined;
  json: boolean;
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Args {
  const args: Args = { dataDir: path.resolve(env.JELLYGUARD_DATA_DIR || './data'), file: undefined, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') args.json = true;
    else if (a === '--file' && argv[i + 1]) args.file = path.resolve(argv[++i]!);
    else if (a === '--data-dir' && argv[i + 1]) args.dataDir = path.resolve(argv[++i]!);
    else throw new Error(`unknown argument ${a} (use --file FILE, --data-dir DIR, --json)`);
  }
  return args;
}

function hmacKeyOf(dataDir: string, env: NodeJS.ProcessEnv): Buffer {
  if (!env.JELLYGUARD_HMAC_KEY && !existsSync(path.join(dataDir, 'keys.json'))) {
    throw new Error(`no key: ${path.join(dataDir, 'keys.json')} does not exist and JELLYGUARD_HMAC_KEY is not set`);
  }
  return loadKeys(dataDir, env).hmacKey;
}

export async function verifyCommand(argv: string[], env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  let args: Args;
  let result: VerifyResult;
  let what: string;
  try {
    args = parseArgs(argv, env);
    const key = chainKey(hmacKeyOf(args.dataDir, env));
    if (args.file) {
      what = args.file;
      const { rows, chain } = parseExport(readFileSync(args.file, 'utf8'));
      result = await verifyRows(key, rows, chain);
    } else {
      const file = path.join(args.dataDir, 'jellyguard.sqlite');
      what = file;
      if (!existsSync(file)) throw new Error(`no database at ${file}`);
      const sqlite = new SQLite(file, { readonly: true, fileMustExist: true });
      const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
      try {
        result = await verifyStore(db, key);
      } finally {
        await db.destroy();
      }
    }
  } catch (e) {
    out(`audit:verify: ${(e as Error).message}`);
    return 2;
  }
  if (args.json) {
    out(JSON.stringify({ source: what, ...result }));
  } else {
    const range = result.rows ? `rows ${result.firstId}–${result.lastId}` : 'no rows';
    if (result.ok) out(`audit log intact: ${result.rows} rows checked (${range}) in ${what}`);
    else {
      out(`audit log TAMPERED: ${result.problems.length} problem(s) in ${result.rows} rows (${range}) of ${what}`);
      for (const p of result.problems) out(`  ${p.id === null ? '-' : `row ${p.id}`}: ${p.problem}: ${p.message}`);
    }
  }
  return result.ok ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  verifyCommand(process.argv.slice(2), process.env, (l) => console.log(l)).then((code) => process.exit(code));
}
