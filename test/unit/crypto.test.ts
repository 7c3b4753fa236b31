import { afterEach, describe, expect, it } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import { ManualClock } from '../../server/clock.ts';
import { openStore } from '../../server/store/index.ts';
import { tempDir } from '../helpers/gateway.ts';
import { deriveKey, keyedHash, mac, open, openString, randomDigits, randomId, safeEqual, seal, tokenHash } from '../../server/crypto.ts';
import { UserAttempts, USER_LOCK_MS, USER_MAX_FAILURES, USER_WINDOW_MS } from '../../server/factors/attempts.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('sealing secrets (AES-256-GCM, owner as associated data)', () => {
  const key = randomBytes(32);

  it('round-trips, with a fresh IV each time', () => {
    const a = seal(key, 'owner', 'secret');
    const b = seal(key, 'owner', 'secret');
    expect(a).not.toBe(b);
    expect(openString(key, 'owner', a)).toBe('secret');
    expect(a).not.toContain('secret');
  });

  it('refuses another owner, another key and any flipped bit', () => {
    const s = seal(key, 'owner', 'secret');
    expect(() => open(key, 'other', s)).toThrow();
    expect(() => open(randomBytes(32), 'owner', s)).toThrow();
    const raw = Buffer.from(s.slice(3), 'base64url');
    for (const i of [0, 12, raw.length - 1]) {
      const t = Buffer.from(raw);
      t[i]! ^= 1;
      expect(() => open(key, 'owner', 'v1.' + t.toString('base64url'))).toThrow();
    }
    expect(() => open(key, 'owner', 'v2.' + s.slice(3))).toThrow();
    expect(() => open(key, 'owner', 'v1.AAAA')).toThrow();
  });

  it('compares in constant time and makes good random values', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(randomId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 2000; i++) {
      const d = randomDigits(6);
      expect(d).toMatch(/^\d{6}$/);
      for (const c of d) counts[Number(c)]!++;
    }
    for (const n of counts) expect(n).toBeGreaterThan(900); // 1200 expected per digit
  });
});

describe('wrong codes per user', () => {
  it(`locks a user's code checks after ${USER_MAX_FAILURES} wrong codes within the window, persisted`, async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    let store = await openStore(dir);
    let attempts = new UserAttempts(store.db, clock);
    const u = 'a'.repeat(32);
    for (let i = 1; i < USER_MAX_FAILURES; i++) expect((await attempts.fail(u)).locked).toBe(false);
    await store.close();
    store = await openStore(dir); // a restart keeps the count
    cleanups.push(() => store.close());
    attempts = new UserAttempts(store.db, clock);
    expect(await attempts.lockedUntil(u)).toBeUndefined();
    expect((await attempts.fail(u)).locked).toBe(true);
    expect(await attempts.lockedUntil(u)).toBe(clock.now() + USER_LOCK_MS);
    clock.advance(USER_LOCK_MS);
    expect(await attempts.lockedUntil(u)).toBeUndefined();
  });

  it('forgets failures outside the window and after a success', async () => {
    const store = await openStore(tempDir());
    cleanups.push(() => store.close());
    const clock = new ManualClock();
    const attempts = new UserAttempts(store.db, clock);
    const u = 'b'.repeat(32);
    for (let i = 1; i < USER_MAX_FAILURES; i++) await attempts.fail(u);
    clock.advance(USER_WINDOW_MS);
    expect(await attempts.fail(u)).toEqual({ locked: false, failures: 1 });
    await attempts.succeed(u);
    expect(await attempts.fail(u)).toEqual({ locked: false, failures: 1 });
  });
});

describe('keyed hashes (the stored hashes of tokens, codes and devices depend on their exact layout)', () => {
  const key = randomBytes(32);
  const hmac = (k: Buffer, m: string) => createHmac('sha256', k).update(m);

  it('keyedHash is HMAC-SHA256 of the domain and each part after a NUL', () => {
    expect(keyedHash(key, 'known-device', 'u1', 'd1')).toBe(hmac(key, 'known-device\0u1\0d1').digest('base64url'));
    expect(keyedHash(key, 'apikey', 'k')).toBe(hmac(key, 'apikey\0k').digest('base64url'));
    expect(keyedHash(key, 'qc', 'ABC')).not.toBe(keyedHash(key, 'pairing-code', 'ABC'));
  });

  it('a token hash has no domain; a derived key and its MACs are plain HMACs', () => {
    expect(tokenHash(key, 'tok')).toBe(hmac(key, 'tok').digest('base64url'));
    const derived = deriveKey(key, 'jellyguard audit chain v1');
    expect(derived.equals(hmac(key, 'jellyguard audit chain v1').digest())).toBe(true);
    expect(mac(derived, '["x"]')).toBe(hmac(derived, '["x"]').digest('base64url'));
  });
});
