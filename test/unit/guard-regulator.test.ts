import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../server/clock.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { BanList, BAN_MEMORY_MS } from '../../server/guard/bans.ts';
import { Regulator, isTicket, type Refusal, type Who } from '../../server/guard/regulator.ts';
import { addressKey, canonicalIp, foldUserName, networkKey } from '../../server/guard/subjects.ts';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'jellyguard-guard-'));

const WINDOW_MS = 900_000;
const LOCKOUT_MS = 900_000;

describe('subjects', () => {
  it('groups IPv6 by /64, keeps IPv4 whole, and reads IPv4-mapped IPv6 as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:0DB8:0001:0002:ffff:0:0:9'));
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::FFFF:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:cb00:7107')).toBe('203.0.113.7'); // the same mapped address in hex
    expect(canonicalIp('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('fe80::1%eth0')).toBe('fe80::/64');
    expect(networkKey('203.0.113.7')).toBe('203.0.113.0/24');
    expect(networkKey('::ffff:203.0.113.7')).toBe('203.0.113.0/24');
  });

  it('case-folds user names', () => {
    expect(foldUserName('Bob')).toBe(foldUserName('BOB'));
    expect(foldUserName('ÉLODIE')).toBe(foldUserName('élodie'));
    expect(foldUserName('Ｂｏｂ')).toBe('bob'); // full-width forms normalise (NFKC)
  });
});

