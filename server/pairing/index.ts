import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { AuditEvent, AuditSink } from '../audit/index.ts';
import type { Guard } from '../guard/index.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { Logger } from '../log.ts';
import type { BeforeCheck, LoginStep } from '../login/hooks.ts';
import type { DB } from '../store/index.ts';
import type { Keys } from '../store/keys.ts';
import type { PairedDevicesTable, PairingsTable, QuickConnectTable } from '../store/schema.ts';
import type { CodeActor, LookedUp } from './targets.ts';
import { parsePairCode, type PairTarget, type PairedDevice, type PendingPair } from '../../shared/api/pairing.ts';
import type { StepUp } from '../stepup/index.ts';
import { guardedAttempt } from '../stepup/attempt.ts';
import { unknownCode } from './codes.ts';
import { deviceTokenBypass } from './device-token.ts';
import { PhonePairing, type ApprovalEngine } from './phone.ts';
import type { Factors } from '../factors/index.ts';
import type { UserDirectory } from '../gate/users.ts';
import { DevicePairings } from './devices.ts';
import { stepUpQuickConnectAuthorize } from './quick-connect.ts';
import type { QuickConnectRequests } from '../login/quick-connect.ts';
import type { GatewayMiddleware } from '../context.ts';

export { DevicePairings, POLL_INTERVAL_MS, MAX_PENDING_PER_ADDRESS } from './devices.ts';
export { DEVICE_TOKEN_HEADER } from './device-token.ts';
export { unknownCode } from './codes.ts';
export { PhonePairing, type ApprovalEngine } from './phone.ts';
export type { CodeActor, LookedUp, PairingTargets } from './targets.ts';

export interface PairingDeps {
  db: DB;
  clock: Clock;
  keys: Keys;
  config: Config;
  log: Logger;
  guard: Guard;
  jellyfin: JellyfinClient;
  stepUp: StepUp;
  quickConnect: QuickConnectRequests;
  audit: AuditSink;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * TV pairing (DESIGN: TV pairing): Quick Connect codes approved from a phone, the seed's PairDevice
 * pairings with their device tokens, and the pieces server/app.ts wires into the pipeline (the step-up
 * on Quick Connect Authorize, the paired-device bypass of the second factor).
 */
export class Pairing {
  readonly devices: DevicePairings;
  /** The Quick Connect requests the gateway saw initiated (owned by server/login/quick-connect.ts). */
  readonly codes: QuickConnectRequests;
  /**
   * The paired-device bypass, for the login policy (server/login/policy.ts): `takeDeviceToken` takes
   * X-Device-Token off the request before Jellyfin sees it, `pairedDevice` releases a login whose token
   * matches the user and DeviceId.
   */
  readonly loginChecks: { takeDeviceToken: BeforeCheck; pairedDevice: LoginStep };
  /** Phone approval through the approvals engine (attachApprovals); absent, the phone flows answer 503. */
  phone: PhonePairing | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();

  constructor(readonly deps: PairingDeps) {
    this.devices = new DevicePairings(deps.db, deps.clock, deps.keys, () => deps.config.PairingCodeExpiration * 1000);
    this.codes = deps.quickConnect;
    const bypass = deviceTokenBypass({ pairings: this.devices, guard: deps.guard, audit: (e) => this.audit(e) });
    this.loginChecks = { takeDeviceToken: bypass.before, pairedDevice: bypass.step };
  }

  get enabled(): boolean {
    return this.deps.config.TVPairingEnabled;
  }

  audit(e: AuditEvent): void {
    try {
      this.deps.audit.record(e);
    } catch {
      /* auditing never fails a request */
    }
  }

  /**
   * Approve pairings on the phone through the approvals engine: the "Pair a TV" page's approvals, and the
   * "phone" method of the Quick Connect step-up.
   */
  attachApprovals(engine: ApprovalEngine, more: { users: UserDirectory; factors: Factors }): void {
    this.phone = new PhonePairing({
      db: this.deps.db,
      clock: this.deps.clock,
      log: this.deps.log,
      users: more.users,
      factors: more.factors,
      pairing: this,
      failures: this.deps.guard,
      stepUp: this.deps.stepUp,
      engine,
    });
    this.deps.stepUp.phone = this.phone;
  }

