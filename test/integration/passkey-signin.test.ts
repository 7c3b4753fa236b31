import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { ManualClock } from '../../server/clock.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { getUserApi, jellyfinClient } from '../helpers/sdk.ts';
import { SoftAuthenticator, type SoftCredential } from '../helpers/soft-authenticator.ts';
import { api, passwordLogin, tapAudit } from './factors-helpers.ts';
import { login, raw } from './guard-helpers.ts';

/**
 * Signing in with a passkey alone (issue 11 item 2), through the real gateway and the Jellyfin emulator,
 * with a software authenticator building real WebAuthn bytes: no user name, no password; the assertion
 * names the user, Jellyfin's session is minted through Quick Connect only after it verified. Requests come
 * from chosen loopback addresses (real TCP peers) with `Host: localhost` (a WebAuthn RP ID must be a name).
 */
let jf: Emulator;
let gw: TestGateway;
const clock = new ManualClock();
const audit: AuditEvent[] = [];
let paulKey: SoftAuthenticator;
let paulCred: SoftCredential;

const browser = (deviceId: string) => `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="${deviceId}", Version="10.11.11"`;
const minted = () => jf.requests.filter((r) => /quickconnect\/initiate/i.test(r.url)).length;

async function options(from: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const r = await raw(gw.url, '/JellyfinSecurity/Passkey/SignIn/Options', { method: 'POST', from, headers: { host: `localhost:${gw.port}` } });
  expect(r.status, r.text).toBe(200);
  return r.json as PublicKeyCredentialRequestOptionsJSON;
}

