import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { StepUpGrantsTable } from '../store/schema.ts';
import { keyedHash } from '../crypto.ts';

/**
 * Step-up grants (DESIGN: Step-up): a fresh proof given by ONE session (token) for ONE action and target.
 * Factor changes, Quick Connect and the most dangerous administrator actions spend a grant at its first
 * use; other administrator actions may use it again (same session, action and target) until it expires
 * (StepUpWindowSeconds), so a dashboard page that saves twice asks once.
 * The grant is 256 random bits handed to the client; only its HMAC is stored. A grant names the session
 * (TokenRegistry hash) it belongs to, the action and optionally the target (the Quick Connect code), so a
 * grant stolen from one session is useless in another, and cannot be replayed or moved to another target.
 *
 * A phone approval starts as a `pending` grant (inert) that the approval turns `granted`.
 */
export const GRANT_BYTES = 32;
/** A grant for a factor change or Quick Connect is spent within this time. */
export const GRANT_TTL_MS = 2 * 60 * 1000;
/** Spent, refused and expired grants are kept this long (for the status page), then deleted. */
export const GRANT_KEEP_MS = 60 * 60 * 1000;

const GRANT_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function isGrantShape(s: string): boolean {
  return GRANT_SHAPE.test(s);
}

export interface GrantRequest {
  tokenHash: string;
  userId: string;
  action: string;
  target: string | null;
  method: string;
}

export interface IssuedGrant {
  id: string;
  /** The secret the client sends back (X-Jellyguard-StepUp); never stored. */
  grant: string;
  expiresAt: number;
}

/** Why a grant could not be spent. */
export type SpendRefusal = 'unknown' | 'other_session' | 'other_action' | 'used' | 'expired' | 'pending' | 'denied';

export class StepUpGrants {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly hmacKey: Buffer,
    /** How long a usable grant for this action lives (default GRANT_TTL_MS). */
    private readonly ttlOf: (action: string) => number = () => GRANT_TTL_MS,
  ) {}

  hash(grant: string): string {
    return keyedHash(this.hmacKey, 'stepup', grant);
  }

  /** A usable grant (state granted) or an inert one waiting for a phone approval (state pending). */
  async issue(req: GrantRequest, state: 'granted' | 'pending', expiresAt = this.clock.now() + this.ttlOf(req.action), approvalId: string | null = null): Promise<IssuedGrant> {
    const grant = randomBytes(GRANT_BYTES).toString('base64url');
    const id = randomBytes(16).toString('base64url');
    await this.db
      .insertInto('stepup_grants')
      .values({
        id,
        secret_hash: this.hash(grant),
        token_hash: req.tokenHash,
        user_id: req.userId,
        action: req.action,
        target: req.target,
        method: req.method,
        state,
        approval_id: approvalId,
        created_at: this.clock.now(),
        expires_at: expiresAt,
        used_at: null,
      })
      .execute();
    return { id, grant, expiresAt };
  }

  async get(id: string): Promise<StepUpGrantsTable | undefined> {
    return this.db.selectFrom('stepup_grants').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async byApproval(approvalId: string): Promise<StepUpGrantsTable | undefined> {
    return this.db.selectFrom('stepup_grants').selectAll().where('approval_id', '=', approvalId).executeTakeFirst();
  }

  /** Attach the approval that will decide a pending grant. */
  async attachApproval(id: string, approvalId: string, expiresAt: number): Promise<void> {
    await this.db.updateTable('stepup_grants').set({ approval_id: approvalId, expires_at: expiresAt }).where('id', '=', id).where('state', '=', 'pending').execute();
  }

  /**
   * A phone approval decided a pending grant: approved → usable for its action's life from now;
   * otherwise denied. One conditional UPDATE (a decision lands once).
   */
  async settle(approvalId: string, approved: boolean): Promise<StepUpGrantsTable | undefined> {
    const now = this.clock.now();
    const pending = await this.byApproval(approvalId);
    if (!pending) return undefined;
    const res = await this.db
      .updateTable('stepup_grants')
      .set(approved ? { state: 'granted', expires_at: now + this.ttlOf(pending.action) } : { state: 'denied' })
      .where('approval_id', '=', approvalId)
      .where('state', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n ? this.byApproval(approvalId) : undefined;
  }

  /**
   * Spend a grant for (session, action, target): exactly one caller succeeds (one conditional UPDATE).
   * A `reusable` grant stays usable until it expires (only its last use is noted). On refusal, says why
   * (the caller decides what counts as a guessing failure).
   */
  async spend(
    grant: string,
    tokenHash: string,
    action: string,
    target: string | null,
    reusable = false,
  ): Promise<{ ok: true; row: StepUpGrantsTable } | { ok: false; reason: SpendRefusal }> {
    const now = this.clock.now();
    const secretHash = this.hash(grant);
    const res = await this.db
      .updateTable('stepup_grants')
      .set(reusable ? { used_at: now } : { state: 'used', used_at: now })
      .where('secret_hash', '=', secretHash)
      .where('token_hash', '=', tokenHash)
      .where('action', '=', action)
      .where('state', '=', 'granted')
      .where('expires_at', '>', now)
      // Exactly this target: a grant given to remove one phone never removes another.
      .where((eb) => (target === null ? eb('target', 'is', null) : eb('target', '=', target)))
      .executeTakeFirst();
    const row = await this.db.selectFrom('stepup_grants').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
    if (res.numUpdatedRows === 1n && row) return { ok: true, row };
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.token_hash !== tokenHash) return { ok: false, reason: 'other_session' };
    if (row.action !== action || row.target !== target) return { ok: false, reason: 'other_action' };
    if (row.state === 'used') return { ok: false, reason: 'used' };
    if (row.state === 'denied') return { ok: false, reason: 'denied' };
    if (row.expires_at <= now || row.state === 'expired') return { ok: false, reason: 'expired' };
    return { ok: false, reason: 'pending' };
  }

  /** How many phone approvals this session asked for since `since` (its own push budget). */
  async phoneRequestsSince(tokenHash: string, since: number): Promise<number> {
    const r = await this.db
      .selectFrom('stepup_grants')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('token_hash', '=', tokenHash)
      .where('method', '=', 'phone')
      .where('created_at', '>', since)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Expire what is due; forget old rows. */
  async sweep(): Promise<void> {
    const now = this.clock.now();
    await this.db
      .updateTable('stepup_grants')
      .set({ state: 'expired' })
      .where('state', 'in', ['pending', 'granted'])
      .where('expires_at', '<=', now)
      .execute();
    await this.db.deleteFrom('stepup_grants').where('expires_at', '<', now - GRANT_KEEP_MS).execute();
  }
}
