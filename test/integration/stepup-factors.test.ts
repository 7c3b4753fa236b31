import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCodeAt } from '../../server/factors/totp.ts';
import { STEP_UP_ACTIONS } from '../../shared/api/stepup.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { codeIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { getQuickConnectApi } from '@jellyfin/sdk/lib/utils/api/quick-connect-api.js';
import {
  ATTACKER_IP,
  PHONE_IP,
  call,
  enrollPhone,
  held,
  nextApproval,
  passkeyGrant,
  sdkLogin,
  startWorld,
  tap,
  tv,
  type Phone,
  type World,
} from './approvals-helpers.ts';
import { expectRefusedEverywhere } from './factors-helpers.ts';

/**
 * A thief holding only a TV's verified session token (the kind that sits for months on a living-room
 * device), from another address, tries to take over the account's second factors: every change and every
 * Quick Connect authorisation is refused; a thief who also knows a factor (a shoulder-surfed TOTP code)
 * gets one change through — and the owner's phone hears of it through the real push chain, and "This
 * wasn't me" revokes the thief's session, removes what it added and bans its address. Real HTTP against
 * the gateway, the Jellyfin emulator, a local Web Push service and a real SMTP server.
 */
let w: World;
let smtp: TestSmtp;
let alice: Phone;
let tvToken = '';
let aliceSecret = '';
let alicePasskeyId = '';

const TV_DEVICE = 'roku-living-room';
/** A stolen TV token, replayed from the thief's own machine (another address), as the TV it belongs to. */
const asTv = (token: string, deviceId: string) => (method: string, path: string, body?: unknown, stepUp?: string) =>
  call(w, method, path, { token, deviceId, client: 'Jellyfin Roku', from: ATTACKER_IP, body, stepUp });
const asThief = (method: string, path: string, body?: unknown, stepUp?: string) => asTv(tvToken, TV_DEVICE)(method, path, body, stepUp);

/** Another TV of alice's signs in (held, approved on her phone): a fresh token to steal. */
async function anotherTv(deviceId: string): Promise<string> {
  const login = sdkLogin(tv(w, deviceId), 'alice', 'alice-pw');
  expect((await tap(w, alice, await held(w, alice))).status).toBe(200);
  return (await login).token!;
}
const asAlice = (method: string, path: string, body?: unknown, stepUp?: string) =>
  call(w, method, path, { token: alice.token, deviceId: alice.deviceId, body, stepUp });
const totp = () => totpCodeAt(aliceSecret, w.clock.now());
const passkeyCount = async () => (await asAlice('GET', '/JellyfinSecurity/Me')).json.factors.passkeys.length as number;
const phoneCount = async () => ((await asAlice('GET', '/JellyfinSecurity/Me/Phones')).json as unknown[]).length;

beforeAll(async () => {
  smtp = await startSmtp();
  w = await startWorld({ config: { EmailOTPEnabled: true, SMTP: smtp.config() } });
  // alice makes her phone her key (her first factor: the password she just typed is enough).
  alice = await enrollPhone(w, 'alice', 'alice-pw');
  alicePasskeyId = alice.info.passkeyId;
  // Then an authenticator app and an e-mail address: changes her phone must confirm.
  const grant = await passkeyGrant(w, alice, 'AddTOTP');
  const begin = await asAlice('POST', '/JellyfinSecurity/Me/TOTP', {}, grant);
  expect(begin.status, begin.text).toBe(200);
  aliceSecret = begin.json.secret;
  const confirm = await asAlice('POST', '/JellyfinSecurity/Me/TOTP/Confirm', { code: await totp() });
  expect(confirm.status, confirm.text).toBe(200);
  // The recovery codes she saved with her phone stay valid: a second factor never replaces them.
  expect(confirm.json.recoveryCodes).toEqual([]);
  expect((await asAlice('GET', '/JellyfinSecurity/Me')).json.factors.recoveryCodesRemaining).toBe(10);
  w.clock.advance(30_000);
  const setEmail = await asAlice('PUT', '/JellyfinSecurity/Me/Email', { email: 'alice@example.test' }, await totp());
  expect(setEmail.status, setEmail.text).toBe(202);
  const mail = await smtp.nextMessage((m) => m.to.includes('alice@example.test'));
  expect((await asAlice('POST', '/JellyfinSecurity/Me/Email/Confirm', { code: codeIn(mail) })).status).toBe(200);
  // Each of those changes reached her phone (the real push chain), as every change does.
  expect((await nextApproval(w, alice, 'change')).json.body).toContain('An authenticator app was set up');
  expect((await nextApproval(w, alice, 'change')).json.body).toContain('The e-mail address was changed to alice@example.test');
  // The living-room TV signs in; alice approves it on her phone.
  const login = sdkLogin(tv(w, TV_DEVICE), 'alice', 'alice-pw');
  expect((await tap(w, alice, await held(w, alice))).status).toBe(200);
  tvToken = (await login).token!;
  expect(tvToken).toMatch(/^[0-9a-f]{32}$/);
}, 60_000);

