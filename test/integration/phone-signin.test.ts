import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalViewSchema, PhoneSignInStartedSchema, LoginApprovalPendingSchema } from '../../shared/api/approvals.ts';
import { SIGNIN_PER_ADDRESS, SIGNIN_PER_NAME, SIGNIN_WINDOW_MS } from '../../server/approvals/signin.ts';
import {
  PHONE_IP,
  advance,
  approvalRow,
  call,
  enrollPhone,
  nextApproval,
  passwordLogin,
  startWorld,
  tap,
  types,
  waiting,
  type Phone,
  type World,
} from './approvals-helpers.ts';
import { raw, type RawAnswer } from './guard-helpers.ts';

/**
 * Sign in with the phone alone (issue 11 item 3): the login page names a user, shows 2 digits; the user's
 * phone gets a push (the real local push service), offers 3 numbers, approves with a passkey tap; the page's
 * status call then receives a session minted through Quick Connect (the emulator's) — a new browser signed
 * in with no password. Unknown users and users without a phone get the same answer that never completes.
 */
let w: World;
let alice: Phone;
let n = 0;
/** A fresh address for each browser (the per-address limit is not what most tests are about). */
const nextIp = () => `127.0.1.${++n}`;

beforeAll(async () => {
  w = await startWorld({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'alice', password: 'alice-pw' },
      { name: 'bob', password: 'bob-pw' },
    ],
  });
  alice = await enrollPhone(w, 'alice', 'alice-pw');
  // bob has signed in through the gateway (it knows his name) but has no phone.
  expect((await passwordLogin(w, 'bob', 'bob-pw', { deviceId: 'bob-laptop', client: 'Jellyfin Web' })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await w?.close();
});

beforeEach(async () => {
  // A fresh push budget and fresh sign-in limits (both windows pass).
  await advance(w, Math.max(SIGNIN_WINDOW_MS, 11 * 60_000) + 1000);
});

const browserHeader = (deviceId: string) => `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="${deviceId}", Version="10.11.11"`;

function post(path: string, body: unknown, from: string, deviceId: string): Promise<RawAnswer & { json: any }> {
  return raw(w.gw.url, `/JellyfinSecurity${path}`, {
    method: 'POST',
    headers: { host: `localhost:${w.gw.port}`, authorization: browserHeader(deviceId) },
    body: JSON.stringify(body),
    from,
  }) as Promise<RawAnswer & { json: any }>;
}

const start = (userName: string, from: string, deviceId: string) => post('/Approvals/SignIn', { userName }, from, deviceId);
const status = (requestId: string, from: string, deviceId: string, waitSeconds = 0) => post('/Approvals/SignIn/Status', { requestId, waitSeconds }, from, deviceId);

async function usersMe(token: string, from: string): Promise<number> {
  return (await raw(w.gw.url, '/Users/Me', { headers: { authorization: `${browserHeader('probe')}, Token="${token}"` }, from })).status;
}

/** Start for alice and return the request and the approval her phone was pushed. */
async function started(from: string, deviceId: string) {
  const r = await start('alice', from, deviceId);
  expect(r.status, r.text).toBe(200);
  const s = PhoneSignInStartedSchema.parse(r.json);
  // The approval this browser's request made (the page never learns its id; the phone's push carries it).
  const row = await w.gw.gateway.store.db.selectFrom('approvals').selectAll().where('kind', '=', 'signin').where('device_id', '=', deviceId).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
  const push = (await w.push.nextMessage((m) => m.subscriberId === alice.sub.id && m.json?.approvalId === row.id)) as Awaited<ReturnType<typeof nextApproval>>;
  return { s, approvalId: row.id, push };
}

