import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import { HttpError } from '../errors.ts';
import type { AuditEvent, AuditSink } from '../audit/index.ts';
import type { Factors, RelyingParty } from '../factors/index.ts';
import { isTotpCodeShape } from '../factors/totp.ts';
import type { TokenEntry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { AttemptKind, Guard, Who } from '../guard/index.ts';
import { canonicalGuid } from '../jellyfin/json.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { DB } from '../store/index.ts';
import type { StepUpGrantsTable } from '../store/schema.ts';
import {
  STEP_UP_ACTIONS,
  isFactorAction,
  stepUpLabel,
  type StepUpAction,
  type StepUpMethod,
  type StepUpRequired,
} from '../../shared/api/stepup.ts';
import { CHALLENGE_CLIENTS } from '../../shared/api/approvals.ts';
import { guardedAttempt } from './attempt.ts';
import { GRANT_TTL_MS, StepUpGrants, isGrantShape, type IssuedGrant } from './grants.ts';
import { isShortLived, isSingleUse, stepUpApplies } from './admin-actions.ts';
import { assertCodeShape } from '../factors/code-shape.ts';

export { StepUpGrants, GRANT_TTL_MS, isGrantShape, type IssuedGrant } from './grants.ts';
export { guardedAttempt } from './attempt.ts';

/** The header that carries a step-up proof: a grant from POST StepUp, or a current TOTP code. */
export const STEP_UP_HEADER = 'x-jellyguard-stepup';

/**
 * How long a sign-in counts as a fresh proof for a factor change of its own session: an account with no
 * factor, signed in with its password moments ago (a first factor is usually set up right after); or an
 * account with factors, signed in moments ago in a browser or the Authenticator through one of them (a
 * new phone approved by the old one need not ask the old one again to become a key itself).
 */
export const RECENT_SIGN_IN_MS = 5 * 60 * 1000;

/** Sign-ins that checked the password and nothing more (an account with no factor). */
const PASSWORD_SIGN_INS: ReadonlySet<string> = new Set(['password']);
/**
 * Sign-ins that passed an interactive challenge with a factor the account has (or set up its first factor
 * inside the sign-in, the password checked just before). Never Quick Connect, a
 * paired device's token, approve-then-retry, a trusted browser, the LAN bypass or an adopted session;
 * and only for the clients that get the interactive challenge (a TV's held login is approved on the
 * phone without anyone at the TV proving anything).
 */
const CHALLENGE_SIGN_INS: ReadonlySet<string> = new Set(['totp', 'passkey', 'phone', 'recovery', 'enroll:totp', 'enroll:passkey']);
const CHALLENGE_CLIENT_NAMES: ReadonlySet<string> = new Set(CHALLENGE_CLIENTS.map((c) => c.toLowerCase()));

/**
 * The first steps of a two-step addition (the options before a passkey prompt, a TOTP secret, an e-mail
 * confirmation) may be asked again by the same session for this long after one proof — a retry after a
 * slow tap must not ask for a second proof. Each factor actually added is still told to the owner.
 */
const FLOW_MS = 5 * 60 * 1000;
const FLOW_ACTIONS: ReadonlySet<StepUpAction> = new Set<StepUpAction>(['AddPhone', 'AddPasskey', 'AddTOTP', 'SetEmail']);

/**
 * A wrong code from a verified session guesses at the account's secret, so it counts against the address
 * and the name at that address — but not against the name everywhere, nor is the session held back by a
 * lock on the name: otherwise a stolen session could lock its owner out. The session itself is signed
 * out after MaxFailedAttempts refused proofs (countSessionFailure), which bounds the guessing.
 */
const SESSION_GUESS = { knownDevice: true, scopes: ['address', 'user_address'] } as const;

/** Which guard counter a wrong code for each action goes to: Quick Connect approvals are pairing attempts. */
function codeKind(action: StepUpAction, method: 'totp' | 'recovery'): AttemptKind {
  return action === 'QuickConnectAuthorize' ? 'pairing' : method;
}

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
  available(userId: string, fromDeviceId?: string | null): Promise<boolean>;
  /** Ask the phone to approve `action` for this session; the grant turns usable when it is approved. */
  start(actor: Actor, action: StepUpAction, target: string | null): Promise<{ stepUpId: string; approvalId: string; grant: string; expiresAt: number }>;
  /** Bring a pending grant up to date with its approval (approved → granted, denied/expired → denied). */
  refresh?(row: StepUpGrantsTable): Promise<StepUpGrantsTable | undefined>;
}

