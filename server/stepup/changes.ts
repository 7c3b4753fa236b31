import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { Approvals, ApprovalRow } from '../approvals/index.ts';
import type { Factors } from '../factors/index.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import { revokeSession } from '../gate/index.ts';
import type { Notifier } from '../guard/index.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/index.ts';
import type { FactorChangesTable } from '../store/schema.ts';
import { STEP_UP_ACTION_LABELS, type FactorAction } from '../../shared/api/stepup.ts';
import type { Actor } from './index.ts';

/** A change notice waits on the phones this long ("This wasn't me" still works after it, from the app). */
export const CHANGE_NOTICE_SECONDS = 24 * 3600;

export interface FactorChangeDeps {
  db: DB;
  clock: Clock;
  log: Logger;
  factors: Factors;
  tokens: TokenRegistry;
  jellyfin: Pick<JellyfinClient, 'deleteDevice'>;
  engine: Pick<Approvals, 'request' | 'pushNow' | 'get' | 'onDecision' | 'excludeCredentials' | 'phones' | 'audit'>;
  /** The user's confirmed e-mail address (the push goes as the approval above, not twice). */
  email: Pick<Notifier, 'notifyUser'>;
}

/** What the notice says was done ("A passkey named “Work laptop” was added"). */
function describeChange(change: FactorAction, name: string | null): string {
  const named = name ? ` “${name}”` : '';
  switch (change) {
    case 'AddPhone':
      return `A phone${named} was set up as a key to the account`;
    case 'RemovePhone':
      return `A phone${named} was removed from the account`;
    case 'AddPasskey':
      return `A passkey${named} was added to the account`;
    case 'RemovePasskey':
      return `A passkey${named} was removed from the account`;
    case 'AddTOTP':
      return 'An authenticator app was set up';
    case 'RemoveTOTP':
      return 'The authenticator app was removed';
    case 'SetEmail':
      return `The e-mail address was changed${name ? ` to ${name}` : ''}`;
    case 'RemoveEmail':
      return 'The e-mail address was removed';
    case 'RegenerateRecoveryCodes':
      return 'New recovery codes were made (the old ones stopped working)';
  }
}

/**
 * Every change to an account's second factors is told to its owner (DESIGN: Step-up): a notice on the
 * account's phones — an approval of kind "change", so that "This wasn't me" works as for any approval —
 * and an e-mail to the confirmed address; and it is kept with the session and address that made it.
 * "This wasn't me" (a passkey tap on the phone; the approvals engine then bans the address) revokes that
 * session and removes what the change added. A removal cannot be undone here: the owner adds the factor
 * again, and the session that removed it is gone.
 */
export class FactorChanges {
  constructor(private readonly deps: FactorChangeDeps) {
    deps.engine.onDecision((row) => {
      if (row.kind === 'change') return this.decided(row);
      if (row.status === 'reported') return this.reportedStepUp(row);
    });
    deps.engine.excludeCredentials('change', (row) => this.unsettledCredentials(row.user_id));
  }

  /**
   * Keys that cannot answer a change notice: every passkey or phone that a change added and that is not
   * settled yet — its own notice not answered "It was me" and younger than CHANGE_NOTICE_SECONDS (an
   * account's first key, proved by the password alone, is settled). So a thief's new key cannot confirm
   * its own notice, nor a second key of his the notice of the first.
   */
  private async unsettledCredentials(userId: string): Promise<string[]> {
    const since = this.deps.clock.now() - CHANGE_NOTICE_SECONDS * 1000;
    const rows = await this.deps.db
      .selectFrom('factor_changes')
      .select(['change', 'ref', 'approval_id'])
      .where('user_id', '=', userId)
      .where('change', 'in', ['AddPasskey', 'AddPhone'])
      // An account's first key, set up on the password just typed, had nobody to tell and is its owner's.
      .where('proof', 'not in', ['recent_sign_in', 'password'])
      .where('undone_at', 'is', null)
      .where('created_at', '>', since)
      .execute();
    const out: string[] = [];
    for (const c of rows) {
      if (!c.ref) continue;
      const notice = c.approval_id ? await this.deps.engine.get(c.approval_id) : undefined;
      if (notice?.status === 'approved') continue;
      if (c.change === 'AddPasskey') out.push(c.ref);
      else {
        const phone = await this.deps.engine.phones.get(userId, c.ref);
        if (phone) out.push(phone.credential_id);
      }
    }
    return out;
  }

  private audit(e: AuditEvent): void {
    this.deps.engine.audit(e);
  }

