import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from '../../server/clock.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { approvalChallenge, canonicalJson, numberMatch, presentApproval } from '../../server/approvals/record.ts';
import { ApprovalStore, type NewApproval } from '../../server/approvals/store.ts';
import { Waiters } from '../../server/approvals/waiters.ts';
import { AccountHolds, BACKOFF_BASE_MS, PushBudget } from '../../server/approvals/fatigue.ts';
import { ApprovalViewSchema } from '../../shared/api/approvals.ts';
import { tempDir } from '../helpers/gateway.ts';

/** The approval record, its commitment, its one-way state changes, waits on the clock, fatigue limits. */
let store: Store;
let dir: string;
const clock = new ManualClock();
let approvals: ApprovalStore;

const U = 'a'.repeat(32);
const base = (over: Partial<NewApproval> = {}): NewApproval => ({
  kind: 'login',
  userId: U,
  userName: 'alice',
  asking: { client: 'Jellyfin Roku', deviceName: 'Living room', deviceId: 'roku-1', ip: '203.0.113.7', place: { city: 'Paris', country: 'FR' }, action: null },
  addressKey: '203.0.113.7',
  numberMatching: false,
  mode: 'hold',
  loginChallengeId: null,
  ttlMs: 120_000,
  ...over,
});

beforeAll(async () => {
  dir = tempDir();
  store = await openStore(dir);
  approvals = new ApprovalStore(store.db, clock);
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the commitment', () => {
  it('canonical JSON sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        // Same value, any key order → same bytes; and it is JSON that parses back to an equal value.
        const shuffled = JSON.parse(JSON.stringify(v));
        expect(canonicalJson(shuffled)).toBe(canonicalJson(v));
        expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });

  it('challenge = SHA-256(nonce ‖ id ‖ canonical), recomputable from what the page is shown', async () => {
    const row = await approvals.insert(base());
    expect(row.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(row.id, 'base64url')).toHaveLength(16); // 128 random bits
    const view = presentApproval(row);
    expect(ApprovalViewSchema.parse(view)).toEqual(view);
    const again = createHash('sha256')
      .update(Buffer.from(view.commitment.nonce, 'base64url'))
      .update(view.id)
      .update(view.commitment.canonical)
      .digest('base64url');
    expect(again).toBe(view.commitment.challenge);
    // The canonical JSON is exactly what the page shows.
    expect(JSON.parse(view.commitment.canonical)).toEqual({ v: 1, kind: 'login', userId: U, userName: 'alice', asking: view.asking });
    expect(view.asking).toMatchObject({ client: 'Jellyfin Roku', deviceName: 'Living room', deviceId: 'roku-1', ip: '203.0.113.7', place: { city: 'Paris', country: 'FR' } });
  });

  it('a different id, nonce or asking gives a different challenge', () => {
    const nonce = randomBytes(32);
    const c = approvalChallenge(nonce, 'x'.repeat(22), '{"a":1}');
    expect(approvalChallenge(nonce, 'y'.repeat(22), '{"a":1}')).not.toBe(c);
    expect(approvalChallenge(randomBytes(32), 'x'.repeat(22), '{"a":1}')).not.toBe(c);
    expect(approvalChallenge(nonce, 'x'.repeat(22), '{"a":2}')).not.toBe(c);
  });

  it('number matching: two digits, offered among two different decoys', () => {
    for (let i = 0; i < 200; i++) {
      const { number, choices } = numberMatch();
      expect(number).toMatch(/^\d{2}$/);
      expect(choices).toHaveLength(3);
      expect(new Set(choices).size).toBe(3);
      expect(choices).toContain(number);
    }
  });

  it('the view never shows the number itself', async () => {
    const row = await approvals.insert(base({ numberMatching: true, mode: 'poll' }));
    expect(row.number).toMatch(/^\d{2}$/);
    const view = presentApproval(row) as unknown as Record<string, unknown>;
    expect(JSON.stringify(view)).not.toContain('"number"');
    expect(view.choices).toContain(row.number);
  });
});

