import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BACKOFF_BASE_MS } from '../../server/approvals/fatigue.ts';
import {
  WEB_IP,
  advance,
  call,
  enrollPhone,
  freshBudget,
  held,
  nextApproval,
  passwordLogin,
  sdkLogin,
  startWorld,
  tap,
  tv,
  types,
  type Phone,
  type World,
} from './approvals-helpers.ts';
import type { PhoneInfo } from '../../shared/api/approvals.ts';

/**
 * Push fatigue and the push service's answers (issue 4, items 1 and 6), through the real gateway and
 * the local push service: one approval per device, at most 3 pushes per user per 10 minutes with a
 * doubling gap, expired subscriptions deleted, a dead or slow push service never blocking a login, and
 * the hold that repeated "This wasn't me" puts on an account until the phone approves.
 */
describe('at most 3 pushes per user per 10 minutes, with backoff (HoldSeconds 0: every TV login answers at once)', () => {
  let w: World;
  let alice: Phone;
  beforeAll(async () => {
    w = await startWorld({ config: { HoldSeconds: 0 } });
    alice = await enrollPhone(w, 'alice', 'alice-pw');
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  async function tvLogin(deviceId: string) {
    const r = await sdkLogin(tv(w, deviceId), 'alice', 'alice-pw');
    expect(r.status).toBe(401);
    expect(r.data).toMatchObject({ error: 'approval_pending' });
    const row = await w.gw.gateway.store.db
      .selectFrom('approvals')
      .selectAll()
      .where('device_id', '=', deviceId)
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    return row;
  }

  it('pushes, then waits 10 s, then 20 s; the fourth in the window is not pushed; the approvals exist all the same', async () => {
    const a = await tvLogin('roku-f1');
    expect(a.pushed_at).not.toBeNull();
    expect((await nextApproval(w, alice)).json.approvalId).toBe(a.id);

    await advance(w, 1_000);
    const b = await tvLogin('roku-f2');
    expect(b).toMatchObject({ pushed_at: null, push_skipped: 'backoff' });

    await advance(w, BACKOFF_BASE_MS);
    const c = await tvLogin('roku-f3');
    expect(c.push_skipped).toBeNull();
    expect((await nextApproval(w, alice)).json.approvalId).toBe(c.id);

    await advance(w, BACKOFF_BASE_MS); // the second gap is twice as long
    expect((await tvLogin('roku-f4')).push_skipped).toBe('backoff');
    await advance(w, BACKOFF_BASE_MS);
    const e = await tvLogin('roku-f5');
    expect(e.push_skipped).toBeNull();

    await advance(w, 2 * 60_000);
    expect((await tvLogin('roku-f6')).push_skipped).toBe('rate_limited');
    expect(w.audit.findLast((x) => x.type === 'approval.requested')?.detail).toMatchObject({ pushed: false, pushSkipped: 'rate_limited' });

    // The phone's app still lists every pending one (the push is only a doorbell).
    const list = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token: alice.token, deviceId: alice.deviceId });
    expect((list.json as { items: Array<{ asking: { deviceId: string } }> }).items.map((i) => i.asking.deviceId)).toContain('roku-f6');

    await advance(w, 10 * 60_000);
    expect((await tvLogin('roku-f7')).push_skipped).toBeNull();
    await w.gw.gateway.services.approvals.idle();
    expect(w.push.messagesFor(alice.sub.id).filter((m) => m.json?.type === 'approval')).toHaveLength(4);
  });

  it('one pending approval per user and device: its next attempts re-use it, with no new push', async () => {
    await freshBudget(w);
    const first = await tvLogin('roku-same');
    await advance(w, 60_000);
    const second = await tvLogin('roku-same');
    expect(second.id).toBe(first.id);
    expect(types(w).filter((t) => t === 'login.approval.held').length).toBeGreaterThanOrEqual(2);
    expect(w.audit.findLast((e) => e.type === 'login.approval.held')?.detail).toMatchObject({ reused: true });
    // Approve now: the next attempt is let in (approve-then-retry), still without a new approval.
    expect((await tap(w, alice, first.id)).status).toBe(200);
    expect((await sdkLogin(tv(w, 'roku-same'), 'alice', 'alice-pw')).status).toBe(200);
  });
});