  /**
   * A change was made (after its proof was spent). `ref` is what it added or removed (a passkey or
   * phone id, an e-mail address), `name` how a person knows it. Never fails the request that made it.
   */
  async record(actor: Actor, userName: string, change: FactorAction, proof: string, ref: string | null, name: string | null = null, previousEmail: string | null = null): Promise<void> {
    try {
      await this.notify(actor, userName, change, proof, ref, name, previousEmail);
    } catch (e) {
      this.deps.log.error('telling the owner of a factor change failed', e);
    }
  }

  private async notify(actor: Actor, userName: string, change: FactorAction, proof: string, ref: string | null, name: string | null, previousEmail: string | null): Promise<void> {
    const { session } = actor;
    const row: FactorChangesTable = {
      id: randomBytes(16).toString('base64url'),
      user_id: session.userId,
      change,
      ref,
      token_hash: session.tokenHash,
      device_id: session.deviceId,
      device_name: session.deviceName,
      client: session.client,
      ip: actor.ip,
      proof,
      previous: change === 'SetEmail' ? previousEmail : null,
      approval_id: null,
      created_at: this.deps.clock.now(),
      undone_at: null,
    };
    await this.deps.db.insertInto('factor_changes').values(row).execute();
    const what = describeChange(change, name);
    // The notice goes to the phones the account had BEFORE: a phone just added has nothing to tell itself.
    const phones = (await this.deps.engine.phones.usable(session.userId)).filter((p) => !(change === 'AddPhone' && p.id === ref));
    let approval: ApprovalRow | undefined;
    let pushed = false;
    if (phones.length > 0) {
      // Linked to this change before it is pushed: the phones never see a notice the gateway cannot place.
      ({ row: approval } = await this.deps.engine.request({
        kind: 'change',
        userId: session.userId,
        userName,
        asking: { client: session.client, deviceName: session.deviceName, deviceId: session.deviceId, ip: actor.ip, action: what },
        ttlSeconds: CHANGE_NOTICE_SECONDS,
        push: false,
      }));
      await this.deps.db.updateTable('factor_changes').set({ approval_id: approval.id }).where('id', '=', row.id).execute();
      pushed = await this.deps.engine.pushNow(approval);
    }
    const from = [session.client, session.deviceName ? `(${session.deviceName})` : ''].filter(Boolean).join(' ') || 'an unknown device';
    // A changed or removed address: the OLD one is told (whoever changed it controls the new one); a first
    // address was just confirmed by a code sent to it, so there is no one else to tell.
    const aboutEmail = change === 'SetEmail' || change === 'RemoveEmail';
    const to = aboutEmail ? previousEmail : undefined;
    if (!aboutEmail || to) this.deps.email.notifyUser(session.userId, {
      kind: 'factor_change',
      channels: ['email'],
      ...(to ? { to } : {}),
      title: `Jellyfin: the sign-in keys of ${userName} changed`,
      text:
        `${what} (${STEP_UP_ACTION_LABELS[change].toLowerCase()}).\n` +
        `From: ${from}, address ${actor.ip}, at ${new Date(row.created_at).toISOString()}.\n\n` +
        `If this was you, there is nothing to do. If it was not, open the Jellyguard Authenticator on your phone and ` +
        `answer "This wasn't me" on this change: the session that made it is signed out, what it added is removed and ` +
        `its address is blocked. Then change your Jellyfin password.\n`,
    });
    this.audit({
      type: 'factor.change.notified',
      outcome: 'info',
      userId: session.userId,
      userName,
      ip: actor.ip,
      deviceId: session.deviceId,
      deviceName: session.deviceName,
      client: session.client,
      detail: { change, proof, pushed, notice: approval ? approval.id.slice(0, 8) : null },
    });
  }

  /**
   * Which of these notices tell of changes this session made itself: they are not listed to it (the
   * person who made a change has nothing to answer, and a thief must not learn the notice's id).
   */
  async madeBy(approvalIds: string[], tokenHash: string): Promise<Set<string>> {
    if (approvalIds.length === 0) return new Set();
    const rows = await this.deps.db
      .selectFrom('factor_changes')
      .select('approval_id')
      .where('approval_id', 'in', approvalIds)
      .where('token_hash', '=', tokenHash)
      .execute();
    return new Set(rows.map((r) => r.approval_id!));
  }

