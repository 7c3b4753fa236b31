import { statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, migrations } from '../../server/store/index.ts';
import { loadKeys } from '../../server/store/keys.ts';
import { TokenRegistry } from '../../server/gate/tokens.ts';
import { ManualClock } from '../../server/clock.ts';
import { tempDir } from '../helpers/gateway.ts';

describe('storage', () => {
  it('opens a WAL SQLite file and applies every migration', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    expect(store.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    const applied = store.sqlite.prepare('select name from kysely_migration order by name').all() as Array<{ name: string }>;
    expect(applied.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
    await store.close();
    // Re-opening is idempotent.
    const again = await openStore(dir);
    await again.close();
  });

  it('pins the migration list: landed migrations are never edited or renumbered', () => {
    const names = Object.keys(migrations);
    expect(names[0]).toBe('001_core');
    expect([...names].sort()).toEqual(names);
  });

  it('generates keys on first start with mode 0600, then reuses them', () => {
    const dir = tempDir();
    const a = loadKeys(dir, {});
    const file = path.join(dir, 'keys.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const b = loadKeys(dir, {});
    expect(b.encryptionKey.equals(a.encryptionKey)).toBe(true);
    expect(a.encryptionKey.length).toBe(32);
    expect(a.hmacKey.equals(a.encryptionKey)).toBe(false);
  });

  it('takes keys from the environment when given, and rejects a bad one', () => {
    const dir = tempDir();
    const hex = 'ab'.repeat(32);
    const k = loadKeys(dir, { JELLYGUARD_ENCRYPTION_KEY: hex, JELLYGUARD_HMAC_KEY: Buffer.alloc(32, 7).toString('base64') });
    expect(k.encryptionKey.toString('hex')).toBe(hex);
    expect(existsSync(path.join(dir, 'keys.json'))).toBe(false); // nothing written when both are given
    expect(() => loadKeys(dir, { JELLYGUARD_ENCRYPTION_KEY: 'short' })).toThrow(/JELLYGUARD_ENCRYPTION_KEY/);
  });
});

describe('the token registry', () => {
  it('stores only keyed hashes, survives a reopen, and replaces a device’s earlier token', async () => {
    const dir = tempDir();
    const key = Buffer.alloc(32, 1);
    const clock = new ManualClock();
    let store = await openStore(dir);
    let reg = new TokenRegistry(store.db, key, clock);
    await reg.load();
    await reg.record('t1'.padEnd(32, '0'), { userId: 'u'.repeat(32), deviceId: 'd1', method: 'password' });
    await reg.record('t2'.padEnd(32, '0'), { userId: 'u'.repeat(32), deviceId: 'd1', method: 'password' });
    expect(reg.isVerified('t1'.padEnd(32, '0'))).toBe(false);
    expect(reg.isVerified('t2'.padEnd(32, '0'))).toBe(true);
    await reg.record('t3'.padEnd(32, '0'), { userId: 'u'.repeat(32), deviceId: 'd2', method: 'password' }, 'pending');
    const raw = JSON.stringify(store.sqlite.prepare('select * from tokens').all());
    expect(raw).not.toContain('t2'.padEnd(32, '0'));
    await store.close();
    store = await openStore(dir);
    reg = new TokenRegistry(store.db, key, clock);
    await reg.load();
    expect(reg.isVerified('t2'.padEnd(32, '0'))).toBe(true);
    expect(reg.lookup('t3'.padEnd(32, '0'))?.state).toBe('pending');
    expect(reg.isVerified('t3'.padEnd(32, '0'))).toBe(false);
    // Another key cannot recognise the tokens.
    const other = new TokenRegistry(store.db, Buffer.alloc(32, 2), clock);
    await other.load();
    expect(other.isVerified('t2'.padEnd(32, '0'))).toBe(false);
    await store.close();
  });

  it('a token in use fails at once when it is forgotten, replaced or moved back to pending', async () => {
    const store = await openStore(tempDir());
    const reg = new TokenRegistry(store.db, Buffer.alloc(32, 1), new ManualClock());
    await reg.load();
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(32)) as [string, string, string];
    await reg.record(a, { userId: 'u'.repeat(32), deviceId: 'd1', method: 'password' });
    await reg.record(c, { userId: 'u'.repeat(32), deviceId: 'd2', method: 'password' });
    for (let i = 0; i < 3; i++) expect(reg.isVerified(a)).toBe(true); // in use: its hash is remembered
    expect(reg.isVerified(c)).toBe(true);
    await reg.record(b, { userId: 'u'.repeat(32), deviceId: 'd1', method: 'password' }); // same device: replaces a
    expect(reg.lookup(a)).toBeUndefined();
    await reg.forget(c);
    expect(reg.lookup(c)).toBeUndefined();
    await reg.record(a, { userId: 'u'.repeat(32), deviceId: 'd3', method: 'password' }, 'pending');
    expect(reg.lookup(a)?.state).toBe('pending');
    await store.close();
  });
});
