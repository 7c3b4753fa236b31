import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { heldToken } from './factors-helpers.ts';
import {
  ATTACKER_IP,
  PHONE_IP,
  TV_IP,
  advance,
  approvalRow,
  call,
  enrollPhone,
  freshBudget,
  held,
  nextApproval,
  sdkLogin,
  startWorld,
  tap,
  tv,
  types,
  waiting,
  type Phone,
  type World,
} from './approvals-helpers.ts';
import { raw } from './guard-helpers.ts';
import { jellyfinClient } from '../helpers/sdk.ts';
import type { TestGateway } from '../helpers/gateway.ts';

/**
 * Login by phone for a native client (issue 4, items 3–5): @jellyfin/sdk as a TV logs in through the
 * gateway; the gateway holds the login and sends a real Web Push (VAPID verified, aes128gcm decrypted by
 * the local push service); the phone's passkey (a software authenticator, verified by
 * @simplewebauthn/server) approves over the approval's own challenge; the held login answers 200 and
 * its token works. Deny, "This wasn't me", expiry, approve-then-retry, replays and foreign assertions.
 */
let w: World;
let alice: Phone;
let bob: Phone;
let admin: Phone;

beforeAll(async () => {
  w = await startWorld();
  admin = await enrollPhone(w, 'admin', 'admin-pw');
  alice = await enrollPhone(w, 'alice', 'alice-pw');
  bob = await enrollPhone(w, 'bob', 'bob-pw');
}, 60_000);

afterAll(async () => {
  await w?.close();
});

beforeEach(async () => {
  await freshBudget(w);
});

async function meStatus(gw: TestGateway, token: string): Promise<number> {
  const r = await raw(gw.url, '/Users/Me', { headers: { authorization: `MediaBrowser Client="Jellyfin Roku", Device="TV", DeviceId="probe", Version="1", Token="${token}"` }, from: TV_IP });
  return r.status;
}

/** The held login's Jellyfin token, read from the sealed record (to check it is revoked at Jellyfin). */
async function tokenOf(approvalId: string): Promise<string> {
  const row = await approvalRow(w, approvalId);
  return heldToken(w.gw, row.login_challenge_id!);
}