  /** The owner answered the notice on the phone. */
  private async decided(approval: ApprovalRow): Promise<void> {
    const change = await this.deps.db.selectFrom('factor_changes').selectAll().where('approval_id', '=', approval.id).executeTakeFirst();
    if (!change) return;
    const people = { userId: change.user_id, userName: approval.user_name, ip: change.ip, deviceId: change.device_id, deviceName: change.device_name, client: change.client };
    if (approval.status === 'approved') {
      this.audit({ ...people, type: 'factor.change.confirmed', outcome: 'success', detail: { change: change.change } });
      return;
    }
    if (approval.status !== 'reported') return;
    const claimed = await this.deps.db
      .updateTable('factor_changes')
      .set({ undone_at: this.deps.clock.now() })
      .where('id', '=', change.id)
      .where('undone_at', 'is', null)
      .executeTakeFirst();
    if (claimed.numUpdatedRows !== 1n) return;
    const revoked = await this.revokeSession(change);
    const removed = await this.removeWhatItAdded(change);
    this.audit({ ...people, type: 'factor.change.reverted', outcome: 'success', detail: { change: change.change, sessionRevoked: revoked, removed } });
    // Whatever else that session changed and the owner has not confirmed goes too.
    const others = await this.deps.db
      .selectFrom('factor_changes')
      .selectAll()
      .where('token_hash', '=', change.token_hash)
      .where('undone_at', 'is', null)
      .where('id', '!=', change.id)
      .execute();
    for (const other of others) {
      const notice = other.approval_id ? await this.deps.engine.get(other.approval_id) : undefined;
      if (notice?.status === 'approved') continue;
      const took = await this.deps.db.updateTable('factor_changes').set({ undone_at: this.deps.clock.now() }).where('id', '=', other.id).where('undone_at', 'is', null).executeTakeFirst();
      if (took.numUpdatedRows !== 1n) continue;
      const also = await this.removeWhatItAdded(other);
      this.audit({ ...people, type: 'factor.change.reverted', outcome: 'success', detail: { change: other.change, removed: also, with: change.change } });
    }
  }

  /**
   * "This wasn't me" on a step-up the phone was asked to approve (a change, a Quick Connect code): the
   * session that asked is not the owner's, so it is signed out (the approvals engine bans its address).
   */
  private async reportedStepUp(approval: ApprovalRow): Promise<void> {
    const grant = await this.deps.db.selectFrom('stepup_grants').select('token_hash').where('approval_id', '=', approval.id).executeTakeFirst();
    if (!grant) return;
    const revoked = await revokeSession(this.deps.tokens, this.deps.jellyfin, grant.token_hash);
    this.audit({ type: 'session.revoked', outcome: 'refused', userId: approval.user_id, userName: approval.user_name, ip: approval.ip, deviceId: approval.device_id, deviceName: approval.device_name, client: approval.client, detail: { reason: 'stepup_reported', revoked } });
  }

  /** The session that made the change stops working at the gateway at once, and at Jellyfin where it can. */
  private revokeSession(change: FactorChangesTable): Promise<boolean> {
    return revokeSession(this.deps.tokens, this.deps.jellyfin, change.token_hash);
  }

  /** Undo an addition (only while what it added is still the account's). */
  private async removeWhatItAdded(c: FactorChangesTable): Promise<string | null> {
    const { factors } = this.deps;
    const userId = c.user_id;
    switch (c.change) {
      case 'AddPasskey':
        if (c.ref && (await factors.passkeys.remove(userId, c.ref))) {
          await factors.afterPrimaryRemoved(userId);
          return 'passkey';
        }
        return null;
      case 'AddPhone': {
        const phone = c.ref ? await this.deps.engine.phones.remove(userId, c.ref) : undefined;
        if (!phone) return null;
        await factors.passkeys.remove(userId, phone.credential_id);
        await factors.afterPrimaryRemoved(userId);
        return 'phone';
      }
      case 'AddTOTP': {
        const t = await factors.totp.status(userId);
        // Only the app this change set up (the owner may have set up another one since).
        if (!t.enrolled || t.confirmedAt === null || Math.abs(t.confirmedAt - c.created_at) > 60_000) return null;
        await factors.totp.remove(userId);
        await factors.afterPrimaryRemoved(userId);
        return 'totp';
      }
      case 'SetEmail': {
        const a = await factors.email.address(userId);
        if (!a || a.email !== c.ref) return null;
        // The owner's address comes back; a first address just goes.
        if (c.previous) await factors.email.setAddress(userId, c.previous, 'self');
        else {
          await factors.email.removeAddress(userId);
          await factors.afterPrimaryRemoved(userId);
        }
        return 'email';
      }
      case 'RegenerateRecoveryCodes':
        // Whoever made them holds them: they all go (the owner makes a new set).
        await factors.recovery.removeAll(userId);
        return 'recovery_codes';
      default:
        return null; // a removal: nothing to take back
    }
  }
}
