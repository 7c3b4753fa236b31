import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { ApprovalsTable, ApprovalStatusColumn } from '../store/schema.ts';
import { randomId } from '../crypto.ts';
import type { ApprovalKind, Asking } from '../../shared/api/approvals.ts';
import { askingOf, commit, numberMatch, type ApprovalRow } from './record.ts';

export interface NewApproval {
  kind: ApprovalKind;
  userId: string;
  userName: string;
  asking: Omit<Asking, 'time'>;
  /** The guard's key of the requesting address (server/guard/subjects.ts addressKey). */
  addressKey: string;
  /** The login page shows a number to match (web logins). */
  numberMatching: boolean;
  mode: ApprovalsTable['mode'];
  loginChallengeId: string | null;
  ttlMs: number;
}

export type Decision = Exclude<ApprovalStatusColumn, 'pending'>;

/**
 * Approvals in the store. Every state change is one conditional UPDATE (… WHERE status = 'pending'),
 * so two requests racing to decide the same approval cannot both win: an approval is used once.
 */
export class ApprovalStore {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
  ) {}

  async insert(n: NewApproval): Promise<ApprovalRow> {
    const id = randomId(); // 128 random bits
    const now = this.clock.now();
    const match = n.numberMatching ? numberMatch() : undefined;
    const draft: ApprovalRow = {
      id,
      kind: n.kind,
      user_id: n.userId,
      user_name: n.userName,
      status: 'pending',
      reason: null,
      mode: n.mode,
      client: n.asking.client,
      device_name: n.asking.deviceName,
      device_id: n.asking.deviceId,
      ip: n.asking.ip,
      address_key: n.addressKey,
      place: n.asking.place ? JSON.stringify({ city: n.asking.place.city, country: n.asking.place.country }) : null,
      action: n.asking.action,
      number: match?.number ?? null,
      choices: match ? JSON.stringify(match.choices) : null,
      nonce: '',
      canonical: '',
      challenge: '',
      login_challenge_id: n.loginChallengeId,
      failures: 0,
      created_at: now,
      expires_at: now + n.ttlMs,
      decided_at: null,
      decided_ip: null,
      credential_id: null,
      retry_until: null,
      used_at: null,
      pushed_at: null,
      push_skipped: null,
    };
    // The commitment covers exactly what the page will show (askingOf the stored row).
    const c = commit(id, { v: 1, kind: n.kind, userId: n.userId, userName: n.userName, asking: askingOf(draft) });
    const row = { ...draft, ...c };
    await this.db.insertInto('approvals').values(row).execute();
    return row;
  }

  get(id: string): Promise<ApprovalRow | undefined> {
    return this.db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The live login approval of this user, device and address (one at a time: fatigue limit). */
  pendingLogin(userId: string, deviceId: string, addressKey: string, mode: ApprovalsTable['mode']): Promise<ApprovalRow | undefined> {
    return this.db
      .selectFrom('approvals')
      .selectAll()
      .where('user_id', '=', userId)
      .where('kind', '=', 'login')
      .where('status', '=', 'pending')
      .where('device_id', '=', deviceId)
      .where('address_key', '=', addressKey)
      .where('mode', '=', mode)
      .where('expires_at', '>', this.clock.now())
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  /** The newest approval started for a held login. */
  byLoginChallenge(challengeId: string): Promise<ApprovalRow | undefined> {
    return this.db
      .selectFrom('approvals')
      .selectAll()
      .where('login_challenge_id', '=', challengeId)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  /** Point a pending approval at a newer held login of the same device (no new approval, no new push). */
  async relink(id: string, loginChallengeId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('approvals')
      .set({ login_challenge_id: loginChallengeId })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  /**
   * Decide a pending approval, once (`from`: a report may also follow an expiry). Approving also needs
   * it unexpired. Returns the decided row, or undefined when it was not in `from` any more (decided by
   * someone else, expired, replayed).
   */
  async decide(
    id: string,
    status: Decision,
    fields: { reason: string; ip?: string | null; credentialId?: string | null; retryUntil?: number | null },
    from: ApprovalStatusColumn[] = ['pending'],
  ): Promise<ApprovalRow | undefined> {
    const now = this.clock.now();
    let q = this.db
      .updateTable('approvals')
      .set({
        status,
        reason: fields.reason,
        decided_at: now,
        decided_ip: fields.ip ?? null,
        credential_id: fields.credentialId ?? null,
        retry_until: fields.retryUntil ?? null,
      })
      .where('id', '=', id)
      .where('status', 'in', from);
    if (status === 'approved') q = q.where('expires_at', '>', now);
    const r = await q.executeTakeFirst();
    return r.numUpdatedRows === 1n ? this.get(id) : undefined;
  }

  /** Count a refused assertion; returns the failures so far, or undefined when it is not pending. */
  async addFailure(id: string): Promise<number | undefined> {
    const r = await this.db
      .updateTable('approvals')
      .set((eb) => ({ failures: eb('failures', '+', 1) }))
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (r.numUpdatedRows !== 1n) return undefined;
    return (await this.get(id))?.failures;
  }

  /** An approved login releases one login, once. */
  async consume(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('approvals')
      .set({ used_at: this.clock.now() })
      .where('id', '=', id)
      .where('status', '=', 'approved')
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  /**
   * Approve-then-retry: an approved, unused held-login approval of this user and DeviceId, from the same
   * address, still inside its retry window — taken (used) atomically.
   */
  async consumeRetry(userId: string, deviceId: string, addressKey: string): Promise<ApprovalRow | undefined> {
    const now = this.clock.now();
    const candidates = await this.db
      .selectFrom('approvals')
      .selectAll()
      .where('user_id', '=', userId)
      .where('kind', '=', 'login')
      .where('mode', '=', 'hold')
      .where('status', '=', 'approved')
      .where('used_at', 'is', null)
      .where('device_id', '=', deviceId)
      .where('address_key', '=', addressKey)
      .where('retry_until', '>', now)
      .orderBy('decided_at', 'desc')
      .execute();
    for (const c of candidates) {
      const r = await this.db
        .updateTable('approvals')
        .set({ used_at: now })
        .where('id', '=', c.id)
        .where('used_at', 'is', null)
        .where('status', '=', 'approved')
        .executeTakeFirst();
      if (r.numUpdatedRows === 1n) return { ...c, used_at: now };
    }
    return undefined;
  }

  /** Pending approvals whose time is up. */
  due(): Promise<ApprovalRow[]> {
    return this.db.selectFrom('approvals').selectAll().where('status', '=', 'pending').where('expires_at', '<=', this.clock.now()).execute();
  }

  listPending(userId: string): Promise<ApprovalRow[]> {
    return this.db
      .selectFrom('approvals')
      .selectAll()
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .where('expires_at', '>', this.clock.now())
      .orderBy('created_at', 'desc')
      .limit(50)
      .execute();
  }

  /** When this user's approval pushes went out since `since` (oldest first). */
  async pushTimes(userId: string, since: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('approvals')
      .select('pushed_at')
      .where('user_id', '=', userId)
      .where('pushed_at', '>', since)
      // Notices of changes are not requests, and a session's step-ups have a budget of their own (StepUp):
      // neither uses up the budget that the user's own sign-ins are pushed under.
      .where('kind', 'not in', ['change', 'stepup'])
      .orderBy('pushed_at')
      .execute();
    return rows.map((r) => r.pushed_at!);
  }

  async markPush(id: string, pushedAt: number | null, skipped: string | null): Promise<void> {
    await this.db.updateTable('approvals').set({ pushed_at: pushedAt, push_skipped: skipped }).where('id', '=', id).execute();
  }

  /** Reports by this user within [since, now]. */
  async reportsSince(userId: string, since: number): Promise<number> {
    const r = await this.db
      .selectFrom('approvals')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('status', '=', 'reported')
      .where('decided_at', '>=', since)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Delete records decided (or expired) more than `keepMs` ago. */
  async purge(keepMs: number): Promise<void> {
    const cutoff = this.clock.now() - keepMs;
    await this.db
      .deleteFrom('approvals')
      .where('status', '!=', 'pending')
      .where((eb) => eb.or([eb('decided_at', '<', cutoff), eb.and([eb('decided_at', 'is', null), eb('expires_at', '<', cutoff)])]))
      .execute();
  }
}
