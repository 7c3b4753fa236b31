import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../server/store/backup.ts';
import { loadKeys } from '../../server/store/keys.ts';
import { verifyCommand } from '../../server/audit/verify-cli.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, tempDir } from '../helpers/gateway.ts';
import { jellyfinClient, sdkLogin } from '../helpers/sdk.ts';

/**
 * `jellyguard backup` while the gateway runs and signs people in, then the restore the README describes:
 * the copy opens with its keys, the audit chain verifies, and sessions recorded before still work.
 */
let jf: Emulator;

beforeAll(async () => {
  jf = await startEmulator({ users: [{ name: 'alice', password: 'alice-pw' }] });
});

afterAll(async () => {
  await jf?.close();
});

describe('backup and restore', () => {
  it('copies a busy database consistently, and a gateway restored from it knows the sessions', async () => {
    const dataDir = tempDir('jellyguard-live-');
    const gw = await startGateway({ upstreamUrl: jf.url, dataDir, keys: loadKeys(dataDir) });
    const before = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'before-backup' }), 'alice', 'alice-pw');
    expect(before.status).toBe(200);
    // Sign-ins keep coming while the copy is taken.
    let stop = false;
    const busy = (async () => {
      for (let i = 0; !stop; i++) await sdkLogin(jellyfinClient(gw.url, { deviceId: `busy-${i}` }), 'alice', 'alice-pw');
    })();
    await new Promise((r) => setTimeout(r, 200));
    const out = path.join(tempDir('jellyguard-backups-'), 'copy');
    const result = await backup(dataDir, out, {});
    stop = true;
    await busy;
    await gw.stop();

    expect(result.files).toEqual(['jellyguard.sqlite', 'keys.json']);
    for (const f of [...result.files, 'manifest.json']) expect(statSync(path.join(out, f)).mode & 0o777).toBe(0o600);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { files: Record<string, string> };
    expect(Object.keys(manifest.files)).toEqual(['jellyguard.sqlite', 'keys.json']);

    // Restore (README): a new data directory with the copy's database and keys.
    const restored = tempDir('jellyguard-restored-');
    for (const f of ['jellyguard.sqlite', 'keys.json']) copyFileSync(path.join(out, f), path.join(restored, f));
    const lines: string[] = [];
    expect(await verifyCommand(['--data-dir', restored], {}, (l) => lines.push(l))).toBe(0);
    const again = await startGateway({ upstreamUrl: jf.url, dataDir: restored, keys: loadKeys(restored) });
    try {
      const res = await fetch(`${again.url}/System/Info?api_key=${before.token}`);
      expect(res.status).toBe(200);
    } finally {
      await again.close();
    }
  });

  it('as a command: writes into the data directory by default and says where', async () => {
    const dataDir = tempDir('jellyguard-cmd-');
    const gw = await startGateway({ upstreamUrl: jf.url, dataDir, keys: loadKeys(dataDir) });
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'backup'], { env: { ...process.env, JELLYGUARD_DATA_DIR: dataDir } });
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c));
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      expect(code).toBe(0);
      const m = /backup written to (\S+): jellyguard\.sqlite, keys\.json, manifest\.json/.exec(stdout);
      expect(m).not.toBeNull();
      expect(m![1]!.startsWith(path.join(dataDir, 'backups'))).toBe(true);
    } finally {
      await gw.close();
    }
  });
});