describe('a TV signs in with a tap on the phone', () => {
  it('the held login returns 200 once the phone approves, and its token works through the gateway', async () => {
    const before = w.jf.loginAttempts;
    const login = sdkLogin(tv(w, 'roku-living-room'), 'alice', 'alice-pw');
    const push = await nextApproval(w, alice);

    // What the push service received: VAPID-signed for its origin, encrypted for this phone, small.
    expect(push.vapid.aud).toBe(w.push.origin);
    expect(push.vapid.sub).toBe('mailto:admin@example.org');
    expect(push.urgency).toBe('high');
    expect(push.topic).toBe(push.json.approvalId);
    expect(push.ttl).toBeGreaterThan(100);
    expect(push.ttl).toBeLessThanOrEqual(120);
    expect(push.payload.length).toBeLessThan(600);
    expect(push.json).toMatchObject({ v: 1, type: 'approval', kind: 'login', tag: push.json.approvalId, title: 'Sign in as alice?' });
    expect(push.json.body).toContain('Jellyfin Roku');
    expect(push.payload.toString()).not.toMatch(/alice-pw|accesstoken|challenge/i);
    expect(w.jf.loginAttempts).toBe(before + 1);

    // The approval page shows what is asking; the phone approves with its passkey.
    const id = push.json.approvalId;
    const view = await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`);
    expect(view.status).toBe(200);
    expect(view.json).toMatchObject({ id, kind: 'login', status: 'pending', userName: 'alice', choices: null, asking: { client: 'Jellyfin Roku', deviceName: 'Living room', deviceId: 'roku-living-room', ip: TV_IP } });
    await waiting(w, id);
    const approved = await tap(w, alice, id);
    expect(approved.status, approved.text).toBe(200);
    expect(approved.json).toMatchObject({ status: 'approved' });

    const res = await login;
    expect(res.status).toBe(200);
    expect(res.token).toMatch(/^[0-9a-f]{32}$/);
    expect(await meStatus(w.gw, res.token!)).toBe(200);
    expect(w.gw.gateway.tokens.lookup(res.token!)).toMatchObject({ state: 'verified', method: 'phone', deviceId: 'roku-living-room' });
    const t = types(w);
    expect(t).toContain('login.approval.held');
    expect(t).toContain('approval.requested');
    expect(t).toContain('approval.approved');
    expect(w.audit.find((e) => e.type === 'login.password.success' && e.deviceId === 'roku-living-room')?.detail).toMatchObject({ method: 'phone' });
  });

  it('deny: the TV gets 401 and the held token is revoked at Jellyfin', async () => {
    const login = sdkLogin(tv(w, 'roku-deny'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    const token = await tokenOf(id);
    expect(w.jf.isTokenValid(token)).toBe(true);
    const denied = await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Deny`, { body: {} });
    expect(denied.status).toBe(200);
    expect(denied.json).toMatchObject({ status: 'denied', reason: 'user' });
    const res = await login;
    expect(res.status).toBe(401);
    expect(res.data).toMatchObject({ error: 'approval_denied' });
    expect(w.jf.isTokenValid(token)).toBe(false);
    expect(await meStatus(w.gw, token)).toBe(401);
    // Decided once: denying or approving again is refused.
    expect((await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Deny`, { body: {} })).status).toBe(409);
    expect((await tap(w, alice, id)).status).toBe(409);
  });

  it('expiry: after HoldSeconds the TV gets 401 (token revoked); after ApprovalSeconds the approval expires', async () => {
    const login = sdkLogin(tv(w, 'roku-slow'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    const token = await tokenOf(id);
    await advance(w, 24_000);
    expect(w.gw.gateway.services.approvals.waiters.count(id)).toBe(1); // still held
    await advance(w, 1_000); // HoldSeconds (25) reached
    const res = await login;
    expect(res.status).toBe(401);
    expect(res.data).toMatchObject({ error: 'approval_pending' });
    expect(w.jf.isTokenValid(token)).toBe(false);
    expect((await approvalRow(w, id)).status).toBe('pending'); // still open for approve-then-retry
    await advance(w, 95_000); // ApprovalSeconds (120) reached
    expect((await approvalRow(w, id)).status).toBe('expired');
    expect(types(w)).toContain('approval.expired');
    expect((await tap(w, alice, id)).status).toBe(410);
  });

  it('each client is held only as long as it waits for a login answer (Kodi gives up after 10 s): its hold ends first', async () => {
    for (const [client, seconds] of [['Kodi', 8], ['Findroid', 8], ['Swiftfin tvOS', 18], ['Jellyfin Android TV', 25], ['Infuse-Direct', 8]] as const) {
      const api = jellyfinClient(w.gw.url, { client, device: 'Living room', deviceId: `hold-${client}` });
      api.axiosInstance.defaults.httpAgent = new http.Agent({ localAddress: TV_IP });
      const login = sdkLogin(api, 'alice', 'alice-pw');
      const id = await held(w, alice);
      expect(w.audit.findLast((e) => e.type === 'login.approval.held')?.detail, client).toMatchObject({ holdSeconds: seconds });
      await advance(w, (seconds - 1) * 1000);
      expect(w.gw.gateway.services.approvals.waiters.count(id), client).toBe(1); // still held
      await advance(w, 1000);
      const res = await login;
      expect(res.status, client).toBe(401); // the gateway's answer, before the client's own timeout
      expect(res.data).toMatchObject({ error: 'approval_pending' });
      expect((await approvalRow(w, id)).status).toBe('pending'); // approve-then-retry still works
      await freshBudget(w);
    }
  });

  it('approve-then-retry: approved after the hold, the next attempt of the same device succeeds without a new push', async () => {
    const login = sdkLogin(tv(w, 'roku-retry'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    await advance(w, 25_000);
    expect((await login).status).toBe(401);

    expect((await tap(w, alice, id)).status).toBe(200);
    // The same DeviceId from ANOTHER address does not ride on it (a DeviceId is only what a client says):
    // it is held for its own approval.
    const elsewhere = sdkLogin(tv(w, 'roku-retry', ATTACKER_IP), 'alice', 'alice-pw');
    const other = await held(w, alice, [id]);
    expect(other).not.toBe(id);
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${other}/Deny`, { body: {} });
    expect((await elsewhere).status).toBe(401);

    await advance(w, 60_000); // within ApprovalSeconds of the approval
    const approvalsBefore = (await w.gw.gateway.store.db.selectFrom('approvals').select('id').execute()).length;
    const pushesBefore = w.push.messagesFor(alice.sub.id).length;
    const retry = await sdkLogin(tv(w, 'roku-retry'), 'alice', 'alice-pw');
    expect(retry.status).toBe(200);
    expect(await meStatus(w.gw, retry.token!)).toBe(200);
    // No new approval, no new push.
    expect((await w.gw.gateway.store.db.selectFrom('approvals').select('id').execute()).length).toBe(approvalsBefore);
    await w.gw.gateway.services.approvals.idle();
    expect(w.push.messagesFor(alice.sub.id).filter((m) => m.json?.type === 'approval').length).toBe(
      w.push.messagesFor(alice.sub.id).slice(0, pushesBefore).filter((m) => m.json?.type === 'approval').length,
    );
    expect(w.audit.findLast((e) => e.type === 'login.password.success' && e.deviceId === 'roku-retry')?.detail).toMatchObject({ method: 'phone_retry' });

    // Used once: a third attempt is held again.
    const third = sdkLogin(tv(w, 'roku-retry'), 'alice', 'alice-pw');
    const again = await held(w, alice, [id, other]);
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${again}/Deny`, { body: {} });
    expect((await third).status).toBe(401);
  });

  it('too late for a retry: past ApprovalSeconds after the approval, the device is held again', async () => {
    const login = sdkLogin(tv(w, 'roku-late'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    await advance(w, 25_000);
    expect((await login).status).toBe(401);
    expect((await tap(w, alice, id)).status).toBe(200);
    await advance(w, 121_000);
    const late = sdkLogin(tv(w, 'roku-late'), 'alice', 'alice-pw');
    const next = await held(w, alice, [id]);
    expect(next).not.toBe(id);
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${next}/Deny`, { body: {} });
    expect((await late).status).toBe(401);
  });

  it('a second login of the same device while one is held re-uses the approval (no second push) and the first hold ends', async () => {
    const first = sdkLogin(tv(w, 'roku-twice'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    await w.gw.gateway.services.approvals.idle();
    const pushes = w.push.messagesFor(alice.sub.id).filter((m) => m.json?.type === 'approval').length;
    const second = sdkLogin(tv(w, 'roku-twice'), 'alice', 'alice-pw');
    expect((await first).status).toBe(401); // Jellyfin revoked its token when the device logged in again
    await waiting(w, id);
    expect(w.gw.gateway.services.approvals.waiters.count(id)).toBe(1);
    expect(w.push.messagesFor(alice.sub.id).filter((m) => m.json?.type === 'approval').length).toBe(pushes);
    expect((await tap(w, alice, id)).status).toBe(200);
    const res = await second;
    expect(res.status).toBe(200);
    expect(await meStatus(w.gw, res.token!)).toBe(200);
  });
});

describe('assertions that must be refused', () => {
  it('a replayed assertion, an assertion for another approval, a passkey of another user, a stale counter', async () => {
    const loginA = sdkLogin(tv(w, 'roku-a'), 'alice', 'alice-pw');
    const a = await held(w, alice);
    const loginB = sdkLogin(tv(w, 'roku-b'), 'alice', 'alice-pw');
    const b = await held(w, alice, [a]);

    // An assertion over B's challenge, sent for A.
    const optsB = await call(w, 'POST', `/JellyfinSecurity/Approvals/${b}/Options`);
    const forB = alice.key.get(optsB.json as never);
    const crossed = await call(w, 'POST', `/JellyfinSecurity/Approvals/${a}/Approve`, { body: { response: forB } });
    expect(crossed.status).toBe(401);
    expect(crossed.json).toMatchObject({ error: 'invalid_assertion', attemptsLeft: 2 });

    // Bob's passkey over A's own challenge.
    const optsA = await call(w, 'POST', `/JellyfinSecurity/Approvals/${a}/Options`);
    const bobs = bob.key.assert(bob.key.credentials[0]!, (optsA.json as { challenge: string }).challenge, 1000);
    const foreign = await call(w, 'POST', `/JellyfinSecurity/Approvals/${a}/Approve`, { body: { response: bobs } });
    expect(foreign.status).toBe(401);
    expect(foreign.json).toMatchObject({ error: 'invalid_assertion', attemptsLeft: 1 });
    expect((await approvalRow(w, a)).status).toBe('pending');

    // A's own, properly: approved. Its replay: refused, nothing changes.
    const good = alice.key.get(optsA.json as never);
    expect((await call(w, 'POST', `/JellyfinSecurity/Approvals/${a}/Approve`, { body: { response: good } })).status).toBe(200);
    const replay = await call(w, 'POST', `/JellyfinSecurity/Approvals/${a}/Approve`, { body: { response: good } });
    expect(replay.status).toBe(409);
    expect(replay.json).toMatchObject({ error: 'approval_over' });
    expect((await loginA).status).toBe(200);

    // The assertion made earlier for B carries an older signature counter than A's: refused as a possible
    // clone (and audited). A fresh tap approves B — once.
    const stale = await call(w, 'POST', `/JellyfinSecurity/Approvals/${b}/Approve`, { body: { response: forB } });
    expect(stale.status).toBe(401);
    expect(w.audit.findLast((e) => e.type === 'approval.failure')?.detail).toMatchObject({ reason: 'counter_regression' });
    const fresh = await tap(w, alice, b);
    expect(fresh.status).toBe(200);
    expect((await loginB).status).toBe(200);
    expect((await tap(w, alice, b)).status).toBe(409);
    expect(types(w).filter((t) => t === 'approval.failure')).toHaveLength(3);
  });

  it('no user verification is refused; three refused assertions end the approval (denied) and revoke the held login', async () => {
    const login = sdkLogin(tv(w, 'roku-guess'), 'bob', 'bob-pw');
    const id = await held(w, bob);
    const lax = bob.key;
    lax.userVerified = false;
    try {
      for (const left of [2, 1, 0]) {
        const r = await tap(w, bob, id, 'Approve', { from: ATTACKER_IP });
        expect(r.status).toBe(401);
        expect(r.json).toMatchObject({ error: 'invalid_assertion', attemptsLeft: left });
      }
    } finally {
      lax.userVerified = true;
    }
    expect(await approvalRow(w, id)).toMatchObject({ status: 'denied', reason: 'too_many_failures' });
    expect((await login).status).toBe(401);
    expect((await tap(w, bob, id)).status).toBe(409);
  });

  it('bad input is a clear 4xx that changes nothing', async () => {
    expect((await call(w, 'GET', '/JellyfinSecurity/Approvals/nope')).json).toMatchObject({ error: 'unknown_approval' });
    expect((await call(w, 'GET', `/JellyfinSecurity/Approvals/${'A'.repeat(22)}`)).status).toBe(404);
    const login = sdkLogin(tv(w, 'roku-input'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    const bad = await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Approve`, { body: { response: { id: 'x' } } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'invalid_request' });
    const notJson = await raw(w.gw.url, `/JellyfinSecurity/Approvals/${id}/Approve`, { method: 'POST', headers: { host: `localhost:${w.gw.port}` }, body: '{', from: PHONE_IP });
    expect(notJson.status).toBe(400);
    expect((await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Deny`, { body: { extra: 1 } })).status).toBe(400);
    expect((await approvalRow(w, id)).status).toBe('pending');
    expect((await approvalRow(w, id)).failures).toBe(0);
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Deny`, { body: {} });
    expect((await login).status).toBe(401);
  });
});

describe('"This wasn\'t me"', () => {
  it('denies, revokes the held token, bans the requesting address, alerts the user and the admins', async () => {
    const api = tv(w, 'roku-stranger', ATTACKER_IP);
    const login = sdkLogin(api, 'alice', 'alice-pw');
    const id = await held(w, alice);
    const token = await tokenOf(id);

    const noProof = await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Report`, { body: {} });
    expect(noProof.status).toBe(400); // a report needs a passkey tap
    const reported = await tap(w, alice, id, 'Report');
    expect(reported.status, reported.text).toBe(200);
    expect(reported.json).toMatchObject({ status: 'reported' });
    const res = await login;
    expect(res.status).toBe(401);
    expect(w.jf.isTokenValid(token)).toBe(false);

    // The address is banned: the next request from it is refused before Jellyfin sees it.
    const seen = w.jf.loginAttempts;
    const again = await sdkLogin(tv(w, 'roku-stranger', ATTACKER_IP), 'alice', 'alice-pw');
    expect([403, 429]).toContain(again.status);
    expect(w.jf.loginAttempts).toBe(seen);
    expect(w.audit.find((e) => e.type === 'approval.reported')?.detail).toMatchObject({ banned: true });
    expect(w.audit.find((e) => e.type === 'guard.ban.imposed' && e.detail?.reason === 'approval_reported')).toBeDefined();

    // Alerts: the user's phone and the admin's phone get a notice.
    const mine = await w.push.nextMessage((m) => m.subscriberId === alice.sub.id && m.json?.type === 'notice' && m.json?.kind === 'approval_reported');
    expect(mine.json.title).toContain('reported');
    const admins = await w.push.nextMessage((m) => m.subscriberId === admin.sub.id && m.json?.type === 'notice' && m.json?.kind === 'approval_reported');
    expect(admins.json.body).toContain('banned');
    // The phone itself (another address) is not banned.
    expect((await call(w, 'GET', '/JellyfinSecurity/Push/Config', { from: PHONE_IP })).status).toBe(200);
    await w.gw.gateway.services.approvals.idle();
  });

  it('never bans the reporting phone’s own address (a household member on the same network)', async () => {
    const login = sdkLogin(tv(w, 'roku-home', PHONE_IP), 'bob', 'bob-pw');
    const id = await held(w, bob);
    expect((await tap(w, bob, id, 'Report', { from: PHONE_IP })).status).toBe(200);
    expect((await login).status).toBe(401);
    expect(w.audit.findLast((e) => e.type === 'approval.reported')?.detail).toMatchObject({ banned: false, banSkipped: 'same_address_as_phone' });
    expect((await call(w, 'GET', '/JellyfinSecurity/Push/Config', { from: PHONE_IP })).status).toBe(200);
  });
});

