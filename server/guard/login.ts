import { randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/index.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { BufferedResponse } from '../jellyfin/proxy.ts';
import { canonicalGuid } from '../jellyfin/json.ts';
import { loginPeople, type AcceptedCheck, type BeforeCheck, type FailedCheck, type PasswordAttempt, type ReleasedCheck } from '../login/hooks.ts';
import type { AuthenticationResult } from '../login/result.ts';
import type { Ban } from './bans.ts';
import { isTicket, type Regulator, type Ticket, type Who } from './regulator.ts';
import type { KnownDevices } from './devices.ts';
import type { AllowLists } from './network.ts';
import { travelBetween, type GeoLocator, type Place } from './travel.ts';
import type { BreachChecker, BreachResult } from './breach.ts';
import type { Notice, Notifiers } from './notifier.ts';
import { foldUserName } from './subjects.ts';

/** Before any real wrong-password answer was timed, a locked answer takes about this long. */
const DEFAULT_FAILURE_MS = 50;
/** Real wrong-password timings kept; their median is the target (robust to a slow outlier). */
const FAILURE_SAMPLES = 21;
/** A locked answer never waits longer than this. */
const MAX_FAILURE_DELAY_MS = 3000;

export interface PasswordChecksDeps {
  config: Config;
  clock: Clock;
  log: Logger;
  db: DB;
  regulator: Regulator;
  devices: KnownDevices;
  allowLists: AllowLists;
  notifiers: Notifiers;
  geo: GeoLocator | undefined;
  breach: BreachChecker | undefined;
  revoke: (token: string) => Promise<void>;
  hasVerifiedDevice: (userId: string, deviceId: string) => boolean;
  findUser: (name: string) => Promise<{ id: string; name: string } | undefined>;
  banError: (ban: Ban) => HttpError;
  audit: (e: AuditEvent) => void;
}

interface AttemptState {
  who: Who;
  /** performance.now() when the guard first saw the attempt. */
  started: number;
  ticket: Ticket | undefined;
}

/**
 * The guard's checks of a password login (DESIGN: brute force and network rules), in order:
 *   before Jellyfin  address ban (403/429) → lock of the name at this address → lock of the name
 *                    (a known device passes) → attempts in flight → IP allowlist (by name, when known)
 *   Jellyfin refused count the failure (address, name, both), audit, answer as Jellyfin did
 *   Jellyfin accepted IP allowlist (by id) → impossible travel → breached password (when it blocks)
 *   released         audit → remember the device and network (notify when new)
 * The policy table (server/login/policy.ts) places them among the other concerns' checks.
 */
export class PasswordChecks {
  private readonly attempts = new WeakMap<GatewayContext, AttemptState>();
  /** Jellyfin's own wrong-password answer, as last seen (replayed for a locked name). */
  private wrongPassword: BufferedResponse = {
    status: 401,
    headers: { 'content-type': 'text/plain' },
    body: Buffer.from('Error processing request.'),
  };
  /** How long Jellyfin took to refuse the last few passwords, from the guard's first look (ms). */
  private readonly failureMs: number[] = [];
  /** Informational breach checks still running (awaited at close). */
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly deps: PasswordChecksDeps) {}

  readonly checks: { before: BeforeCheck; failed: FailedCheck; accepted: AcceptedCheck; released: ReleasedCheck } = {
    before: { name: 'guardBeforePassword', run: (ctx, attempt) => this.beforeLogin(ctx, attempt) },
    failed: { name: 'guardCountsFailure', run: (ctx, attempt, res) => this.failedLogin(ctx, attempt, res) },
    accepted: { name: 'guardAfterPassword', run: (ctx, attempt, result) => this.acceptedLogin(ctx, attempt, result) },
    released: { name: 'guardRemembersSuccess', run: (ctx, attempt, result, method) => this.releasedLogin(ctx, attempt, result, method) },
  };

  /** Wait for the informational breach checks still running. */
  async idle(): Promise<void> {
    await Promise.all([...this.background]);
  }

  private whoOf(ctx: GatewayContext, attempt: PasswordAttempt): Who {
    return {
      ip: ctx.state.client.ip,
      username: attempt.username,
      userId: attempt.pathUserId ? (canonicalGuid(attempt.pathUserId) ?? undefined) : undefined,
    };
  }

  private async beforeLogin(ctx: GatewayContext, attempt: PasswordAttempt): Promise<BufferedResponse | void> {
    const who = this.whoOf(ctx, attempt);
    const state: AttemptState = { who, started: performance.now(), ticket: undefined };
    this.attempts.set(ctx, state);
    const knownDevice = () => this.isKnownDevice(who, ctx.state.credential.deviceId);
    let verdict = this.deps.regulator.begin('password', who, { knownDevice });
    if (!isTicket(verdict) && verdict.refused === 'locked' && verdict.scope === 'user' && who.username !== undefined && !who.userId) {
      // A locked name the guard cannot place (the user signed in only through a second factor since the
      // start): look it up once, then ask again, so that the user's devices are recognised.
      if (this.deps.devices.userIdByName(foldUserName(who.username)) === undefined) {
        const user = await this.deps.findUser(who.username).catch(() => undefined);
        if (user) {
          this.deps.devices.learnUser(user.id, user.name);
          verdict = this.deps.regulator.begin('password', who, { knownDevice });
        }
      }
    }
    if (!isTicket(verdict)) {
      if (verdict.refused === 'banned') throw this.deps.banError(verdict.ban);
      if (verdict.refused === 'busy') {
        this.deps.audit({ ...this.people(ctx, who), type: 'guard.login.busy', outcome: 'refused' });
        throw new HttpError(429, 'too_many_attempts', 'Too many sign-in attempts at once from your network. Try again in a moment.', { 'retry-after': '1' });
      }
      // A locked name: answered exactly as Jellyfin answers a wrong password, after as long. The attempt
      // counts against the address (so a flood still gets banned), not again against the name.
      this.deps.regulator.recordFailure('password', who, ['address', 'user_address']);
      this.deps.audit({ ...this.people(ctx, who), type: 'guard.login.locked', outcome: 'refused', detail: { scope: verdict.scope } });
      return this.answerAsWrongPassword(state.started);
    }
    const ticket = verdict;
    state.ticket = ticket;
    ctx.res.once('close', () => ticket.release()); // whatever happens next, the slot is given back
    const userId = who.userId ?? (who.username !== undefined ? this.deps.devices.userIdByName(foldUserName(who.username)) : undefined);
    if (userId && !this.deps.allowLists.permits(userId, who.ip)) {
      this.deps.regulator.recordFailure('password', who, ['address', 'user_address']);
      this.deps.audit({ ...this.people(ctx, who), userId, type: 'guard.allowlist.refused', outcome: 'refused' });
      throw notAllowed();
    }
  }

  /** This user signed in from this DeviceId before (a password login remembered, or a live verified token). */
  private isKnownDevice(who: Who, deviceId: string | undefined): boolean {
    if (!deviceId) return false;
    if (this.deps.devices.isKnown(who, deviceId)) return true;
    const userId = who.userId ?? (who.username !== undefined ? this.deps.devices.userIdByName(foldUserName(who.username)) : undefined);
    return userId !== undefined && this.deps.hasVerifiedDevice(userId, deviceId);
  }

  private async failedLogin(ctx: GatewayContext, attempt: PasswordAttempt, res: BufferedResponse): Promise<void> {
    const state = this.attempts.get(ctx);
    const who = state?.who ?? this.whoOf(ctx, attempt);
    try {
      this.deps.audit({ ...this.people(ctx, who), type: 'login.password.failure', outcome: 'failure', detail: { status: res.status } });
      // 401: unknown user or wrong password; 403: disabled or locked out at Jellyfin. 400s are not guesses.
      if (res.status === 401 || res.status === 403) {
        if (res.status === 401) this.learnWrongPassword(res, state);
        this.deps.regulator.recordFailure('password', who);
      }
    } finally {
      state?.ticket?.release();
    }
  }

  private peopleOf(ctx: GatewayContext, result: AuthenticationResult): People {
    return loginPeople(ctx, result);
  }

  /**
   * Jellyfin accepted the password: the checks that may still refuse it run now, before any second
   * factor is asked for, so a user with a factor is held to them too.
   */
  private async acceptedLogin(ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult): Promise<void> {
    const people = this.peopleOf(ctx, result);
    // The allowlist again, now that Jellyfin named the user (a name the gateway did not know before).
    if (!this.deps.allowLists.permits(result.userId, people.ip)) {
      await this.deps.revoke(result.accessToken);
      this.deps.audit({ ...people, type: 'guard.allowlist.refused', outcome: 'refused', detail: { after: 'password' } });
      throw notAllowed();
    }
    await this.checkTravel(result, people);
    if (this.deps.breach && attempt.password !== undefined) await this.checkBreach(attempt.password, result, people);
  }

  private async releasedLogin(ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult, method: string): Promise<void> {
    const state = this.attempts.get(ctx);
    state?.ticket?.release();
    const who: Who = { ip: ctx.state.client.ip, username: attempt.username ?? result.userName, userId: result.userId };
    this.deps.regulator.recordSuccess('password', who);
    this.deps.devices.learnUser(result.userId, result.userName);
    const people = this.peopleOf(ctx, result);
    this.deps.audit({ ...people, type: 'login.password.success', outcome: 'success', detail: { method } });
    await this.noticeNovelty(people, result);
  }

  // ---- impossible travel, breach check, new devices ----

  private async checkTravel(result: AuthenticationResult, people: People): Promise<void> {
    if (!this.deps.geo) return;
    const place = this.deps.geo.locate(people.ip);
    if (!place) return; // a private or unknown address has no place to compare
    const now = this.deps.clock.now();
    const prev = await this.deps.db.selectFrom('login_places').selectAll().where('user_id', '=', result.userId).executeTakeFirst();
    if (prev) {
      const from: Place = { latitude: prev.latitude, longitude: prev.longitude, accuracyKm: prev.accuracy_km, city: prev.city, country: prev.country };
      const t = travelBetween({ place: from, at: prev.at }, { place, at: now });
      if (t.speedKmh > this.deps.config.ImpossibleTravelThreshold) {
        const block = this.deps.config.ImpossibleTravelAction === 'Block';
        const detail = {
          from: { ip: prev.ip, city: prev.city, country: prev.country, at: new Date(prev.at).toISOString() },
          to: { city: place.city, country: place.country },
          distanceKm: Math.round(t.distanceKm),
          hours: Math.round(t.hours * 100) / 100,
          speedKmh: Number.isFinite(t.speedKmh) ? Math.round(t.speedKmh) : null,
          action: block ? 'blocked' : 'alerted',
        };
        this.deps.audit({ ...people, type: 'guard.travel.impossible', outcome: block ? 'refused' : 'info', detail });
        const where = (c: string | null, k: string | null) => [c, k].filter(Boolean).join(', ') || 'an unknown place';
        const notice: Notice = {
          kind: 'impossible_travel',
          title: block ? `Jellyfin: a sign-in as ${result.userName} was blocked` : `Jellyfin: an unusual sign-in as ${result.userName}`,
          text:
            `A sign-in as ${result.userName} came from ${where(place.city, place.country)} (${people.ip}), ` +
            `${Math.round(t.distanceKm)} km from the previous one in ${where(prev.city, prev.country)} ` +
            `${t.hours < 1 ? `${Math.round(t.hours * 60)} minutes` : `${Math.round(t.hours)} hours`} earlier.\n` +
            `Device: ${people.deviceName ?? 'unknown'} (${people.client ?? 'unknown client'}).\n` +
            (block ? 'It was blocked. If it was you, try again later; if not, change your password.\n' : 'If it was not you, change your password.\n'),
        };
        this.deps.notifiers.notifyUser(result.userId, notice);
        this.deps.notifiers.alertAdmins(notice);
        if (block) {
          await this.deps.revoke(result.accessToken);
          throw new HttpError(403, 'impossible_travel', 'This sign-in was blocked: it came too far, too fast from your previous one. Try again later, or ask an administrator.');
        }
      }
    }
    const row = {
      user_id: result.userId,
      ip: people.ip,
      latitude: place.latitude,
      longitude: place.longitude,
      accuracy_km: place.accuracyKm,
      city: place.city,
      country: place.country,
      at: now,
    };
    await this.deps.db
      .insertInto('login_places')
      .values(row)
      .onConflict((oc) => oc.column('user_id').doUpdateSet(row))
      .execute();
  }

  private async checkBreach(password: string, result: AuthenticationResult, people: People): Promise<void> {
    const blocks = this.deps.config.BreachCheckBlocks;
    const run = async (): Promise<BreachResult> => {
      const r = await this.deps.breach!.check(password);
      const now = this.deps.clock.now();
      const row = { user_id: result.userId, result: r.result, count: r.count, checked_at: now };
      await this.deps.db
        .insertInto('password_checks')
        .values(row)
        .onConflict((oc) => oc.column('user_id').doUpdateSet(row))
        .execute();
      const outcome = r.result === 'clean' ? 'success' : r.result === 'breached' ? (blocks ? 'refused' : 'failure') : 'info';
      this.deps.audit({ ...people, type: 'guard.password.checked', outcome, detail: { result: r.result, count: r.count, ...(r.result === 'unavailable' ? { reason: r.reason } : {}) } });
      if (r.result === 'breached') {
        this.deps.notifiers.notifyUser(result.userId, {
          kind: 'breached_password',
          title: `Jellyfin: the password of ${result.userName} is in known data breaches`,
          text:
            `The password used to sign in as ${result.userName} appears ${r.count.toLocaleString('en')} times in known data breaches ` +
            `(checked without sending it anywhere). ${blocks ? 'The sign-in was refused. ' : ''}Please change it to one used nowhere else.\n`,
        });
      }
      return r;
    };
    if (!blocks) {
      // Informational: the login does not wait for it.
      const p: Promise<unknown> = run()
        .catch((e) => this.deps.log.error('the breached-password check failed', e))
        .finally(() => this.background.delete(p));
      this.background.add(p);
      return;
    }
    const r = await run();
    if (r.result === 'breached') {
      await this.deps.revoke(result.accessToken);
      throw new HttpError(403, 'password_breached', 'This password appears in known data breaches. Ask an administrator to set a new one.');
    }
  }

  private async noticeNovelty(people: People, result: AuthenticationResult): Promise<void> {
    try {
      const n = await this.deps.devices.remember({
        userId: result.userId,
        userName: result.userName,
        deviceId: people.deviceId ?? undefined,
        deviceName: people.deviceName ?? undefined,
        client: people.client ?? undefined,
        ip: people.ip,
      });
      if (!n.returning || (!n.newDevice && !n.newNetwork)) return;
      if (n.newDevice) this.deps.audit({ ...people, type: 'guard.device.new', outcome: 'info' });
      if (n.newNetwork) this.deps.audit({ ...people, type: 'guard.network.new', outcome: 'info' });
      const what = n.newDevice && n.newNetwork ? 'a new device on a new network' : n.newDevice ? 'a new device' : 'a new network';
      this.deps.notifiers.notifyUser(result.userId, {
        kind: n.newDevice ? 'new_device' : 'new_network',
        title: `Jellyfin: ${result.userName} signed in from ${what}`,
        text:
          `${result.userName} signed in from ${what}: ${people.deviceName ?? 'unknown device'} (${people.client ?? 'unknown client'}), ` +
          `address ${people.ip}, at ${new Date(this.deps.clock.now()).toISOString()}.\nIf this was not you, change your password and sign that device out.\n`,
      });
    } catch (e) {
      this.deps.log.error('remembering a device failed', e);
    }
  }

  // ---- answering like Jellyfin ----

  /** Remember Jellyfin's wrong-password answer and how long it took (for locked names). */
  private learnWrongPassword(res: BufferedResponse, state: AttemptState | undefined): void {
    this.wrongPassword = { status: res.status, headers: { ...res.headers }, body: Buffer.from(res.body) };
    if (state) {
      this.failureMs.push(performance.now() - state.started);
      if (this.failureMs.length > FAILURE_SAMPLES) this.failureMs.shift();
    }
  }

  /**
   * Jellyfin's wrong-password answer (same status, headers and body), sent about as long after the
   * attempt arrived as Jellyfin takes to refuse a password (Authelia's timing-attack delay), so that a
   * locked name cannot be told from a wrong password.
   */
  private async answerAsWrongPassword(started: number): Promise<BufferedResponse> {
    const sorted = [...this.failureMs].sort((a, b) => a - b);
    const base = sorted.length ? sorted[sorted.length >> 1]! : DEFAULT_FAILURE_MS;
    const target = Math.min(MAX_FAILURE_DELAY_MS, base * (0.85 + randomInt(0, 300) / 1000));
    const wait = target - (performance.now() - started);
    if (wait > 1) await delay(wait);
    const t = this.wrongPassword;
    return { status: t.status, headers: { ...t.headers }, body: Buffer.from(t.body) };
  }

  private people(ctx: GatewayContext, who: Who): Omit<AuditEvent, 'type' | 'outcome'> {
    // A failed attempt names a user by name; when the gateway knows that user, the row carries the id so
    // the user sees it among their own events.
    const knownId = who.username !== undefined ? this.deps.devices.userIdByName(foldUserName(who.username)) : undefined;
    return {
      userId: who.userId ?? knownId ?? null,
      userName: who.username ?? null,
      ip: who.ip,
      deviceId: ctx.state.credential.deviceId ?? null,
      deviceName: ctx.state.credential.device ?? null,
      client: ctx.state.credential.client ?? null,
    };
  }
}

type People = { userId: string; userName: string; ip: string; deviceId: string | null; deviceName: string | null; client: string | null };

function notAllowed(): HttpError {
  return new HttpError(403, 'address_not_allowed', 'This account may not sign in from your network. Ask an administrator.');
}