describe('the push service’s answers', () => {
  let w: World;
  let alice: Phone;
  beforeAll(async () => {
    w = await startWorld();
    alice = await enrollPhone(w, 'alice', 'alice-pw');
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });
  beforeEach(async () => {
    await freshBudget(w);
  });

  const phones = async () => (await call(w, 'GET', '/JellyfinSecurity/Me/Phones', { token: alice.token, deviceId: alice.deviceId })).json as PhoneInfo[];

  it('a test notification reaches the phone', async () => {
    const r = await call(w, 'POST', `/JellyfinSecurity/Me/Phones/${alice.info.id}/Test`, { token: alice.token, deviceId: alice.deviceId });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'sent' });
    const m = await w.push.nextMessage((x) => x.subscriberId === alice.sub.id && x.json?.kind === 'test');
    expect(m.json).toMatchObject({ v: 1, type: 'notice', title: 'Jellyguard' });
  });

  it('a test notification says what the push service really answered: an error, or no answer at all', async () => {
    const test = () => call(w, 'POST', `/JellyfinSecurity/Me/Phones/${alice.info.id}/Test`, { token: alice.token, deviceId: alice.deviceId });
    w.push.answer(alice.sub.id, 503);
    const refused = await test();
    expect(refused.status).toBe(200);
    expect(refused.json).toMatchObject({ status: 'refused' });
    expect((refused.json as { message: string }).message).toContain('HTTP 503');
    // No answer within the push timeout: as for a push service whose name does not resolve (ENOTFOUND).
    w.push.answer(alice.sub.id, 'hang');
    const silent = await test();
    expect(silent.json).toMatchObject({ status: 'unreachable' });
    expect((silent.json as { message: string }).message).toContain('could not be reached');
    w.push.answer(alice.sub.id, 201);
  });

  it('a slow push service does not hold up the login: the TV is approved while the push still hangs', async () => {
    w.push.answer(alice.sub.id, 'hang');
    const login = sdkLogin(tv(w, 'roku-hang'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    const approved = await tap(w, alice, id);
    expect(approved.status).toBe(200);
    // The TV was still waiting: nothing more for it to do, so the phone is given no retry deadline.
    expect((approved.json as { retryUntil: string | null }).retryUntil).toBeNull();
    expect((await login).status).toBe(200);
    w.push.answer(alice.sub.id, 201);
  });

  it('a subscription answered 410 is deleted; the phone stays enrolled; re-subscribing replaces the endpoint', async () => {
    w.push.answer(alice.sub.id, 410);
    const login = sdkLogin(tv(w, 'roku-410'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    await w.gw.gateway.services.approvals.idle();
    expect(types(w)).toContain('push.subscription.expired');
    const [p] = await phones();
    expect(p).toMatchObject({ id: alice.info.id, push: false, pushService: null });
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Deny`, { body: {} });
    expect((await login).status).toBe(401);

    // The app re-subscribes at its next start (or on pushsubscriptionchange).
    const config = await call(w, 'GET', '/JellyfinSecurity/Push/Config');
    const fresh = w.push.subscribe({ applicationServerKey: config.json.publicKey });
    const put = await call(w, 'PUT', `/JellyfinSecurity/Me/Phones/${alice.info.id}/Subscription`, { token: alice.token, deviceId: alice.deviceId, body: { subscription: fresh.subscription } });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toMatchObject({ push: true, pushService: w.push.origin });
    expect(types(w)).toContain('phone.resubscribed');

    await freshBudget(w);
    const next = sdkLogin(tv(w, 'roku-410b'), 'alice', 'alice-pw');
    const m = await w.push.nextMessage((x) => x.subscriberId === fresh.id && x.json?.type === 'approval');
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${m.json.approvalId}/Deny`, { body: {} });
    expect((await next).status).toBe(401);
    expect(w.push.messagesFor(alice.sub.id).filter((x) => x.json?.approvalId === m.json.approvalId)).toHaveLength(0);
    alice.sub = fresh;
  });

  it('a subscription the gateway may not send to is refused (plain http outside loopback, bad keys)', async () => {
    const sub = w.push.subscribe().subscription;
    const bad = await call(w, 'PUT', `/JellyfinSecurity/Me/Phones/${alice.info.id}/Subscription`, {
      token: alice.token,
      deviceId: alice.deviceId,
      body: { subscription: { ...sub, endpoint: 'http://10.1.2.3/push/x' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/https/);
    const badKeys = await call(w, 'PUT', `/JellyfinSecurity/Me/Phones/${alice.info.id}/Subscription`, {
      token: alice.token,
      deviceId: alice.deviceId,
      body: { subscription: { ...sub, keys: { ...sub.keys, p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url') } } },
    });
    expect(badKeys.status).toBe(400);
    const [p] = await phones();
    expect(p!.push).toBe(true); // nothing changed
    const other = await call(w, 'PUT', `/JellyfinSecurity/Me/Phones/${'B'.repeat(22)}/Subscription`, { token: alice.token, deviceId: alice.deviceId, body: { subscription: sub } });
    expect(other.status).toBe(404);
  });
});

describe('after 3 "This wasn\'t me" in a day, password logins wait for the phone', () => {
  let w: World;
  let alice: Phone;
  beforeAll(async () => {
    w = await startWorld();
    alice = await enrollPhone(w, 'alice', 'alice-pw');
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('holds every client (a browser too) until an approval from the phone lifts it', async () => {
    for (const [i, ip] of ['127.0.0.71', '127.0.0.72', '127.0.0.73'].entries()) {
      await freshBudget(w);
      const login = sdkLogin(tv(w, `roku-x${i}`, ip), 'alice', 'alice-pw');
      const id = await held(w, alice);
      expect((await tap(w, alice, id, 'Report')).status).toBe(200);
      expect((await login).status).toBe(401);
    }
    expect(types(w)).toContain('account.held');
    const list = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token: alice.token, deviceId: alice.deviceId });
    expect(list.json).toMatchObject({ accountHeld: true });
    const notice = await w.push.nextMessage((m) => m.subscriberId === alice.sub.id && m.json?.type === 'notice' && /wait for the phone/.test(m.json.title));
    expect(notice.json.body).toContain('3 reports');

    // A browser login is held now too — no challenge to answer with a code.
    const web = passwordLogin(w, 'alice', 'alice-pw', { deviceId: 'web-held', client: 'Jellyfin Web', from: WEB_IP });
    const id = await held(w, alice);
    expect((await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`)).json).toMatchObject({ asking: { client: 'Jellyfin Web' }, choices: null });
    expect((await tap(w, alice, id)).status).toBe(200);
    const released = await web;
    expect(released.status).toBe(200);
    expect(types(w)).toContain('account.released');

    // Lifted: the next browser login gets the usual challenge again.
    const after = await passwordLogin(w, 'alice', 'alice-pw', { deviceId: 'web-after', client: 'Jellyfin Web', from: WEB_IP });
    expect(after.status).toBe(401);
    expect(after.json).toMatchObject({ error: 'second_factor_required' });
    expect((await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token: alice.token, deviceId: alice.deviceId })).json).toMatchObject({ accountHeld: false });
  });

  it('while held, the last phone cannot be removed', async () => {
    await freshBudget(w);
    for (const [i, ip] of ['127.0.0.74', '127.0.0.75', '127.0.0.76'].entries()) {
      await freshBudget(w);
      const login = sdkLogin(tv(w, `roku-y${i}`, ip), 'alice', 'alice-pw');
      const id = await held(w, alice);
      expect((await tap(w, alice, id, 'Report')).status).toBe(200);
      expect((await login).status).toBe(401);
    }
    const del = await call(w, 'DELETE', `/JellyfinSecurity/Me/Phones/${alice.info.id}`, { token: alice.token, deviceId: alice.deviceId });
    expect(del.status).toBe(409);
    expect(del.json).toMatchObject({ error: 'account_held' });
  });
});
