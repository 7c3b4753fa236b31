import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { Clock } from '../clock.ts';
import { ConfigError, type Config } from '../config/index.ts';
import { HttpError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/index.ts';
import type { Keys } from '../store/keys.ts';
import type { AuditEvent, AuditSink } from '../audit/index.ts';
import type { RelyingParty } from '../factors/passkeys.ts';
import type { LoginChallenges } from '../login/challenge-store.ts';
import type { Ban } from '../guard/bans.ts';
import type { Notice, Notifier } from '../guard/notifier.ts';
import type { GeoLocator } from '../guard/travel.ts';
import type { Who } from '../guard/regulator.ts';
import { addressKey } from '../guard/subjects.ts';
import { safeEqual } from '../crypto.ts';
import { PushService, loadOrCreateVapidKeys, vapidSubject } from '../push/index.ts';
import type { ApprovalKind, Asking, PushPayload, PushSkipped } from '../../shared/api/approvals.ts';
import { approvalRequestOptions, verifyApprovalAssertion, type AssertionCheck } from './assertion.ts';
import { AccountHolds, PushBudget } from './fatigue.ts';
import { PhoneLogin, short } from './login.ts';
import { Phones } from './phones.ts';
import { choicesOf, describe, type ApprovalRow } from './record.ts';
import { ApprovalStore } from './store.ts';
import { Waiters } from './waiters.ts';

export { presentApproval, canonicalJson, approvalChallenge, type ApprovalRow } from './record.ts';
export { Phones, type PhoneRow } from './phones.ts';
export { isChallengeClient, PhoneLogin, clientGone } from './login.ts';
export type { WaitOutcome } from './waiters.ts';

/** A refused passkey assertion (401 invalid_assertion); the API adds `attemptsLeft` to the body. */
export class AssertionRefused extends HttpError {
  constructor(readonly attemptsLeft: number) {
    super(401, 'invalid_assertion', attemptsLeft === 0 ? 'The passkey was not accepted; this request ended.' : 'The passkey was not accepted.');
  }
}

/** Refused assertions an approval accepts before it ends (denied, "too_many_failures"). */
export const MAX_ASSERTION_FAILURES = 3;
/** Decided approvals are kept this long for the record (reports count over a day), then deleted. */
const KEEP_DECIDED_MS = 7 * 24 * 3600 * 1000;

/** The narrow slice of the guard approvals use (server/guard implements it). */
export interface ApprovalGuard {
  recordFailure(kind: 'approval', who: Who): void;
  isAddressBanned(ip: string): boolean;
  imposeBan(scope: 'address', subject: string, info: { reason: string; failures: number; address: string | null; userName: string | null }): Ban;
  notifyUser: Notifier['notifyUser'];
  alertAdmins: Notifier['alertAdmins'];
}

export interface ApprovalsDeps {
  db: DB;
  clock: Clock;
  config: Config;
  log: Logger;
  keys: Keys;
  challenges: LoginChallenges;
  guard: ApprovalGuard;
  audit: AuditSink;
  /** The offline GeoIP database, when configured: the approximate place shown on the phone. */
  geo?: GeoLocator;
  /** Abandon a push after this long (default 5 s). */
  pushTimeoutMs?: number;
}

/** What another concern (pairing, step-up, new-device checks) asks a user's phone. */
export interface ApprovalRequest {
  kind: ApprovalKind;
  userId: string;
  userName: string;
  asking: { client: string | null; deviceName: string | null; deviceId: string | null; ip: string; action: string | null };
  /** Show a 2-digit number on the asking screen; the phone offers three. Default false. */
  numberMatching?: boolean;
  /** 'hold' and 'poll' are the login flows'; others use 'none' (default). */
  mode?: 'hold' | 'poll' | 'none';
  loginChallengeId?: string | null;
  /** Default ApprovalSeconds. */
  ttlSeconds?: number;
  /** Send a push (default true); false when the user is already on the phone (e.g. scanning a TV's QR code). */
  push?: boolean;
}

export type DecisionListener = (row: ApprovalRow) => void | Promise<void>;

/** Where a decision came from. */
export interface Decider {
  ip: string;
  rp: RelyingParty;
}

/**
 * The approvals engine (DESIGN: Push approval). Other concerns use:
 *   request(req)          ask the user's phones (a record + a push); returns the row and whether it was pushed
 *   get(id) / wait(id, until)   read it, or wait for its decision (a promise; deadline on the clock)
 *   onDecision(listener)  hear of every decision (approved, denied, reported, expired), once each
 *   phones.hasUsable(userId)  whether the user has a phone that can approve
 * The HTTP side (server/api/approvals.ts) calls options / approve / deny / report, and the login
 * policy uses `login` (server/approvals/login.ts).
 */
export class Approvals {
  readonly store: ApprovalStore;
  readonly phones: Phones;
  readonly waiters: Waiters;
  readonly budget: PushBudget;
  readonly holds: AccountHolds;
  readonly login: PhoneLogin;
  private readonly listeners: DecisionListener[] = [];
  private readonly exclusions = new Map<ApprovalKind, (row: ApprovalRow) => Promise<string[]>>();
  private readonly inFlight = new Set<Promise<void>>();
  private tickTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();

  private constructor(
    private readonly deps: ApprovalsDeps,
    readonly push: PushService,
    phones: Phones,
  ) {
    const { db, clock, config } = deps;
    this.store = new ApprovalStore(db, clock);
    this.phones = phones;
    this.waiters = new Waiters(clock);
    this.budget = new PushBudget(
      this.store,
      clock,
      {
        enabled: config.PushEnabled,
        // Read at each push (getters): an administrator's change applies without a restart.
        get maxPerWindow() {
          return config.PushMaxPerWindow;
        },
        get windowMs() {
          return config.PushWindowSeconds * 1000;
        },
      },
      (ip) => deps.guard.isAddressBanned(ip),
    );
    this.holds = new AccountHolds(db, this.store, clock, config.ReportsBeforeHold);
    this.login = new PhoneLogin({ engine: this, challenges: deps.challenges, config, clock, audit: (e) => this.audit(e) });
  }

  /** Build the engine: VAPID keys are read (or made, on first start) from the store. */
  static async create(deps: ApprovalsDeps): Promise<Approvals> {
    const { config, log } = deps;
    if (config.HoldSeconds >= config.ApprovalSeconds) {
      throw new ConfigError(`invalid configuration:\n  HoldSeconds: must be shorter than ApprovalSeconds (${config.ApprovalSeconds})`);
    }
    if (config.HoldSeconds >= config.ChallengeSeconds) {
      throw new ConfigError(`invalid configuration:\n  HoldSeconds: must be shorter than ChallengeSeconds (${config.ChallengeSeconds})`);
    }
    const keys = await loadOrCreateVapidKeys(deps.db, deps.keys.encryptionKey, deps.clock.now());
    const subject = vapidSubject(config.VapidSubject, config.PublicUrl);
    if (config.PushEnabled && subject.fallback) log.warn('VapidSubject is not set and PublicUrl is not https: pushes use a placeholder contact (Apple may refuse them)');
    if (config.PushAllowHttpLoopback) log.warn('PushAllowHttpLoopback is on: push subscriptions on plain http to loopback are accepted (tests only)');
    const phones = new Phones(deps.db, deps.clock, deps.keys.encryptionKey, deps.keys.hmacKey);
    let self: Approvals | undefined;
    const push = new PushService({
      keys,
      subject: subject.subject,
      enabled: config.PushEnabled,
      subscriptions: phones,
      allowHttpLoopback: config.PushAllowHttpLoopback,
      log,
      audit: (e) => self?.audit(e),
      timeoutMs: deps.pushTimeoutMs,
    });
    self = new Approvals(deps, push, phones);
    return self;
  }

  audit(e: AuditEvent): void {
    try {
      this.deps.audit.record(e);
    } catch {
      /* auditing never fails a request */
    }
  }

  private place(ip: string): Asking['place'] {
    const p = this.deps.geo?.locate(ip);
    return p ? { city: p.city, country: p.country } : null;
  }

  // ── asking ──

  async request(req: ApprovalRequest): Promise<{ row: ApprovalRow; pushed: boolean; pushSkipped: PushSkipped | null }> {
    const row = await this.store.insert({
      kind: req.kind,
      userId: req.userId,
      userName: req.userName,
      asking: { ...req.asking, place: this.place(req.asking.ip) },
      addressKey: addressKey(req.asking.ip),
      numberMatching: req.numberMatching ?? false,
      mode: req.mode ?? 'none',
      loginChallengeId: req.loginChallengeId ?? null,
      ttlMs: (req.ttlSeconds ?? this.deps.config.ApprovalSeconds) * 1000,
    });
    const { pushed, skipped } = req.push === false ? { pushed: false, skipped: null } : await this.pushFor(row);
    this.audit({
      type: 'approval.requested',
      outcome: 'info',
      userId: row.user_id,
      userName: row.user_name,
      ip: row.ip,
      deviceId: row.device_id,
      deviceName: row.device_name,
      client: row.client,
      detail: { approval: short(row.id), kind: row.kind, pushed, pushSkipped: skipped, numberMatching: row.number !== null },
    });
    return { row, pushed, pushSkipped: skipped };
  }

  /** Push an approval asked with `push: false` once whoever asked has linked it to what it is for. */
  async pushNow(row: ApprovalRow): Promise<boolean> {
    return (await this.pushFor(row)).pushed;
  }

  /** Push a new approval to the user's phones, within the fatigue limits. Never waits for the push service. */
  private async pushFor(row: ApprovalRow): Promise<{ pushed: boolean; skipped: PushSkipped | null }> {
    // A notice of a change always goes out (it is how the owner hears of a thief); a session's step-ups are
    // limited per session (StepUp) and must not use up the budget of the user's own sign-ins.
    const ownBudget = row.kind === 'change' || row.kind === 'stepup';
    let skipped = ownBudget ? (this.push.enabled ? null : 'disabled') : await this.budget.refusal(row.user_id, row.ip);
    if (!skipped) {
      const { title, body } = describe(row);
      const payload: PushPayload = { v: 1, type: 'approval', approvalId: row.id, kind: row.kind, title, body, tag: row.id, expiresAt: row.expires_at };
      const ttlSeconds = Math.max(1, Math.floor((row.expires_at - this.deps.clock.now()) / 1000));
      const queued = await this.push.sendToUser(row.user_id, payload, { ttlSeconds, urgency: 'high', topic: row.id });
      if (queued === 0) skipped = 'no_subscription';
    }
    await this.store.markPush(row.id, skipped ? null : this.deps.clock.now(), skipped);
    return { pushed: !skipped, skipped };
  }

  get(id: string): Promise<ApprovalRow | undefined> {
    return this.store.get(id);
  }

  /** Wait for a decision until `until` (clock ms). */
  wait(id: string, until: number, signal?: AbortSignal) {
    return this.waiters.wait(id, until, signal);
  }

  onDecision(listener: DecisionListener): void {
    this.listeners.push(listener);
  }

  /**
   * Passkeys that may not answer approvals of this kind: a notice of a change is answered only by a key
   * the account had BEFORE it (the passkey the change added must not be able to say "It was me").
   */
  excludeCredentials(kind: ApprovalKind, of: (row: ApprovalRow) => Promise<string[]>): void {
    this.exclusions.set(kind, of);
  }

  private async excludedFor(row: ApprovalRow): Promise<string[]> {
    const of = this.exclusions.get(row.kind);
    return of ? of(row) : [];
  }

  /** After every decision: wake the waiters, tell the listeners (in the background, never failing the request). */
  private decided(row: ApprovalRow): void {
    if (row.status === 'pending') return;
    this.waiters.settle(row.id, row.status);
    for (const l of this.listeners) {
      const p = Promise.resolve()
        .then(() => l(row))
        .catch((e) => this.deps.log.error('an approval listener failed', e))
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  /** The held login this approval was for is over: revoke its token at Jellyfin now. */
  private async endLogin(row: ApprovalRow): Promise<void> {
    if (!row.login_challenge_id) return;
    const c = await this.deps.challenges.get(row.login_challenge_id);
    if (c && (c.state === 'pending' || c.state === 'satisfied')) await this.deps.challenges.end(c, 'failed');
  }

  // ── the phone's answers ──

  /** A pending approval, or the right 404/409/410. A pending one past its expiry is expired on the way. */
  private async pending(id: string): Promise<ApprovalRow> {
    const row = await this.store.get(id);
    if (!row) throw new HttpError(404, 'unknown_approval', 'This approval is unknown.');
    if (row.status === 'pending' && row.expires_at <= this.deps.clock.now()) {
      await this.expire(row);
      throw new HttpError(410, 'approval_expired', 'This request expired.');
    }
    if (row.status === 'expired') throw new HttpError(410, 'approval_expired', 'This request expired.');
    if (row.status !== 'pending') throw new HttpError(409, 'approval_over', `This request was already ${row.status}.`);
    return row;
  }

  async options(id: string, rp: RelyingParty): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const row = await this.pending(id);
    return approvalRequestOptions(this.deps.db, row, rp, await this.excludedFor(row));
  }

  /** Check the passkey assertion; a refused one counts (the approval ends after MAX_ASSERTION_FAILURES). */
  private async assertion(row: ApprovalRow, response: AuthenticationResponseJSON, by: Decider): Promise<Extract<AssertionCheck, { ok: true }>> {
    const check = await verifyApprovalAssertion(this.deps.db, this.deps.clock, row, response, by.rp, await this.excludedFor(row));
    if (check.ok) return check;
    // A refused assertion lands on the address that sent it, never on the user it names (see StepUp).
    this.deps.guard.recordFailure('approval', { ip: by.ip });
    const failures = await this.store.addFailure(row.id);
    const left = failures === undefined ? 0 : Math.max(0, MAX_ASSERTION_FAILURES - failures);
    const people = { userId: row.user_id, userName: row.user_name, ip: by.ip };
    if (check.reason === 'counter_regression') {
      this.audit({ type: 'factor.passkey.counter_regression', outcome: 'refused', ...people, detail: { credentialId: check.credentialId, approval: short(row.id) } });
    }
    this.audit({ type: 'approval.failure', outcome: 'failure', ...people, detail: { approval: short(row.id), reason: check.reason, attemptsLeft: left } });
    if (failures !== undefined && left === 0) {
      const ended = await this.store.decide(row.id, 'denied', { reason: 'too_many_failures', ip: by.ip });
      if (ended) {
        await this.endLogin(ended);
        this.audit({ type: 'approval.denied', outcome: 'refused', ...people, detail: { approval: short(row.id), kind: row.kind, reason: 'too_many_failures' } });
        this.decided(ended);
      }
    }
    throw new AssertionRefused(left);
  }

  /** The number picked on the phone must be the one the asking screen shows (constant-time compare). */
  /**
   * Approve with this phone's passkey. `deviceWaiting` says whether a held login was still waiting for
   * this answer: when not (the client gave up, or the hold was over), the device must sign in again
   * before `retry_until` (approve-then-retry), and the phone says so.
   */
  async approve(
    id: string,
    input: { number?: string | undefined; response: AuthenticationResponseJSON },
    by: Decider,
  ): Promise<ApprovalRow & { deviceWaiting: boolean }> {
    const row = await this.pending(id);
    const choices = choicesOf(row);
    if (choices && input.number === undefined) throw new HttpError(400, 'number_required', 'Pick the number shown on the screen that is signing in.');
    const check = await this.assertion(row, input.response, by);
    const people = { userId: row.user_id, userName: row.user_name, ip: by.ip };
    if (choices && (!row.number || !safeEqual(input.number ?? '', row.number))) {
      // Not the number the asking screen shows: the user may be approving someone else's sign-in.
      const ended = await this.store.decide(row.id, 'denied', { reason: 'wrong_number', ip: by.ip, credentialId: check.credentialId });
      if (ended) {
        this.deps.guard.recordFailure('approval', { ip: row.ip, userId: row.user_id, username: row.user_name });
        await this.endLogin(ended);
        this.audit({ type: 'approval.denied', outcome: 'refused', ...people, detail: { approval: short(row.id), kind: row.kind, reason: 'wrong_number', requestedFrom: row.ip } });
        this.decided(ended);
      }
      throw new HttpError(409, 'wrong_number', 'That is not the number on the screen: this request was denied.');
    }
    const retryUntil = row.mode === 'hold' ? this.deps.clock.now() + this.deps.config.ApprovalSeconds * 1000 : null;
    const deviceWaiting = row.mode !== 'hold' || this.waiters.count(row.id) > 0;
    const approved = await this.store.decide(row.id, 'approved', { reason: 'user', ip: by.ip, credentialId: check.credentialId, retryUntil });
    if (!approved) {
      await this.pending(id); // throws the right 409/410
      throw new HttpError(409, 'approval_over', 'This request was already decided.');
    }
    await this.phones.touchByCredential(check.credentialId);
    this.audit({ type: 'approval.approved', outcome: 'success', ...people, detail: { approval: short(row.id), kind: row.kind, credentialId: check.credentialId } });
    // A held account is released by approving a sign-in or a pairing from the phone, not by confirming a
    // change or a step-up (which a session can ask for without the password).
    if (row.kind !== 'change' && row.kind !== 'stepup' && (await this.holds.lift(row.user_id))) {
      this.audit({ type: 'account.released', outcome: 'success', ...people, detail: { approval: short(row.id) } });
    }
    this.decided(approved);
    return { ...approved, deviceWaiting };
  }

  /** Deny: the approval id (which only the user's phones and sessions know) is the proof. */
  async deny(id: string, by: { ip: string }): Promise<ApprovalRow> {
    const row = await this.pending(id);
    // A change notice is answered "It was me" or "This wasn't me", both with a passkey tap: the id alone
    // (which the session that made the change can list) must not dismiss it.
    if (row.kind === 'change') throw new HttpError(409, 'answer_with_passkey', 'Answer this with "It was me" or "This wasn’t me".');
    const denied = await this.store.decide(row.id, 'denied', { reason: 'user', ip: by.ip });
    if (!denied) {
      await this.pending(id);
      throw new HttpError(409, 'approval_over', 'This request was already decided.');
    }
    await this.endLogin(denied);
    this.audit({ type: 'approval.denied', outcome: 'refused', userId: row.user_id, userName: row.user_name, ip: by.ip, detail: { approval: short(row.id), kind: row.kind, reason: 'user', requestedFrom: row.ip } });
    this.decided(denied);
    return denied;
  }

  /**
   * "This wasn't me": needs a passkey tap (it bans, alerts and may hold the account). Denies (a pending
   * or already expired approval), revokes the held login, bans the requesting address unless it is the
   * reporting phone's own, alerts the user and the admins, and holds the account after repeated reports.
   */
  async report(id: string, response: AuthenticationResponseJSON, by: Decider): Promise<ApprovalRow> {
    let row = await this.store.get(id);
    if (!row) throw new HttpError(404, 'unknown_approval', 'This approval is unknown.');
    if (row.status === 'pending' && row.expires_at <= this.deps.clock.now()) {
      await this.expire(row);
      row = (await this.store.get(id))!;
    }
    if (row.status !== 'pending' && row.status !== 'expired') throw new HttpError(409, 'approval_over', `This request was already ${row.status}.`);
    const check = await this.assertion(row, response, by);
    const reported = await this.store.decide(row.id, 'reported', { reason: 'user', ip: by.ip, credentialId: check.credentialId }, ['pending', 'expired']);
    if (!reported) throw new HttpError(409, 'approval_over', 'This request was already decided.');
    await this.endLogin(reported);
    await this.phones.touchByCredential(check.credentialId);
    const people = { userId: row.user_id, userName: row.user_name, ip: row.ip, deviceId: row.device_id, deviceName: row.device_name, client: row.client };

    // Ban the address the request came from — never the reporter's own network (a household member).
    const subject = addressKey(row.ip);
    let banned = false;
    let banNote: string | null = null;
    if (!this.deps.config.ReportBansAddress) banNote = 'disabled';
    else if (subject === addressKey(by.ip)) banNote = 'same_address_as_phone';
    else {
      const ban = this.deps.guard.imposeBan('address', subject, { reason: `a sign-in as ${row.user_name} reported as not theirs (“This wasn't me”)`, failures: 1, address: subject, userName: null });
      banned = true;
      this.audit({
        type: 'guard.ban.imposed',
        outcome: 'info',
        ...people,
        detail: { scope: 'address', address: subject, reason: 'approval_reported', strikes: ban.strikes, expiresAt: ban.expiresAt === null ? null : new Date(ban.expiresAt).toISOString() },
      });
    }
    this.audit({ type: 'approval.reported', outcome: 'refused', ...people, detail: { approval: short(row.id), kind: row.kind, banned, ...(banNote ? { banSkipped: banNote } : {}), reportedFrom: by.ip } });

    const { title } = describe(row);
    const notice = {
      // Notice kinds are the guard's list; this one is ours (the e-mail notifier does not look at it).
      kind: 'approval_reported' as Notice['kind'],
      title: `Jellyfin: ${row.user_name} reported a sign-in attempt`,
      text:
        `${row.user_name} answered "This wasn't me" to: ${title} ${describe(row).body}.\n` +
        (banned ? `The address ${subject} is banned.\n` : 'The address was not banned.\n') +
        'If the password may be known to someone else, change it.\n',
    };
    this.deps.guard.notifyUser(row.user_id, notice);
    this.deps.guard.alertAdmins(notice);

    const hold = await this.holds.afterReport(row.user_id);
    if (hold.newlyHeld) {
      this.audit({ type: 'account.held', outcome: 'info', userId: row.user_id, userName: row.user_name, ip: by.ip, detail: { reports: hold.reports } });
      const held = {
        kind: 'approval_reported' as Notice['kind'],
        title: `Jellyfin: sign-ins as ${row.user_name} now wait for the phone`,
        text: `After ${hold.reports} reports in a day, every password sign-in as ${row.user_name} waits for an approval on the phone. Approving one lifts this.\n`,
      };
      this.deps.guard.notifyUser(row.user_id, held);
      this.deps.guard.alertAdmins(held);
    }
    this.decided(reported);
    return reported;
  }

  /** Nobody answered in time, or (`withdrawn`) the sign-in that asked was abandoned on its page. */
  async expire(row: ApprovalRow, reason: 'expired' | 'withdrawn' = 'expired'): Promise<void> {
    const expired = await this.store.decide(row.id, 'expired', { reason });
    if (!expired) return;
    this.audit({
      type: 'approval.expired',
      outcome: 'info',
      userId: row.user_id,
      userName: row.user_name,
      ip: row.ip,
      deviceId: row.device_id,
      deviceName: row.device_name,
      client: row.client,
      detail: { approval: short(row.id), kind: row.kind, ...(reason === 'withdrawn' ? { reason } : {}) },
    });
    this.decided(expired);
  }

  async listPending(userId: string): Promise<ApprovalRow[]> {
    return this.store.listPending(userId);
  }

  // ── time ──

  /** Wake waiters whose deadline passed, expire what is due, delete old records. Tests call it after moving the clock. */
  sweep(): Promise<void> {
    this.sweeping = this.sweeping
      .then(async () => {
        this.waiters.tick();
        for (const row of await this.store.due()) await this.expire(row);
        await this.store.purge(KEEP_DECIDED_MS);
      })
      .catch((e) => this.deps.log.error('the approvals sweep failed', e));
    return this.sweeping;
  }

  /**
   * After a restart no request is waiting any more: the held logins of native clients cannot be
   * answered, so their tokens are revoked now (the approvals stay open for approve-then-retry).
   */
  private async recoverHolds(): Promise<void> {
    const rows = await this.deps.db
      .selectFrom('approvals')
      .innerJoin('login_challenges', 'login_challenges.id', 'approvals.login_challenge_id')
      .selectAll('login_challenges')
      .where('approvals.mode', '=', 'hold')
      .where('login_challenges.state', 'in', ['pending', 'satisfied'])
      .execute();
    for (const c of rows) await this.deps.challenges.end(c, 'expired', { reason: 'restart' });
  }

  /** Deadlines are checked every second; expiry and clean-up every 5 s (and once now: restart recovery). */
  start(): void {
    this.sweeping = this.recoverHolds().catch((e) => this.deps.log.error('ending held logins after a restart failed', e));
    void this.sweep();
    this.tickTimer = setInterval(() => this.waiters.tick(), 1000);
    this.tickTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), 5000);
    this.sweepTimer.unref();
  }

  /** Stop: every waiting request is answered now, then in-flight pushes and listeners finish. */
  async stop(): Promise<void> {
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.waiters.closeAll();
    await this.login.drain();
    await this.sweeping;
    await this.idle();
  }

  /** Resolves when queued pushes and decision listeners have finished (tests). */
  async idle(): Promise<void> {
    await this.push.idle();
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  // ── notices by push (the guard's Notifier) ──

  /** The guard's notices (new device, impossible travel, bans, reports) also reach the users' phones. */
  notifier(): Notifier {
    const send = (userId: string, notice: Notice) => {
      if (notice.channels && !notice.channels.includes('push')) return;
      const payload: PushPayload = {
        v: 1,
        type: 'notice',
        kind: notice.kind,
        title: notice.title.slice(0, 120),
        body: notice.text.replace(/\s+/g, ' ').trim().slice(0, 240),
        tag: `notice-${notice.kind}`,
      };
      const p = this.push
        .sendToUser(userId, payload, { ttlSeconds: 24 * 3600, urgency: 'normal' })
        .then(() => {})
        .catch((e) => this.deps.log.error('a push notice failed', e))
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    };
    return {
      notifyUser: (userId, notice) => send(userId, notice),
      alertAdmins: (notice) => {
        const p = this.deps.db
          .selectFrom('users')
          .select('id')
          .where('is_admin', '=', 1)
          .execute()
          .then((admins) => {
            for (const a of admins) send(a.id, notice);
          })
          .catch((e) => this.deps.log.error('a push alert to the admins failed', e))
          .finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      },
    };
  }
}