function signIn(from: string, response: AuthenticationResponseJSON, deviceId = 'new-browser') {
  return raw(gw.url, '/JellyfinSecurity/Passkey/SignIn', {
    method: 'POST',
    from,
    headers: { host: `localhost:${gw.port}`, authorization: browser(deviceId) },
    body: JSON.stringify({ response }),
  });
}

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'paul', password: 'paul-pw' },
      { name: 'rita', password: 'rita-pw' },
    ],
  });
  gw = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: jf.createApiKey('jellyguard'), MaxFailedAttempts: 5, LockoutDuration: 900 } });
  tapAudit(gw, audit);

  // paul registers a passkey in the Authenticator, as today.
  const setup = await passwordLogin(gw, 'paul', 'paul-pw', { deviceId: 'paul-setup' });
  const token = (setup.json as { AccessToken: string }).AccessToken;
  paulKey = new SoftAuthenticator(`http://localhost:${gw.port}`);
  const origin = `http://localhost:${gw.port}`;
  const opts = await api(gw, 'POST', '/JellyfinSecurity/Me/Passkeys/Options', { token, origin });
  expect(opts.status, opts.text).toBe(200);
  // From now on every new passkey is discoverable: it can name its user by itself.
  expect(opts.json.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
  const reg = await api(gw, 'POST', '/JellyfinSecurity/Me/Passkeys', { token, origin, body: { response: paulKey.create(opts.json), name: 'Paul’s laptop' } });
  expect(reg.status, reg.text).toBe(201);
  paulCred = paulKey.credentials[0]!;
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

describe('signing in with a passkey alone', () => {
  it('asks for no user: no credential list, user verification required', async () => {
    const o = await options('127.0.0.10');
    expect(o.allowCredentials ?? []).toEqual([]);
    expect(o.userVerification).toBe('required');
    expect(o.rpId).toBe('localhost');
  });

  it("gives a new browser Jellyfin's AuthenticationResult for its own device, and the token works through the gateway", async () => {
    const before = minted();
    const o = await options('127.0.0.11');
    expect(minted()).toBe(before); // the options mint nothing
    const r = await signIn('127.0.0.11', paulKey.get(o), 'paul-new-laptop');
    expect(r.status, r.text).toBe(200);
    const body = r.json as { AccessToken: string; User: { Id: string; Name: string }; ServerId: string; SessionInfo: { DeviceId: string } };
    expect(body.User).toMatchObject({ Id: jf.user('paul').id, Name: 'paul' });
    expect(body.ServerId).toBe(jf.serverId);
    expect(body.SessionInfo.DeviceId).toBe('paul-new-laptop');
    expect(minted()).toBe(before + 1);
    const sdk = jellyfinClient(gw.url, { client: 'Jellyfin Web', device: 'Chrome', deviceId: 'paul-new-laptop' });
    sdk.accessToken = body.AccessToken;
    expect((await getUserApi(sdk).getCurrentUser()).data.Name).toBe('paul');
    expect(gw.gateway.tokens.forUser(jf.user('paul').id).find((t) => t.deviceId === 'paul-new-laptop')).toMatchObject({ state: 'verified', method: 'passkey' });
    expect(audit).toContainEqual(expect.objectContaining({ type: 'login.passkey.success', userId: jf.user('paul').id, ip: '127.0.0.11' }));
  });

  it('refuses a replayed assertion, and mints nothing', async () => {
    const o = await options('127.0.0.12');
    const assertion = paulKey.get(o);
    expect((await signIn('127.0.0.12', assertion)).status).toBe(200);
    const before = minted();
    const again = await signIn('127.0.0.12', assertion, 'attacker');
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({ error: 'unknown_ceremony' });
    expect(minted()).toBe(before);
  });

  it('stores nothing for the options; refuses a made-up challenge and one past its five minutes', async () => {
    const rows = async () => (await gw.gateway.store.db.selectFrom('webauthn_ceremonies').select('id').execute()).length;
    const before = await rows();
    for (let i = 0; i < 5; i++) await options('127.0.0.20');
    expect(await rows()).toBe(before); // anyone may ask: nothing to flood
    const madeUp = await signIn('127.0.0.20', paulKey.get({ challenge: Buffer.alloc(40, 7).toString('base64url') } as PublicKeyCredentialRequestOptionsJSON));
    expect(madeUp.status).toBe(400);
    expect(madeUp.json).toMatchObject({ error: 'unknown_ceremony' });
    const old = await options('127.0.0.20');
    clock.advance(5 * 60_000 + 1);
    const late = await signIn('127.0.0.20', paulKey.get(old));
    expect(late.status).toBe(400);
    expect(late.json).toMatchObject({ error: 'unknown_ceremony' });
  });

  it('refuses a user handle naming someone else, a passkey registered nowhere, and one without user verification', async () => {
    const before = minted();
    // A good signature of paul's credential, but the handle says rita.
    const o1 = await options('127.0.0.13');
    const ritaHandle = Buffer.from(jf.user('rita').id, 'hex').toString('base64url');
    paulCred.counter += 1;
    const forged = paulKey.assert({ ...paulCred, userHandle: ritaHandle }, o1.challenge, paulCred.counter);
    const r1 = await signIn('127.0.0.13', forged);
    expect(r1.status).toBe(401);
    expect(r1.json).toMatchObject({ error: 'invalid_assertion' });
    expect(audit).toContainEqual(expect.objectContaining({ type: 'login.passkey.failure', detail: expect.objectContaining({ reason: 'wrong_user_handle' }) }));
    // A passkey nobody registered here.
    const stranger = new SoftAuthenticator(`http://localhost:${gw.port}`);
    stranger.create({ rp: { id: 'localhost', name: 'x' }, user: { id: ritaHandle, name: 'rita', displayName: 'rita' }, challenge: 'x', pubKeyCredParams: [] } as never);
    const r2 = await signIn('127.0.0.13', stranger.get(await options('127.0.0.13')));
    expect(r2.status).toBe(401);
    expect(r2.json).toMatchObject({ error: 'invalid_assertion' });
    // paul's passkey without user verification (no PIN, no biometrics): possession alone is not enough.
    paulKey.userVerified = false;
    const r3 = await signIn('127.0.0.13', paulKey.get(await options('127.0.0.13')));
    paulKey.userVerified = true;
    expect(r3.status).toBe(401);
    expect(minted()).toBe(before);
  });

  it('limits attempts per address: after MaxFailedAttempts even a good passkey waits', async () => {
    const from = '127.0.0.14';
    const before = minted();
    const junk = new SoftAuthenticator(`http://localhost:${gw.port}`);
    junk.create({ rp: { id: 'localhost', name: 'x' }, user: { id: 'AAAA', name: 'x', displayName: 'x' }, challenge: 'x', pubKeyCredParams: [] } as never);
    for (let i = 0; i < 5; i++) expect((await signIn(from, junk.get(await options(from)))).status).toBe(401);
    const o = await raw(gw.url, '/JellyfinSecurity/Passkey/SignIn/Options', { method: 'POST', from, headers: { host: `localhost:${gw.port}` } });
    // The address is banned now: everything it sends is refused, a good passkey included.
    expect(o.status).toBe(429);
    const good = await signIn(from, paulKey.get(await options('127.0.0.15')));
    expect(good.status).toBe(429);
    expect(minted()).toBe(before);
    // Another address of the household is not affected.
    expect((await signIn('127.0.0.16', paulKey.get(await options('127.0.0.16')))).status).toBe(200);
  });

  it('bad assertions naming a user lock that user at that address only, never the user everywhere', async () => {
    const from = '127.0.0.17';
    // Five refused assertions of paul's credential (no user verification) from one address.
    paulKey.userVerified = false;
    for (let i = 0; i < 5; i++) expect((await signIn(from, paulKey.get(await options(from)))).status).toBe(401);
    paulKey.userVerified = true;
    expect((await signIn(from, paulKey.get(await options('127.0.0.19')))).status).toBe(429);
    // paul's name is not locked: his password from elsewhere reaches Jellyfin and gets his second step.
    const pw = await login(gw.url, 'paul', 'paul-pw', { from: '127.0.0.18', deviceId: 'paul-tv' });
    expect(pw.json, pw.text).toMatchObject({ error: 'second_factor_required' });
    expect((await gw.gateway.services.guard.listBans()).filter((b) => b.scope === 'user')).toEqual([]);
  });

  it('a user name locked by guessing still admits its owner by passkey', async () => {
    // A guesser spreads five wrong passwords for paul over five addresses: the name is locked.
    for (let i = 0; i < 5; i++) await login(gw.url, 'paul', `guess-${i}`, { from: `127.0.0.${40 + i}`, deviceId: `bot-${i}` });
    const locked = await login(gw.url, 'paul', 'paul-pw', { from: '127.0.0.50', deviceId: 'paul-phone' });
    expect(locked.status).toBe(401); // the right password from a new device: refused like a wrong one
    const bans = (await gw.gateway.services.guard.listBans()).filter((b) => b.scope === 'user');
    expect(bans.length).toBeGreaterThan(0);
    // His passkey is the proof: he gets in from that same new device and address.
    const r = await signIn('127.0.0.50', paulKey.get(await options('127.0.0.50')), 'paul-phone');
    expect(r.status, r.text).toBe(200);
    expect((r.json as { User: { Name: string } }).User.Name).toBe('paul');
  });

  it('is off with passkeys', async () => {
    const off = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: gw.config.JellyfinApiKey, PasskeysEnabled: false } });
    try {
      const r = await raw(off.url, '/JellyfinSecurity/Passkey/SignIn/Options', { method: 'POST', headers: { host: `localhost:${off.port}` } });
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ error: 'method_unavailable' });
    } finally {
      await off.close();
    }
  });
});