describe('state changes happen once', () => {
  it('two concurrent decisions: exactly one wins', async () => {
    const row = await approvals.insert(base());
    const results = await Promise.all([
      approvals.decide(row.id, 'approved', { reason: 'user' }),
      approvals.decide(row.id, 'denied', { reason: 'user' }),
      approvals.decide(row.id, 'approved', { reason: 'user' }),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('an expired approval cannot be approved, even before the sweep saw it', async () => {
    const row = await approvals.insert(base());
    clock.advance(120_000);
    expect(await approvals.decide(row.id, 'approved', { reason: 'user' })).toBeUndefined();
    expect((await approvals.due()).map((r) => r.id)).toContain(row.id);
    expect(await approvals.decide(row.id, 'expired', { reason: 'expired' })).toBeDefined();
    // A report may follow an expiry (the attempt is still worth reporting); nothing else may.
    expect(await approvals.decide(row.id, 'denied', { reason: 'user' })).toBeUndefined();
    expect((await approvals.decide(row.id, 'reported', { reason: 'user' }, ['pending', 'expired']))?.status).toBe('reported');
  });

  it('an approved login is used once; approve-then-retry needs the same user, DeviceId and address, in time', async () => {
    const a = await approvals.insert({ ...base(), asking: { ...base().asking, deviceId: 'roku-9' } });
    await approvals.decide(a.id, 'approved', { reason: 'user', retryUntil: clock.now() + 120_000 });
    expect(await approvals.consumeRetry(U, 'roku-9', '198.51.100.1')).toBeUndefined(); // another address
    expect(await approvals.consumeRetry(U, 'roku-8', '203.0.113.7')).toBeUndefined(); // another device
    expect(await approvals.consumeRetry('b'.repeat(32), 'roku-9', '203.0.113.7')).toBeUndefined(); // another user
    const used = await approvals.consumeRetry(U, 'roku-9', '203.0.113.7');
    expect(used?.id).toBe(a.id);
    expect(await approvals.consumeRetry(U, 'roku-9', '203.0.113.7')).toBeUndefined(); // once
    expect(await approvals.consume(a.id)).toBe(false);

    const late = await approvals.insert({ ...base(), asking: { ...base().asking, deviceId: 'roku-10' } });
    await approvals.decide(late.id, 'approved', { reason: 'user', retryUntil: clock.now() + 120_000 });
    clock.advance(120_001);
    expect(await approvals.consumeRetry(U, 'roku-10', '203.0.113.7')).toBeUndefined(); // too late
  });

  it('refused assertions are counted only while pending', async () => {
    const row = await approvals.insert(base());
    expect(await approvals.addFailure(row.id)).toBe(1);
    expect(await approvals.addFailure(row.id)).toBe(2);
    await approvals.decide(row.id, 'denied', { reason: 'user' });
    expect(await approvals.addFailure(row.id)).toBeUndefined();
  });
});

describe('waits', () => {
  it('a decision resolves every waiter; the deadline is on the injected clock; abort ends one', async () => {
    const w = new Waiters(clock);
    const a = w.wait('A', clock.now() + 25_000);
    const b = w.wait('A', clock.now() + 25_000);
    const c = w.wait('B', clock.now() + 25_000);
    const ctrl = new AbortController();
    const d = w.wait('B', clock.now() + 60_000, ctrl.signal);
    expect(w.count()).toBe(4);
    w.settle('A', 'approved');
    expect(await a).toBe('approved');
    expect(await b).toBe('approved');
    w.tick(); // nothing due yet
    expect(w.count()).toBe(2);
    clock.advance(25_000);
    w.tick();
    expect(await c).toBe('timeout');
    ctrl.abort();
    expect(await d).toBe('aborted');
    expect(w.count()).toBe(0);
    const e = w.wait('C', clock.now() + 1000);
    w.closeAll();
    expect(await e).toBe('shutdown');
    expect(await w.wait('D', clock.now())).toBe('timeout');
  });
});

describe('fatigue', () => {
  it('at most N pushes per window, each after a doubling gap, none for a banned address', async () => {
    const user = 'c'.repeat(32);
    const banned = new Set(['192.0.2.66']);
    const budget = new PushBudget(approvals, clock, { enabled: true, maxPerWindow: 3, windowMs: 600_000 }, (ip) => banned.has(ip));
    const pushNow = async () => {
      const r = await approvals.insert(base({ userId: user }));
      await approvals.markPush(r.id, clock.now(), null);
    };
    expect(await budget.refusal(user, '192.0.2.66')).toBe('banned_address');
    expect(await budget.refusal(user, '203.0.113.7')).toBeNull();
    await pushNow();
    expect(await budget.refusal(user, '203.0.113.7')).toBe('backoff');
    clock.advance(BACKOFF_BASE_MS);
    expect(await budget.refusal(user, '203.0.113.7')).toBeNull();
    await pushNow();
    clock.advance(BACKOFF_BASE_MS);
    expect(await budget.refusal(user, '203.0.113.7')).toBe('backoff'); // the second gap is twice as long
    clock.advance(BACKOFF_BASE_MS);
    expect(await budget.refusal(user, '203.0.113.7')).toBeNull();
    await pushNow();
    clock.advance(5 * 60_000);
    expect(await budget.refusal(user, '203.0.113.7')).toBe('rate_limited'); // 3 within 10 minutes
    clock.advance(5 * 60_000);
    expect(await budget.refusal(user, '203.0.113.7')).toBeNull(); // the window moved on
    const off = new PushBudget(approvals, clock, { enabled: false, maxPerWindow: 3, windowMs: 600_000 }, () => false);
    expect(await off.refusal(user, '203.0.113.7')).toBe('disabled');
  });

  it('the third report in a day holds the account; an approval lifts it; older reports then no longer count', async () => {
    const user = 'd'.repeat(32);
    const holds = new AccountHolds(store.db, approvals, clock, 3);
    const report = async () => {
      const r = await approvals.insert(base({ userId: user }));
      await approvals.decide(r.id, 'reported', { reason: 'user' });
      return holds.afterReport(user);
    };
    expect(await report()).toEqual({ reports: 1, newlyHeld: false });
    clock.advance(25 * 3600 * 1000); // a day later the first one no longer counts
    expect(await report()).toEqual({ reports: 1, newlyHeld: false });
    expect(await report()).toEqual({ reports: 2, newlyHeld: false });
    expect(await holds.isHeld(user)).toBe(false);
    expect(await report()).toEqual({ reports: 3, newlyHeld: true });
    expect(await holds.isHeld(user)).toBe(true);
    expect(await report()).toEqual({ reports: 4, newlyHeld: false });
    expect(await holds.lift(user)).toBe(true);
    expect(await holds.isHeld(user)).toBe(false);
    expect(await holds.lift(user)).toBe(false);
    clock.advance(1);
    expect(await report()).toEqual({ reports: 1, newlyHeld: false });
    expect(await new AccountHolds(store.db, approvals, clock, 0).isHeld(user)).toBe(false); // 0 = never
  });
});
