import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { openStore } from '../../server/store/index.ts';
import { tempDir } from '../helpers/gateway.ts';
import { RecoveryCodes, RECOVERY_CODE_COUNT, isRecoveryCodeShape, normalizeRecoveryCode } from '../../server/factors/recovery.ts';
import { slowHash, slowVerify } from '../../server/crypto.ts';

const USER = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const store = await openStore(tempDir());
  cleanups.push(() => store.close());
  const clock = new ManualClock();
  return { store, clock, codes: new RecoveryCodes(store.db, clock) };
}

describe('recovery codes', () => {
  it('generates 10 distinct codes, stored only as salted scrypt hashes', async () => {
    const { store, codes } = await setup();
    const set = await codes.generate(USER);
    expect(set).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(set).size).toBe(RECOVERY_CODE_COUNT);
    for (const c of set) {
      expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
      expect(isRecoveryCodeShape(c)).toBe(true);
    }
    const rows = await store.db.selectFrom('factor_recovery_codes').selectAll().execute();
    expect(rows).toHaveLength(RECOVERY_CODE_COUNT);
    const dump = JSON.stringify(rows);
    for (const c of set) {
      expect(dump).not.toContain(c);
      expect(dump).not.toContain(normalizeRecoveryCode(c));
    }
    for (const r of rows) expect(r.code_hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    // Salted: two hashes of the same code differ, both verify.
    const [h1, h2] = [await slowHash('ABCDE12345'), await slowHash('ABCDE12345')];
    expect(h1).not.toBe(h2);
    expect(await slowVerify('ABCDE12345', h1)).toBe(true);
    expect(await slowVerify('ABCDE12346', h1)).toBe(false);
    expect(await codes.remaining(USER)).toBe(10);
  });

  it('each code works once; the others keep working', async () => {
    const { codes } = await setup();
    const set = await codes.generate(USER);
    expect(await codes.redeem(USER, set[3]!)).toBe(true);
    expect(await codes.redeem(USER, set[3]!)).toBe(false);
    expect(await codes.remaining(USER)).toBe(9);
    expect(await codes.redeem(USER, set[4]!)).toBe(true);
    expect(await codes.remaining(USER)).toBe(8);
  });

  it('reads codes the way people type them', async () => {
    const { codes } = await setup();
    const set = await codes.generate(USER);
    const c = set[0]!;
    expect(await codes.redeem(USER, ` ${c.toLowerCase().replace('-', ' ')} `)).toBe(true);
    // Look-alikes: O for 0, I/L for 1.
    const withZero = set.slice(1).find((x) => x.includes('0') || x.includes('1'));
    if (withZero) expect(await codes.redeem(USER, withZero.replace(/0/g, 'O').replace(/1/g, 'l'))).toBe(true);
  });

  it('refuses wrong, malformed and other users’ codes', async () => {
    const { codes } = await setup();
    const mine = await codes.generate(USER);
    await codes.generate(OTHER);
    expect(await codes.redeem(OTHER, mine[0]!)).toBe(false);
    expect(await codes.redeem(USER, 'ZZZZZ-ZZZZZ')).toBe(false);
    expect(await codes.redeem(USER, '')).toBe(false);
    expect(await codes.redeem(USER, 'x'.repeat(1000))).toBe(false);
    expect(await codes.redeem(USER, mine[0]!)).toBe(true);
  });

  it('under concurrent redemption of one code, exactly one request succeeds', async () => {
    const { codes } = await setup();
    const set = await codes.generate(USER);
    const results = await Promise.all([codes.redeem(USER, set[0]!), codes.redeem(USER, set[0]!)]);
    expect(results.sort()).toEqual([false, true]);
    expect(await codes.remaining(USER)).toBe(9);
    // …and with more contenders.
    const many = await Promise.all(Array.from({ length: 5 }, () => codes.redeem(USER, set[1]!)));
    expect(many.filter(Boolean)).toHaveLength(1);
  });

  it('regenerating invalidates the whole old set', async () => {
    const { codes } = await setup();
    const old = await codes.generate(USER);
    const fresh = await codes.generate(USER);
    const results = await Promise.all(old.slice(0, 4).map((c) => codes.redeem(USER, c)));
    expect(results).toEqual([false, false, false, false]);
    expect(await codes.redeem(USER, fresh[0]!)).toBe(true);
    expect(await codes.remaining(USER)).toBe(9);
  });
});
