import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { LoginMethod } from '../factors/index.ts';
import { addressKey } from '../guard/subjects.ts';
import { LoginChallenges, type ChallengeRow } from '../login/challenge-store.ts';
import { jsonResponse } from '../login/challenge.ts';
import { loginPeople, type ChallengeMethods, type LoginFacts, type LoginStep, type StepOutcome } from '../login/hooks.ts';
import { holdSecondsFor } from './client-timeouts.ts';
import { CHALLENGE_CLIENTS, type LoginApprovalStarted, type PushSkipped } from '../../shared/api/approvals.ts';
import type { ApprovalRow } from './record.ts';
import type { ApprovalStore } from './store.ts';
import type { Waiters } from './waiters.ts';
import type { AccountHolds } from './fatigue.ts';
import type { Phones } from './phones.ts';

/**
 * Login by phone, for every client (DESIGN: a password login). Three steps of the login policy
 * (server/login/policy.ts), a challenge method, and the login page's two endpoints:
 *
 *   heldAccount     an account held after repeated "This wasn't me" — every password login
 *                   (web or native, LAN or trusted browser alike) is held for the phone; an approval the
 *                   phone already gave this device still lets it in.
 *   approvedOnPhone approve-then-retry: an approved, unused approval of a held login of this user and
 *                   DeviceId, from the same address, within ApprovalSeconds of the approval → release.
 *   holdForPhone    a native client (not in CHALLENGE_CLIENTS) of a user with an enrolled phone: the
 *                   token is held (pending, sealed — server/login/challenge-store.ts), one approval per
 *                   user + device + address is asked (pushed), and the request waits up to HoldSeconds
 *                   on a promise the approval resolves. Approved → 200 with Jellyfin's answer; denied,
 *                   reported, unanswered or the client gone → the held token is revoked at Jellyfin and
 *                   the client gets 401 (unanswered: the approval stays open for approve-then-retry).
 *   phoneMethod     web clients instead get "phone" among the challenge's methods; the login page then
 *                   calls Approvals/Login (startWeb) and Approvals/Login/Status (statusWeb).
 *
 * The approval must match address too, not only DeviceId: a DeviceId is whatever the client says, so an
 * attacker who knows the password and the TV's DeviceId must not ride on the approval the user gave the
 * TV (the phone showed the TV's address).
 */
export interface PhoneLoginEngine {
  store: ApprovalStore;
  waiters: Waiters;
  holds: AccountHolds;
  phones: Phones;
  request(input: {
    kind: 'login';
    userId: string;
    userName: string;
    asking: { client: string | null; deviceName: string | null; deviceId: string | null; ip: string; action: null };
    numberMatching: boolean;
    mode: 'hold' | 'poll';
    loginChallengeId: string;
  }): Promise<{ row: ApprovalRow; pushed: boolean; pushSkipped: PushSkipped | null }>;
  expire(row: ApprovalRow, reason?: 'expired' | 'withdrawn'): Promise<void>;
}

/**
 * A login page that closes may only be reloading: its approval is withdrawn when the page has not come
 * back (resumed its challenge) within this long, so a reload keeps the request the phone already has.
 */
export const LEAVE_GRACE_MS = 8_000;

export interface PhoneLoginDeps {
  engine: PhoneLoginEngine;
  challenges: LoginChallenges;
  config: Pick<Config, 'HoldSeconds'>;
  clock: Clock;
  audit: (e: AuditEvent) => void;
}

const CHALLENGE_CLIENT_NAMES = new Set(CHALLENGE_CLIENTS.map((c) => c.toLowerCase()));

/** Whether a login's client gets the interactive challenge (jellyfin-web, the login page, the Authenticator). */
export function isChallengeClient(client: string | null | undefined): boolean {
  return client !== null && client !== undefined && CHALLENGE_CLIENT_NAMES.has(client.trim().toLowerCase());
}

function contentTypeOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const t = headers['content-type'];
  return Array.isArray(t) ? t[0] : t;
}

/** The 401 a held native login ends with when the phone did not approve it. */
function notApproved(error: 'approval_pending' | 'approval_denied' | 'approval_expired' | 'approval_over'): StepOutcome {
  const message = {
    approval_pending: 'Approve this sign-in on your phone, then sign in again.',
    approval_denied: 'This sign-in was denied on the phone.',
    approval_expired: 'Nobody approved this sign-in in time. Sign in again.',
    approval_over: 'This sign-in is over. Sign in again.',
  }[error];
  return { kind: 'respond', response: jsonResponse(401, { error, message }) };
}

export const short = (id: string) => id.slice(0, 8);

