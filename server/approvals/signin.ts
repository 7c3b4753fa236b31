import { LRUCache } from 'lru-cache';
import type { AuditEvent } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import { openString, randomId, seal } from '../crypto.ts';
import { HttpError } from '../errors.ts';
import type { UserDirectory } from '../gate/users.ts';
import { addressKey, foldUserName } from '../guard/subjects.ts';
import type { DeviceFields, MintedSession, SessionMinter } from '../login/mint.ts';
import { CidrList } from '../net/cidr.ts';
import type { PhoneSignInStarted } from '../../shared/api/approvals.ts';
import type { Approvals } from './index.ts';
import { numberMatch } from './record.ts';
import { short } from './login.ts';

/** New sign-in requests one address may make within SIGNIN_WINDOW_MS (a household shares one). */
export const SIGNIN_PER_ADDRESS = 10;
/** New sign-in requests naming one user name within SIGNIN_WINDOW_MS, from anywhere. */
export const SIGNIN_PER_NAME = 10;
export const SIGNIN_WINDOW_MS = 15 * 60_000;
/**
 * Every new request is answered no sooner than this after it arrived (real time, not the injected clock):
 * asking a phone (a row, a push encrypted per subscription) takes longer than asking nobody, and the
 * difference must not tell who has a phone. Measured: a few tens of ms either way on a small machine.
 */
export const SIGNIN_MIN_ANSWER_MS = 250;
/** Sealed request ids are opened only with this associated data (a sealed value of another concern fails). */
const OWNER = 'phone-signin';

/** What the page's request id carries, sealed (AES-256-GCM): nothing in it can be read or changed by the page. */
interface Sealed {
  v: 1;
  /** The approval's id, or (for a request that asks nobody) a random id of the same form. */
  a: string;
  /** 1: a phone was asked; 0: nobody was (unknown user, no phone, not from an allowed address). */
  r: 0 | 1;
  n: string;
  e: number;
  /** The browser the session will be opened for (what the phone was shown). */
  d: DeviceFields;
}

export interface PhoneSignInDeps {
  engine: Approvals;
  users: UserDirectory;
  minter: SessionMinter;
  /** The gateway's encryption key (server/store/keys.ts). */
  key: Buffer;
  clock: Clock;
  config: Pick<Config, 'ApprovalSeconds'>;
  /** The user's address allowlist, if any (the guard's): a phone sign-in from elsewhere asks nobody. */
  allowedIps: (userId: string) => { cidrs: string[] } | undefined;
  audit: (e: AuditEvent) => void;
}

/**
 * "Approve on my phone" with a user name alone (no password). The page names a user; when that user has a
 * phone that can approve (and may sign in from this address), an approval of kind "signin" with number
 * matching goes to the phones through the usual fatigue limits (server/approvals/fatigue.ts). Once the
 * phone approves, the page's next status call mints the session (server/login/mint.ts) — exactly once.
 *
 * No user enumeration: every user name gets the same answer (a number, an expiry, a sealed request id of
 * the same length). A request that asked nobody simply never completes and expires like any other. The
 * request id is sealed, so the page never learns the approval's id (which only the user's phones know)
 * and the server keeps no state for requests that asked nobody; both kinds survive a restart alike.
 *
 * A user name under a guard lock is not refused here: approving needs the owner's phone and a passkey
 * tap on it, which the guessing that locked the name cannot provide. Limits: SIGNIN_PER_ADDRESS and
 * SIGNIN_PER_NAME new requests per window (429, for known and unknown names alike); asking again from the
 * same browser for the same name returns the request already started (no new push, no count).
 */
export class PhoneSignIn {
  /** Requests started, by name + DeviceId + address: asking again returns the same one. */
  private readonly started = new LRUCache<string, { started: PhoneSignInStarted; approvalId: string | null }>({ max: 10_000 });
  private readonly perAddress = new LRUCache<string, number[]>({ max: 10_000 });
  private readonly perName = new LRUCache<string, number[]>({ max: 10_000 });

  constructor(private readonly deps: PhoneSignInDeps) {}

  /** Approvals/SignIn: the same shape of answer for every user name. */
  async start(userName: string, device: DeviceFields, ip: string): Promise<PhoneSignInStarted> {
    const arrived = performance.now();
    const started = await this.begin(userName, device, ip);
    const left = SIGNIN_MIN_ANSWER_MS - (performance.now() - arrived);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    return started;
  }

