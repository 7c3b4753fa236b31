import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import { HttpError } from '../errors.ts';
import type { AuditEvent, AuditSink } from '../audit/index.ts';
import type { Factors, RelyingParty } from '../factors/index.ts';
import { isTotpCodeShape } from '../factors/totp.ts';
import type { TokenEntry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { AttemptKind, Guard } from '../guard/index.ts';
import type { DB } from '../store/index.ts';
import type { StepUpGrantsTable } from '../store/schema.ts';
import { STEP_UP_ACTIONS, type StepUpAction, type StepUpMethod } from '../../shared/api/pairing.ts';
import { guardedAttempt } from './attempt.ts';
import { StepUpGrants, isGrantShape, type IssuedGrant } from './grants.ts';

export { StepUpGrants, GRANT_TTL_MS, isGrantShape, type IssuedGrant } from './grants.ts';
export { guardedAttempt } from './attempt.ts';

/** The header that carries a step-up proof: a grant from POST StepUp, or a current TOTP code. */
export const STEP_UP_HEADER = 'x-jellyguard-stepup';

/**
 * Which guard counter each action's wrong proofs go to. Quick Connect approvals are pairing attempts;
 * a wrong code before new recovery codes is a guessed second-factor code.
 */
const ATTEMPT_KIND: Record<StepUpAction, AttemptKind> = {
  QuickConnectAuthorize: 'pairing',
  RegenerateRecoveryCodes: 'totp',
};

/**
 * The actions a phone approval can confirm: the phone's approval describes the device being signed in
 * (server/pairing/phone.ts), so it is offered for Quick Connect only.
 */
const PHONE_ACTIONS: ReadonlySet<StepUpAction> = new Set<StepUpAction>(['QuickConnectAuthorize']);

/** Who is stepping up: the verified session, from where. */
export interface Actor {
  session: TokenEntry;
  ip: string;
}

/**
 * A phone that can approve (the approvals engine, when the user enrolled the Authenticator). Set by the
 * pairing wiring once the approvals engine is built; absent, "phone" is simply not offered.
 */
export interface PhoneStepUp {
  available(userId: string): Promise<boolean>;
  /** Ask the phone to approve `action` for this session; the grant turns usable when it is approved. */
  start(actor: Actor, action: StepUpAction, target: string | null): Promise<{ stepUpId: string; approvalId: string; grant: string; expiresAt: number }>;
  /** Bring a pending grant up to date with its approval (approved → granted, denied/expired → denied). */
  refresh?(row: StepUpGrantsTable): Promise<StepUpGrantsTable | undefined>;
}

export interface StepUpDeps {
  db: DB;
  clock: Clock;
  hmacKey: Buffer;
  config: Config;
  factors: Factors;
  users: UserDirectory;
  guard: Guard;
  /** Read at call time (the audit log is built after some parts). */
  audit: () => AuditSink;
}

/**
 * Step-up (DESIGN: Step-up): actions that need a fresh proof from a second factor, given by the session
 * that performs them. Proofs: a TOTP code (in the action's own request, header X-Jellyguard-StepUp, or
 * exchanged first for a grant), a passkey assertion, or an approval on the phone — each yields a grant
 * bound to THIS session token, this action and its target, spent once. Wrong codes are counted by the
 * brute-force guard (per action kind) and by the per-user wrong-code lock of the second factors.
 */
export class StepUp {
  readonly grants: StepUpGrants;
  phone: PhoneStepUp | undefined;

  constructor(private readonly deps: StepUpDeps) {
    this.grants = new StepUpGrants(deps.db, deps.clock, deps.hmacKey);
  }

  static isAction(a: string): a is StepUpAction {
    return (STEP_UP_ACTIONS as readonly string[]).includes(a);
  }

  /** The ways this user can give a fresh proof for `action` right now. */
  async methods(userId: string, action: StepUpAction = 'QuickConnectAuthorize'): Promise<StepUpMethod[]> {
    const s = await this.deps.factors.summary(userId);
    const out: StepUpMethod[] = [];
    if (s.totp) out.push('totp');
    if (s.passkeys > 0) out.push('passkey');
    if (PHONE_ACTIONS.has(action) && this.phone && (await this.phone.available(userId).catch(() => false))) out.push('phone');
    return out;
  }

  private async userName(userId: string): Promise<string | undefined> {
    return (await this.deps.users.get(userId))?.name;
  }

  audit(e: AuditEvent): void {
    try {
      this.deps.audit().record(e);
    } catch {
      /* auditing never fails a request */
    }
  }

  private people(actor: Actor, userName: string | undefined) {
    return {
      userId: actor.session.userId,
      userName: userName ?? null,
      ip: actor.ip,
      deviceId: actor.session.deviceId,
      deviceName: actor.session.deviceName,
      client: actor.session.client,
    };
  }

  /** A wrong proof: per-user wrong-code count, audit; the guard already counted it. */
  private async wrong(actor: Actor, action: StepUpAction, method: StepUpMethod, userName: string | undefined, reason: string): Promise<never> {
    const r = await this.deps.factors.attempts.fail(actor.session.userId);
    this.audit({ ...this.people(actor, userName), type: 'stepup.failure', outcome: 'failure', detail: { action, method, reason } });
    if (r.locked) this.audit({ ...this.people(actor, userName), type: 'factor.locked', outcome: 'refused' });
    throw new HttpError(401, 'invalid_code', method === 'passkey' ? 'The passkey was not accepted.' : 'That code is not right.');
  }

  /** Check a TOTP code for this user (consumed on success), under the guard. */
  private async checkTotp(actor: Actor, action: StepUpAction, code: string): Promise<void> {
    const userId = actor.session.userId;
    const userName = await this.userName(userId);
    if (!this.deps.config.TOTPEnabled || !(await this.deps.factors.totp.isEnrolled(userId))) {
      throw new HttpError(400, 'method_unavailable', 'This account has no authenticator app to give a code from.');
    }
    await this.deps.factors.attempts.assertNotLocked(userId);
    const who = { ip: actor.ip, userId, username: userName };
    const r = await guardedAttempt(this.deps.guard, ATTEMPT_KIND[action], who, async () => {
      const ok = isTotpCodeShape(code) && (await this.deps.factors.totp.verify(userId, code));
      return { ok, value: undefined };
    });
    if (!r.ok) await this.wrong(actor, action, 'totp', userName, 'wrong_code');
    await this.deps.factors.attempts.succeed(userId);
  }

  private issue(actor: Actor, action: StepUpAction, target: string | null, method: StepUpMethod): Promise<IssuedGrant> {
    return this.grants.issue({ tokenHash: actor.session.tokenHash, userId: actor.session.userId, action, target, method }, 'granted');
  }

  /** POST StepUp with a TOTP code: a single-use grant for this session, action and target. */
  async grantWithCode(actor: Actor, action: StepUpAction, target: string | null, code: string): Promise<IssuedGrant> {
    await this.checkTotp(actor, action, code);
    const g = await this.issue(actor, action, target, 'totp');
    this.audit({ ...this.people(actor, await this.userName(actor.session.userId)), type: 'stepup.granted', outcome: 'success', detail: { action, method: 'totp', target } });
    return g;
  }

  /** The ceremony tag that binds a passkey step-up to this session, action and target. */
  private ceremonyTag(actor: Actor, action: StepUpAction, target: string | null): string {
    return `stepup:${actor.session.tokenHash}:${action}:${target ?? ''}`;
  }

  async passkeyOptions(actor: Actor, action: StepUpAction, target: string | null, rp: RelyingParty): Promise<PublicKeyCredentialRequestOptionsJSON> {
    if (!this.deps.config.PasskeysEnabled || (await this.deps.factors.passkeys.count(actor.session.userId)) === 0) {
      throw new HttpError(400, 'method_unavailable', 'This account has no passkey.');
    }
    return this.deps.factors.passkeys.authenticationOptions(actor.session.userId, rp, this.ceremonyTag(actor, action, target));
  }

  /** POST StepUp with a passkey assertion over a challenge from StepUp/Passkey/Options. */
  async grantWithPasskey(actor: Actor, action: StepUpAction, target: string | null, response: AuthenticationResponseJSON): Promise<IssuedGrant> {
    const userId = actor.session.userId;
    const userName = await this.userName(userId);
    if (!this.deps.config.PasskeysEnabled) throw new HttpError(400, 'method_unavailable', 'Passkeys are turned off.');
    await this.deps.factors.attempts.assertNotLocked(userId);
    const who = { ip: actor.ip, userId, username: userName };
    const r = await guardedAttempt(this.deps.guard, ATTEMPT_KIND[action], who, async () => {
      const check = await this.deps.factors.passkeys.verifyAuthentication(userId, response, this.ceremonyTag(actor, action, target));
      return { ok: check.ok, value: check };
    });
    if (!r.value.ok) {
      if (r.value.reason === 'counter_regression') {
        this.audit({ ...this.people(actor, userName), type: 'factor.passkey.counter_regression', outcome: 'refused', detail: { credentialId: r.value.credentialId } });
      }
      await this.wrong(actor, action, 'passkey', userName, r.value.reason);
    }
    await this.deps.factors.attempts.succeed(userId);
    const g = await this.issue(actor, action, target, 'passkey');
    this.audit({ ...this.people(actor, userName), type: 'stepup.granted', outcome: 'success', detail: { action, method: 'passkey', target } });
    return g;
  }

  /**
   * Spend the proof an action request carries (header X-Jellyguard-StepUp): a grant of this session for
   * this action and target, or a current TOTP code. Throws 401/403/409/429 with a clear code otherwise.
   */
  async spend(actor: Actor, action: StepUpAction, target: string | null, proof: string): Promise<{ method: string }> {
    const userId = actor.session.userId;
    const p = proof.trim();
    if (isGrantShape(p)) {
      const r = await this.grants.spend(p, actor.session.tokenHash, action, target);
      const userName = await this.userName(userId);
      if (r.ok) {
        this.audit({ ...this.people(actor, userName), type: 'stepup.used', outcome: 'success', detail: { action, method: r.row.method, target } });
        return { method: r.row.method };
      }
      // A grant nobody issued, or one of another session: a guess or a stolen grant. Count it.
      if (r.reason === 'unknown' || r.reason === 'other_session') this.deps.guard.recordFailure(ATTEMPT_KIND[action], { ip: actor.ip, userId, username: userName });
      this.audit({ ...this.people(actor, userName), type: 'stepup.failure', outcome: 'refused', detail: { action, reason: r.reason } });
      throw spendError(r.reason);
    }
    if (isTotpCodeShape(p)) {
      await this.checkTotp(actor, action, p);
      this.audit({ ...this.people(actor, await this.userName(userId)), type: 'stepup.used', outcome: 'success', detail: { action, method: 'totp', target } });
      return { method: 'totp' };
    }
    throw new HttpError(400, 'invalid_step_up', 'X-Jellyguard-StepUp must carry a step-up grant or a 6-digit code.');
  }

  async sweep(): Promise<void> {
    await this.grants.sweep();
  }
}

function spendError(reason: import('./grants.ts').SpendRefusal): HttpError {
  switch (reason) {
    case 'used':
      return new HttpError(403, 'step_up_used', 'This confirmation was already used. Confirm again.');
    case 'expired':
      return new HttpError(403, 'step_up_expired', 'This confirmation expired. Confirm again.');
    case 'pending':
      return new HttpError(409, 'step_up_pending', 'The approval on your phone is still waiting.');
    case 'denied':
      return new HttpError(403, 'step_up_denied', 'This was denied on your phone.');
    case 'other_action':
      return new HttpError(403, 'step_up_invalid', 'This confirmation was given for something else. Confirm again.');
    default:
      return new HttpError(403, 'step_up_invalid', 'This confirmation is not valid for this session.');
  }
}
