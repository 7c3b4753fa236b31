import { randomBytes } from 'node:crypto';
import { generate, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import { open, seal } from '../crypto.ts';

/**
 * TOTP (RFC 6238) as every authenticator app implements it: HMAC-SHA-1, 6 digits, 30-second steps,
 * T0 = 0. Codes within `skew` steps either side of now are accepted (RFC 6238 §5.2 recommends at most
 * one step of network delay). A step, once accepted, is never accepted again for the same user, and no
 * earlier step either (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the OTP after
 * the successful validation has been issued for the first OTP"); the last accepted step is persisted so
 * this survives restarts.
 *
 * The secret is sealed with AES-256-GCM, the user's id as associated data.
 */
export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;
/** RFC 4226 §4 R6: at least 128 bits; 160 bits (the HMAC-SHA-1 block output) as Google Authenticator uses. */
export const TOTP_SECRET_BYTES = 20;
/** An enrollment not confirmed within this time is discarded. */
export const TOTP_ENROLLMENT_MS = 15 * 60 * 1000;

const CODE = /^\d{6}$/;

/** RFC 4648 base32 without padding, the form otpauth URIs carry. */
export function base32Encode(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** Strip what people type around a code: spaces and a dash ("123 456", "123-456"). */
export function normalizeTotpCode(input: string): string {
  return input.replace(/[\s-]/g, '');
}

export function isTotpCodeShape(input: string): boolean {
  return CODE.test(normalizeTotpCode(input));
}

/** The code for a secret at a time (ms); for tests and for the enrollment page's own check. */
export function totpCodeAt(secret: string, atMs: number): Promise<string> {
  return generate({ secret, epoch: Math.floor(atMs / 1000), period: TOTP_PERIOD, digits: TOTP_DIGITS, algorithm: 'sha1' });
}

export function totpStepAt(atMs: number): number {
  return Math.floor(Math.floor(atMs / 1000) / TOTP_PERIOD);
}

/**
 * Check a code against a secret at `atMs` within ±`skew` steps, skipping every step ≤ `afterStep`.
 * Returns the matching step; otplib compares in constant time.
 */
export async function matchTotp(
  secret: string,
  code: string,
  atMs: number,
  skew: number,
  afterStep: number | null,
): Promise<{ valid: true; step: number } | { valid: false }> {
  const token = normalizeTotpCode(code);
  if (!CODE.test(token)) return { valid: false };
  const epoch = Math.floor(atMs / 1000);
  const tolerance = skew * TOTP_PERIOD;
  const maxStep = Math.floor((epoch + tolerance) / TOTP_PERIOD);
  // otplib refuses an afterTimeStep beyond the window; every step of the window is used then.
  if (afterStep !== null && afterStep >= maxStep) return { valid: false };
  const r = await verify({
    secret,
    token,
    epoch,
    period: TOTP_PERIOD,
    digits: TOTP_DIGITS,
    algorithm: 'sha1',
    epochTolerance: tolerance,
    ...(afterStep !== null && afterStep >= 0 ? { afterTimeStep: afterStep } : {}),
  });
  return r.valid && 'timeStep' in r ? { valid: true, step: r.timeStep } : { valid: false };
}

export interface TotpStatus {
  enrolled: boolean;
  confirmedAt: number | null;
  /** An enrollment is waiting for its first code. */
  pending: boolean;
}

export interface TotpEnrollment {
  secret: string;
  otpauthUri: string;
  qrCodeDataUrl: string;
}

export class TotpFactor {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly encryptionKey: Buffer,
    private readonly opts: { skew: number; issuer: string },
  ) {}

  private openSecret(userId: string, sealed: string): string {
    return open(this.encryptionKey, userId, sealed).toString('utf8');
  }

  async status(userId: string): Promise<TotpStatus> {
    const r = await this.db.selectFrom('factor_totp').selectAll().where('user_id', '=', userId).executeTakeFirst();
    const now = this.clock.now();
    return {
      enrolled: !!r?.secret_enc && r.confirmed_at !== null,
      confirmedAt: r?.confirmed_at ?? null,
      pending: !!r?.pending_secret_enc && (r.pending_created_at ?? 0) + TOTP_ENROLLMENT_MS > now,
    };
  }

  async isEnrolled(userId: string): Promise<boolean> {
    return (await this.status(userId)).enrolled;
  }

  /**
   * Start (or restart) an enrollment: a new secret waits for its first code. An already confirmed secret
   * keeps working until the new one is confirmed.
   */
  async beginEnrollment(userId: string, label: string): Promise<TotpEnrollment> {
    const secret = base32Encode(randomBytes(TOTP_SECRET_BYTES));
    const now = this.clock.now();
    const sealed = seal(this.encryptionKey, userId, secret);
    await this.db
      .insertInto('factor_totp')
      .values({
        user_id: userId,
        secret_enc: null,
        confirmed_at: null,
        pending_secret_enc: sealed,
        pending_created_at: now,
        last_step: null,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ pending_secret_enc: sealed, pending_created_at: now, updated_at: now }))
      .execute();
    const otpauthUri = generateURI({
      issuer: this.opts.issuer,
      label,
      secret,
      algorithm: 'sha1',
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD,
    });
    const qrCodeDataUrl = await QRCode.toDataURL(otpauthUri, { errorCorrectionLevel: 'M', margin: 2, width: 256 });
    return { secret, otpauthUri, qrCodeDataUrl };
  }

  /**
   * Confirm the waiting enrollment with its first code. The code's step becomes the last accepted step
   * (it cannot be replayed at login). Returns false for a wrong code or no enrollment.
   */
  async confirmEnrollment(userId: string, code: string): Promise<boolean> {
    const r = await this.db.selectFrom('factor_totp').selectAll().where('user_id', '=', userId).executeTakeFirst();
    const now = this.clock.now();
    if (!r?.pending_secret_enc || (r.pending_created_at ?? 0) + TOTP_ENROLLMENT_MS <= now) return false;
    const secret = this.openSecret(userId, r.pending_secret_enc);
    const m = await matchTotp(secret, code, now, this.opts.skew, null);
    if (!m.valid) return false;
    // Only the enrollment we checked is promoted (a concurrent restart of the enrollment wins instead).
    const res = await this.db
      .updateTable('factor_totp')
      .set({
        secret_enc: r.pending_secret_enc,
        confirmed_at: now,
        pending_secret_enc: null,
        pending_created_at: null,
        last_step: m.step,
        updated_at: now,
      })
      .where('user_id', '=', userId)
      .where('pending_secret_enc', '=', r.pending_secret_enc)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n;
  }

  /** Whether a code is valid and unused right now, WITHOUT using it (see `consume`). */
  async check(userId: string, code: string): Promise<{ valid: true; step: number } | { valid: false }> {
    const r = await this.db.selectFrom('factor_totp').selectAll().where('user_id', '=', userId).executeTakeFirst();
    if (!r?.secret_enc || r.confirmed_at === null) return { valid: false };
    const secret = this.openSecret(userId, r.secret_enc);
    return matchTotp(secret, code, this.clock.now(), this.opts.skew, r.last_step);
  }

  /**
   * Mark a step as used: succeeds for exactly one caller, and only if no later step was used meanwhile
   * (one atomic UPDATE; two requests with the same code cannot both pass).
   */
  async consume(userId: string, step: number): Promise<boolean> {
    const res = await this.db
      .updateTable('factor_totp')
      .set({ last_step: step, updated_at: this.clock.now() })
      .where('user_id', '=', userId)
      .where('confirmed_at', 'is not', null)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .executeTakeFirst();
    return res.numUpdatedRows === 1n;
  }

  /** Check and use a code in one go: true exactly once per valid code. */
  async verify(userId: string, code: string): Promise<boolean> {
    const m = await this.check(userId, code);
    return m.valid && (await this.consume(userId, m.step));
  }

  async remove(userId: string): Promise<boolean> {
    const res = await this.db.deleteFrom('factor_totp').where('user_id', '=', userId).executeTakeFirst();
    return res.numDeletedRows > 0n;
  }

  /** Forget enrollments nobody confirmed in time. */
  async sweep(): Promise<void> {
    const cutoff = this.clock.now() - TOTP_ENROLLMENT_MS;
    await this.db.deleteFrom('factor_totp').where('secret_enc', 'is', null).where('pending_created_at', '<', cutoff).execute();
    await this.db
      .updateTable('factor_totp')
      .set({ pending_secret_enc: null, pending_created_at: null })
      .where('secret_enc', 'is not', null)
      .where('pending_created_at', '<', cutoff)
      .execute();
  }
}