/**
 * THE HOOK FOR THE IDENTITY PROVIDER (not offered yet). A proof from the single sign-on provider — a fresh
 * login there (`prompt=login`, `max_age=0`) by the user this session belongs to, bound to this session,
 * action and target through the sealed state — would be one more method for an account linked to a
 * provider: listed by `methods()` when `available`, and turned into a grant by `grants.issue` like the
 * others. Until it is built, `StepUp.idp` stays unset and "idp" is never offered.
 */
export interface IdpStepUp {
  available(userId: string): Promise<boolean>;
  /** Where to send the browser; the provider's answer comes back to the gateway's callback. */
  begin(actor: Actor, action: StepUpAction, target: string | null): Promise<{ redirectUrl: string; stepUpId: string }>;
}

export interface StepUpDeps {
  db: DB;
  clock: Clock;
  hmacKey: Buffer;
  config: Config;
  factors: Factors;
  users: UserDirectory;
  guard: Guard;
  /** Checks a password at Jellyfin (the proof of an account with no factor). */
  jellyfin: Pick<JellyfinClient, 'checkPassword'>;
  /** Sign a session out everywhere (a session that keeps failing its proofs is not its owner). */
  revokeSession: (tokenHash: string) => Promise<boolean>;
  audit: AuditSink;
}

/** The outcome of checking a request's proof: spent (go ahead), or the 401 to answer. */
export type ProofCheck = { ok: true; method: string } | { ok: false; required: StepUpRequired };

/**
 * Step-up (DESIGN: Step-up): actions that need a fresh proof from a factor the account already has,
 * given by the session that performs them. Proofs: a TOTP code (in the action's own request, header
 * X-Jellyguard-StepUp, or exchanged first for a grant), a passkey assertion, an approval on the phone, a
 * recovery code, or — for an account with no factor — the password again. Each yields a grant bound to
 * THIS session token, this action and its target: spent once for a factor change, Quick Connect and the
 * single-use administrator actions; reusable for the others until StepUpWindowSeconds run out
 * (admin-actions.ts). Administrator actions are asked only at their StepUpLevel.
 *
 * Failures land on whoever made them: every refused proof counts against the session that sent it (signed
 * out at MaxFailedAttempts) and its address; wrong codes also against the name at that address, wrong
 * passwords like any sign-in's. Nothing a session sends locks its owner's name or codes: a refused
 * passkey assertion or a bad grant guesses nothing, and a stolen session must not be able to lock the
 * household out.
 */
export class StepUp {
  readonly grants: StepUpGrants;
  phone: PhoneStepUp | undefined;
  /** The identity provider as a step-up method (IdpStepUp above): not built yet, never offered. */
  idp: IdpStepUp | undefined = undefined;
  /** Refused proofs per session (token hash) within FailureWindowSeconds: bounded memory. */
  private readonly sessionFailures = new LRUCache<string, number[]>({ max: 50_000 });
  /** How each session last proved itself for each action (for the notice of a two-step change). */
  private readonly lastProof = new LRUCache<string, { method: string; at: number }>({ max: 50_000 });
  /**
   * What a person reads for an action and its target ("Make bob an administrator"): the 401, the phone's
   * approval, the audit log. The administrator gate (admin-gate.ts) sets one that finds the target's name.
   */
  describe: (action: StepUpAction, target: string | null) => Promise<string> = async (action, target) => stepUpLabel(action, target);

  constructor(private readonly deps: StepUpDeps) {
    // Factor changes and Quick Connect: two minutes; administrator actions: StepUpWindowSeconds (read at
    // each grant, so a changed setting applies at once).
    this.grants = new StepUpGrants(deps.db, deps.clock, deps.hmacKey, (action) =>
      isShortLived(action) ? GRANT_TTL_MS : deps.config.StepUpWindowSeconds * 1000,
    );
  }