describe('state survives a restart', () => {
  it('stopping the gateway answers a held login (401) and revokes its token; the approval stays open', async () => {
    const login = sdkLogin(tv(w, 'roku-stop'), 'bob', 'bob-pw');
    const id = await held(w, bob);
    const token = await tokenOf(id);
    const stopped = w.restart();
    expect((await login).status).toBe(401);
    await stopped;
    expect(w.jf.isTokenValid(token)).toBe(false);
    expect((await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`)).json).toMatchObject({ status: 'pending' });
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Deny`, { body: {} });
  });

  it('a pending approval made before a restart is approved after it, and the device’s retry then succeeds', async () => {
    const login = sdkLogin(tv(w, 'roku-restart'), 'bob', 'bob-pw');
    const id = await held(w, bob);
    const first = await tokenOf(id);
    await advance(w, 25_000);
    expect((await login).status).toBe(401);
    await w.restart();
    const view = await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`);
    expect(view.json).toMatchObject({ status: 'pending' });
    expect((await tap(w, bob, id)).status).toBe(200);
    const retry = await sdkLogin(tv(w, 'roku-restart'), 'bob', 'bob-pw');
    expect(retry.status).toBe(200);
    expect(await meStatus(w.gw, retry.token!)).toBe(200);
    // And the held token of the first attempt is dead at Jellyfin.
    expect(w.jf.isTokenValid(first)).toBe(false);
  });
});
