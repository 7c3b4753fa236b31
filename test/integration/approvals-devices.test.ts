import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MyDevicesSchema, PhoneInfoSchema, PushConfigSchema, SIGN_IN_EVENT_TYPES, signInActivity } from '../../shared/api/approvals.ts';
import type { AuditLogResponse } from '../../shared/api/guard.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { PHONE_IP, TV_IP, call, enrollPhone, held, passkeyGrant, passwordLogin, sdkLogin, startWorld, tap, tv, type Phone, type World } from './approvals-helpers.ts';
import { raw } from './guard-helpers.ts';
import { expectRefusedEverywhere } from './factors-helpers.ts';
import path from 'node:path';
import { cityRecord, writeMmdb } from '../helpers/mmdb.ts';
import { tempDir } from '../helpers/gateway.ts';

/**
 * My devices, sessions and activity (issue 4, items 6 and 7): what a user sees of everything that can
 * sign in as them, and revoking it — a Jellyfin session is revoked at Jellyfin (API key) AND in the gate.
 */
let w: World;
let alice: Phone;
let bob: Phone;
let tvToken = '';
let tvApproval = '';

beforeAll(async () => {
  // An offline GeoIP database that places the TV's (loopback) address in Paris: the approval shows it.
  const geo = writeMmdb(path.join(tempDir('jellyguard-geo-'), 'city.mmdb'), [{ cidr: `${TV_IP}/32`, data: cityRecord('Paris', 'FR', 48.8566, 2.3522, 10) }]);
  // StepUpLevel None: this file is about the admin endpoints themselves; their fresh proof is tested in stepup-admin.test.ts.
  w = await startWorld({ config: { GeoIPDatabasePath: geo, StepUpLevel: 'None' } });
  alice = await enrollPhone(w, 'alice', 'alice-pw');
  bob = await enrollPhone(w, 'bob', 'bob-pw');
  const login = sdkLogin(tv(w, 'roku-den'), 'alice', 'alice-pw');
  tvApproval = await held(w, alice);
  expect((await tap(w, alice, tvApproval)).status).toBe(200);
  tvToken = (await login).token!;
}, 60_000);

afterAll(async () => {
  await w?.close();
});

const asAlice = (method: string, path: string, body?: unknown, stepUp?: string) => call(w, method, path, { token: alice.token, deviceId: alice.deviceId, body, stepUp });

async function tvCanUse(token: string): Promise<number> {
  return (await raw(w.gw.url, '/Users/Me', { headers: { authorization: `MediaBrowser Client="Jellyfin Roku", Device="TV", DeviceId="roku-den", Version="1", Token="${token}"` }, from: TV_IP })).status;
}

describe('what the phone was shown', () => {
  it('the approximate place of the asking address, from the offline GeoIP database, in the page and the push', async () => {
    const view = await call(w, 'GET', `/JellyfinSecurity/Approvals/${tvApproval}`);
    expect(view.json.asking).toMatchObject({ ip: TV_IP, place: { city: 'Paris', country: 'FR' } });
    expect(JSON.parse(view.json.commitment.canonical).asking.place).toEqual({ city: 'Paris', country: 'FR' });
    const push = w.push.messagesFor(alice.sub.id).find((m) => m.json?.approvalId === tvApproval)!;
    expect(push.json.body).toContain('Paris, FR');
  });
});

