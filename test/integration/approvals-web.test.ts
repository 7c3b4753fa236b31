import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SecondFactorRequiredSchema } from '../../shared/api/factors.ts';
import { LoginApprovalStartedSchema, ApprovalViewSchema } from '../../shared/api/approvals.ts';
import { heldToken } from './factors-helpers.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import {
  PHONE_IP,
  WEB_IP,
  advance,
  approvalRow,
  call,
  enrollPhone,
  freshBudget,
  nextApproval,
  passwordLogin,
  startWorld,
  tap,
  types,
  waiting,
  type Phone,
  type World,
} from './approvals-helpers.ts';
import { raw } from './guard-helpers.ts';

/**
 * Login by phone for the web (issue 4, items 3, 4, 7): the challenge of a browser login offers "phone";
 * the login page starts the approval, shows 2 digits and long-polls; the phone offers 3 numbers and
 * approves with a passkey tap; the page receives Jellyfin's AuthenticationResult. The Authenticator
 * itself signs in the same way (Client "Jellyguard Authenticator").
 */
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

async function webChallenge(deviceId: string, opts: { client?: string; from?: string; user?: string; pw?: string } = {}) {
  const r = await passwordLogin(w, opts.user ?? 'alice', opts.pw ?? 'alice-pw', { deviceId, client: opts.client ?? 'Jellyfin Web', from: opts.from ?? WEB_IP });
  expect(r.status, r.text).toBe(401);
  return SecondFactorRequiredSchema.parse(r.json);
}

const start = (challengeId: string, from = WEB_IP) => call(w, 'POST', '/JellyfinSecurity/Approvals/Login', { from, body: { challengeId } });
const status = (challengeId: string, waitSeconds = 0, from = WEB_IP, trustBrowser?: boolean) =>
  call(w, 'POST', '/JellyfinSecurity/Approvals/Login/Status', { from, body: { challengeId, waitSeconds, ...(trustBrowser ? { trustBrowser } : {}) } });

async function meStatus(token: string): Promise<number> {
  const r = await raw(w.gw.url, '/Users/Me', { headers: { authorization: `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="probe", Version="10.11.11", Token="${token}"` }, from: WEB_IP });
  return r.status;
}

