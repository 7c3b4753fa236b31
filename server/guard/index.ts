import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import { HttpError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/index.ts';
import type { AuditEvent, AuditSink } from '../audit/index.ts';
import { readCredential } from '../jellyfin/credentials.ts';
import type { ClientAddress } from '../net/client-address.ts';
import type { LoginStep } from '../login/hooks.ts';
import { BanList, BAN_MEMORY_MS, type Ban, type BanScope } from './bans.ts';
import { Regulator, type AttemptKind, type Refusal, type Ticket, type Who } from './regulator.ts';
import { KnownDevices } from './devices.ts';
import { AllowLists, LanBypass, type AllowList } from './network.ts';
import { MaxMindLocator, type GeoLocator } from './travel.ts';
import { BreachChecker } from './breach.ts';
import { EmailNotifier, Notifiers, type Notice, type Notifier } from './notifier.ts';
import { PasswordChecks } from './login.ts';

export { Regulator, ATTEMPT_KINDS, type AttemptKind, type FailureRecorder, type Who } from './regulator.ts';
export { BanList, type Ban, type BanScope } from './bans.ts';
export type { Notice, Notifier } from './notifier.ts';

/** Counters held in memory (least recently used first out): about 150 bytes each. */
export const MAX_COUNTERS = 100_000;
/** Bans and ban histories held in memory. */
export const MAX_BANS_IN_MEMORY = 100_000;

export interface GuardDeps {
  config: Config;
  clock: Clock;
  log: Logger;
  db: DB;
  hmacKey: Buffer;
  audit: AuditSink;
  /** Revoke a token Jellyfin issued: forget it at the gate and log it out at Jellyfin. */
  revoke: (token: string) => Promise<void>;
  /** Whether a token is a Jellyfin API key the gateway knows (memory only). */
  isApiKey: (token: string) => boolean;
  /** Whether a token is a session the gateway verified (memory only). */
  isVerifiedToken: (token: string) => boolean;
  /**
   * Whether this user holds a verified token for this DeviceId (memory only): a device that signed in
   * by any path — a second factor, Quick Connect, a trusted browser — counts as known.
   */
  hasVerifiedDevice: (userId: string, deviceId: string) => boolean;
  /** A user the gateway has seen, by name (case-insensitive; a store read, used on the locked path only). */
  findUser: (name: string) => Promise<{ id: string; name: string } | undefined>;
  /** Given by tests; otherwise opened from GeoIPDatabasePath when impossible travel is on. */
  geo?: GeoLocator;
  /** Given by tests; otherwise built from BreachCheckUrl when the breach check is on. */
  breach?: BreachChecker;
}

/**
 * The guard (DESIGN: brute force and network rules): the regulator and its bans, LAN bypass, per-user
 * IP allowlists, impossible travel, new-device notices and the breached-password check. It plugs into
 * the pipeline twice: a middleware right after the client address refuses banned addresses before
 * anything else (server/guard/middleware.ts, and server/upgrade.ts for upgrades), and its checks of the
 * password login (server/guard/login.ts) do the rest. Other concerns use the methods below, never its parts.
 */
export class Guard {
  private readonly regulator: Regulator;
  private readonly bans: BanList;
  private readonly devices: KnownDevices;
  private readonly allowLists: AllowLists;
  private readonly lan: LanBypass;
  private readonly notifiers = new Notifiers();
  private readonly emailNotifier: EmailNotifier | undefined;
  private readonly password: PasswordChecks;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly deps: GuardDeps,
    geo: GeoLocator | undefined,
    breach: BreachChecker | undefined,
  ) {
    const c = deps.config;
    // The limits are read from the configuration at each attempt (getters), so an administrator's change
    // (POST Configuration) applies to the next one without a restart.
    this.bans = new BanList(
      deps.db,
      deps.clock,
      {
        get lockoutMs() {
          return c.LockoutDuration * 1000;
        },
        get permanentThreshold() {
          return c.PermanentBanThreshold;
        },
        memoryMs: BAN_MEMORY_MS,
        maxInMemory: MAX_BANS_IN_MEMORY,
      },
      (m, e) => deps.log.error(m, e),
    );
    this.devices = new KnownDevices(deps.db, deps.clock, deps.hmacKey);
    this.regulator = new Regulator(
      this.bans,
      deps.clock,
      {
        get enabled() {
          return c.BruteForceEnabled;
        },
        get maxFailures() {
          return c.MaxFailedAttempts;
        },
        get codeFailuresPerAddress() {
          return c.CodeFailuresPerAddress;
        },
        get windowMs() {
          return c.FailureWindowSeconds * 1000;
        },
        maxCounters: MAX_COUNTERS,
      },
      { onBan: (ban, kind, who) => this.onBan(ban, kind, who), resolveUserId: (name) => this.devices.userIdByName(name) },
    );
    this.allowLists = new AllowLists(deps.db, deps.clock);
    this.lan = new LanBypass(c.LANBypassEnabled, c.LANBypassCIDRs);
    if (c.SMTP) {
      this.emailNotifier = new EmailNotifier(deps.db, c.SMTP, { adminAlerts: c.AdminEmailAlerts }, (m, e) => deps.log.warn(`${m}${e ? `: ${(e as Error).message}` : ''}`));
      this.notifiers.add(this.emailNotifier);
    } else if (c.AdminEmailAlerts) {
      deps.log.warn('AdminEmailAlerts is on but no SMTP server is configured: admin alerts go nowhere');
    }
    this.password = new PasswordChecks({
      config: c,
      clock: deps.clock,
      log: deps.log,
      db: deps.db,
      regulator: this.regulator,
      devices: this.devices,
      allowLists: this.allowLists,
      notifiers: this.notifiers,
      geo,
      breach,
      revoke: deps.revoke,
      hasVerifiedDevice: deps.hasVerifiedDevice,
      findUser: deps.findUser,
      banError: (ban) => this.banError(ban),
      audit: (e) => this.audit(e),
    });
  }

  /** Build the guard and load its state (bans, known devices, allowlists; the GeoIP database). */
  static async create(deps: GuardDeps): Promise<Guard> {
    const c = deps.config;
    let geo = deps.geo;
    if (!geo && c.ImpossibleTravelEnabled) {
      if (!c.GeoIPDatabasePath) throw new Error('ImpossibleTravelEnabled needs GeoIPDatabasePath (a GeoLite2-City .mmdb file)');
      geo = await MaxMindLocator.open(c.GeoIPDatabasePath);
    }
    const breach = deps.breach ?? (c.BreachCheckEnabled ? new BreachChecker({ baseUrl: c.BreachCheckUrl }) : undefined);
    const guard = new Guard(deps, c.ImpossibleTravelEnabled ? geo : undefined, c.BreachCheckEnabled ? breach : undefined);
    await Promise.all([guard.bans.load(), guard.devices.load(), guard.allowLists.load()]);
    return guard;
  }

  /** Forget old ban histories every hour. */
  start(): void {
    this.timer = setInterval(() => void this.bans.purge().catch((e) => this.deps.log.error('purging old bans failed', e)), 3600_000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.password.idle();
    await this.bans.flush();
    await this.emailNotifier?.idle();
    this.emailNotifier?.close();
  }

  /** Add a way to reach people (the Authenticator's phones). */
  addNotifier(n: Notifier): void {
    this.notifiers.add(n);
  }

  /** Tell a user (by every way the guard has: e-mail, their phones). */
  notifyUser(userId: string, notice: Notice): void {
    this.notifiers.notifyUser(userId, notice);
  }

  /** Tell the administrators. */
  alertAdmins(notice: Notice): void {
    this.notifiers.alertAdmins(notice);
  }

  /** Mail still being sent (tests wait for it). */
  async mailSent(): Promise<void> {
    await this.emailNotifier?.idle();
  }

  // ---- guessable attempts (server/stepup/attempt.ts, password changes) ----

  /** Begin an attempt under the brute-force limits: a ticket to release when done, or why it is refused. */
  beginAttempt(kind: AttemptKind, who: Who, opts: { knownDevice?: boolean | (() => boolean) } = {}): Ticket | Refusal {
    return this.regulator.begin(kind, who, opts);
  }

  /** A success resets the failures counted for this attempt's subjects. */
  recordSuccess(kind: AttemptKind, who: Who): void {
    this.regulator.recordSuccess(kind, who);
  }

  /** Failures of this kind counted now against one subject (an address, a user name, or both). */
  failures(kind: AttemptKind, scope: BanScope, subject: string): number {
    return this.regulator.failures(kind, scope, subject);
  }

  /** Whether this address is banned now (memory only). */
  isAddressBanned(ip: string): boolean {
    return this.regulator.addressBan(ip) !== undefined;
  }

  /** Ban a subject at once (a reported approval: "This wasn't me"). */
  imposeBan(scope: BanScope, subject: string, info: { reason: string; failures: number; address: string | null; userName: string | null }): Ban {
    return this.bans.impose(scope, subject, info);
  }

  /** Every ban in force. */
  listBans(): Promise<Ban[]> {
    return this.bans.list();
  }

  // ---- allowlists ----

  /** The addresses a user may sign in from (undefined: anywhere). */
  allowedIps(userId: string): AllowList | undefined {
    return this.allowLists.get(userId);
  }

  /** Set (or, with no CIDRs, clear) a user's allowlist; `name` lets the guard match later logins by name. */
  async setAllowedIps(userId: string, cidrs: string[], by: string | null, name?: string): Promise<AllowList | undefined> {
    if (name) this.devices.learnUser(userId, name);
    return this.allowLists.set(userId, cidrs, by);
  }

  // ---- questions other concerns ask ----

  /** LAN bypass for this client. A trusted proxy that sent no forwarding header never is: its client is unknown. */
  isLanBypass(client: Pick<ClientAddress, 'ip' | 'proxyWithoutForwarding'>): boolean {
    return this.lan.applies(client);
  }

  /**
   * The LAN bypass as a step of the login policy (server/login/policy.ts): a correct password from a LAN
   * address needs nothing more. Off unless LANBypassEnabled.
   */
  readonly lanBypass: LoginStep = {
    name: 'lanBypass',
    run: async (f) => (this.isLanBypass(f.ctx.state.client) ? { kind: 'release', method: 'lan_bypass' } : undefined),
  };

  /** The failure recorder second factors, pairing and approvals report to. */
  recordFailure(kind: AttemptKind, who: Who, scopes?: readonly BanScope[]): void {
    try {
      this.regulator.recordFailure(kind, who, scopes);
    } catch (e) {
      this.deps.log.error('the regulator failed to count a failure', e);
    }
  }

  /**
   * The ban that refuses this request, if any (memory only: the hot path). A ban stops guesses and
   * anonymous traffic, never what the gateway already let in: a request whose every token is a session the
   * gateway verified passes (another person's TV behind the same household address keeps playing), and so
   * does one that presents only Jellyfin API keys when APIKeyBypassEnabled (Sonarr behind the same NAT as a
   * mistyping household member). Sign-in attempts are refused again by their own checks (the regulator).
   */
  refusal(client: ClientAddress, headers: IncomingHttpHeaders, headersDistinct: NodeJS.Dict<string[]> | undefined, rawQuery: string): Ban | undefined {
    const ban = this.regulator.addressBan(client.ip);
    if (!ban) return undefined;
    const { candidates } = readCredential(headers, headersDistinct, rawQuery);
    const bypassKeys = this.deps.config.APIKeyBypassEnabled;
    if (candidates.length > 0 && candidates.every((t) => this.deps.isVerifiedToken(t) || (bypassKeys && this.deps.isApiKey(t)))) return undefined;
    return ban;
  }

  /**
   * A clear refusal for a human: 429 with Retry-After while the ban lasts, 403 for a permanent one.
   * `asError: false` gives the same as a plain object (no stack trace), for the middleware's hot path.
   */
  banError(ban: Ban): HttpError;
  banError(ban: Ban, asError: false): Pick<HttpError, 'status' | 'code' | 'message' | 'headers'>;
  banError(ban: Ban, asError = true): Pick<HttpError, 'status' | 'code' | 'message' | 'headers'> {
    let r: Pick<HttpError, 'status' | 'code' | 'message' | 'headers'>;
    if (ban.expiresAt === null) {
      r = { status: 403, code: 'address_banned', message: `Too many failed sign-in attempts from your network. ${AFTER_BAN} An administrator must lift the ban (Admin → Bans).`, headers: {} };
    } else {
      const seconds = Math.max(1, Math.ceil((ban.expiresAt - this.deps.clock.now()) / 1000));
      r = {
        status: 429,
        code: 'address_banned',
        message: `Too many failed sign-in attempts from your network. ${AFTER_BAN} To sign in now, wait ${minutes(seconds)}, use another network (such as mobile data), or ask an administrator to lift the ban (Admin → Bans).`,
        headers: { 'retry-after': String(seconds) },
      };
    }
    return asError ? new HttpError(r.status, r.code, r.message, r.headers) : r;
  }

  // ---- admin actions ----

  async liftBan(id: number, by: { userId: string; ip: string }): Promise<Ban | undefined> {
    const ban = await this.bans.lift(id);
    if (!ban) return undefined;
    this.regulator.forget(ban.scope, ban.subject);
    this.audit({
      type: 'guard.ban.lifted',
      outcome: 'success',
      userName: ban.userName,
      ip: by.ip,
      detail: { by: by.userId, scope: ban.scope, address: ban.address, user: ban.userName, reason: ban.reason },
    });
    return ban;
  }

  async liftAll(by: { userId: string; ip: string }): Promise<number> {
    const lifted = await this.bans.liftAll();
    this.regulator.forget();
    this.audit({ type: 'guard.ban.lifted_all', outcome: 'success', ip: by.ip, detail: { by: by.userId, count: lifted.length } });
    return lifted.length;
  }

  // ---- the login checks (server/guard/login.ts) ----

  /** The guard's checks of the password login, for the policy table (server/login/policy.ts). */
  get loginChecks(): PasswordChecks['checks'] & { lanBypass: LoginStep } {
    return { ...this.password.checks, lanBypass: this.lanBypass };
  }

  // ---- audit ----

  private audit(e: AuditEvent): void {
    try {
      this.deps.audit.record(e);
    } catch {
      /* auditing never fails a request */
    }
  }

  private onBan(ban: Ban, kind: AttemptKind, who: Who): void {
    this.audit({
      type: 'guard.ban.imposed',
      outcome: 'info',
      userId: who.userId ?? null,
      userName: ban.userName,
      ip: who.ip,
      detail: {
        scope: ban.scope,
        address: ban.address,
        user: ban.userName,
        kind,
        reason: ban.reason,
        strikes: ban.strikes,
        failures: ban.failures,
        expiresAt: ban.expiresAt === null ? null : new Date(ban.expiresAt).toISOString(),
      },
    });
    if (ban.expiresAt === null) {
      const subject = ban.scope === 'address' ? `the address ${ban.address}` : ban.scope === 'user' ? `the user name ${ban.userName}` : `${ban.userName} at ${ban.address}`;
      this.notifiers.alertAdmins({
        kind: 'permanent_ban',
        title: `Jellyfin: ${subject} is banned until you lift it`,
        text: `After ${ban.failures} failures (${ban.reason}), ${subject} is banned permanently. Lift it in the Jellyguard admin console if it was a mistake.\n`,
      });
    }
  }
}

/** What a banned household most needs to hear first: nothing already signed in stops. */
const AFTER_BAN = 'Devices that are already signed in keep working.';

function minutes(seconds: number): string {
  if (seconds < 90) return `${seconds} seconds`;
  const m = Math.round(seconds / 60);
  if (m < 120) return `${m} minutes`;
  return `${Math.round(m / 60)} hours`;
}