describe('my devices', () => {
  it('lists phones, passkeys, trusted browsers, paired devices and sessions (client, device, address, last seen)', async () => {
    const r = await asAlice('GET', '/JellyfinSecurity/Me/Devices');
    expect(r.status, r.text).toBe(200);
    const d = MyDevicesSchema.parse(r.json);
    expect(d.phones).toHaveLength(1);
    expect(d.phones[0]).toMatchObject({ id: alice.info.id, name: 'alice’s phone', push: true, pushService: w.push.origin });
    expect(d.passkeys.map((p) => p.id)).toEqual([d.phones[0]!.passkeyId]);
    expect(d.trustedBrowsers).toEqual([]);
    expect(d.pairedDevices).toEqual([]);
    const app = d.sessions.find((s) => s.deviceId === alice.deviceId)!;
    const roku = d.sessions.find((s) => s.deviceId === 'roku-den')!;
    expect(app).toMatchObject({ client: 'Jellyguard Authenticator', ip: PHONE_IP, state: 'verified', current: true, method: 'password' });
    expect(roku).toMatchObject({ client: 'Jellyfin Roku', deviceName: 'Living room', ip: TV_IP, state: 'verified', current: false, method: 'phone' });
    // Nothing of bob's, and no secret: no token, no hash, no subscription.
    expect(r.text).not.toContain(tvToken);
    expect(r.text).not.toContain(bob.info.id);
    expect(r.text).not.toMatch(/p256dh|subscription_enc|token_hash|tokenHash/);
  });

  it('revoking a session: Jellyfin drops the token (API key) and the gate refuses it in every credential form', async () => {
    expect(await tvCanUse(tvToken)).toBe(200);
    const d = MyDevicesSchema.parse((await asAlice('GET', '/JellyfinSecurity/Me/Devices')).json);
    const roku = d.sessions.find((s) => s.deviceId === 'roku-den')!;
    // bob cannot revoke alice's session
    expect((await call(w, 'DELETE', `/JellyfinSecurity/Me/Sessions/${roku.id}`, { token: bob.token, deviceId: bob.deviceId })).status).toBe(404);
    const r = await asAlice('DELETE', `/JellyfinSecurity/Me/Sessions/${roku.id}`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ revokedAtJellyfin: true });
    expect(w.jf.isTokenValid(tvToken)).toBe(false);
    expect(await tvCanUse(tvToken)).toBe(401);
    expect(w.gw.gateway.tokens.lookup(tvToken)).toBeUndefined();
    await expectRefusedEverywhere(w.gw, tvToken);
    expect(w.audit.findLast((e) => e.type === 'session.revoked')).toMatchObject({ userId: expect.any(String), deviceId: 'roku-den', detail: { revokedAtJellyfin: true } });
    expect((await asAlice('DELETE', `/JellyfinSecurity/Me/Sessions/${roku.id}`)).status).toBe(404);
    expect((await asAlice('DELETE', '/JellyfinSecurity/Me/Sessions/nope')).status).toBe(404);
  });

  it('needs a verified session', async () => {
    expect((await call(w, 'GET', '/JellyfinSecurity/Me/Devices')).status).toBe(401);
    expect((await call(w, 'GET', '/JellyfinSecurity/Me/Phones')).status).toBe(401);
    expect((await call(w, 'GET', '/JellyfinSecurity/Me/Approvals')).status).toBe(401);
  });
});

