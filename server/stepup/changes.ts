import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { Approvals, ApprovalRow } from '../approvals/index.ts';
import type { Factors } from '../factors/index.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
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
  engine: Pick<Approvals, 'request' | 'onDecision' | 'excludeCredentials' | 'phones' | 'audit'>;
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
    });
    deps.engine.excludeCredentials('change', (row) => this.addedCredentials(row.id));
  }

  /** The passkey a change added (a passkey, or a phone's): it cannot answer the notice of that change. */
  private async addedCredentials(approvalId: string): Promise<string[]> {
    const c = await this.deps.db.selectFrom('factor_changes').select(['change', 'ref', 'user_id']).where('approval_id', '=', approvalId).executeTakeFirst();
    if (!c?.ref) return [];
    if (c.change === 'AddPasskey') return [c.ref];
    if (c.change === 'AddPhone') {
      const phone = await this.deps.engine.phones.get(c.user_id, c.ref);
      return phone ? [phone.credential_id] : [];
    }
    return [];
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
      ({ row: approval, pushed } = await this.deps.engine.request({
        kind: 'change',
        userId: session.userId,
        userName,
        asking: { client: session.client, deviceName: session.deviceName, deviceId: session.deviceId, ip: actor.ip, action: what },
        ttlSeconds: CHANGE_NOTICE_SECONDS,
      }));
      await this.deps.db.updateTable('factor_changes').set({ approval_id: approval.id }).where('id', '=', row.id).execute();
    }
    const from = [session.client, session.deviceName ? `(${session.deviceName})` : ''].filter(Boolean).join(' ') || 'an unknown device';
    // A changed address: the OLD one is told (whoever changed it controls the new one); a first address
    // was just confirmed by a code sent to it, so there is no one else to tell.
    const to = change === 'SetEmail' ? previousEmail : undefined;
    if (change !== 'SetEmail' || to) this.deps.email.notifyUser(session.userId, {
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
  }

  /** The session that made the change stops working at the gateway at once, and at Jellyfin where it can. */
  private async revokeSession(change: FactorChangesTable): Promise<boolean> {
    const entry = this.deps.tokens.byHashEntry(change.token_hash);
    if (!entry) return false;
    await this.deps.tokens.forgetHash(change.token_hash);
    if (entry.deviceId) await this.deps.jellyfin.deleteDevice(entry.deviceId).catch(() => false);
    return true;
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
        if (!t.enrolled || t.confirmedAt === null || t.confirmedAt < c.created_at - 60_000) return null;
        await factors.totp.remove(userId);
        await factors.afterPrimaryRemoved(userId);
        return 'totp';
      }
      case 'SetEmail': {
        const a = await factors.email.address(userId);
        if (!a || a.email !== c.ref) return null;
        await factors.email.removeAddress(userId);
        await factors.afterPrimaryRemoved(userId);
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
