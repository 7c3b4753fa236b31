import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import { slowHash, slowVerify } from '../crypto.ts';

/**
 * Recovery codes: ten single-use codes, shown once, stored only as scrypt hashes (salted, slow).
 * Each code is 10 characters of Crockford's base32 (50 random bits), shown as "XXXXX-XXXXX"; input is
 * read case-insensitively, with dashes and spaces ignored and the look-alikes I/L → 1, O → 0 mapped.
 * Generating a new set deletes the old one in the same transaction.
 */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base32: no I, L, O, U
const CODE_CHARS = 10;

export function normalizeRecoveryCode(input: string): string {
  return input
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/[IL]/g, '1')
    .replace(/O/g, '0');
}

export function isRecoveryCodeShape(input: string): boolean {
  const n = normalizeRecoveryCode(input);
  return n.length === CODE_CHARS && [...n].every((c) => ALPHABET.includes(c));
}

function newCode(): string {
  // 32 symbols: each random byte's low 5 bits are uniform.
  const chars = [...randomBytes(CODE_CHARS)].map((b) => ALPHABET[b & 31]!).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

export class RecoveryCodes {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
  ) {}

  /** A new set of codes, replacing any old one. The plaintext leaves here once and is never stored. */
  async generate(userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
    const hashes = await Promise.all(codes.map((c) => slowHash(normalizeRecoveryCode(c))));
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('factor_recovery_codes').where('user_id', '=', userId).execute();
      await trx
        .insertInto('factor_recovery_codes')
        .values(hashes.map((code_hash) => ({ user_id: userId, code_hash, created_at: now, used_at: null })))
        .execute();
    });
    return codes;
  }

  async remaining(userId: string): Promise<number> {
    const r = await this.db
      .selectFrom('factor_recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /**
   * Redeem a code: true for exactly one caller. Every unused hash is checked (the same work whichever
   * code matches), then the matching row is marked used with a conditional UPDATE, so two concurrent
   * redemptions of one code cannot both succeed.
   */
  async redeem(userId: string, input: string): Promise<boolean> {
    const rows = await this.db
      .selectFrom('factor_recovery_codes')
      .select(['id', 'code_hash'])
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .execute();
    if (!isRecoveryCodeShape(input) || rows.length === 0) return false;
    const code = normalizeRecoveryCode(input);
    const matches = await Promise.all(rows.map((r) => slowVerify(code, r.code_hash)));
    const hit = rows.find((_, i) => matches[i]);
    if (!hit) return false;
    const res = await this.db
      .updateTable('factor_recovery_codes')
      .set({ used_at: this.clock.now() })
      .where('id', '=', hit.id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n;
  }

  async removeAll(userId: string): Promise<void> {
    await this.db.deleteFrom('factor_recovery_codes').where('user_id', '=', userId).execute();
  }
}
