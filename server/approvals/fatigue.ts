import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { PushSkipped } from '../../shared/api/approvals.ts';
import type { ApprovalStore } from './store.ts';

/**
 * Push-fatigue limits (an attacker who knows a password must not be able to wear the user down with
 * prompts until one is approved by mistake):
 *   - one pending login approval per user and requesting device (server/approvals/login.ts reuses it);
 *   - at most PushMaxPerWindow approval pushes per user within PushWindowSeconds, and within the window
 *     each further push only after a gap that doubles: BACKOFF_BASE_MS, then twice that, …;
 *   - no push for a banned address;
 *   - after ReportsBeforeHold "This wasn't me" within a day, the account's password logins are held
 *     until the user approves one from the phone (AccountHolds below).
 * A push that is not sent leaves the approval in place: the app's approvals page still shows it.
 */
export const BACKOFF_BASE_MS = 10_000;
export const REPORT_WINDOW_MS = 24 * 3600 * 1000;

export interface PushBudgetPolicy {
  enabled: boolean;
  maxPerWindow: number;
  windowMs: number;
}

export class PushBudget {
  constructor(
    private readonly store: ApprovalStore,
    private readonly clock: Clock,
    private readonly policy: PushBudgetPolicy,
    private readonly isBanned: (ip: string) => boolean,
  ) {}

  /** Why a push for this user's new approval must not go out now; null: it may. */
  async refusal(userId: string, ip: string): Promise<PushSkipped | null> {
    if (!this.policy.enabled) return 'disabled';
    if (this.isBanned(ip)) return 'banned_address';
    const now = this.clock.now();
    const times = await this.store.pushTimes(userId, now - this.policy.windowMs);
    if (times.length >= this.policy.maxPerWindow) return 'rate_limited';
    const last = times[times.length - 1];
    if (last !== undefined && now - last < BACKOFF_BASE_MS * 2 ** (times.length - 1)) return 'backoff';
    return null;
  }
}

/** The soft lock that repeated reports put on an account, and that an approval from the phone lifts. */
export class AccountHolds {
  constructor(
    private readonly db: DB,
    private readonly store: ApprovalStore,
    private readonly clock: Clock,
    private readonly reportsBeforeHold: number,
  ) {}

  async isHeld(userId: string): Promise<boolean> {
    if (this.reportsBeforeHold === 0) return false;
    const r = await this.db.selectFrom('approval_holds').select('held_at').where('user_id', '=', userId).executeTakeFirst();
    return r?.held_at !== null && r?.held_at !== undefined;
  }

  /**
   * A report was just recorded: count the reports of the last day (since the last lift) and hold the
   * account when they reach the limit. Returns the count and whether this report started the hold.
   */
  async afterReport(userId: string): Promise<{ reports: number; newlyHeld: boolean }> {
    const now = this.clock.now();
    const row = await this.db.selectFrom('approval_holds').selectAll().where('user_id', '=', userId).executeTakeFirst();
    const since = Math.max(now - REPORT_WINDOW_MS, (row?.lifted_at ?? -1) + 1);
    const reports = await this.store.reportsSince(userId, since);
    if (this.reportsBeforeHold === 0 || reports < this.reportsBeforeHold) return { reports, newlyHeld: false };
    if (row?.held_at !== null && row?.held_at !== undefined) return { reports, newlyHeld: false };
    await this.db
      .insertInto('approval_holds')
      .values({ user_id: userId, held_at: now, lifted_at: row?.lifted_at ?? null, reports })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ held_at: now, reports }))
      .execute();
    return { reports, newlyHeld: true };
  }

  /** The phone approved: lift the hold (reports before now no longer count). Returns whether one was lifted. */
  async lift(userId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('approval_holds')
      .set({ held_at: null, lifted_at: this.clock.now() })
      .where('user_id', '=', userId)
      .where('held_at', 'is not', null)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }
}
