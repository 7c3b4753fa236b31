import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.ts';
import type { Ban, BanList, BanScope } from './bans.ts';
import { addressKey, foldUserName } from './subjects.ts';

/** What an attempt tried to prove. Failures of each kind are counted separately. */
export const ATTEMPT_KINDS = ['password', 'totp', 'recovery', 'email', 'passkey', 'pairing', 'approval'] as const;
export type AttemptKind = (typeof ATTEMPT_KINDS)[number];

/**
 * Second-factor codes: a person who knows the password types them, so one person's typos are met by the
 * challenge's own limit and the user's code lock (server/factors/attempts.ts). The address counts them
 * only at CodeFailuresPerAddress, a threshold a household's typos do not reach.
 */
export const CODE_KINDS: ReadonlySet<AttemptKind> = new Set(['totp', 'recovery', 'email']);

/** What the failures of each kind were, for the sentence a ban row carries ("5 wrong passwords for alice"). */
const FAILED: Record<AttemptKind, string> = {
  password: 'wrong passwords',
  totp: 'wrong authenticator codes',
  recovery: 'wrong recovery codes',
  email: 'wrong e-mail codes',
  passkey: 'refused passkeys',
  pairing: 'wrong TV codes',
  approval: 'refused approvals',
};

/** Who made an attempt: always the address; the user as far as it is known (name as typed, or id). */
export interface Who {
  ip: string;
  username?: string | undefined;
  userId?: string | undefined;
}

/** The narrow slice other concerns need (second factors, pairing, approvals): report a failure. */
export interface FailureRecorder {
  recordFailure(kind: AttemptKind, who: Who): void;
}

export interface RegulatorPolicy {
  enabled: boolean;
  /** MaxFailedAttempts. */
  maxFailures: number;
  /** CodeFailuresPerAddress: failures of a code kind (CODE_KINDS) that ban an address. Default: maxFailures. */
  codeFailuresPerAddress?: number;
  /** FailureWindowSeconds, in ms. */
  windowMs: number;
  /** Counters held in memory, least recently used first out. */
  maxCounters: number;
}

/** Why an attempt may not go ahead. */
export type Refusal =
  /** The address is banned: a clear 403/429 for a human. */
  | { refused: 'banned'; ban: Ban }
  /** The user name is locked (everywhere, or at this address): answer exactly like a wrong password. */
  | { refused: 'locked'; scope: 'user' | 'user_address'; ban: Ban | undefined }
  /** MaxFailedAttempts attempts of this address are already in flight or failed: wait. */
  | { refused: 'busy' };

/** A granted attempt. Release it when the answer is known (idempotent). */
export interface Ticket {
  release(): void;
}

interface Counter {
  /** Failure times within the window, oldest first (at most maxFailures kept). */
  times: number[];
  /** Attempts granted and not yet answered. */
  inflight: number;
}

type Subject = { scope: BanScope; subject: string; address: string | null; userName: string | null };

const NOOP_TICKET: Ticket = { release() {} };

/**
 * The regulator (Authelia's regulation, widened): failures counted per address, per user and per (user,
 * address), for each attempt kind separately, in a sliding window. MaxFailedAttempts within the window
 * bans the address, or locks the user name (a soft lock: devices that signed in before still pass), or
 * the name at that address. Attempts in flight count too, so that a burst of concurrent guesses from
 * one address cannot slip more than MaxFailedAttempts past it before the first answers arrive.
 *
 * Memory is bounded: counters live in one least-recently-used table of `maxCounters` entries.
 */
export class Regulator implements FailureRecorder {
  private readonly counters: LRUCache<string, Counter>;

  constructor(
    readonly bans: BanList,
    private readonly clock: Clock,
    private readonly policy: RegulatorPolicy,
    private readonly events: {
      /** A ban or lock was imposed. */
      onBan?: (ban: Ban, kind: AttemptKind, who: Who) => void;
      /** A user name's id, when the gateway has seen that user (so name and id share one counter). */
      resolveUserId?: (foldedName: string) => string | undefined;
    } = {},
  ) {
    this.counters = new LRUCache<string, Counter>({ max: policy.maxCounters });
  }

  get enabled(): boolean {
    return this.policy.enabled;
  }

  /** Hot path: the ban in force on this address, or undefined. One Map lookup when any ban exists. */
  addressBan(ip: string): Ban | undefined {
    if (!this.policy.enabled || this.bans.size === 0) return undefined;
    return this.bans.active('address', addressKey(ip));
  }

