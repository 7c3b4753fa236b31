import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { generate } from 'otplib';
import { ManualClock } from '../../server/clock.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { tempDir } from '../helpers/gateway.ts';
import { TotpFactor, base32Encode, matchTotp, totpCodeAt, totpStepAt, TOTP_ENROLLMENT_MS } from '../../server/factors/totp.ts';
import { open, seal } from '../../server/crypto.ts';

const USER = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);

/** RFC 6238 Appendix B: the seeds are ASCII, 8 digits, T0 = 0, X = 30 s. */
const SEED_SHA1 = Buffer.from('12345678901234567890', 'ascii');
const SEED_SHA256 = Buffer.from('12345678901234567890123456789012', 'ascii');
const SEED_SHA512 = Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii');
const VECTORS: Array<[number, string, string, string]> = [
  // time (s), SHA1, SHA256, SHA512
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(dir = tempDir(), clock = new ManualClock(), key = randomBytes(32), skew = 1) {
  const store = await openStore(dir);
  cleanups.push(() => store.close());
  return { dir, store, clock, key, totp: new TotpFactor(store.db, clock, key, { skew, issuer: 'Jellyfin' }) };
}

async function enroll(t: Awaited<ReturnType<typeof setup>>) {
  const e = await t.totp.beginEnrollment(USER, 'alice');
  // Confirm with the code of the previous step so the current step stays free for the test.
  expect(await t.totp.confirmEnrollment(USER, await totpCodeAt(e.secret, t.clock.now() - 30_000))).toBe(true);
  return e.secret;
}

describe('TOTP (RFC 6238)', () => {
  it('matches the RFC 6238 Appendix B vectors (SHA-1, 8 digits)', async () => {
    for (const [t, sha1] of VECTORS) {
      expect(await generate({ secret: new Uint8Array(SEED_SHA1), epoch: t, digits: 8, algorithm: 'sha1', period: 30 })).toBe(sha1);
    }
  });

  it('matches the SHA-256 and SHA-512 vectors too', async () => {
    for (const [t, , sha256, sha512] of VECTORS) {
      expect(await generate({ secret: new Uint8Array(SEED_SHA256), epoch: t, digits: 8, algorithm: 'sha256' })).toBe(sha256);
      expect(await generate({ secret: new Uint8Array(SEED_SHA512), epoch: t, digits: 8, algorithm: 'sha512' })).toBe(sha512);
    }
  });

  it('our base32 encoding of the RFC seed yields the same 6-digit codes (the last 6 of the 8)', async () => {
    const secret = base32Encode(SEED_SHA1);
    expect(secret).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    for (const [t, sha1] of VECTORS) expect(await totpCodeAt(secret, t * 1000)).toBe(sha1.slice(2));
  });

  it('accepts exactly ±skew steps around now, at the step edges', async () => {
    const secret = base32Encode(SEED_SHA1);
    const stepStart = 1111111110 * 1000; // a step boundary (1111111110 / 30 = 37037037)
    const step = totpStepAt(stepStart);
    expect(stepStart % 30_000).toBe(0);
    const codeAt = (s: number) => totpCodeAt(secret, s * 30_000);
    for (const now of [stepStart, stepStart + 29_999]) {
      expect(await matchTotp(secret, await codeAt(step), now, 1, null)).toEqual({ valid: true, step });
      expect(await matchTotp(secret, await codeAt(step - 1), now, 1, null)).toEqual({ valid: true, step: step - 1 });
      expect(await matchTotp(secret, await codeAt(step + 1), now, 1, null)).toEqual({ valid: true, step: step + 1 });
      expect((await matchTotp(secret, await codeAt(step - 2), now, 1, null)).valid).toBe(false);
      expect((await matchTotp(secret, await codeAt(step + 2), now, 1, null)).valid).toBe(false);
    }
    // skew 0: only the current step; skew 2: two either side.
    expect((await matchTotp(secret, await codeAt(step - 1), stepStart, 0, null)).valid).toBe(false);
    expect((await matchTotp(secret, await codeAt(step), stepStart + 29_999, 0, null)).valid).toBe(true);
    expect((await matchTotp(secret, await codeAt(step - 2), stepStart, 2, null)).valid).toBe(true);
    expect((await matchTotp(secret, await codeAt(step + 2), stepStart + 29_999, 2, null)).valid).toBe(true);
    // One millisecond past the window's last step: refused.
    expect((await matchTotp(secret, await codeAt(step - 1), stepStart + 60_000, 1, null)).valid).toBe(false);
  });

  it('skips steps at or before the last used step, and never throws when all of the window is used', async () => {
    const secret = base32Encode(SEED_SHA1);
    const now = 1111111110 * 1000;
    const step = totpStepAt(now);
    expect((await matchTotp(secret, await totpCodeAt(secret, now), now, 1, step)).valid).toBe(false);
    expect((await matchTotp(secret, await totpCodeAt(secret, now), now, 1, step - 1)).valid).toBe(true);
    expect((await matchTotp(secret, await totpCodeAt(secret, now + 30_000), now, 1, step + 5)).valid).toBe(false);
  });

  it('refuses malformed codes without throwing', async () => {
    const secret = base32Encode(SEED_SHA1);
    for (const bad of ['', '12345', '1234567', 'abcdef', '12345a', '１２３４５６']) {
      expect((await matchTotp(secret, bad, Date.now(), 1, null)).valid).toBe(false);
    }
    // People type spaces and dashes.
    const code = await totpCodeAt(secret, 59_000);
    expect((await matchTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, 59_000, 1, null)).valid).toBe(true);
  });

  it('enrolls with an otpauth URI and QR code, confirmed by a first code', async () => {
    const t = await setup();
    const e = await t.totp.beginEnrollment(USER, 'alice');
    expect(e.secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits
    expect(e.otpauthUri).toMatch(/^otpauth:\/\/totp\/Jellyfin:alice\?/);
    const uri = new URL(e.otpauthUri);
    expect(uri.searchParams.get('secret')).toBe(e.secret);
    expect(uri.searchParams.get('issuer')).toBe('Jellyfin');
    expect(['SHA1', null]).toContain(uri.searchParams.get('algorithm'));
    expect(['6', null]).toContain(uri.searchParams.get('digits'));
    expect(['30', null]).toContain(uri.searchParams.get('period'));
    expect(e.qrCodeDataUrl).toMatch(/^data:image\/png;base64,/);
    expect(await t.totp.isEnrolled(USER)).toBe(false);
    expect(await t.totp.confirmEnrollment(USER, await wrongCode(e.secret, t.clock.now()))).toBe(false);
    expect(await t.totp.confirmEnrollment(USER, await totpCodeAt(e.secret, t.clock.now()))).toBe(true);
    expect(await t.totp.isEnrolled(USER)).toBe(true);
    // The confirming code cannot be used again to log in.
    expect(await t.totp.verify(USER, await totpCodeAt(e.secret, t.clock.now()))).toBe(false);
  });

  it('forgets an enrollment nobody confirmed in time', async () => {
    const t = await setup();
    const e = await t.totp.beginEnrollment(USER, 'alice');
    t.clock.advance(TOTP_ENROLLMENT_MS + 1);
    expect(await t.totp.confirmEnrollment(USER, await totpCodeAt(e.secret, t.clock.now()))).toBe(false);
    await t.totp.sweep();
    expect(await t.store.db.selectFrom('factor_totp').selectAll().execute()).toEqual([]);
  });

  it('re-enrollment keeps the old secret working until the new one is confirmed', async () => {
    const t = await setup();
    const old = await enroll(t);
    const e = await t.totp.beginEnrollment(USER, 'alice');
    expect(await t.totp.verify(USER, await totpCodeAt(old, t.clock.now()))).toBe(true);
    t.clock.advance(30_000);
    expect(await t.totp.confirmEnrollment(USER, await totpCodeAt(e.secret, t.clock.now()))).toBe(true);
    t.clock.advance(30_000);
    expect(await t.totp.verify(USER, await totpCodeAt(old, t.clock.now()))).toBe(false);
    expect(await t.totp.verify(USER, await totpCodeAt(e.secret, t.clock.now()))).toBe(true);
  });

  it('refuses a replayed code, and an older code after a newer one', async () => {
    const t = await setup();
    const secret = await enroll(t);
    const now = await totpCodeAt(secret, t.clock.now());
    expect(await t.totp.verify(USER, now)).toBe(true);
    expect(await t.totp.verify(USER, now)).toBe(false);
    // The previous step is within the skew but older than the used one.
    expect(await t.totp.verify(USER, await totpCodeAt(secret, t.clock.now() - 30_000))).toBe(false);
    t.clock.advance(30_000);
    expect(await t.totp.verify(USER, await totpCodeAt(secret, t.clock.now()))).toBe(true);
  });

  it('lets exactly one of two concurrent uses of a code pass', async () => {
    const t = await setup();
    const secret = await enroll(t);
    const code = await totpCodeAt(secret, t.clock.now());
    const results = await Promise.all([t.totp.verify(USER, code), t.totp.verify(USER, code), t.totp.verify(USER, code)]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('refuses a replay across a restart (the used step is persisted)', async () => {
    const dir = tempDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const key = randomBytes(32);
    const clock = new ManualClock();
    const first = await setup(dir, clock, key);
    const secret = await enroll(first);
    const code = await totpCodeAt(secret, clock.now());
    expect(await first.totp.verify(USER, code)).toBe(true);
    await first.store.close();
    cleanups.pop(); // closed already

    const second = await setup(dir, clock, key);
    expect(await second.totp.verify(USER, code)).toBe(false);
    clock.advance(30_000);
    expect(await second.totp.verify(USER, await totpCodeAt(secret, clock.now()))).toBe(true);
  });

  it('keeps the secret sealed at rest with the user id as associated data', async () => {
    const t = await setup();
    const secret = await enroll(t);
    const row = (await t.store.db.selectFrom('factor_totp').selectAll().where('user_id', '=', USER).executeTakeFirstOrThrow());
    const raw = JSON.stringify(row);
    expect(raw).not.toContain(secret);
    expect(row.secret_enc).toMatch(/^v1\./);
    expect(open(t.key, USER, row.secret_enc!).toString()).toBe(secret);
    expect(() => open(t.key, OTHER, row.secret_enc!)).toThrow();
    // Copying the sealed secret onto another user's row does not give that user a working TOTP.
    await t.store.db
      .insertInto('factor_totp')
      .values({ ...row, user_id: OTHER, last_step: null })
      .execute();
    await expect(t.totp.verify(OTHER, await totpCodeAt(secret, t.clock.now() + 30_000))).rejects.toThrow();
    // And a value sealed for another owner is refused, whatever the key.
    expect(() => open(t.key, USER, seal(t.key, OTHER, secret))).toThrow();
  });

  it('removes TOTP', async () => {
    const t = await setup();
    await enroll(t);
    expect(await t.totp.remove(USER)).toBe(true);
    expect(await t.totp.isEnrolled(USER)).toBe(false);
    expect(await t.totp.remove(USER)).toBe(false);
  });
});

/** A 6-digit code that is valid at none of the steps around `now`. */
export async function wrongCode(secret: string, now: number): Promise<string> {
  const valid = new Set(await Promise.all([-2, -1, 0, 1, 2].map((d) => totpCodeAt(secret, now + d * 30_000))));
  for (let i = 0; ; i++) {
    const c = String(i).padStart(6, '0');
    if (!valid.has(c)) return c;
  }
}