describe('phones', () => {
  it('Push/Config gives the VAPID public key the app subscribes with', async () => {
    const c = PushConfigSchema.parse((await call(w, 'GET', '/JellyfinSecurity/Push/Config')).json);
    expect(c.enabled).toBe(true);
    expect(Buffer.from(c.publicKey, 'base64url')).toHaveLength(65);
  });

  it('rename; another user’s phone is not found; an enrollment with a bad passkey changes nothing', async () => {
    const r = await asAlice('PATCH', `/JellyfinSecurity/Me/Phones/${alice.info.id}`, { name: 'Pixel 9' });
    expect(r.status).toBe(200);
    expect(PhoneInfoSchema.parse(r.json).name).toBe('Pixel 9');
    expect((await asAlice('PATCH', `/JellyfinSecurity/Me/Phones/${bob.info.id}`, { name: 'mine now' })).status).toBe(404);
    expect((await asAlice('DELETE', `/JellyfinSecurity/Me/Phones/${bob.info.id}`)).status).toBe(404);
    expect((await asAlice('PATCH', `/JellyfinSecurity/Me/Phones/${alice.info.id}`, { name: '' })).status).toBe(400);

    const options = await asAlice('POST', '/JellyfinSecurity/Me/Phones/Options', undefined, await passkeyGrant(w, alice, 'AddPhone'));
    expect(options.json.authenticatorSelection).toMatchObject({ authenticatorAttachment: 'platform', userVerification: 'required' });
    const lax = new SoftAuthenticator(w.origin);
    lax.userVerified = false; // a platform authenticator that did not verify the user
    const sub = w.push.subscribe().subscription;
    const bad = await asAlice('POST', '/JellyfinSecurity/Me/Phones', { name: 'No UV', response: lax.create(options.json), subscription: sub });
    expect(bad.status).toBe(400);
    expect(((await asAlice('GET', '/JellyfinSecurity/Me/Phones')).json as unknown[]).length).toBe(1);
  });

  it('a phone without push (the browser could not subscribe) still enrolls, and approves from the app', async () => {
    const options = await asAlice('POST', '/JellyfinSecurity/Me/Phones/Options', undefined, await passkeyGrant(w, alice, 'AddPhone'));
    const key = new SoftAuthenticator(w.origin);
    const r = await asAlice('POST', '/JellyfinSecurity/Me/Phones', { name: 'iPad', response: key.create(options.json), subscription: null });
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ name: 'iPad', push: false, recoveryCodes: [] });
    const login = sdkLogin(tv(w, 'roku-ipad'), 'alice', 'alice-pw');
    const id = await held(w, alice);
    expect((await tap(w, alice, id, 'Approve', { key })).status).toBe(200);
    expect((await login).status).toBe(200);
    // Removing it removes its passkey too.
    const before = ((await asAlice('GET', '/JellyfinSecurity/Me')).json as { factors: { passkeys: unknown[] } }).factors.passkeys.length;
    expect((await asAlice('DELETE', `/JellyfinSecurity/Me/Phones/${r.json.id}`, undefined, await passkeyGrant(w, alice, 'RemovePhone', r.json.id))).status).toBe(204);
    expect(((await asAlice('GET', '/JellyfinSecurity/Me')).json as { factors: { passkeys: unknown[] } }).factors.passkeys.length).toBe(before - 1);
    expect(w.audit.findLast((e) => e.type === 'phone.removed')?.detail).toMatchObject({ name: 'iPad' });
  });

  it('the last phone of a user who must have a second factor cannot be removed', async () => {
    const adminLogin = await passwordLogin(w, 'admin', 'admin-pw', { deviceId: 'admin-web', from: '127.0.0.50' });
    expect(adminLogin.status).toBe(200);
    const adminToken = (adminLogin.json as { AccessToken: string }).AccessToken;
    const bobId = w.gw.gateway.tokens.lookup(bob.token)!.userId;
    const set = await call(w, 'PUT', `/JellyfinSecurity/Users/${bobId}`, { token: adminToken, deviceId: 'admin-web', client: 'Jellyfin Web', from: '127.0.0.50', body: { requireSecondFactor: true } });
    expect(set.status, set.text).toBe(200);
    const r = await call(w, 'DELETE', `/JellyfinSecurity/Me/Phones/${bob.info.id}`, { token: bob.token, deviceId: bob.deviceId });
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ error: 'factor_required' });
    expect(((await call(w, 'GET', '/JellyfinSecurity/Me/Phones', { token: bob.token, deviceId: bob.deviceId })).json as unknown[]).length).toBe(1);
  });
});

describe('activity', () => {
  it('Me/AuditLog with the sign-in filter gives the user’s own sign-ins: time, client, device, address, method, outcome', async () => {
    const q = new URLSearchParams({ type: SIGN_IN_EVENT_TYPES.join(','), limit: '200' });
    const r = await asAlice('GET', `/JellyfinSecurity/Me/AuditLog?${q}`);
    expect(r.status, r.text).toBe(200);
    const body = r.json as AuditLogResponse;
    const items = body.items.map(signInActivity);
    expect(items.every((i) => /^(login|approval)\./.test(i.type))).toBe(true);
    expect(body.items.every((i) => i.userId === body.items[0]!.userId)).toBe(true);
    const tvSignIn = items.find((i) => i.type === 'login.password.success' && i.deviceName === 'Living room');
    expect(tvSignIn).toMatchObject({ client: 'Jellyfin Roku', ip: TV_IP, method: 'phone', outcome: 'success' });
    expect(items.find((i) => i.type === 'approval.approved')).toMatchObject({ method: 'phone', outcome: 'success' });
    expect(items.find((i) => i.type === 'login.approval.held')).toMatchObject({ client: 'Jellyfin Roku', outcome: 'info' });
  });
});