afterAll(async () => {
  await w?.close();
  await smtp?.close();
});

describe('a stolen TV session cannot touch the account’s factors', () => {
  it('every factor change answers 401 step_up_required, naming factors alice already has — and changes nothing', async () => {
    const phonesBefore = await phoneCount();
    const passkeysBefore = await passkeyCount();
    const attempts: Array<[string, string, unknown]> = [
      ['POST', '/JellyfinSecurity/Me/Phones/Options', {}],
      ['DELETE', `/JellyfinSecurity/Me/Phones/${alice.info.id}`, undefined],
      ['POST', '/JellyfinSecurity/Me/Passkeys/Options', {}],
      ['DELETE', `/JellyfinSecurity/Me/Passkeys/${alicePasskeyId}`, undefined],
      ['DELETE', '/JellyfinSecurity/Me/TOTP', undefined],
      ['PUT', '/JellyfinSecurity/Me/Email', { email: 'thief@example.test' }],
      ['DELETE', '/JellyfinSecurity/Me/Email', undefined],
      ['POST', '/JellyfinSecurity/Me/RecoveryCodes', {}],
    ];
    for (const [method, path, body] of attempts) {
      const r = await asThief(method, path, body);
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(401);
      expect(r.json).toMatchObject({ error: 'step_up_required', methods: ['phone', 'passkey', 'totp', 'recovery'] });
      expect(STEP_UP_ACTIONS).toContain(r.json.action);
    }
    // A second authenticator app would replace hers: refused whatever the proof.
    expect((await asThief('POST', '/JellyfinSecurity/Me/TOTP', {})).status).toBe(409);
    expect(await phoneCount()).toBe(phonesBefore);
    expect(await passkeyCount()).toBe(passkeysBefore);
    const me = (await asAlice('GET', '/JellyfinSecurity/Me')).json;
    expect(me.factors.totp.enrolled).toBe(true);
    expect(me.factors.email.address).toBe('alice@example.test');
    // A removal grant must name what it removes (one given for one phone never removes another).
    const untargeted = await asThief('POST', '/JellyfinSecurity/StepUp/Passkey/Options', { action: 'RemovePhone' });
    expect(untargeted.status).toBe(400);
  });

  it('nor can it move where alice’s phone gets its notices: only the app on that phone can', async () => {
    const mine = w.push.subscribe();
    const moved = await asThief('PUT', `/JellyfinSecurity/Me/Phones/${alice.info.id}/Subscription`, { subscription: mine.subscription });
    expect(moved.status).toBe(403);
    expect(moved.json.error).toBe('not_this_phone');
    // The phone's own app re-subscribing at start still works (the same subscription).
    const again = await asAlice('PUT', `/JellyfinSecurity/Me/Phones/${alice.info.id}/Subscription`, { subscription: alice.sub.subscription });
    expect(again.status, again.text).toBe(200);
  });

  it('skipping the Options step gets nothing either: a registration needs a ceremony the thief never got', async () => {
    const key = new SoftAuthenticator(w.origin);
    const fakeOptions = { challenge: 'AAAAAAAAAAAAAAAAAAAAAA', rp: { id: 'localhost', name: 'x' }, user: { id: 'dGhpZWY', name: 'alice', displayName: 'alice' } };
    const phone = await asThief('POST', '/JellyfinSecurity/Me/Phones', { name: 'Thief', response: key.create(fakeOptions as never), subscription: null });
    expect(phone.status).toBe(400);
    const passkey = await asThief('POST', '/JellyfinSecurity/Me/Passkeys', { name: 'Thief', response: key.create(fakeOptions as never) });
    expect(passkey.status).toBe(400);
    expect(await phoneCount()).toBe(1);
  });

  it('the thief cannot prove anything: the password is no proof for an account with factors, and his own passkey is not alice’s', async () => {
    const pw = await asThief('POST', '/JellyfinSecurity/StepUp', { action: 'AddPhone', method: 'password', password: 'alice-pw' });
    expect(pw.status).toBe(400);
    expect(pw.json.error).toBe('method_unavailable');
    // A passkey assertion from a key alice never registered: refused, counted against the thief's
    // address and session — not against alice's name (she can still confirm with her own codes).
    const failuresOfAlice = () => w.gw.gateway.services.guard.failures('passkey', 'user', 'alice');
    const before = failuresOfAlice();
    const opts = await asThief('POST', '/JellyfinSecurity/StepUp/Passkey/Options', { action: 'AddPhone' });
    expect(opts.status, opts.text).toBe(200);
    const thiefKey = new SoftAuthenticator(w.origin);
    thiefKey.create({ challenge: 'AAAA', rp: { id: 'localhost', name: 'x' }, user: { id: 'dGhpZWY', name: 'alice', displayName: 'alice' } } as never);
    const bad = await asThief('POST', '/JellyfinSecurity/StepUp', { action: 'AddPhone', method: 'passkey', response: thiefKey.get(opts.json, thiefKey.credentials[0]) });
    expect(bad.status, bad.text).toBe(401);
    expect(bad.json.error).toBe('invalid_code');
    expect(failuresOfAlice()).toBe(before);
    expect(w.gw.gateway.services.guard.failures('passkey', 'address', ATTACKER_IP)).toBeGreaterThan(0);
    const lock = await w.gw.gateway.store.db.selectFrom('factor_user_failures').selectAll().execute();
    expect(lock).toEqual([]);
  });

  it('Quick Connect: the stolen session cannot sign a new device in', async () => {
    const newTv = tv(w, 'thief-stick', ATTACKER_IP);
    const { data } = await getQuickConnectApi(newTv).initiateQuickConnect();
    const r = await asThief('POST', `/QuickConnect/Authorize?code=${data.Code}`);
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: 'step_up_required', action: 'QuickConnectAuthorize', target: data.Code });
    const exchange = await call(w, 'POST', '/Users/AuthenticateWithQuickConnect', { body: { Secret: data.Secret }, from: ATTACKER_IP });
    expect(exchange.status).not.toBe(200);
  });

  it('asking alice’s phone to approve: the phone shows exactly what is asked, and alice denies', async () => {
    const r = await asThief('POST', '/JellyfinSecurity/StepUp', { action: 'RemovePhone', target: alice.info.id, method: 'phone' });
    expect(r.status, r.text).toBe(200);
    expect(r.json.status).toBe('pending');
    const push = await nextApproval(w, alice, 'stepup');
    expect(push.json.body).toContain('Remove a phone from your account: “alice’s phone”');
    expect(push.json.body).toContain('Living room');
    expect((await call(w, 'POST', `/JellyfinSecurity/Approvals/${push.json.approvalId}/Deny`, { body: {} })).status).toBe(200);
    await w.gw.gateway.services.approvals.idle();
    const spent = await asThief('DELETE', `/JellyfinSecurity/Me/Phones/${alice.info.id}`, undefined, r.json.grant);
    expect(spent.status).toBe(403);
    expect(spent.json.error).toBe('step_up_denied');
    expect(await phoneCount()).toBe(1);
  });

  it('wrong codes and forged grants land on the thief’s session, never on alice: at the limit the session is signed out', async () => {
    const token = await anotherTv('roku-kitchen');
    const kitchen = asTv(token, 'roku-kitchen');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const wrong = (await totp()) === '000000' ? '111111' : `00000${i}`;
      statuses.push((await kitchen('POST', '/JellyfinSecurity/StepUp', { action: 'AddPhone', method: 'totp', code: wrong })).status);
    }
    for (let i = 0; i < 4; i++) {
      statuses.push((await kitchen('DELETE', `/JellyfinSecurity/Me/Phones/${alice.info.id}`, undefined, Buffer.alloc(32, i + 1).toString('base64url'))).status);
    }
    // 3 wrong codes (401) and 2 forged grants (403): the fifth refused proof signs the session out.
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 403, 403]);
    expect(statuses.slice(5).every((s) => s === 401 || s === 429)).toBe(true);
    expect(w.gw.gateway.tokens.lookup(token)).toBeUndefined();
    expect(w.audit.some((e) => e.type === 'session.revoked' && e.deviceId === 'roku-kitchen' && e.detail?.reason === 'too_many_failed_confirmations')).toBe(true);
    // Nothing of it locks alice: not her name, not her codes.
    expect(w.gw.gateway.services.guard.failures('totp', 'user', 'alice')).toBe(0);
    expect(await w.gw.gateway.store.db.selectFrom('factor_user_failures').selectAll().execute()).toEqual([]);
    w.clock.advance(30_000);
    const g = await asAlice('POST', '/JellyfinSecurity/StepUp', { action: 'RegenerateRecoveryCodes', method: 'totp', code: await totp() });
    expect(g.status, g.text).toBe(200);
    w.clock.advance(16 * 60_000);
    await w.gw.gateway.services.guard.liftAll({ userId: 'test', ip: '127.0.0.1' });
  });

  it('"This wasn’t me" on a step-up the thief asked the phone for signs that session out', async () => {
    const token = await anotherTv('roku-garage');
    const garage = asTv(token, 'roku-garage');
    const r = await garage('POST', '/JellyfinSecurity/StepUp', { action: 'AddPasskey', method: 'phone' });
    expect(r.status, r.text).toBe(200);
    const push = await nextApproval(w, alice, 'stepup');
    expect((await tap(w, alice, push.json.approvalId, 'Report', { from: PHONE_IP })).status).toBe(200);
    await w.gw.gateway.services.approvals.idle();
    expect(w.gw.gateway.tokens.lookup(token)).toBeUndefined();
    expect((await garage('GET', '/JellyfinSecurity/Me')).status).not.toBe(200);
    w.clock.advance(16 * 60_000);
    await w.gw.gateway.services.guard.liftAll({ userId: 'test', ip: '127.0.0.1' });
  });
});