  /** Whether this action needs a proof at the configured StepUpLevel (factor changes and Quick Connect: always). */
  applies(action: StepUpAction): boolean {
    return stepUpApplies(action, this.deps.config.StepUpLevel);
  }

  static isAction(a: string): a is StepUpAction {
    return (STEP_UP_ACTIONS as readonly string[]).includes(a);
  }

  /**
   * The ways this user can give a fresh proof right now: every factor the account has; the password
   * only when it has none of the others (an e-mail-only account included: a code mailed to an address is
   * not proof enough to change the account's keys).
   */
  async methods(userId: string, fromDeviceId?: string | null): Promise<StepUpMethod[]> {
    const c = this.deps.config;
    const f = this.deps.factors;
    const [totp, passkeys, recovery, phone] = await Promise.all([
      f.totp.isEnrolled(userId),
      f.passkeys.count(userId),
      f.recovery.remaining(userId),
      this.phone ? this.phone.available(userId, fromDeviceId).catch(() => false) : Promise.resolve(false),
    ]);
    const out: StepUpMethod[] = [];
    if (phone && c.PushEnabled) out.push('phone');
    if (c.PasskeysEnabled && passkeys > 0) out.push('passkey');
    if (c.TOTPEnabled && totp) out.push('totp');
    if (c.RecoveryCodesEnabled && recovery > 0) out.push('recovery');
    // Only when the account has no key at all (even one the admin turned off: fail closed).
    if (!totp && passkeys === 0) out.push('password');
    return out;
  }

  private async userName(userId: string): Promise<string | undefined> {
    return (await this.deps.users.get(userId))?.name;
  }