export class PhoneLogin {
  /** The held login of each user + device: a newer login of the same device ends the older hold at once. */
  private readonly holding = new Map<string, AbortController>();
  /** Requests that wait (holds, long polls) until their answer is sent: a shutdown lets them finish. */
  private readonly answering = new Set<Promise<void>>();

  /** Keep track of a waiting request until its response is sent (or the client is gone). */
  track(ctx: GatewayContext): void {
    if (ctx.res.writableFinished || ctx.res.destroyed) return;
    const p: Promise<void> = new Promise<void>((resolve) => ctx.res.once('close', () => resolve())).finally(() => this.answering.delete(p));
    this.answering.add(p);
  }

  /** Resolves when every tracked request has been answered (after the waits were ended). */
  async drain(): Promise<void> {
    while (this.answering.size) await Promise.all([...this.answering]);
  }

  /** Pages that closed with a pending phone approval, by challenge id: the withdrawal waits for a reload. */
  private readonly leaving = new Map<string, NodeJS.Timeout>();

  constructor(private readonly deps: PhoneLoginDeps) {}

  private who(f: LoginFacts) {
    return loginPeople(f.ctx, f.result);
  }

  // ── the policy steps ──

  readonly approvedOnPhone: LoginStep = {
    name: 'approvedOnPhone',
    run: async (f) => {
      const who = this.who(f);
      if (!who.deviceId) return undefined;
      const used = await this.deps.engine.store.consumeRetry(who.userId, who.deviceId, addressKey(who.ip));
      return used ? { kind: 'release', method: 'phone_retry' } : undefined;
    },
  };

  readonly heldAccount: LoginStep = {
    name: 'heldAccount',
    run: async (f) => {
      if (!(await this.deps.engine.holds.isHeld(f.result.userId))) return undefined;
      const retry = await this.approvedOnPhone.run(f);
      if (retry) return retry;
      if (!(await this.deps.engine.phones.hasUsable(f.result.userId))) {
        // Fail closed: the hold can only be lifted from a phone, and there is none left.
        await this.revokeNow(f);
        return {
          kind: 'respond',
          response: jsonResponse(403, { error: 'account_held', message: 'Sign-ins to this account are on hold. Ask an administrator.' }),
        };
      }
      return this.hold(f);
    },
  };

  readonly holdForPhone: LoginStep = {
    name: 'holdForPhone',
    run: async (f) => {
      if (!f.requirement.required) return undefined;
      if (isChallengeClient(this.who(f).client)) return undefined;
      if (!(await this.deps.engine.phones.hasUsable(f.result.userId))) return undefined;
      return this.hold(f);
    },
  };

  /** A challenge's extra method: "phone" when the user has a phone that can approve. */
  readonly phoneMethod: ChallengeMethods = {
    name: 'phoneMethod',
    run: async (f): Promise<LoginMethod[]> => ((await this.deps.engine.phones.hasUsable(f.result.userId)) ? ['phone'] : []),
  };

  /** Hold the token Jellyfin issued without waiting (no phone to ask): revoke it at once. */
  private async revokeNow(f: LoginFacts): Promise<void> {
    const row = await this.holdToken(f);
    await this.deps.challenges.end(row, 'failed');
  }

  private async holdToken(f: LoginFacts): Promise<ChallengeRow> {
    const { ctx, result, upstream } = f;
    const who = this.who(f);
    const row = await this.deps.challenges.create({
      result,
      body: upstream.body,
      contentType: contentTypeOf(upstream.headers),
      methods: ['phone'],
      ip: who.ip,
      deviceId: who.deviceId,
      deviceName: who.deviceName,
      client: who.client,
      appVersion: result.appVersion ?? ctx.state.credential.version ?? null,
    });
    await this.deps.challenges.supersede(result.userId, who.deviceId, row.token_hash);
    return row;
  }