  private async begin(userName: string, device: DeviceFields, ip: string): Promise<PhoneSignInStarted> {
    const { engine, clock } = this.deps;
    if (!device.client || !device.device || !device.deviceId || !device.version) {
      throw new HttpError(400, 'invalid_request', 'The browser must name its Client, Device, DeviceId and Version.');
    }
    const name = foldUserName(userName);
    const address = addressKey(ip);
    const key = `${name}\0${device.deviceId}\0${address}`;
    const now = clock.now();

    const earlier = this.started.get(key);
    if (earlier && Date.parse(earlier.started.expiresAt) > now) {
      const row = earlier.approvalId ? await engine.store.get(earlier.approvalId) : undefined;
      if (!earlier.approvalId || row?.status === 'pending') return earlier.started;
    }
    this.within(this.perAddress, address, SIGNIN_PER_ADDRESS, now);
    this.within(this.perName, name, SIGNIN_PER_NAME, now);

    const user = await this.deps.users.byName(userName);
    const allowed = user ? this.deps.allowedIps(user.id) : undefined;
    const ask = user !== undefined && (!allowed || new CidrList(allowed.cidrs).contains(ip)) && (await engine.phones.hasUsable(user.id));
    let sealed: Sealed;
    if (ask) {
      const { row } = await engine.request({
        kind: 'signin',
        userId: user.id,
        userName: user.name,
        asking: { client: device.client, deviceName: device.device, deviceId: device.deviceId, ip, action: null },
        numberMatching: true,
        mode: 'poll',
      });
      sealed = { v: 1, a: row.id, r: 1, n: row.number!, e: row.expires_at, d: device };
    } else {
      sealed = { v: 1, a: randomId(), r: 0, n: numberMatch().number, e: now + this.deps.config.ApprovalSeconds * 1000, d: device };
    }
    this.deps.audit({
      type: 'login.phone.requested',
      outcome: 'info',
      userId: user?.id,
      userName: user?.name ?? userName.slice(0, 128),
      ip,
      deviceId: device.deviceId,
      deviceName: device.device,
      client: device.client,
      detail: { asked: ask, ...(ask ? { approval: short(sealed.a) } : {}) },
    });
    const started: PhoneSignInStarted = {
      status: 'pending',
      requestId: seal(this.deps.key, OWNER, JSON.stringify(sealed)),
      number: sealed.n,
      expiresAt: new Date(sealed.e).toISOString(),
    };
    this.started.set(key, { started, approvalId: ask ? sealed.a : null });
    return started;
  }

  /**
   * Approvals/SignIn/Status: pending (long-polled up to `waitSeconds`), over (410), or approved — then the
   * approval is used (once) and the session minted for the browser the phone was shown.
   */
  async status(
    requestId: string,
    deviceId: string | undefined,
    ip: string,
    waitSeconds: number,
    signal: AbortSignal,
  ): Promise<{ kind: 'pending'; number: string; expiresAt: string } | { kind: 'signed_in'; session: MintedSession }> {
    const { engine, clock } = this.deps;
    const s = this.open(requestId);
    // Only the browser that asked (its DeviceId) collects the session the phone was shown.
    if (!s || s.d.deviceId !== deviceId) throw new HttpError(404, 'no_approval', 'No phone approval was started for this sign-in.');
    const pending = { kind: 'pending' as const, number: s.n, expiresAt: new Date(s.e).toISOString() };
    const expired = () => new HttpError(410, 'approval_expired', 'Nobody approved on the phone in time. Try again, or use another way.');

    if (s.r === 0) {
      // Nobody was asked: wait as a real request would, then expire like one.
      if (clock.now() >= s.e) throw expired();
      if (waitSeconds > 0) await engine.waiters.wait(s.a, Math.min(clock.now() + waitSeconds * 1000, s.e), signal);
      if (clock.now() >= s.e) throw expired();
      return pending;
    }

    let approval = await engine.store.get(s.a);
    if (!approval || approval.kind !== 'signin') throw new HttpError(404, 'no_approval', 'No phone approval was started for this sign-in.');
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
        return pending;
      case 'denied':
        throw new HttpError(410, 'approval_denied', 'This sign-in was denied on the phone.');
      case 'reported':
        throw new HttpError(410, 'approval_reported', 'This sign-in was reported on the phone.');
      case 'expired':
        throw expired();
      case 'approved': {
        // Used first, minted second: two status calls racing cannot both get a session.
        if (!(await engine.store.consume(approval.id))) throw new HttpError(410, 'challenge_over', 'This sign-in is already over. Sign in again.');
        const session = await this.deps.minter.mint({ userId: approval.user_id, device: s.d, ip, method: 'phone' });
        return { kind: 'signed_in', session };
      }
    }
  }

  private open(requestId: string): Sealed | undefined {
    try {
      const s = JSON.parse(openString(this.deps.key, OWNER, requestId)) as Sealed;
      return s.v === 1 && typeof s.a === 'string' && typeof s.e === 'number' && s.d && typeof s.d.deviceId === 'string' ? s : undefined;
    } catch {
      return undefined;
    }
  }

  /** Count one new request against a subject's sliding window; 429 when it is full. */
  private within(table: LRUCache<string, number[]>, subject: string, max: number, now: number): void {
    const times = (table.get(subject) ?? []).filter((t) => t > now - SIGNIN_WINDOW_MS);
    if (times.length >= max) {
      table.set(subject, times);
      throw new HttpError(429, 'too_many_requests', 'Too many sign-in requests. Wait a few minutes, then try again, or sign in with your password.');
    }
    times.push(now);
    table.set(subject, times);
  }
}