  /**
   * Whether an attempt by `who` may go ahead, ignoring attempts in flight. A user-wide lock is reported
   * as such; the caller decides whether a known device passes it (`knownDevice` in `begin`).
   */
  check(who: Who): Refusal | undefined {
    if (!this.policy.enabled) return undefined;
    const addr = addressKey(who.ip);
    const ban = this.bans.active('address', addr);
    if (ban) return { refused: 'banned', ban };
    const users = this.userSubjects(who);
    for (const u of users) {
      const pair = this.bans.active('user_address', pairKey(u, addr));
      if (pair) return { refused: 'locked', scope: 'user_address', ban: pair };
    }
    for (const u of users) {
      const lock = this.bans.active('user', u);
      if (lock) return { refused: 'locked', scope: 'user', ban: lock };
    }
    return undefined;
  }

  /**
   * Ask to make an attempt: refused when banned or locked, or when failures plus attempts in flight
   * already reach MaxFailedAttempts. A known device (this user and DeviceId signed in before) passes a
   * user-wide lock, never an address ban or a lock of the user at this address.
   */
  begin(kind: AttemptKind, who: Who, opts: { knownDevice?: boolean | (() => boolean) } = {}): Ticket | Refusal {
    if (!this.policy.enabled) return NOOP_TICKET;
    // Asked only when a user-wide limit is in the way (it may cost a lookup).
    let known: boolean | undefined;
    const isKnown = () => (known ??= typeof opts.knownDevice === 'function' ? opts.knownDevice() : opts.knownDevice === true);
    const refusal = this.check(who);
    if (refusal && !(refusal.refused === 'locked' && refusal.scope === 'user' && isKnown())) return refusal;
    const now = this.clock.now();
    const subjects = this.subjects(who);
    const held: Counter[] = [];
    for (const s of subjects) {
      if (s.scope === 'user' && refusal) continue; // a known device passing a user lock

      const c = this.counter(kind, s.subject, s.scope);
      const used = this.live(c, now) + c.inflight;
      if (used >= this.limit(kind, s.scope)) {
        if (s.scope !== 'user') return { refused: 'busy' };
        if (!isKnown()) return { refused: 'locked', scope: 'user', ban: undefined };
        continue; // a known device does not wait for the user's other attempts
      }
      held.push(c);
    }
    for (const c of held) c.inflight++;
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        for (const c of held) c.inflight = Math.max(0, c.inflight - 1);
      },
    };
  }

  /**
   * Count a failure of `kind` against the address, the user and both (`scopes` narrows it: an attempt
   * refused without asking Jellyfin is not counted against the user it named). Reaching the limit within
   * the window imposes a ban. One incident is one ban: a ban of the address covers the name at that
   * address, and covers the name everywhere when all of the name's failures came from there (one person,
   * one place); a lock of the name everywhere covers it at one address. What a ban covers is spent on it.
   * Only failures of the name from several addresses lock it besides. Returns the bans imposed.
   */
  recordFailure(kind: AttemptKind, who: Who, scopes: readonly BanScope[] = ['address', 'user', 'user_address']): Ban[] {
    if (!this.policy.enabled) return [];
    const now = this.clock.now();
    const counted = new Map<BanScope, { s: Subject; c: Counter; reached: boolean }>();
    for (const s of this.subjects(who)) {
      if (!scopes.includes(s.scope)) continue;
      const c = this.counter(kind, s.subject, s.scope);
      this.live(c, now);
      c.times.push(now);
      counted.set(s.scope, { s, c, reached: c.times.length >= this.limit(kind, s.scope) });
    }
    const address = counted.get('address');
    const user = counted.get('user');
    const pair = counted.get('user_address');
    const impose: Array<{ s: Subject; c: Counter }> = [];
    if (address?.reached) {
      impose.push(address);
      // The name's failures all came from this address: the address ban covers them.
      if (user?.reached && !(pair && pair.c.times.length >= user.c.times.length)) impose.push(user);
      else if (user?.reached) user.c.times.length = 0;
      if (pair) pair.c.times.length = 0;
    } else if (user?.reached) {
      impose.push(user);
      if (pair) pair.c.times.length = 0;
    } else if (pair?.reached) {
      impose.push(pair);
    }
    const lastName = who.username !== undefined ? foldUserName(who.username) : null;
    return impose.map(({ s, c }) => {
      const failures = c.times.length;
      const ban = this.bans.impose(s.scope, s.subject, { reason: reasonOf(kind, failures, s, lastName), failures, address: s.address, userName: s.userName });
      c.times.length = 0;
      this.events.onBan?.(ban, kind, who);
      return ban;
    });
  }

  /** Failures of `kind` against a subject of `scope` that impose a ban. */
  private limit(kind: AttemptKind, scope: BanScope): number {
    return scope === 'address' && CODE_KINDS.has(kind) ? (this.policy.codeFailuresPerAddress ?? this.policy.maxFailures) : this.policy.maxFailures;
  }

  /** A success forgets the failures of this user at this address (not the address's nor the user's). */
  recordSuccess(kind: AttemptKind, who: Who): void {
    if (!this.policy.enabled) return;
    const addr = addressKey(who.ip);
    const u = this.primaryUser(who);
    if (u) this.counters.delete(counterKey(kind, 'user_address', pairKey(u, addr)));
  }

  /** Failures of `kind` counted against a subject now (for tests and the admin view). */
  failures(kind: AttemptKind, scope: BanScope, subject: string): number {
    const c = this.counters.peek(counterKey(kind, scope, subject));
    return c ? this.live(c, this.clock.now()) : 0;
  }

  /** Forget the counters of a subject (when an admin lifts its ban), or of every subject. */
  forget(scope?: BanScope, subject?: string): void {
    if (scope === undefined || subject === undefined) return this.counters.clear();
    for (const kind of ATTEMPT_KINDS) this.counters.delete(counterKey(kind, scope, subject));
  }

  /** How many counters are held (bounded by maxCounters). */
  get counterCount(): number {
    return this.counters.size;
  }

  /** The user key an attempt is counted under: the id when known, else the folded name. */
  primaryUser(who: Who): string | undefined {
    if (who.userId) return `id:${who.userId.toLowerCase()}`;
    if (who.username === undefined) return undefined;
    const folded = foldUserName(who.username);
    const id = this.events.resolveUserId?.(folded);
    return id ? `id:${id}` : `name:${folded}`;
  }

  /** Every user key an attempt must be checked under (a lock may be under the name or under the id). */
  private userSubjects(who: Who): string[] {
    const out: string[] = [];
    const primary = this.primaryUser(who);
    if (primary) out.push(primary);
    if (who.username !== undefined) {
      const byName = `name:${foldUserName(who.username)}`;
      if (byName !== primary) out.push(byName);
    }
    return out;
  }

  private subjects(who: Who): Subject[] {
    const addr = addressKey(who.ip);
    const out: Subject[] = [{ scope: 'address', subject: addr, address: addr, userName: null }];
    const u = this.primaryUser(who);
    if (u) {
      const display = who.username !== undefined ? foldUserName(who.username) : u.slice(3);
      out.push({ scope: 'user', subject: u, address: null, userName: display });
      out.push({ scope: 'user_address', subject: pairKey(u, addr), address: addr, userName: display });
    }
    return out;
  }

  private counter(kind: AttemptKind, subject: string, scope: BanScope): Counter {
    const key = counterKey(kind, scope, subject);
    let c = this.counters.get(key);
    if (!c) {
      c = { times: [], inflight: 0 };
      this.counters.set(key, c);
    }
    return c;
  }

  /** Drop failures that left the window; a failure at t counts while now < t + window. */
  private live(c: Counter, now: number): number {
    const edge = now - this.policy.windowMs;
    let drop = 0;
    while (drop < c.times.length && c.times[drop]! <= edge) drop++;
    if (drop) c.times.splice(0, drop);
    return c.times.length;
  }
}

/**
 * What happened, for the ban row: "5 wrong passwords for alice" (a name locked), "5 wrong passwords for
 * alice from 203.0.113.7" (a name at one address), "20 wrong authenticator codes, the last for alice" (an address).
 */
function reasonOf(kind: AttemptKind, failures: number, s: Subject, lastName: string | null): string {
  const what = `${failures} ${FAILED[kind]}`;
  if (s.scope === 'user') return `${what} for ${s.userName}`;
  if (s.scope === 'user_address') return `${what} for ${s.userName} from ${s.address}`;
  return lastName ? `${what}, the last for ${lastName}` : what;
}

const counterKey = (kind: AttemptKind, scope: BanScope, subject: string) => `${kind}\0${scope}\0${subject}`;
const pairKey = (user: string, addr: string) => `${user}@${addr}`;

export function isTicket(x: Ticket | Refusal): x is Ticket {
  return 'release' in x;
}