  /** Hold the login open while the phone is asked (see the class comment). */
  private async hold(f: LoginFacts): Promise<StepOutcome> {
    const { engine, challenges, clock } = this.deps;
    const who = this.who(f);
    this.track(f.ctx);
    const held = await this.holdToken(f);
    const key = addressKey(who.ip);
    let approval = who.deviceId ? await engine.store.pendingLogin(who.userId, who.deviceId, key, 'hold') : undefined;
    const reused = approval !== undefined && (await engine.store.relink(approval.id, held.id));
    if (!approval || !reused) {
      approval = (
        await engine.request({
          kind: 'login',
          userId: who.userId,
          userName: who.userName,
          asking: { client: who.client, deviceName: who.deviceName, deviceId: who.deviceId, ip: who.ip, action: null },
          numberMatching: false,
          mode: 'hold',
          loginChallengeId: held.id,
        })
      ).row;
    }
    // Never longer than this client waits for a login answer (server/approvals/client-timeouts.ts).
    const holdSeconds = holdSecondsFor(who.client, this.deps.config.HoldSeconds);
    const holdMs = holdSeconds * 1000;
    this.deps.audit({ type: 'login.approval.held', outcome: 'info', ...who, detail: { approval: short(approval.id), reused, holdSeconds } });

    // Wait: the approval's decision resolves the promise; the deadline is on the injected clock.
    const gone = new AbortController();
    const onClose = () => gone.abort();
    f.ctx.res.once('close', onClose);
    const deviceKey = who.deviceId ? `${who.userId}\0${who.deviceId}` : undefined;
    if (deviceKey) {
      this.holding.get(deviceKey)?.abort(); // Jellyfin revoked that token when this device logged in again
      this.holding.set(deviceKey, gone);
    }
    let outcome;
    try {
      const waiting = engine.waiters.wait(approval.id, clock.now() + holdMs, gone.signal);
      // Decided between the lookup and the wait (a fast phone): settle now rather than miss it.
      const fresh = await engine.store.get(approval.id);
      if (fresh && fresh.status !== 'pending') engine.waiters.settle(approval.id, fresh.status);
      outcome = await waiting;
    } finally {
      f.ctx.res.off('close', onClose);
      if (deviceKey && this.holding.get(deviceKey) === gone) this.holding.delete(deviceKey);
    }

    if (outcome === 'approved') {
      const live = await challenges.get(held.id);
      if (live?.state === 'pending' && (await engine.store.consume(approval.id))) {
        const done = await challenges.complete(held.id, 'phone', 'pending');
        if (done) return { kind: 'release', method: 'phone' };
      }
      // Another held request of this device took the approval, or a newer login superseded this one.
      await challenges.end(held, 'superseded');
      return notApproved('approval_over');
    }
    await challenges.end(held, outcome === 'timeout' || outcome === 'aborted' || outcome === 'shutdown' || outcome === 'expired' ? 'expired' : 'failed');
    if (outcome === 'timeout') {
      this.deps.audit({ type: 'login.approval.timeout', outcome: 'info', ...who, detail: { approval: short(approval.id) } });
      return notApproved('approval_pending');
    }
    if (outcome === 'expired') return notApproved('approval_expired');
    if (outcome === 'denied' || outcome === 'reported') return notApproved('approval_denied');
    return notApproved('approval_pending');
  }

  // ── the login page (a web challenge whose methods include "phone") ──

  /** A live challenge that offers "phone", or the right 4xx. */
  private async phoneChallenge(challengeId: string): Promise<ChallengeRow> {
    const row = await this.deps.challenges.get(challengeId);
    if (!row) throw new HttpError(404, 'unknown_challenge', 'This sign-in is unknown or over. Sign in again.');
    if (row.state === 'expired') throw new HttpError(410, 'challenge_expired', 'This sign-in took too long. Sign in again.');
    if (row.state !== 'pending') throw new HttpError(410, 'challenge_over', 'This sign-in is already over. Sign in again.');
    if (!LoginChallenges.methodsOf(row).includes('phone') || !(await this.deps.engine.phones.hasUsable(row.user_id))) {
      throw new HttpError(400, 'method_unavailable', 'This sign-in cannot be approved on a phone.');
    }
    return row;
  }

  /** Approvals/Login: start (or return the already started) phone approval of a held web login. */
  async startWeb(challengeId: string): Promise<LoginApprovalStarted> {
    this.stayed(challengeId);
    const { engine } = this.deps;
    const row = await this.phoneChallenge(challengeId);
    const phones = (await engine.phones.usable(row.user_id)).length;
    const started = (a: ApprovalRow, pushed: boolean, pushSkipped: PushSkipped | null): LoginApprovalStarted => ({
      status: 'pending',
      number: a.number!,
      expiresAt: new Date(a.expires_at).toISOString(),
      pushed,
      pushSkipped,
      phones,
    });
    const asSkipped = (a: ApprovalRow) => (a.push_skipped as PushSkipped | null) ?? null;
    const mine = await engine.store.byLoginChallenge(row.id);
    if (mine && mine.status === 'pending' && mine.expires_at > this.deps.clock.now() && mine.number) {
      return started(mine, mine.pushed_at !== null, asSkipped(mine));
    }
    // The same browser logged in again (its older challenge was superseded): keep its approval and number.
    if (row.device_id) {
      const earlier = await engine.store.pendingLogin(row.user_id, row.device_id, addressKey(row.ip), 'poll');
      if (earlier && earlier.number && (await engine.store.relink(earlier.id, row.id))) {
        return started(earlier, earlier.pushed_at !== null, asSkipped(earlier));
      }
    }
    const r = await engine.request({
      kind: 'login',
      userId: row.user_id,
      userName: row.user_name,
      asking: { client: row.client, deviceName: row.device_name, deviceId: row.device_id, ip: row.ip, action: null },
      numberMatching: true,
      mode: 'poll',
      loginChallengeId: row.id,
    });
    return started(r.row, r.pushed, r.pushSkipped);
  }