describe('the regulator', () => {
  let dir: string;
  let store: Store;
  let clock: ManualClock;
  let bans: BanList;
  let reg: Regulator;
  let imposed: string[];

  const make = async (policy: Partial<{ maxFailures: number; permanentThreshold: number; maxCounters: number; codeFailuresPerAddress: number }> = {}) => {
    bans = new BanList(store.db, clock, {
      lockoutMs: LOCKOUT_MS,
      permanentThreshold: policy.permanentThreshold ?? 20,
      memoryMs: BAN_MEMORY_MS,
      maxInMemory: 1000,
    });
    await bans.load();
    imposed = [];
    reg = new Regulator(
      bans,
      clock,
      { enabled: true, maxFailures: policy.maxFailures ?? 5, codeFailuresPerAddress: policy.codeFailuresPerAddress, windowMs: WINDOW_MS, maxCounters: policy.maxCounters ?? 10_000 },
      { onBan: (b) => imposed.push(`${b.scope}:${b.subject}`) },
    );
  };

  beforeEach(async () => {
    dir = tempDir();
    store = await openStore(dir);
    clock = new ManualClock();
    await make();
  });
  afterEach(async () => {
    await bans.flush();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const fail = (who: Who, n = 1) => {
    for (let i = 0; i < n; i++) reg.recordFailure('password', who);
  };

  it('bans an address at MaxFailedAttempts within the window, not before', () => {
    const who = { ip: '203.0.113.9' };
    fail(who, 4);
    expect(reg.addressBan(who.ip)).toBeUndefined();
    fail(who);
    const ban = reg.addressBan(who.ip)!;
    expect(ban.reason).toBe('5 wrong passwords');
    expect(ban.expiresAt).toBe(clock.now() + LOCKOUT_MS);
    expect(reg.check(who)).toMatchObject({ refused: 'banned' });
  });

  it('counts a failure until exactly one window later (window edges, injected clock)', () => {
    const who = { ip: '198.51.100.1' };
    fail(who, 4); // at t0
    clock.advance(WINDOW_MS - 1); // the four still count
    expect(reg.failures('password', 'address', '198.51.100.1')).toBe(4);
    clock.advance(1); // at t0 + window they have left it
    expect(reg.failures('password', 'address', '198.51.100.1')).toBe(0);
    fail(who, 4);
    expect(reg.addressBan(who.ip)).toBeUndefined();
    // Spread: 4 at t1, 1 at t1 + window - 1 → ban.
    clock.advance(WINDOW_MS - 1);
    fail(who);
    expect(reg.addressBan(who.ip)).toBeDefined();
  });

  it('a ban ends after LockoutDuration, to the millisecond', () => {
    const who = { ip: '198.51.100.2' };
    fail(who, 5);
    clock.advance(LOCKOUT_MS - 1);
    expect(reg.addressBan(who.ip)).toBeDefined();
    clock.advance(1);
    expect(reg.addressBan(who.ip)).toBeUndefined();
    expect(reg.check(who)).toBeUndefined();
  });

  it('repeated bans grow, and reaching PermanentBanThreshold failures bans until an admin lifts it', async () => {
    const who = { ip: '192.0.2.50' };
    const lengths: Array<number | null> = [];
    for (let round = 0; round < 4; round++) {
      fail(who, 5);
      const ban = reg.addressBan(who.ip)!;
      lengths.push(ban.expiresAt === null ? null : ban.expiresAt - clock.now());
      if (ban.expiresAt !== null) clock.set(ban.expiresAt);
    }
    // 5, 10, 15 failures: 15, 30, 60 minutes; the 20th failure makes it permanent.
    expect(lengths).toEqual([LOCKOUT_MS, 2 * LOCKOUT_MS, 4 * LOCKOUT_MS, null]);
    clock.advance(365 * 24 * 3600_000);
    expect(reg.addressBan(who.ip)).toBeDefined();
    const [listed] = await bans.list();
    expect(listed).toMatchObject({ scope: 'address', subject: '192.0.2.50', strikes: 4, failures: 20, expiresAt: null });
    await bans.lift(listed!.id!);
    reg.forget('address', '192.0.2.50');
    expect(reg.addressBan(who.ip)).toBeUndefined();
    // Lifting forgets the history: the next ban is a first strike again.
    fail(who, 5);
    expect(reg.addressBan(who.ip)!.expiresAt).toBe(clock.now() + LOCKOUT_MS);
  });

  it('forgets ban history a day after a ban ends', () => {
    const who = { ip: '192.0.2.51' };
    fail(who, 5);
    clock.advance(LOCKOUT_MS + BAN_MEMORY_MS);
    fail(who, 5);
    expect(reg.addressBan(who.ip)!.strikes).toBe(1);
  });

  it('bans a whole IPv6 /64 and treats IPv4-mapped IPv6 as the IPv4 address', () => {
    for (let i = 1; i <= 5; i++) fail({ ip: `2001:db8:aa:bb::${i.toString(16)}` });
    expect(reg.addressBan('2001:db8:aa:bb:ffff::1')).toBeDefined();
    expect(reg.addressBan('2001:db8:aa:bc::1')).toBeUndefined();

    fail({ ip: '::ffff:203.0.113.77' }, 3);
    fail({ ip: '203.0.113.77' }, 2);
    expect(reg.addressBan('203.0.113.77')).toBeDefined();
    expect(reg.addressBan('::ffff:203.0.113.77')).toBeDefined();
  });

  it('counts user names case-folded and locks a name attacked from many addresses (soft lock)', () => {
    for (let i = 1; i <= 5; i++) fail({ ip: `198.51.100.${i}`, username: i % 2 ? 'Alice' : 'ALICE' });
    // No single address reached the limit…
    for (let i = 1; i <= 5; i++) expect(reg.addressBan(`198.51.100.${i}`)).toBeUndefined();
    // …but the name did: a new device anywhere is answered as locked, a known device still passes.
    const fresh = reg.begin('password', { ip: '198.51.100.200', username: 'alice' });
    expect(isTicket(fresh)).toBe(false);
    expect(fresh).toMatchObject({ refused: 'locked', scope: 'user' });
    const known = reg.begin('password', { ip: '198.51.100.200', username: 'alice' }, { knownDevice: true });
    expect(isTicket(known)).toBe(true);
    expect(imposed).toEqual(['user:name:alice']);
  });

  it('one incident is one ban: the broadest subject that reached the limit, with a reason', async () => {
    await make({ maxFailures: 3 });
    const who = { ip: '203.0.113.30', username: 'carol' };
    fail(who, 3);
    // Address, name and name-at-address all reached 3: only the address is banned (it covers the rest here).
    expect(imposed).toEqual(['address:203.0.113.30']);
    expect(reg.addressBan(who.ip)?.reason).toBe('3 wrong passwords, the last for carol');
    // The name is not locked elsewhere: the failures were spent on the address ban.
    expect(isTicket(reg.begin('password', { ip: '203.0.113.31', username: 'carol' }))).toBe(true);
    expect((await bans.list()).map((b) => b.scope)).toEqual(['address']);
  });

  it('an address ban does not swallow a name guessed from many addresses', async () => {
    // Each address guesses four other names, then alice: its fifth failure bans it — and alice's fifth
    // failure, from five addresses, locks her name too (the address ban covers only what came from it).
    for (let a = 0; a < 5; a++) {
      const ip = `203.0.113.${60 + a}`;
      for (let i = 0; i < 4; i++) reg.recordFailure('password', { ip, username: `other-${a}-${i}` });
      reg.recordFailure('password', { ip, username: 'alice' });
      expect(reg.addressBan(ip)).toBeDefined();
    }
    expect(imposed.filter((k) => k.startsWith('user'))).toEqual(['user:name:alice']);
    expect(reg.check({ ip: '198.51.100.9', username: 'alice' })).toMatchObject({ refused: 'locked', scope: 'user' });
  });

  it('locks a user name at one address, separately from the address itself', async () => {
    await make({ maxFailures: 3 });
    const who = { ip: '203.0.113.30', username: 'carol' };
    // Others' failures at this address ban it first; an admin lifts it.
    for (let i = 0; i < 3; i++) reg.recordFailure('password', { ip: who.ip, username: `other-${i}` });
    await bans.lift((await bans.list()).find((b) => b.scope === 'address')!.id!);
    // carol's own failures there, once the address counter started again below hers: the name at that address.
    reg.recordFailure('password', who, ['user_address']);
    reg.recordFailure('password', who, ['user_address']);
    reg.recordFailure('password', who, ['user_address']);
    expect(imposed.at(-1)).toBe('user_address:name:carol@203.0.113.30');
    expect((await bans.list()).find((b) => b.scope === 'user_address')?.reason).toBe('3 wrong passwords for carol from 203.0.113.30');
    // The name stays locked at that address, even for a known device.
    const again = reg.begin('password', who, { knownDevice: true }) as Refusal;
    expect(again).toMatchObject({ refused: 'locked', scope: 'user_address' });
    expect(isTicket(reg.begin('password', { ip: '203.0.113.31', username: 'carol' }))).toBe(true);
  });

  it('a name and its user id share one lock once the id is known', async () => {
    bans = new BanList(store.db, clock, { lockoutMs: LOCKOUT_MS, permanentThreshold: 20, memoryMs: BAN_MEMORY_MS, maxInMemory: 100 });
    reg = new Regulator(bans, clock, { enabled: true, maxFailures: 5, windowMs: WINDOW_MS, maxCounters: 100 }, {
      resolveUserId: (n) => (n === 'dave' ? 'd'.repeat(32) : undefined),
    });
    for (let i = 0; i < 5; i++) reg.recordFailure('totp', { ip: `192.0.2.${i}`, userId: 'D'.repeat(32) });
    expect(reg.check({ ip: '192.0.2.99', username: 'Dave' })).toMatchObject({ refused: 'locked', scope: 'user' });
  });

  it('counts attempt kinds separately', () => {
    const who = { ip: '203.0.113.40', userId: 'e'.repeat(32) };
    for (let i = 0; i < 4; i++) {
      reg.recordFailure('totp', who);
      reg.recordFailure('recovery', who);
      reg.recordFailure('password', who);
    }
    expect(reg.addressBan(who.ip)).toBeUndefined();
    reg.recordFailure('recovery', who);
    expect(reg.addressBan(who.ip)?.reason).toBe('5 wrong recovery codes');
  });

  it('second-factor codes ban an address only at codeFailuresPerAddress; passwords at maxFailures', async () => {
    await make({ codeFailuresPerAddress: 12 });
    const who = { ip: '203.0.113.50', userId: 'f'.repeat(32) };
    for (let i = 0; i < 11; i++) reg.recordFailure('totp', who, ['address']);
    expect(reg.addressBan(who.ip)).toBeUndefined();
    expect(reg.failures('totp', 'address', who.ip)).toBe(11);
    expect(isTicket(reg.begin('totp', who))).toBe(true); // not busy either below the code limit
    reg.recordFailure('totp', who, ['address']);
    expect(reg.addressBan(who.ip)?.reason).toBe('12 wrong authenticator codes');
    // Passwords keep the lower limit.
    const other = { ip: '203.0.113.51' };
    for (let i = 0; i < 5; i++) reg.recordFailure('password', other);
    expect(reg.addressBan(other.ip)?.reason).toBe('5 wrong passwords');
  });

  it('counts attempts in flight: at most MaxFailedAttempts of one address at once', () => {
    const who = { ip: '203.0.113.50', username: 'erin' };
    const tickets = [];
    for (let i = 0; i < 5; i++) {
      const t = reg.begin('password', { ...who, username: `user${i}` });
      expect(isTicket(t)).toBe(true);
      tickets.push(t);
    }
    expect(reg.begin('password', who)).toEqual({ refused: 'busy' });
    // One answer comes back as a failure, the others succeed: room again.
    reg.recordFailure('password', { ...who, username: 'user0' });
    for (const t of tickets) if (isTicket(t)) t.release();
    expect(isTicket(reg.begin('password', who))).toBe(true);
  });

  it('a success forgets the failures of that user at that address only', () => {
    const who = { ip: '203.0.113.60', username: 'frank' };
    fail(who, 4);
    reg.recordSuccess('password', who);
    expect(reg.failures('password', 'user_address', 'name:frank@203.0.113.60')).toBe(0);
    expect(reg.failures('password', 'address', '203.0.113.60')).toBe(4);
    expect(reg.failures('password', 'user', 'name:frank')).toBe(4);
  });

  it('keeps memory bounded under a flood from many addresses', async () => {
    await make({ maxCounters: 1000 });
    for (let i = 0; i < 20_000; i++) reg.recordFailure('password', { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
    expect(reg.counterCount).toBeLessThanOrEqual(1000);
  });

  it('keeps bans across a restart (the store is loaded back into memory)', async () => {
    fail({ ip: '198.51.100.77' }, 5);
    for (let i = 0; i < 5; i++) reg.recordFailure('password', { ip: `198.51.100.${80 + i}`, username: 'gina' }); // a name locked from many addresses
    await bans.flush();
    await make();
    expect(reg.addressBan('198.51.100.77')).toBeDefined();
    expect(reg.check({ ip: '198.51.100.1', username: 'GINA' })).toMatchObject({ refused: 'locked', scope: 'user' });
    // …and escalation continues from the remembered history.
    clock.advance(LOCKOUT_MS);
    fail({ ip: '198.51.100.77' }, 5);
    expect(reg.addressBan('198.51.100.77')!.strikes).toBe(2);
  });

  it('does nothing when BruteForceEnabled is off', async () => {
    reg = new Regulator(bans, clock, { enabled: false, maxFailures: 5, windowMs: WINDOW_MS, maxCounters: 100 });
    for (let i = 0; i < 50; i++) reg.recordFailure('password', { ip: '192.0.2.200', username: 'x' });
    expect(reg.addressBan('192.0.2.200')).toBeUndefined();
    expect(isTicket(reg.begin('password', { ip: '192.0.2.200' }))).toBe(true);
  });
});
