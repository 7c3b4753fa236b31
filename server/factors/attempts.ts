import type { Clock } from '../clock.ts';
import { HttpError } from '../errors.ts';
import type { DB } from '../store/index.ts';

/**
 * Wrong second-factor codes per user, across every challenge and self-service check, persisted: after
 * `USER_MAX_FAILURES` wrong codes within `USER_WINDOW_MS`, code checks for that user are refused for
 * `USER_LOCK_MS` (the password is not involved, so Jellyfin's own lockout is never touched). Together
 * with 5 wrong codes per challenge this bounds a 6-digit guesser to a few dozen tries an hour.
 */
export const CHALLENGE_MAX_ATTEMPTS = 5;
export const USER_MAX_FAILURES = 10;
export const USER_WINDOW_MS = 15 * 60 * 1000;
export const USER_LOCK_MS = 15 * 60 * 1000;

export class UserAttempts {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
  ) {}

  /** Epoch ms until which this user's code checks are refused, or undefined. */
  /** 429 with Retry-After while the user's code checks are paused; every code-checking path calls this. */
  async assertNotLocked(userId: string): Promise<void> {
    const until = await this.lockedUntil(userId);
    if (until === undefined) return;
    const seconds = Math.max(1, Math.ceil((until - this.clock.now()) / 1000));
    throw new HttpError(429, 'too_many_attempts', `Too many wrong codes for this account. Try again in ${Math.ceil(seconds / 60)} minutes, or sign in with a passkey or your phone if you have one.`, {
      'retry-after': String(seconds),
    });
  }

  async lockedUntil(userId: string): Promise<number | undefined> {
    const r = await this.db.selectFrom('factor_user_failures').selectAll().where('user_id', '=', userId).executeTakeFirst();
    return r?.locked_until && r.locked_until > this.clock.now() ? r.locked_until : undefined;
  }

  /** Count a wrong code; returns whether the user is now locked. One transaction. */
  async fail(userId: string): Promise<{ locked: boolean; failures: number }> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const r = await trx.selectFrom('factor_user_failures').selectAll().where('user_id', '=', userId).executeTakeFirst();
      const fresh = !r || r.window_start + USER_WINDOW_MS <= now;
      const failures = fresh ? 1 : r.failures + 1;
      const windowStart = fresh ? now : r.window_start;
      const locked = failures >= USER_MAX_FAILURES;
      const lockedUntil = locked ? now + USER_LOCK_MS : (r?.locked_until ?? null);
      await trx
        .insertInto('factor_user_failures')
        .values({ user_id: userId, failures: locked ? 0 : failures, window_start: locked ? now : windowStart, locked_until: lockedUntil })
        .onConflict((oc) =>
          oc.column('user_id').doUpdateSet({ failures: locked ? 0 : failures, window_start: locked ? now : windowStart, locked_until: lockedUntil }),
        )
        .execute();
      return { locked, failures };
    });
  }

  /** A correct code clears the count. */
  async succeed(userId: string): Promise<void> {
    await this.db.deleteFrom('factor_user_failures').where('user_id', '=', userId).execute();
  }
}