describe('sign in with my phone, by user name alone', () => {
  it('the phone picks the number the page shows; the page receives a session minted for this browser, once', async () => {
    const from = nextIp();
    const { s, approvalId, push } = await started(from, 'new-browser-1');
    expect(push.json.title).toBe('Sign in as alice?');
    expect(Object.keys(s).sort()).toEqual(['expiresAt', 'number', 'requestId', 'status']);

    // What the phone sees: three numbers, one of them the page's; the browser and its address.
    const view = ApprovalViewSchema.parse((await call(w, 'GET', `/JellyfinSecurity/Approvals/${approvalId}`)).json);
    expect(view.kind).toBe('signin');
    expect(view.choices).toContain(s.number);
    expect(view.asking).toMatchObject({ client: 'Jellyfin Web', deviceName: 'Chrome', deviceId: 'new-browser-1', ip: from });

    // Pending: nothing minted yet.
    const pending = await status(s.requestId, from, 'new-browser-1');
    expect(pending.status, pending.text).toBe(202);
    expect(LoginApprovalPendingSchema.parse(pending.json)).toMatchObject({ number: s.number });
    expect(types(w)).not.toContain('session.minted');

    // The page long-polls; the phone approves with the right number while it waits.
    const polling = status(s.requestId, from, 'new-browser-1', 20);
    await waiting(w, approvalId);
    const ok = await tap(w, alice, approvalId, 'Approve', { number: s.number });
    expect(ok.status, ok.text).toBe(200);
    const done = await polling;
    expect(done.status, done.text).toBe(200);
    const result = done.json as { AccessToken: string; User: { Name: string }; SessionInfo: { DeviceId: string; Client: string } };
    expect(result.User.Name).toBe('alice');
    expect(result.SessionInfo).toMatchObject({ DeviceId: 'new-browser-1', Client: 'Jellyfin Web' });
    expect(await usersMe(result.AccessToken, from)).toBe(200);
    expect(w.audit.find((e) => e.type === 'session.minted' && e.deviceId === 'new-browser-1')?.detail).toMatchObject({ method: 'phone' });

    // Used once: a second status call gets nothing.
    const again = await status(s.requestId, from, 'new-browser-1');
    expect(again.status).toBe(410);
    expect(again.json.error).toBe('challenge_over');
  });

  it('only the browser that asked collects the session; a tampered request id is unknown', async () => {
    const from = nextIp();
    const { s, approvalId } = await started(from, 'new-browser-2');
    expect((await status(s.requestId, from, 'someone-else')).status).toBe(404);
    const tampered = s.requestId.slice(0, -4) + (s.requestId.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const t = await status(tampered, from, 'new-browser-2');
    expect(t.status).toBe(404);
    expect(t.json.error).toBe('no_approval');
    const ok = await tap(w, alice, approvalId, 'Approve', { number: s.number });
    expect(ok.status, ok.text).toBe(200);
    expect((await status(s.requestId, from, 'new-browser-2')).status).toBe(200);
  });

  it('the same browser asking again gets the same request and number, and no second push', async () => {
    const from = nextIp();
    const { s, approvalId } = await started(from, 'new-browser-3');
    const again = await start('alice', from, 'new-browser-3');
    expect(again.json).toEqual(s);
    await w.gw.gateway.services.approvals.idle();
    expect(w.push.messagesFor(alice.sub.id).filter((m) => m.json?.approvalId === approvalId)).toHaveLength(1);
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${approvalId}/Deny`, { body: {} });
  });

  it('a wrong number ends the request: the page learns it was denied, nothing is minted', async () => {
    const from = nextIp();
    const { s, approvalId } = await started(from, 'new-browser-4');
    const view = ApprovalViewSchema.parse((await call(w, 'GET', `/JellyfinSecurity/Approvals/${approvalId}`)).json);
    const wrong = view.choices!.find((c) => c !== s.number)!;
    const r = await tap(w, alice, approvalId, 'Approve', { number: wrong });
    expect(r.status).toBe(409);
    expect(r.json.error).toBe('wrong_number');
    const st = await status(s.requestId, from, 'new-browser-4');
    expect(st.status).toBe(410);
    expect(st.json.error).toBe('approval_denied');
    expect(w.audit.some((e) => e.type === 'session.minted' && e.deviceId === 'new-browser-4')).toBe(false);
  });

  it('denied on the phone: the page is told, nothing is minted', async () => {
    const from = nextIp();
    const { s, approvalId } = await started(from, 'new-browser-5');
    const polling = status(s.requestId, from, 'new-browser-5', 20);
    await waiting(w, approvalId);
    const d = await call(w, 'POST', `/JellyfinSecurity/Approvals/${approvalId}/Deny`, { body: {} });
    expect(d.status, d.text).toBe(200);
    const st = await polling;
    expect(st.status).toBe(410);
    expect(st.json.error).toBe('approval_denied');
    expect(w.audit.some((e) => e.type === 'session.minted' && e.deviceId === 'new-browser-5')).toBe(false);
  });

  it('"This wasn\'t me": reported, the asking address banned, the report counted toward the account hold', async () => {
    const from = nextIp();
    const { s, approvalId } = await started(from, 'new-browser-6');
    const r = await tap(w, alice, approvalId, 'Report');
    expect(r.status, r.text).toBe(200);
    expect(w.gw.gateway.services.guard.isAddressBanned(from)).toBe(true);
    const reported = w.audit.filter((e) => e.type === 'approval.reported').at(-1)!;
    expect(reported.detail).toMatchObject({ kind: 'signin', banned: true });
    // What AccountHolds counts toward holding the account: reported approvals of the user.
    const row = await approvalRow(w, approvalId);
    expect(row.status).toBe('reported');
    expect(await w.gw.gateway.services.approvals.store.reportsSince(row.user_id, row.created_at)).toBeGreaterThanOrEqual(1);
    // The banned address cannot even ask for the status any more (the guard refuses it first).
    expect((await status(s.requestId, from, 'new-browser-6')).status).toBe(429);
    // The same request from elsewhere: reported.
    const st = await status(s.requestId, nextIp(), 'new-browser-6');
    expect(st.status).toBe(410);
    expect(st.json.error).toBe('approval_reported');
  });

  it('an unknown user and a user without a phone get the same answer as a user with one: a request that never completes', async () => {
    const from = nextIp();
    const answers = { alice: await start('alice', from, 'probe-a'), bob: await start('bob', from, 'probe-a'), nobody: await start('nobody-at-all', from, 'probe-a') };
    for (const a of Object.values(answers)) {
      expect(a.status).toBe(200);
      expect(Object.keys(a.json).sort()).toEqual(['expiresAt', 'number', 'requestId', 'status']);
      expect(a.headers['content-type']).toBe(answers.alice.headers['content-type']);
      expect(a.headers['cache-control']).toBe(answers.alice.headers['cache-control']);
      expect(Date.parse(a.json.expiresAt)).toBe(Date.parse(answers.alice.json.expiresAt));
    }
    // Same-length request ids for the same user-name length and browser: bob (3) vs nobody-at-all is another length.
    expect(answers.bob.json.requestId.length).toBe(answers.alice.json.requestId.length);
    const ids = [answers.alice.json.requestId, answers.bob.json.requestId, answers.nobody.json.requestId];
    expect(ids.every((id: string) => id.startsWith('v1.'))).toBe(true);

    // Status while pending: the same 202 shape for all three.
    for (const id of ids) {
      const p = await status(id, from, 'probe-a');
      expect(p.status).toBe(202);
      expect(Object.keys(p.json).sort()).toEqual(['expiresAt', 'number', 'status']);
    }
    // A long poll of a request that asked nobody waits, as a real one does.
    const polling = status(answers.nobody.json.requestId, from, 'probe-a', 5);
    await new Promise((r) => setTimeout(r, 50));
    w.clock.advance(6000);
    w.gw.gateway.services.approvals.waiters.tick();
    expect((await polling).status).toBe(202);

    // Expired: the same 410 and message for all three.
    await advance(w, 130_000);
    const ends = await Promise.all(ids.map((id) => status(id, from, 'probe-a')));
    for (const e of ends) {
      expect(e.status).toBe(410);
      expect(e.json).toEqual(ends[0]!.json);
    }
    expect(ends[0]!.json.error).toBe('approval_expired');
    // Only alice's phone was asked (bob has none, nobody does not exist); the audit log says which was real.
    const requested = w.audit.filter((e) => e.type === 'login.phone.requested').slice(-3);
    expect(requested.map((e) => e.detail?.asked)).toEqual([true, false, false]);
  });

  it('timing: answers for a real user and for unknown users are alike (measured, reported)', async () => {
    const from = nextIp();
    const sample = async (name: string, i: number) => (await start(name, from, `timing-${name}-${i}`)).ms;
    const real: number[] = [];
    const fake: number[] = [];
    for (let i = 0; i < 8; i++) {
      // Within the per-address limit: one window per pair.
      await advance(w, SIGNIN_WINDOW_MS + 1000);
      real.push(await sample('alice', i));
      fake.push(await sample('nobody-xyz', i));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`phone sign-in start: median ${median(real).toFixed(2)} ms (user with a phone) vs ${median(fake).toFixed(2)} ms (unknown user)`);
    expect(real.length).toBe(8);
  });

  it('limits: per address and per user name, with the same 429 for known and unknown names', async () => {
    const from = nextIp();
    for (let i = 0; i < SIGNIN_PER_ADDRESS; i++) expect((await start(`someone-${i}`, from, `lim-${i}`)).status).toBe(200);
    const over = await start('alice', from, 'lim-x');
    expect(over.status).toBe(429);
    expect(over.json.error).toBe('too_many_requests');
    const overUnknown = await start('nobody', from, 'lim-y');
    expect(overUnknown.json).toEqual(over.json);

    for (const name of ['alice', 'not-a-user']) {
      for (let i = 0; i < SIGNIN_PER_NAME; i++) expect((await start(name, nextIp(), `name-${name}-${i}`)).status).toBe(200);
      const r = await start(name, nextIp(), `name-${name}-x`);
      expect(r.status).toBe(429);
      expect(r.json.error).toBe('too_many_requests');
    }
  });

  it('push fatigue: a second request within the back-off is not pushed (the approval is listed on the phone all the same)', async () => {
    const first = await started(nextIp(), 'fatigue-1');
    const second = await start('alice', nextIp(), 'fatigue-2');
    expect(second.status).toBe(200);
    await w.gw.gateway.services.approvals.idle();
    const rows = await w.gw.gateway.store.db.selectFrom('approvals').selectAll().where('kind', '=', 'signin').where('device_id', '=', 'fatigue-2').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.push_skipped).toBe('backoff');
    const listed = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token: alice.token, deviceId: alice.deviceId });
    expect((listed.json as { items: Array<{ id: string }> }).items.map((i) => i.id)).toEqual(expect.arrayContaining([first.approvalId, rows[0]!.id]));
  });

  it('a user name locked by guessing still admits its owner by phone', async () => {
    // Guesses from several addresses lock the name (from one address they would ban that address instead).
    for (let i = 0; i < 5; i++) await passwordLogin(w, 'alice', `guess-${i}`, { deviceId: `guesser-${i}`, client: 'Jellyfin Web', from: nextIp() });
    const bans = await w.gw.gateway.services.guard.listBans();
    expect(bans.some((b) => b.scope === 'user')).toBe(true);
    // The right password from a new browser is refused like a wrong one (the lock)…
    const from = nextIp();
    const pw = await passwordLogin(w, 'alice', 'alice-pw', { deviceId: 'locked-browser', client: 'Jellyfin Web', from });
    expect(pw.status).not.toBe(200);
    expect((pw.json as { error?: string } | undefined)?.error).not.toBe('second_factor_required');
    // …but her phone admits her.
    const { s, approvalId } = await started(from, 'locked-browser');
    const ok = await tap(w, alice, approvalId, 'Approve', { number: s.number, from: PHONE_IP });
    expect(ok.status, ok.text).toBe(200);
    const done = await status(s.requestId, from, 'locked-browser');
    expect(done.status, done.text).toBe(200);
    expect(await usersMe(done.json.AccessToken, from)).toBe(200);
  });

  it("a user with an address allowlist is not asked from elsewhere (the page sees the same answer)", async () => {
    const guard = w.gw.gateway.services.guard;
    const aliceId = w.jf.user('alice').id;
    await guard.setAllowedIps(aliceId, ['10.0.0.0/8'], null);
    try {
      const r = await start('alice', nextIp(), 'outside-allowlist');
      expect(r.status).toBe(200);
      expect(Object.keys(r.json).sort()).toEqual(['expiresAt', 'number', 'requestId', 'status']);
      expect(w.audit.filter((e) => e.type === 'login.phone.requested').at(-1)?.detail).toMatchObject({ asked: false });
      const rows = await w.gw.gateway.store.db.selectFrom('approvals').select('id').where('device_id', '=', 'outside-allowlist').execute();
      expect(rows).toHaveLength(0);
    } finally {
      await guard.setAllowedIps(aliceId, [], null);
    }
  });

  it('an account held after reports is released by approving a sign-in by phone', async () => {
    const holds = w.gw.gateway.services.approvals.holds;
    const aliceId = w.jf.user('alice').id;
    // Hold it as repeated reports would (ReportsBeforeHold is counted in the report test's own path).
    await w.gw.gateway.store.db
      .insertInto('approval_holds')
      .values({ user_id: aliceId, held_at: w.clock.now(), lifted_at: null, reports: 3 })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ held_at: w.clock.now(), reports: 3 }))
      .execute();
    expect(await holds.isHeld(aliceId)).toBe(true);
    const from = nextIp();
    const { s, approvalId } = await started(from, 'held-browser');
    expect((await tap(w, alice, approvalId, 'Approve', { number: s.number })).status).toBe(200);
    expect(await holds.isHeld(aliceId)).toBe(false);
    expect((await status(s.requestId, from, 'held-browser')).status).toBe(200);
  });

  it('Quick Connect off at Jellyfin: approved, but the page gets a clear 503 and nothing is minted', async () => {
    const from = nextIp();
    const { s, approvalId } = await started(from, 'qc-off-browser');
    expect((await tap(w, alice, approvalId, 'Approve', { number: s.number })).status).toBe(200);
    w.jf.quickConnectEnabled = false;
    try {
      const r = await status(s.requestId, from, 'qc-off-browser');
      expect(r.status).toBe(503);
      expect(r.json.error).toBe('quick_connect_disabled');
      expect(r.json.message).toMatch(/Quick Connect/);
      expect(w.audit.filter((e) => e.type === 'session.mint.failed').at(-1)?.detail).toMatchObject({ method: 'phone', reason: 'quick_connect_disabled' });
    } finally {
      w.jf.quickConnectEnabled = true;
    }
  });

  it('a pending request survives a restart: approved afterwards, the session is minted', async () => {
    const from = nextIp();
    const { s, approvalId } = await started(from, 'restart-browser');
    await w.restart();
    const ok = await tap(w, alice, approvalId, 'Approve', { number: s.number });
    expect(ok.status, ok.text).toBe(200);
    const done = await status(s.requestId, from, 'restart-browser');
    expect(done.status, done.text).toBe(200);
  });
});