describe('a thief who also knows a factor is found out', () => {
  it('passkeys added with stolen TOTP codes reach alice’s phone and e-mail; they cannot vouch for each other; "This wasn’t me" undoes them all', async () => {
    const addPasskey = async (name: string): Promise<{ id: string; key: SoftAuthenticator }> => {
      w.clock.advance(30_000);
      const opts = await asThief('POST', '/JellyfinSecurity/Me/Passkeys/Options', {}, await totp());
      expect(opts.status, opts.text).toBe(200);
      const key = new SoftAuthenticator(w.origin);
      const reg = await asThief('POST', '/JellyfinSecurity/Me/Passkeys', { name, response: key.create(opts.json) });
      expect(reg.status, reg.text).toBe(201);
      return { id: reg.json.id, key };
    };
    const a = await addPasskey('Totally alice');
    // One proof, one addition: the next one asks again.
    expect((await asThief('POST', '/JellyfinSecurity/Me/Passkeys/Options', {})).status).toBe(401);
    const b = await addPasskey('Also alice');

    // The phone hears of each through the real push chain (VAPID checked, payload decrypted).
    const notice = await nextApproval(w, alice, 'change');
    expect(notice.json.title).toMatch(/keys changed/);
    expect(notice.json.body).toContain('A passkey “Totally alice” was added');
    expect(notice.json.body).toContain(ATTACKER_IP);
    expect((await nextApproval(w, alice, 'change')).json.body).toContain('A passkey “Also alice” was added');
    // And the confirmed e-mail address.
    const mail = await smtp.nextMessage((m) => m.to.includes('alice@example.test') && /keys of alice changed/.test(m.subject));
    expect(mail.text).toContain(ATTACKER_IP);
    expect(mail.text).not.toMatch(/[0-9a-f]{32}/); // no token in it
    // The audit log knows which session and address did it.
    expect(w.audit.findLast((e) => e.type === 'factor.change.notified')).toMatchObject({ ip: ATTACKER_IP, deviceId: TV_DEVICE, detail: { change: 'AddPasskey', proof: 'totp' } });

    // The session that made the change does not see the notice among alice's requests; her phone does.
    const listed = await asThief('GET', '/JellyfinSecurity/Me/Approvals');
    expect(listed.json.items.map((i: { id: string }) => i.id)).not.toContain(notice.json.approvalId);
    expect((await asAlice('GET', '/JellyfinSecurity/Me/Approvals')).json.items.map((i: { id: string }) => i.id)).toContain(notice.json.approvalId);
    // Nor does the id alone dismiss it.
    expect((await call(w, 'POST', `/JellyfinSecurity/Approvals/${notice.json.approvalId}/Deny`, { body: {}, from: ATTACKER_IP })).status).toBe(409);
    // Neither new key can say "It was me" — not for itself, not for the other.
    for (const key of [a.key, b.key]) {
      const o = await call(w, 'POST', `/JellyfinSecurity/Approvals/${notice.json.approvalId}/Options`, { from: ATTACKER_IP });
      const forged = await call(w, 'POST', `/JellyfinSecurity/Approvals/${notice.json.approvalId}/Approve`, { from: ATTACKER_IP, body: { response: key.get(o.json, key.credentials[0]) } });
      expect(forged.status).toBe(401);
    }

    // alice answers "This wasn't me" with her phone's passkey.
    expect((await tap(w, alice, notice.json.approvalId, 'Report', { from: PHONE_IP })).status).toBe(200);
    await w.gw.gateway.services.approvals.idle();
    expect(w.audit.findLast((e) => e.type === 'factor.change.reverted' && e.detail?.change === 'AddPasskey' && e.detail?.sessionRevoked === true)).toBeDefined();
    // The session is gone everywhere, both passkeys are gone, the address is banned.
    await expectRefusedEverywhere(w.gw, tvToken);
    const mine = (await asAlice('GET', '/JellyfinSecurity/Me')).json.factors.passkeys.map((p: { id: string }) => p.id);
    expect(mine).not.toContain(a.id);
    expect(mine).not.toContain(b.id);
    expect(mine).toContain(alicePasskeyId);
    expect((await call(w, 'GET', '/JellyfinSecurity/Push/Config', { from: ATTACKER_IP })).status).toBe(429);
  });

  it('"It was me" on a change alice made herself just closes the notice', async () => {
    // On her only phone, "approve on my other phone" is not offered: there is none.
    const asked = await asAlice('POST', '/JellyfinSecurity/Me/RecoveryCodes', {});
    expect(asked.status).toBe(401);
    expect(asked.json.methods).toEqual(['passkey', 'totp', 'recovery']);
    w.clock.advance(30_000);
    const r = await asAlice('POST', '/JellyfinSecurity/Me/RecoveryCodes', {}, await totp());
    expect(r.status, r.text).toBe(200);
    const notice = await nextApproval(w, alice, 'change');
    expect(notice.json.body).toContain('New recovery codes were made');
    expect((await tap(w, alice, notice.json.approvalId, 'Approve')).status).toBe(200);
    await w.gw.gateway.services.approvals.idle();
    expect(w.audit.findLast((e) => e.type === 'factor.change.confirmed')).toMatchObject({ detail: { change: 'RegenerateRecoveryCodes' } });
    // The new codes still work (nothing was undone).
    expect((await asAlice('GET', '/JellyfinSecurity/Me')).json.factors.recoveryCodesRemaining).toBe(10);
  });

  it('removing the e-mail address tells that address', async () => {
    w.clock.advance(30_000);
    const r = await asAlice('DELETE', '/JellyfinSecurity/Me/Email', undefined, await totp());
    expect(r.status, r.text).toBe(204);
    const mail = await smtp.nextMessage((m) => m.to.includes('alice@example.test') && /address was removed/.test(m.text));
    expect(mail.subject).toMatch(/keys of alice changed/);
  });
});