  /** Quick Connect Authorize as a step-up action, around the core interceptor. */
  authorizeInterceptor(inner: GatewayMiddleware): GatewayMiddleware {
    return stepUpQuickConnectAuthorize({ stepUp: this.deps.stepUp, codes: this.codes, guard: this.deps.guard, audit: (e) => this.audit(e) }, inner);
  }

  /**
   * What waits behind a code typed or scanned on the phone (a Quick Connect code or a PairDevice code).
   * Wrong, expired and used codes are one answer (404) and count as pairing failures for the guard.
   */
  async lookup(input: string, actor: CodeActor): Promise<LookedUp> {
    const parsed = parsePairCode(input);
    // Asked by a verified session (the owner's phone): a wrong code counts against the address and the name
    // at that address, and a lock someone else's guessing put on the name does not hold the owner back.
    const who = { ip: actor.ip, userId: actor.userId, username: actor.userName };
    const r = await guardedAttempt<LookedUp | undefined>(this.deps.guard, 'pairing', who, async () => {
      if (parsed?.kind === 'quickconnect') {
        const row = await this.codes.pending(parsed.code);
        return { ok: !!row, value: row ? { target: presentQuickConnect(row), quickConnect: row } : undefined };
      }
      if (parsed?.kind === 'device') {
        const row = await this.devices.byCode(parsed.code);
        const open = this.devices.isOpen(row);
        return { ok: open, value: open && row ? { target: presentPairingTarget(row, parsed.code), pairing: row } : undefined };
      }
      return { ok: false, value: undefined };
    }, { knownDevice: true, scopes: ['address', 'user_address'] });
    if (!r.value) {
      this.audit({ type: 'pairing.code.invalid', outcome: 'failure', userId: actor.userId ?? null, userName: actor.userName ?? null, ip: actor.ip, detail: { via: 'lookup' } });
      throw unknownCode();
    }
    return r.value;
  }

  /** Authorise a waiting Quick Connect code at Jellyfin for `userId` (phone approval). */
  async authorizeQuickConnect(code: string, userId: string): Promise<boolean> {
    const at = await this.codes.claim(code, userId);
    if (at === undefined) return false;
    let ok = false;
    try {
      ok = await this.deps.jellyfin.authorizeQuickConnect(code, userId);
    } finally {
      if (!ok) await this.codes.unclaim(code, userId, at);
    }
    return ok;
  }

  /** Expire pending pairings and step-up grants; audit each pairing that ran out. */
  async sweep(): Promise<void> {
    for (const row of await this.devices.sweep()) this.auditExpired(row);
    await this.deps.stepUp.sweep();
  }

  /** A pairing ran out (pending: nobody approved it; approved: the device never collected its token). */
  auditExpired(row: PairingsTable): void {
    this.audit({
      type: 'pairing.device.expired',
      outcome: 'info',
      userId: row.user_id,
      ip: row.ip,
      deviceId: row.device_id,
      deviceName: row.device_name,
      client: row.client,
      detail: { pairingId: row.id, was: row.status },
    });
  }

  /** Sweep now and every `intervalMs`. */
  start(intervalMs = 15_000): void {
    const run = () => {
      this.sweeping = this.sweeping.then(() => this.sweep()).catch((e) => this.deps.log.error('pairing sweep failed', e));
    };
    run();
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }
}


export function presentQuickConnect(row: QuickConnectTable): PairTarget {
  return {
    kind: 'quickconnect',
    code: row.code,
    deviceName: row.device_name,
    deviceId: row.device_id,
    appName: row.app_name,
    appVersion: row.app_version,
    ip: row.ip,
    requestedAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
  };
}

export function presentPairingTarget(row: PairingsTable, code: string): PairTarget {
  return {
    kind: 'device',
    code,
    deviceName: row.device_name,
    deviceId: row.device_id,
    appName: row.client,
    appVersion: row.app_version,
    ip: row.ip,
    requestedAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
  };
}

export function presentPendingPair(row: PairingsTable): PendingPair {
  return {
    id: row.id,
    deviceName: row.device_name,
    deviceId: row.device_id,
    client: row.client,
    appVersion: row.app_version,
    ip: row.ip,
    status: row.status,
    userId: row.user_id,
    requestedAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
  };
}

export function presentPairedDevice(row: PairedDevicesTable): PairedDevice {
  return {
    id: row.id,
    deviceName: row.device_name,
    deviceId: row.device_id,
    pairedAt: iso(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : iso(row.last_used_at),
    lastIp: row.last_ip,
    approvedVia: row.approved_via,
  };
}