  /**
   * Approvals/Login/Cancel: the login page gave up its phone approval, so the phone no longer lists a
   * request nobody waits for. "Cancel and start over" (`leaving` false) withdraws it and ends the
   * challenge at once; a page that closes (`leaving`, sent as a beacon) may be reloading, so that waits
   * LEAVE_GRACE_MS for the page to come back first. An unknown or decided approval changes nothing.
   */
  async cancelWeb(challengeId: string, leaving: boolean): Promise<void> {
    const approval = await this.deps.engine.store.byLoginChallenge(challengeId);
    const open = approval && approval.status === 'pending' && approval.mode === 'poll' ? approval : undefined;
    if (leaving) {
      if (!open || this.leaving.has(challengeId)) return;
      const timer = setTimeout(() => {
        this.leaving.delete(challengeId);
        void this.withdraw(challengeId).catch(() => undefined); // best effort: it expires on its own anyway
      }, LEAVE_GRACE_MS);
      timer.unref();
      this.leaving.set(challengeId, timer);
      return;
    }
    this.stayed(challengeId);
    await this.withdraw(challengeId);
    const row = await this.deps.challenges.get(challengeId);
    if (row && row.state === 'pending') await this.deps.challenges.end(row, 'superseded');
  }

  /** The page is (back) on this challenge: a withdrawal waiting since it closed is off. */
  private stayed(challengeId: string): void {
    const timer = this.leaving.get(challengeId);
    if (!timer) return;
    clearTimeout(timer);
    this.leaving.delete(challengeId);
  }

  private async withdraw(challengeId: string): Promise<void> {
    const approval = await this.deps.engine.store.byLoginChallenge(challengeId);
    if (approval && approval.status === 'pending' && approval.mode === 'poll') await this.deps.engine.expire(approval, 'withdrawn');
  }

  /**
   * Approvals/Login/Status: once approved, complete the held web login (exactly once) and hand back
   * Jellyfin's answer; otherwise say how the approval stands. `waitSeconds` long-polls.
   */
  async statusWeb(
    challengeId: string,
    waitSeconds: number,
    signal: AbortSignal,
  ): Promise<{ kind: 'released'; body: Buffer; contentType: string | undefined; row: ChallengeRow } | { kind: 'pending'; approval: ApprovalRow }> {
    this.stayed(challengeId);
    const { engine, challenges, clock } = this.deps;
    let approval = await engine.store.byLoginChallenge(challengeId);
    if (!approval || approval.mode !== 'poll') throw new HttpError(404, 'no_approval', 'No phone approval was started for this sign-in.');
    if (approval.status === 'pending' && approval.expires_at <= clock.now()) {
      await engine.expire(approval);
      approval = (await engine.store.get(approval.id))!;
    }
    if (approval.status === 'pending' && waitSeconds > 0) {
      await engine.waiters.wait(approval.id, Math.min(clock.now() + waitSeconds * 1000, approval.expires_at), signal);
      approval = (await engine.store.get(approval.id))!;
    }
    switch (approval.status) {
      case 'pending':
        return { kind: 'pending', approval };
      case 'denied':
        throw new HttpError(410, 'approval_denied', 'This sign-in was denied on the phone.');
      case 'reported':
        throw new HttpError(410, 'approval_reported', 'This sign-in was reported on the phone.');
      case 'expired':
        throw new HttpError(410, 'approval_expired', 'Nobody approved on the phone in time. Try again, or use another way.');
      case 'approved': {
        if (approval.login_challenge_id !== challengeId || !(await engine.store.consume(approval.id))) {
          throw new HttpError(410, 'challenge_over', 'This sign-in is already over. Sign in again.');
        }
        const done = await challenges.complete(challengeId, 'phone', 'pending');
        if (!done) throw new HttpError(410, 'challenge_over', 'This sign-in is already over. Sign in again.');
        return { kind: 'released', ...done };
      }
    }
  }
}

/** The request's own abort signal: the client went away. */
export function clientGone(ctx: GatewayContext): { signal: AbortSignal; done: () => void } {
  const c = new AbortController();
  const onClose = () => c.abort();
  ctx.res.once('close', onClose);
  return { signal: c.signal, done: () => ctx.res.off('close', onClose) };
}