describe('approve on my phone, from the login page', () => {
  it('offers "phone" first; shows 2 digits; the phone picks the matching one; the page receives the AuthenticationResult', async () => {
    const challenge = await webChallenge('web-chrome-1');
    expect(challenge.methods[0]).toBe('phone');
    expect(challenge.methods).toContain('passkey'); // the phone's passkey is a passkey of the user too

    const started = await start(challenge.challengeId);
    expect(started.status, started.text).toBe(200);
    const s = LoginApprovalStartedSchema.parse(started.json);
    expect(s).toMatchObject({ status: 'pending', pushed: true, pushSkipped: null, phones: 1 });
    const push = await nextApproval(w, alice);
    const id = push.json.approvalId;
    expect(push.json.kind).toBe('login');

    // Starting again returns the same approval and number; no new push.
    const again = await start(challenge.challengeId);
    expect(again.json).toMatchObject({ number: s.number, pushed: true });
    await w.gw.gateway.services.approvals.idle();
    expect(w.push.messagesFor(alice.sub.id).filter((m) => m.json?.approvalId === id)).toHaveLength(1);

    expect((await status(challenge.challengeId)).json).toEqual({ status: 'pending', number: s.number, expiresAt: s.expiresAt });

    // The phone's page: three numbers, one of them the screen's.
    const view = ApprovalViewSchema.parse((await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`)).json);
    expect(view.choices).toHaveLength(3);
    expect(view.choices).toContain(s.number);
    expect(view.asking).toMatchObject({ client: 'Jellyfin Web', deviceId: 'web-chrome-1', ip: WEB_IP });

    // The number is required.
    const noNumber = await tap(w, alice, id);
    expect(noNumber.status).toBe(400);
    expect(noNumber.json).toMatchObject({ error: 'number_required' });
    expect((await approvalRow(w, id)).status).toBe('pending');

    // The page long-polls; the phone approves meanwhile; the poll answers with Jellyfin's own body.
    const polling = status(challenge.challengeId, 25);
    await waiting(w, id);
    const approved = await tap(w, alice, id, 'Approve', { number: s.number });
    expect(approved.status, approved.text).toBe(200);
    const released = await polling;
    expect(released.status, released.text).toBe(200);
    const result = released.json as { AccessToken: string; User: { Name: string }; SessionInfo: { DeviceId: string } };
    expect(result.User.Name).toBe('alice');
    expect(result.SessionInfo.DeviceId).toBe('web-chrome-1');
    expect(await meStatus(result.AccessToken)).toBe(200);
    expect(w.gw.gateway.tokens.lookup(result.AccessToken)).toMatchObject({ state: 'verified', method: 'phone' });
    expect(w.audit.findLast((e) => e.type === 'login.challenge.passed')?.detail).toMatchObject({ method: 'phone' });

    // Released once.
    const twice = await status(challenge.challengeId);
    expect(twice.status).toBe(410);
  });

  it('a wrong number ends the approval and the sign-in, counts as an approval failure, and revokes the token', async () => {
    const challenge = await webChallenge('web-chrome-2');
    const s = LoginApprovalStartedSchema.parse((await start(challenge.challengeId)).json);
    const id = (await nextApproval(w, alice)).json.approvalId;
    const token = await heldToken(w.gw, challenge.challengeId);
    const view = ApprovalViewSchema.parse((await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`)).json);
    const wrong = view.choices!.find((c) => c !== s.number)!;
    const before = w.gw.gateway.services.guard.failures('approval', 'address', WEB_IP);
    const r = await tap(w, alice, id, 'Approve', { number: wrong });
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ error: 'wrong_number' });
    expect(await approvalRow(w, id)).toMatchObject({ status: 'denied', reason: 'wrong_number' });
    expect(w.gw.gateway.services.guard.failures('approval', 'address', WEB_IP)).toBe(before + 1);
    expect((await status(challenge.challengeId)).json).toMatchObject({ error: 'approval_denied' });
    expect(w.jf.isTokenValid(token)).toBe(false);
    // The right number afterwards changes nothing.
    expect((await tap(w, alice, id, 'Approve', { number: s.number })).status).toBe(409);
    // Nor can another method finish the sign-in.
    expect((await call(w, 'POST', '/JellyfinSecurity/VerifyPasskey/Options', { from: WEB_IP, body: { challengeId: challenge.challengeId } })).status).toBe(410);
  });

  it('expiry: the approval ends, the sign-in does not (another approval, with a new number, or another method)', async () => {
    const challenge = await webChallenge('web-chrome-3');
    const first = LoginApprovalStartedSchema.parse((await start(challenge.challengeId)).json);
    const id = (await nextApproval(w, alice)).json.approvalId;
    await advance(w, 120_000);
    expect((await approvalRow(w, id)).status).toBe('expired');
    expect((await status(challenge.challengeId)).json).toMatchObject({ error: 'approval_expired' });
    const second = await start(challenge.challengeId);
    expect(second.status).toBe(200);
    const s2 = LoginApprovalStartedSchema.parse(second.json);
    expect(s2.expiresAt).not.toBe(first.expiresAt);
    const id2 = (await nextApproval(w, alice)).json.approvalId;
    expect(id2).not.toBe(id);
    expect((await tap(w, alice, id2, 'Approve', { number: s2.number })).status).toBe(200);
    expect((await status(challenge.challengeId)).status).toBe(200);
  });

  it('a long poll ends at its deadline (on the clock) with 202', async () => {
    const challenge = await webChallenge('web-chrome-4');
    await start(challenge.challengeId);
    const id = (await nextApproval(w, alice)).json.approvalId;
    const polling = status(challenge.challengeId, 5);
    await waiting(w, id);
    await advance(w, 5_000);
    const r = await polling;
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ status: 'pending' });
    await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Deny`, { body: {} });
    expect((await status(challenge.challengeId)).json).toMatchObject({ error: 'approval_denied' });
  });

  it('trust this browser: the released answer sets the trusted-browser cookie', async () => {
    const challenge = await webChallenge('web-chrome-5');
    const s = LoginApprovalStartedSchema.parse((await start(challenge.challengeId)).json);
    const id = (await nextApproval(w, alice)).json.approvalId;
    expect((await tap(w, alice, id, 'Approve', { number: s.number })).status).toBe(200);
    const r = await status(challenge.challengeId, 0, WEB_IP, true);
    expect(r.status).toBe(200);
    expect(String(r.headers['set-cookie'])).toMatch(/HttpOnly/i);
    expect(types(w)).toContain('trusted_browser.created');
  });

  it('bad input and unknown sign-ins are clear 4xx', async () => {
    expect((await start('not-a-challenge')).status).toBe(400);
    expect((await start('A'.repeat(22))).json).toMatchObject({ error: 'unknown_challenge' });
    expect((await status('A'.repeat(22))).status).toBe(404);
    const challenge = await webChallenge('web-chrome-6');
    expect((await status(challenge.challengeId)).json).toMatchObject({ error: 'no_approval' });
    expect((await call(w, 'POST', '/JellyfinSecurity/Approvals/Login/Status', { from: WEB_IP, body: { challengeId: challenge.challengeId, waitSeconds: 26 } })).status).toBe(400);
  });
});

describe('the Authenticator signs in with the same policy', () => {
  it('a second phone of alice: password, then approval from the phone already enrolled; the app keeps its token', async () => {
    const challenge = await webChallenge('jga-alice-tablet', { client: 'Jellyguard Authenticator', from: '127.0.0.21' });
    expect(challenge.methods[0]).toBe('phone');
    const s = LoginApprovalStartedSchema.parse((await start(challenge.challengeId, '127.0.0.21')).json);
    const id = (await nextApproval(w, alice)).json.approvalId;
    expect((await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`)).json).toMatchObject({ asking: { client: 'Jellyguard Authenticator', deviceId: 'jga-alice-tablet' } });
    expect((await tap(w, alice, id, 'Approve', { number: s.number, from: PHONE_IP })).status).toBe(200);
    const r = await status(challenge.challengeId, 0, '127.0.0.21');
    expect(r.status).toBe(200);
    const token = (r.json as { AccessToken: string }).AccessToken;
    const mine = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token, deviceId: 'jga-alice-tablet', from: '127.0.0.21' });
    expect(mine.status).toBe(200);
    expect(mine.json).toEqual({ items: [], accountHeld: false });
  });

  it('a user whose only factor is TOTP gets no "phone" method, and the login page cannot start one', async () => {
    const login = await passwordLogin(w, 'bob', 'bob-pw', { deviceId: 'bob-web', from: WEB_IP });
    expect(login.status).toBe(200);
    const token = (login.json as { AccessToken: string }).AccessToken;
    const enrollment = await call(w, 'POST', '/JellyfinSecurity/Me/TOTP', { token, deviceId: 'bob-web', client: 'Jellyfin Web', from: WEB_IP });
    const code = await totpCodeAt(enrollment.json.secret, w.clock.now());
    expect((await call(w, 'POST', '/JellyfinSecurity/Me/TOTP/Confirm', { token, deviceId: 'bob-web', client: 'Jellyfin Web', from: WEB_IP, body: { code } })).status).toBe(200);
    const challenge = await webChallenge('bob-web-2', { user: 'bob', pw: 'bob-pw' });
    expect(challenge.methods).not.toContain('phone');
    const r = await start(challenge.challengeId);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: 'method_unavailable' });
  });
});