  audit(e: AuditEvent): void {
    try {
      this.deps.audit.record(e);
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

  // ── failures ──

  private recentFailures(actor: Actor): number[] {
    const since = this.deps.clock.now() - this.deps.config.FailureWindowSeconds * 1000;
    return (this.sessionFailures.get(actor.session.tokenHash) ?? []).filter((t) => t > since);
  }

  /** A session that made MaxFailedAttempts refused proofs within the window gets no more tries. */
  assertSessionMayTry(actor: Actor): void {
    if (!this.deps.config.BruteForceEnabled) return;
    if (this.recentFailures(actor).length >= this.deps.config.MaxFailedAttempts) {
      throw new HttpError(429, 'too_many_attempts', 'Too many failed confirmations from this session. Sign in again.', {
        'retry-after': String(this.deps.config.FailureWindowSeconds),
      });
    }
  }

  /**
   * A refused proof or code of a verified session. At MaxFailedAttempts the session is signed out: whoever
   * keeps failing to prove they are the owner is not (the owner signs in again), and the owner is told.
   * `signOut: false` for codes that prove nothing about the session (the first code of a new app): the
   * session only waits.
   */
  async countSessionFailure(actor: Actor, opts: { signOut?: boolean } = {}): Promise<void> {
    const times = this.recentFailures(actor);
    times.push(this.deps.clock.now());
    this.sessionFailures.set(actor.session.tokenHash, times);
    if (opts.signOut === false) return;
    if (!this.deps.config.BruteForceEnabled || times.length < this.deps.config.MaxFailedAttempts) return;
    if (!(await this.deps.revokeSession(actor.session.tokenHash).catch(() => false))) return;
    const userName = await this.userName(actor.session.userId);
    this.audit({ ...this.people(actor, userName), type: 'session.revoked', outcome: 'refused', detail: { reason: 'too_many_failed_confirmations', failures: times.length } });
    const from = [actor.session.client, actor.session.deviceName ? `(${actor.session.deviceName})` : ''].filter(Boolean).join(' ') || 'a device';
    this.deps.guard.notifyUser(actor.session.userId, {
      kind: 'factor_change',
      title: `Jellyfin: a session of ${userName ?? 'your account'} was signed out`,
      text: `${from} at ${actor.ip} failed ${times.length} times to confirm it is you, so it was signed out. If that was not you, change your Jellyfin password.\n`,
    });
  }

  /** A refused proof: counted against this session (which is signed out at the limit), audited. */
  private async refused(actor: Actor, action: StepUpAction, method: StepUpMethod, userName: string | undefined, reason: string): Promise<never> {
    this.audit({ ...this.people(actor, userName), type: 'stepup.failure', outcome: 'failure', detail: { action, method, reason } });
    await this.countSessionFailure(actor);
    const message =
      method === 'passkey' ? 'The passkey was not accepted.' : method === 'password' ? 'That password is not right.' : 'That code is not right.';
    throw new HttpError(401, 'invalid_code', message);
  }

  // ── the proofs ──

  /** Check a TOTP code for this user (consumed on success), under the guard. */
  private async checkTotp(actor: Actor, action: StepUpAction, code: string): Promise<void> {
    const userId = actor.session.userId;
    const userName = await this.userName(userId);
    if (!this.deps.config.TOTPEnabled || !(await this.deps.factors.totp.isEnrolled(userId))) {
      throw new HttpError(400, 'method_unavailable', 'This account has no authenticator app to give a code from.');
    }
    assertCodeShape('totp', code); // a slip of the finger is not a try
    this.assertSessionMayTry(actor);
    const who = { ip: actor.ip, userId, username: userName };
    const r = await guardedAttempt(
      this.deps.guard,
      codeKind(action, 'totp'),
      who,
      async () => {
        const ok = isTotpCodeShape(code) && (await this.deps.factors.totp.verify(userId, code));
        return { ok, value: undefined };
      },
      SESSION_GUESS,
    );
    if (!r.ok) await this.refused(actor, action, 'totp', userName, 'wrong_code');
  }

  private issue(actor: Actor, action: StepUpAction, target: string | null, method: StepUpMethod): Promise<IssuedGrant> {
    return this.grants.issue({ tokenHash: actor.session.tokenHash, userId: actor.session.userId, action, target, method }, 'granted');
  }

  private async granted(actor: Actor, action: StepUpAction, target: string | null, method: StepUpMethod): Promise<IssuedGrant> {
    const g = await this.issue(actor, action, target, method);
    this.audit({
      ...this.people(actor, await this.userName(actor.session.userId)),
      type: 'stepup.granted',
      outcome: 'success',
      detail: { action, method, target, label: await this.describe(action, target), singleUse: isSingleUse(action), expiresAt: g.expiresAt },
    });
    return g;
  }

  /** POST StepUp with a TOTP code: a single-use grant for this session, action and target. */
  async grantWithCode(actor: Actor, action: StepUpAction, target: string | null, code: string): Promise<IssuedGrant> {
    await this.checkTotp(actor, action, code);
    return this.granted(actor, action, target, 'totp');
  }

  /** POST StepUp with a recovery code (it is used up). */
  async grantWithRecoveryCode(actor: Actor, action: StepUpAction, target: string | null, code: string): Promise<IssuedGrant> {
    const userId = actor.session.userId;
    const userName = await this.userName(userId);
    if (!this.deps.config.RecoveryCodesEnabled || (await this.deps.factors.recovery.remaining(userId)) === 0) {
      throw new HttpError(400, 'method_unavailable', 'This account has no recovery codes left.');
    }
    assertCodeShape('recovery', code);
    this.assertSessionMayTry(actor);
    const who = { ip: actor.ip, userId, username: userName };
    const r = await guardedAttempt(
      this.deps.guard,
      codeKind(action, 'recovery'),
      who,
      async () => ({ ok: await this.deps.factors.recovery.redeem(userId, code), value: undefined }),
      SESSION_GUESS,
    );
    if (!r.ok) await this.refused(actor, action, 'recovery', userName, 'wrong_code');
    this.audit({ ...this.people(actor, userName), type: 'factor.recovery.used', outcome: 'success', detail: { for: 'stepup', action } });
    return this.granted(actor, action, target, 'recovery');
  }

  /**
   * POST StepUp with the password, for an account with no other factor: checked at Jellyfin under the
   * guard exactly like a sign-in (a banned address or locked name is refused before Jellyfin sees it, a
   * wrong password counts per address, user and both), and the session Jellyfin makes is ended at once.
   */
  async grantWithPassword(actor: Actor, action: StepUpAction, target: string | null, password: string): Promise<IssuedGrant> {
    const userId = actor.session.userId;
    const userName = await this.userName(userId);
    if (!(await this.methods(userId)).includes('password')) {
      throw new HttpError(400, 'method_unavailable', 'This account has a second factor: confirm with it, not with the password.');
    }
    if (!userName) throw new HttpError(409, 'unknown_user', 'Sign in again first: the gateway does not know this account’s name yet.');
    this.assertSessionMayTry(actor);
    const who: Who = { ip: actor.ip, userId, username: userName };
    // A password guess counts like any sign-in's (address, name, both); the owner's own session is not
    // held back by a lock on the name that someone else's guessing put there.
    const r = await guardedAttempt(
      this.deps.guard,
      'password',
      who,
      async () => {
        const check = await this.deps.jellyfin.checkPassword(userName, password, actor.ip);
        // The right password of ANOTHER account is no proof for this one (and no guess either).
        return { ok: check.ok && canonicalGuid(check.userId) === canonicalGuid(userId), value: check };
      },
      { knownDevice: true },
    );
    if (!r.ok) {
      if (!r.value.ok && r.value.status !== 401 && r.value.status !== 403) {
        throw new HttpError(502, 'upstream_error', 'Jellyfin could not check the password right now. Try again in a moment.');
      }
      await this.refused(actor, action, 'password', userName, 'wrong_password');
    }
    return this.granted(actor, action, target, 'password');
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

  /**
   * POST StepUp with a passkey assertion over a challenge from StepUp/Passkey/Options. A refused
   * assertion counts against this session and its address only (see the class comment).
   */
  async grantWithPasskey(actor: Actor, action: StepUpAction, target: string | null, response: AuthenticationResponseJSON): Promise<IssuedGrant> {
    const userId = actor.session.userId;
    const userName = await this.userName(userId);
    if (!this.deps.config.PasskeysEnabled) throw new HttpError(400, 'method_unavailable', 'Passkeys are turned off.');
    this.assertSessionMayTry(actor);
    const r = await guardedAttempt(this.deps.guard, 'passkey', { ip: actor.ip }, async () => {
      const check = await this.deps.factors.passkeys.verifyAuthentication(userId, response, this.ceremonyTag(actor, action, target));
      return { ok: check.ok, value: check };
    });
    if (!r.value.ok) {
      if (r.value.reason === 'counter_regression') {
        this.audit({ ...this.people(actor, userName), type: 'factor.passkey.counter_regression', outcome: 'refused', detail: { credentialId: r.value.credentialId } });
      }
      await this.refused(actor, action, 'passkey', userName, r.value.reason);
    }
    return this.granted(actor, action, target, 'passkey');
  }

  // ── spending ──

  /** Whether this session's own sign-in, moments ago, is proof enough for a factor change (RECENT_SIGN_IN_MS). */
  private async recentSignIn(actor: Actor, action: StepUpAction): Promise<boolean> {
    const { session } = actor;
    if (!isFactorAction(action)) return false;
    if (this.deps.clock.now() - session.createdAt > RECENT_SIGN_IN_MS) return false;
    // Whether the account has a key at all — enabled or not: a method the admin turned off must not open this.
    const f = this.deps.factors;
    const hasKey = (await f.totp.isEnrolled(session.userId)) || (await f.passkeys.count(session.userId)) > 0;
    if (!hasKey) return PASSWORD_SIGN_INS.has(session.method); // the password was just checked, by any client
    // An account with keys: a second factor just given interactively, in a browser or the Authenticator.
    return CHALLENGE_SIGN_INS.has(session.method) && CHALLENGE_CLIENT_NAMES.has((session.client ?? '').toLowerCase());
  }

  /** The 401 body of an action asked without a proof (audited). */
  private async required(actor: Actor, action: StepUpAction, target: string | null, methods: StepUpMethod[]): Promise<StepUpRequired> {
    const what = await this.describe(action, target);
    this.audit({ ...this.people(actor, await this.userName(actor.session.userId)), type: 'stepup.required', outcome: 'refused', detail: { action, methods, target, label: what } });
    const message = methods.length
      ? `${what}: confirm it's you first.`
      : `${what}: this needs a second factor, and this account has none. Set one up, or use the Jellyguard Authenticator.`;
    return { error: 'step_up_required', message, action, label: what, target, methods };
  }

  /**
   * The one check every step-up action goes through: spend the request's proof (header
   * X-Jellyguard-StepUp) for this session, action and target, or say what the 401 must carry. Throws
   * 401/403/409/429 with a clear code for a proof that is wrong, used, expired or from elsewhere.
   */
  async check(actor: Actor, action: StepUpAction, target: string | null, proof: string | undefined): Promise<ProofCheck> {
    if (!this.applies(action)) return { ok: true, method: 'not_required' };
    const key = `${actor.session.tokenHash}:${action}`;
    const earlier = this.lastProof.get(key);
    if (!proof && earlier && FLOW_ACTIONS.has(action) && this.deps.clock.now() - earlier.at <= FLOW_MS) {
      return { ok: true, method: earlier.method };
    }
    const r = await this.checkProof(actor, action, target, proof);
    if (r.ok) this.lastProof.set(key, { method: r.method, at: this.deps.clock.now() });
    return r;
  }

  /** How this session proved itself when it began `action` (a two-step change finishes later). */
  proofOf(actor: Actor, action: StepUpAction): string {
    return this.lastProof.get(`${actor.session.tokenHash}:${action}`)?.method ?? 'earlier_step';
  }

  /** A change was made: its proof is used up (one proof, one addition — the next one asks again). */
  finished(actor: Actor, action: StepUpAction): void {
    this.lastProof.delete(`${actor.session.tokenHash}:${action}`);
  }

  private async checkProof(actor: Actor, action: StepUpAction, target: string | null, proof: string | undefined): Promise<ProofCheck> {
    if (!proof) {
      const methods = await this.methods(actor.session.userId, actor.session.deviceId);
      if (await this.recentSignIn(actor, action)) {
        this.audit({ ...this.people(actor, await this.userName(actor.session.userId)), type: 'stepup.used', outcome: 'success', detail: { action, method: 'recent_sign_in', target } });
        return { ok: true, method: 'recent_sign_in' };
      }
      return { ok: false, required: await this.required(actor, action, target, methods) };
    }
    return { ok: true, method: (await this.spend(actor, action, target, proof)).method };
  }

  /**
   * Spend the proof an action request carries: a grant of this session for this action and target, or a
   * current TOTP code. Throws 401/403/409/429 with a clear code otherwise.
   */
  async spend(actor: Actor, action: StepUpAction, target: string | null, proof: string): Promise<{ method: string }> {
    const userId = actor.session.userId;
    const p = proof.trim();
    if (isGrantShape(p)) {
      this.assertSessionMayTry(actor);
      const reusable = !isSingleUse(action);
      const r = await this.grants.spend(p, actor.session.tokenHash, action, target, reusable);
      const userName = await this.userName(userId);
      if (r.ok) {
        const detail = { action, method: r.row.method, target, singleUse: !reusable };
        this.audit({ ...this.people(actor, userName), type: 'stepup.used', outcome: 'success', detail });
        return { method: r.row.method };
      }
      // A grant nobody issued or one of another session: a guess or a stolen grant. It lands on the session
      // and the address that sent it, never on the user it names. A grant of this session for another
      // action is a client's mistake, not a guess: it counts against the session only.
      if (r.reason === 'unknown' || r.reason === 'other_session') this.deps.guard.recordFailure(codeKind(action, 'totp'), { ip: actor.ip });
      if (r.reason === 'unknown' || r.reason === 'other_session' || r.reason === 'other_action') await this.countSessionFailure(actor);
      this.audit({ ...this.people(actor, userName), type: 'stepup.failure', outcome: 'refused', detail: { action, target, reason: r.reason } });
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
