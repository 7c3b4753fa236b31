import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { loadConfig } from '../config/index.ts';

export interface BackupResult {
  dir: string;
  files: string[];
  /** Keys that come from the environment and are not in the copy (they must be kept elsewhere). */
  keysFromEnvironment: string[];
}

/**
 * A consistent copy of the gateway's state while it runs: the SQLite database through SQLite's online
 * backup API (a snapshot of one moment, WAL included, however busy the gateway is), keys.json (the
 * encryption and HMAC keys: without them the copy's secrets cannot be opened and the audit chain cannot
 * be verified) and the configuration file when it lives in the data directory. Written mode 0600 into a
 * new directory (mode 0700), with a manifest of SHA-256 sums.
 */
export async function backup(dataDir: string, outDir: string, env: NodeJS.ProcessEnv = process.env): Promise<BackupResult> {
  const dbFile = path.join(dataDir, 'jellyguard.sqlite');
  if (!existsSync(dbFile)) throw new Error(`no database at ${dbFile} (is JELLYGUARD_DATA_DIR right?)`);
  if (existsSync(outDir)) throw new Error(`${outDir} already exists: give a new directory`);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const files: string[] = [];
  const db = new SQLite(dbFile, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    await db.backup(path.join(outDir, 'jellyguard.sqlite'));
  } finally {
    db.close();
  }
  files.push('jellyguard.sqlite');
  for (const name of ['keys.json', 'config.yaml']) {
    const from = path.join(dataDir, name);
    if (!existsSync(from)) continue;
    copyFileSync(from, path.join(outDir, name));
    files.push(name);
  }
  const keysFromEnvironment = ['JELLYGUARD_ENCRYPTION_KEY', 'JELLYGUARD_HMAC_KEY'].filter((k) => env[k]);
  const manifest = {
    createdAt: new Date().toISOString(),
    dataDir,
    files: Object.fromEntries(files.map((f) => [f, createHash('sha256').update(readFileSync(path.join(outDir, f))).digest('hex')])),
    keysFromEnvironment,
  };
  writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  for (const f of [...files, 'manifest.json']) chmodSync(path.join(outDir, f), 0o600);
  return { dir: outDir, files, keysFromEnvironment };
}

/** `jellyguard backup [DIR]`. */
export async function backupCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { dataDir } = loadConfig(env);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.resolve(args.find((a) => !a.startsWith('-')) ?? path.join(dataDir, 'backups', stamp));
  const result = await backup(dataDir, outDir, env);
  process.stdout.write(`backup written to ${result.dir}: ${result.files.join(', ')}, manifest.json\n`);
  if (result.keysFromEnvironment.length) {
    process.stdout.write(`note: ${result.keysFromEnvironment.join(' and ')} come from the environment and are not in the backup: keep them with it\n`);
  } else if (!result.files.includes('keys.json')) {
    process.stdout.write('warning: no keys.json in the data directory: the backup cannot be opened without the keys\n');
  }
  return 0;
}
