import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Clock } from '../clock.ts';
import { HttpError } from '../errors.ts';
import type { Approvals, ApprovalRow } from '../approvals/index.ts';
import type { Factors, RelyingParty } from '../factors/index.ts';
import type { TokenEntry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/index.ts';
import type { PairingApprovalPurpose, PairingApprovalsTable, StepUpGrantsTable } from '../store/schema.ts';
import type { Actor, PhoneStepUp, StepUp } from '../stepup/index.ts';
import type { PairApprovalStarted, PairApproved, PairTarget, StepUpAction } from '../../shared/api/pairing.ts';
import { STEP_UP_ACTION_LABELS, isFactorAction } from '../../shared/api/stepup.ts';
import type { ApprovalRequest } from '../approvals/index.ts';
import { unknownCode } from './codes.ts';
import type { PairingTargets } from './targets.ts';
import type { FailureRecorder } from '../guard/regulator.ts';

/** The slice of the approvals engine pairing uses (server/approvals). */
export type ApprovalEngine = Pick<Approvals, 'request' | 'get' | 'options' | 'approve' | 'deny' | 'onDecision'> & {
  phones: Pick<Approvals['phones'], 'hasUsable' | 'usable' | 'get'>;
};

export interface PhonePairingDeps {
  db: DB;
  clock: Clock;
  log: Logger;
  users: UserDirectory;
  factors: Factors;
  pairing: PairingTargets;
  /** Wrong codes count as pairing failures (server/guard). */
  failures: FailureRecorder;
  stepUp: StepUp;
  engine: ApprovalEngine;
}

/** What an approval's decision did, for the page that asked. */
type Settled = { state: PairingApprovalsTable['state']; outcome: string | null };

/** "Samsung Smart TV (Jellyfin Web 10.11.11)" */
function describeDevice(t: Pick<PairTarget, 'deviceName' | 'appName' | 'appVersion'>): string {
  const app = [t.appName, t.appVersion].filter(Boolean).join(' ');
  return [t.deviceName ?? 'A device', app ? `(${app})` : ''].filter(Boolean).join(' ');
}

/**
 * Phone approval of pairings, through the approvals engine (an approval of kind "pairing" whose passkey
 * tap signs exactly what the phone shows: the device's name, app and version, address and time):
 *   - the Authenticator's "Pair a TV" page: begin (a code typed or scanned) → finish (the passkey assertion)
 *     authorises a Quick Connect code at Jellyfin for the user, or approves a PairDevice pairing;
 *   - step-up for Quick Connect Authorize sent by another client: a push to the phone, whose approval
 *     turns the session's pending grant usable.
 * Every approval asked here is linked (pairing_approvals) to what it is FOR, and its decision is carried
 * out once, whichever way it arrives (this page's finish, or the engine's own Approve endpoint).
 */
export class PhonePairing implements PhoneStepUp {
  private readonly settling = new Map<string, Promise<Settled>>();

  constructor(private readonly deps: PhonePairingDeps) {
    deps.engine.onDecision((row) => {
      if (row.kind === 'pairing' || row.kind === 'stepup') return this.settle(row).then(() => {});
    });
  }

  private async userName(userId: string): Promise<string> {
    return (await this.deps.users.get(userId))?.name ?? userId;
  }

  private async link(approvalId: string, purpose: PairingApprovalPurpose, ref: string, session: TokenEntry, expiresAt: number): Promise<void> {
    await this.deps.db
      .insertInto('pairing_approvals')
      .values({
        approval_id: approvalId,
        purpose,
        ref,
        user_id: session.userId,
        token_hash: session.tokenHash,
        state: 'pending',
        outcome: null,
        created_at: this.deps.clock.now(),
        expires_at: expiresAt,
      })
      .execute();
  }

  private linkOf(approvalId: string): Promise<PairingApprovalsTable | undefined> {
    return this.deps.db.selectFrom('pairing_approvals').selectAll().where('approval_id', '=', approvalId).executeTakeFirst();
  }

  /** Seconds an approval may live: the engine's default, but never past what it is for. */
  private ttlSeconds(until: number, max: number): number {
    return Math.max(1, Math.min(max, Math.floor((until - this.deps.clock.now()) / 1000)));
  }

  // ── the Authenticator's "Pair a TV" page ──

  /** A code typed or scanned on the phone: an approval of kind "pairing" for what waits behind it (no push). */
  async begin(session: TokenEntry, ip: string, code: string, rp: RelyingParty): Promise<PairApprovalStarted> {
    const { pairing, engine } = this.deps;
    const userName = await this.userName(session.userId);
    const found = await pairing.lookup(code, { ip, userId: session.userId, userName });
    if ((await this.deps.factors.passkeys.count(session.userId)) === 0) {
      throw new HttpError(400, 'passkey_required', 'Set up this phone (a passkey) in the Authenticator first: approving a device takes a passkey tap.');
    }
    const t = found.target;
    const until = Date.parse(t.expiresAt);
    const { row } = await engine.request({
      kind: 'pairing',
      userId: session.userId,
      userName,
      asking: {
        client: t.appName,
        deviceName: t.deviceName,
        deviceId: t.deviceId,
        ip: t.ip ?? 'unknown',
        action: `Sign in ${describeDevice(t)} as ${userName} (code ${t.code})`,
      },
      push: false,
      ttlSeconds: this.ttlSeconds(until, 300),
    });
    const ref = t.kind === 'quickconnect' ? t.code : found.pairing!.id;
    await this.link(row.id, t.kind === 'quickconnect' ? 'quickconnect' : 'pairdevice', ref, session, row.expires_at);
    pairing.audit({
      type: 'pairing.approval.requested',
      outcome: 'info',
      userId: session.userId,
      userName,
      ip,
      deviceId: t.deviceId,
      deviceName: t.deviceName,
      client: t.appName,
      detail: { kind: t.kind, requestIp: t.ip, approval: row.id.slice(0, 8) },
    });
    return {
      approvalId: row.id,
      target: t,
      expiresAt: new Date(row.expires_at).toISOString(),
      options: (await engine.options(row.id, rp)) as unknown as Record<string, unknown>,
    };
  }

  /** The link of an approval this session began, or 404. */
  private async ownLink(session: TokenEntry, approvalId: string): Promise<PairingApprovalsTable> {
    const link = await this.linkOf(approvalId);
    if (!link || link.purpose === 'stepup' || link.user_id !== session.userId || link.token_hash !== session.tokenHash) {
      throw new HttpError(404, 'unknown_approval', 'No such pairing request from this app.');
    }
    return link;
  }

  /** The passkey tap: approve through the engine, then carry it out (authorise the code / the pairing). */
  async finish(session: TokenEntry, ip: string, approvalId: string, response: AuthenticationResponseJSON, rp: RelyingParty): Promise<PairApproved> {
    const link = await this.ownLink(session, approvalId);
    // Asked again after it worked (a retried request): the same answer, nothing done twice.
    const approved =
      link.state === 'done' && (link.outcome === 'authorized' || link.outcome === 'approved')
        ? (await this.deps.engine.get(approvalId))!
        : await this.deps.engine.approve(approvalId, { response }, { ip, rp });
    const done = await this.settle(approved);
    const kind = link.purpose === 'quickconnect' ? 'quickconnect' : 'device';
    const deviceName = approved.device_name;
    if (done.outcome === 'authorized' || done.outcome === 'approved') {
      return {
        status: 'approved',
        kind,
        deviceName,
        message:
          kind === 'quickconnect'
            ? `${deviceName ?? 'The device'} is signing in as ${approved.user_name}.`
            : `${deviceName ?? 'The device'} is paired to ${approved.user_name}. It finishes by itself.`,
      };
    }
    throw new HttpError(409, 'pairing_failed', 'The device stopped waiting before it could be approved (its code expired). Start again on the device.');
  }

  /** "Deny" on the phone. */
  async decline(session: TokenEntry, ip: string, approvalId: string): Promise<void> {
    await this.ownLink(session, approvalId);
    const denied = await this.deps.engine.deny(approvalId, { ip });
    await this.settle(denied);
  }

  // ── step-up by phone (PhoneStepUp) ──

  /**
   * A phone that can approve — other than the one asking (`fromDeviceId`, the session's DeviceId: the
   * Authenticator on the account's only phone has no other phone to ask).
   */
  async available(userId: string, fromDeviceId?: string | null): Promise<boolean> {
    return (await this.deps.engine.phones.usable(userId)).some((p) => !fromDeviceId || p.device_id !== fromDeviceId);
  }

  /**
   * Push an approval describing what the session is about to do — the device it is signing in, or the
   * change to the account's factors — whose grant waits for it.
   */
  async start(actor: Actor, action: StepUpAction, target: string | null): Promise<{ stepUpId: string; approvalId: string; grant: string; expiresAt: number }> {
    const { pairing, engine, stepUp } = this.deps;
    const session = actor.session;
    const userName = await this.userName(session.userId);
    const from = session.deviceName ?? session.client ?? 'another device';
    let asking: ApprovalRequest['asking'];
    let ttlSeconds: number | undefined; // the engine's ApprovalSeconds
    let kind: 'pairing' | 'stepup' = 'stepup';
    if (action === 'QuickConnectAuthorize') {
      const waiting = target ? await pairing.codes.pending(target) : undefined;
      if (!waiting) {
        this.deps.failures.recordFailure('pairing', { ip: actor.ip, userId: session.userId, username: userName });
        pairing.audit({ type: 'pairing.code.invalid', outcome: 'failure', userId: session.userId, userName, ip: actor.ip, detail: { via: 'stepup' } });
        throw unknownCode();
      }
      const t = { deviceName: waiting.device_name, appName: waiting.app_name, appVersion: waiting.app_version };
      asking = {
        client: waiting.app_name,
        deviceName: waiting.device_name,
        deviceId: waiting.device_id,
        ip: waiting.ip ?? 'unknown',
        action: `Sign in ${describeDevice(t)} as ${userName} (code ${waiting.code}), asked from ${from}`,
      };
      ttlSeconds = this.ttlSeconds(waiting.expires_at, 600);
      kind = 'pairing'; // the phone shows the device being signed in
    } else {
      // A change to the account's factors, or an administrator action: the phone shows the action, what
      // it is about (the exact label the dialog showed: "Make bob an administrator") and who asks.
      const what = await this.factorName(session.userId, action, target);
      const label = isFactorAction(action) ? STEP_UP_ACTION_LABELS[action] : await stepUp.describe(action, target);
      asking = {
        client: session.client,
        deviceName: session.deviceName,
        deviceId: session.deviceId,
        ip: actor.ip,
        action: `${label}${what ? `: “${what}”` : ''} (${userName}), asked from ${from}`,
      };
    }
    const { row } = await engine.request({ kind, userId: session.userId, userName, asking, push: true, ttlSeconds });
    const grant = await stepUp.grants.issue(
      { tokenHash: session.tokenHash, userId: session.userId, action, target, method: 'phone' },
      'pending',
      row.expires_at,
      row.id,
    );
    await this.link(row.id, 'stepup', grant.id, session, row.expires_at);
    return { stepUpId: grant.id, approvalId: row.id, grant: grant.grant, expiresAt: row.expires_at };
  }

  /** The name of the phone or passkey a removal is about (the phone must show exactly what goes). */
  private async factorName(userId: string, action: StepUpAction, target: string | null): Promise<string | null> {
    if (!target) return null;
    if (action === 'RemovePasskey') return (await this.deps.factors.passkeys.list(userId)).find((p) => p.id === target)?.name ?? null;
    if (action === 'RemovePhone') return (await this.deps.engine.phones.get(userId, target))?.name ?? null;
    return null;
  }

  /** A pending step-up grant, brought up to date with its approval (in case its decision is still being carried out). */
  async refresh(grant: StepUpGrantsTable): Promise<StepUpGrantsTable | undefined> {
    if (grant.state !== 'pending' || !grant.approval_id) return grant;
    const row = await this.deps.engine.get(grant.approval_id);
    if (row && row.status !== 'pending') await this.settle(row);
    return this.deps.stepUp.grants.get(grant.id);
  }

  // ── carrying out a decision, once ──

  /** Carry out an approval's decision once per process (concurrent callers share the one result). */
  settle(row: ApprovalRow): Promise<Settled> {
    let p = this.settling.get(row.id);
    if (!p) {
      p = this.carryOut(row).finally(() => setTimeout(() => this.settling.delete(row.id), 60_000).unref());
      this.settling.set(row.id, p);
    }
    return p;
  }

  private async carryOut(row: ApprovalRow): Promise<Settled> {
    const { db, pairing, stepUp } = this.deps;
    const link = await this.linkOf(row.id);
    if (!link) return { state: 'failed', outcome: null };
    if (row.status === 'pending') return { state: link.state, outcome: link.outcome };
    // Claim it (one conditional UPDATE): a decision is carried out once, even across processes.
    const claimed = await db
      .updateTable('pairing_approvals')
      .set({ state: 'done' })
      .where('approval_id', '=', row.id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    if (claimed.numUpdatedRows !== 1n) return { state: link.state, outcome: link.outcome };
    let outcome: string;
    let ok = true;
    const people = { userId: row.user_id, userName: row.user_name, ip: row.decided_ip ?? null, deviceId: row.device_id, deviceName: row.device_name, client: row.client };
    try {
      if (row.status === 'approved') {
        if (link.purpose === 'quickconnect') {
          ok = await pairing.authorizeQuickConnect(link.ref, row.user_id);
          outcome = ok ? 'authorized' : 'refused';
          pairing.audit({
            ...people,
            type: ok ? 'pairing.quickconnect.approved' : 'pairing.quickconnect.failed',
            outcome: ok ? 'success' : 'failure',
            detail: { code: link.ref, requestIp: row.ip, via: 'phone' },
          });
        } else if (link.purpose === 'pairdevice') {
          const done = await pairing.devices.approve(link.ref, row.user_id, { userId: row.user_id, via: 'phone' });
          ok = !!done;
          outcome = ok ? 'approved' : 'refused';
          if (done) {
            pairing.audit({ ...people, type: 'pairing.device.approved', outcome: 'success', detail: { pairingId: done.id, by: row.user_id, via: 'phone', requestIp: done.ip } });
          }
        } else {
          ok = !!(await stepUp.grants.settle(row.id, true));
          outcome = ok ? 'granted' : 'expired';
          if (ok) {
            stepUp.audit({ ...people, type: 'stepup.granted', outcome: 'success', detail: { action: (await stepUp.grants.get(link.ref))?.action ?? null, method: 'phone' } });
          }
        }
      } else {
        // denied, reported or expired
        outcome = row.status;
        ok = false;
        if (link.purpose === 'pairdevice' && row.status !== 'expired') {
          const denied = await pairing.devices.deny(link.ref, { userId: row.user_id, via: 'phone' });
          if (denied) {
            pairing.audit({ ...people, type: 'pairing.device.denied', outcome: 'refused', detail: { pairingId: denied.id, by: row.user_id, via: 'phone', reason: row.status } });
          }
        } else if (link.purpose === 'stepup') {
          await stepUp.grants.settle(row.id, false);
        }
      }
    } catch (e) {
      this.deps.log.error('carrying out a pairing approval failed', e);
      outcome = 'error';
      ok = false;
    }
    const state = ok ? 'done' : 'failed';
    await db.updateTable('pairing_approvals').set({ state, outcome }).where('approval_id', '=', row.id).execute();
    return { state, outcome };
  }
}
