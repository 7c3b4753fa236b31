import type { Notice } from '../../server/guard/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { getUserApi, jellyfinClient, sdkLogin } from '../helpers/sdk.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { api, code, tapAudit, expectChallenge, expectRefusedEverywhere, heldToken, passwordLogin } from './factors-helpers.ts';

/**
 * Policy around the challenge: admin overview and recovery (the seed's Users endpoints), enforcement
 * with enrollment at first login, TOTP appended to the password (opt-in), BaseUrl, and the
 * self-service rules.
 */

async function enrollTotp(gw: TestGateway, token: string): Promise<{ secret: string; recoveryCodes: string[] }> {
  const e = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP', { token });
  expect(e.status, e.text).toBe(200);
  const c = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP/Confirm', { token, body: { code: await code(e.json.secret, gw) } });
  expect(c.status, c.text).toBe(200);
  return { secret: e.json.secret, recoveryCodes: c.json.recoveryCodes };
}

async function login200(gw: TestGateway, user: string, pw: string, deviceId: string, baseUrl = ''): Promise<string> {
  const a = await passwordLogin(gw, user, pw, { deviceId, baseUrl });
  expect(a.status, a.text).toBe(200);
  return (a.json as { AccessToken: string }).AccessToken;
}

describe('admin endpoints', () => {
  let jf: Emulator;
  let gw: TestGateway;
  const clock = new ManualClock();
  const audit: AuditEvent[] = [];
  let adminToken = '';
  let aliceToken = '';
  let alice = { secret: '', recoveryCodes: [] as string[] };
  /** What the users' phones and e-mail were told (the guard's notifiers). */
  const notices: Array<{ userId: string; notice: Notice }> = [];

  beforeAll(async () => {
    jf = await startEmulator({
      users: [
        { name: 'admin', password: 'admin-pw', isAdministrator: true },
        { name: 'alice', password: 'alice-pw' },
        { name: 'bob', password: 'bob-pw' },
      ],
    });
    // StepUpLevel None: this file is about the admin endpoints themselves; their fresh proof is tested in stepup-admin.test.ts.
    gw = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: jf.createApiKey('jellyguard'), StepUpLevel: 'None' } });
    tapAudit(gw, audit);
    gw.gateway.services.guard.addNotifier({ notifyUser: (userId, notice) => notices.push({ userId, notice }), alertAdmins: () => {} });
    adminToken = await login200(gw, 'admin', 'admin-pw', 'admin-web');
    aliceToken = await login200(gw, 'alice', 'alice-pw', 'alice-web');
    alice = await enrollTotp(gw, aliceToken);
  });
  afterAll(async () => {
    await gw?.close();
    await jf?.close();
  });

  it('answer 401 without a verified token and 403 for a non-admin, in any credential form', async () => {
    for (const [method, path] of [
      ['GET', '/JellyfinSecurity/Users'],
      ['GET', `/JellyfinSecurity/Users/${jf.user('alice').id}`],
      ['PUT', `/JellyfinSecurity/Users/${jf.user('alice').id}`],
      ['POST', `/JellyfinSecurity/Users/${jf.user('alice').id}/ResetTOTP`],
    ] as const) {
      const none = await api(gw, method, path, { body: method === 'GET' ? undefined : {} });
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(none.json.error).toBe('unauthenticated');
      const user = await api(gw, method, path, { token: aliceToken, deviceId: 'alice-web', body: method === 'GET' ? undefined : {} });
      expect(user.status, `${method} ${path}`).toBe(403);
      const unknown = await api(gw, method, path, { token: 'f'.repeat(32), body: method === 'GET' ? undefined : {} });
      expect(unknown.status).toBe(401);
    }
    // The admin's token in the legacy header and in the query works too.
    const legacy = await fetch(`${gw.url}/JellyfinSecurity/Users`, { headers: { 'x-emby-token': adminToken } });
    expect(legacy.status).toBe(200);
    const query = await fetch(`${gw.url}/JellyfinSecurity/Users?api_key=${adminToken}`);
    expect(query.status).toBe(200);
  });

  it('list every user with the factors enrolled (and never a secret)', async () => {
    const r = await api(gw, 'GET', '/JellyfinSecurity/Users', { token: adminToken, deviceId: 'admin-web' });
    expect(r.status).toBe(200);
    const byName = Object.fromEntries((r.json as Array<{ name: string }>).map((u) => [u.name, u]));
    expect(Object.keys(byName).sort()).toEqual(['admin', 'alice', 'bob']); // bob never logged in: from Jellyfin
    expect(byName.alice).toMatchObject({
      id: jf.user('alice').id,
      isAdmin: false,
      requireSecondFactor: null,
      secondFactorRequired: true,
      factors: { totp: true, passkeys: 0, email: null, recoveryCodesRemaining: 10 },
      trustedBrowsers: 0,
    });
    expect(byName.admin).toMatchObject({ isAdmin: true, secondFactorRequired: false });
    expect(r.text).not.toContain(alice.secret);
  });

  it('read and change one user’s settings; bad input changes nothing', async () => {
    const bob = jf.user('bob').id;
    const path = `/JellyfinSecurity/Users/${bob}`;
    const dashed = `${bob.slice(0, 8)}-${bob.slice(8, 12)}-${bob.slice(12, 16)}-${bob.slice(16, 20)}-${bob.slice(20)}`;
    expect((await api(gw, 'GET', `/JellyfinSecurity/Users/${dashed.toUpperCase()}`, { token: adminToken, deviceId: 'admin-web' })).json.id).toBe(bob);
    for (const body of [{ requireSecondFactor: 'yes' }, { email: 'not-an-address' }, { unknownKey: 1 }]) {
      const bad = await api(gw, 'PUT', path, { token: adminToken, deviceId: 'admin-web', body });
      expect(bad.status).toBe(400);
    }
    expect((await api(gw, 'GET', '/JellyfinSecurity/Users/not-a-guid', { token: adminToken, deviceId: 'admin-web' })).status).toBe(400);
    expect((await api(gw, 'GET', `/JellyfinSecurity/Users/${'0'.repeat(32)}`, { token: adminToken, deviceId: 'admin-web' })).status).toBe(404);
    const put = await api(gw, 'PUT', path, { token: adminToken, deviceId: 'admin-web', body: { requireSecondFactor: true } });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toMatchObject({ requireSecondFactor: true, secondFactorRequired: true });
    expect(audit.some((e) => e.type === 'factor.settings.changed' && e.userName === 'bob')).toBe(true);

    // bob must now enroll at his next login.
    const c = expectChallenge(await passwordLogin(gw, 'bob', 'bob-pw', { deviceId: 'bob-web' }), ['enroll']);
    expect(c.enrollMethods).toEqual(['totp', 'passkey']);
    // Back to the default: no factor, none required.
    await api(gw, 'PUT', path, { token: adminToken, deviceId: 'admin-web', body: { requireSecondFactor: null } });
    expect((await passwordLogin(gw, 'bob', 'bob-pw', { deviceId: 'bob-web' })).status).toBe(200);
  });

  it('ResetTOTP resets every second factor: the user signs in with the password and enrolls again', async () => {
    expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'alice-2' }));
    const id = jf.user('alice').id;
    const r = await api(gw, 'POST', `/JellyfinSecurity/Users/${id}/ResetTOTP`, { token: adminToken, deviceId: 'admin-web' });
    expect(r.status, r.text).toBe(200);
    expect(r.json.factors).toEqual({ totp: false, passkeys: 0, email: null, recoveryCodesRemaining: 0 });
    const reset = audit.find((e) => e.type === 'factor.reset');
    expect(reset).toMatchObject({ userId: id, userName: 'alice', outcome: 'success' });
    expect(reset?.detail).toMatchObject({ by: jf.user('admin').id });
    // alice hears of it (her phones and the address she had).
    expect(notices.some((n) => n.userId === id && /were reset by the administrator admin/.test(n.notice.text))).toBe(true);
    const token = await login200(gw, 'alice', 'alice-pw', 'alice-3');
    expect(gw.gateway.tokens.isVerified(token)).toBe(true);
    // Her old codes are gone with the factor.
    alice = await enrollTotp(gw, token);
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'alice-4' }));
    expect(c.methods.sort()).toEqual(['recovery', 'totp']);
  });

  it('an admin who is demoted at Jellyfin loses the admin endpoints at once', async () => {
    const adminUser = jf.user('admin');
    adminUser.isAdministrator = false;
    try {
      expect((await api(gw, 'GET', '/JellyfinSecurity/Users', { token: adminToken, deviceId: 'admin-web' })).status).toBe(403);
    } finally {
      adminUser.isAdministrator = true;
    }
  });
});

describe('EnforcementScope and enrollment at first login', () => {
  let jf: Emulator;
  let gw: TestGateway;
  const clock = new ManualClock();

  beforeAll(async () => {
    jf = await startEmulator({
      users: [
        { name: 'root', password: 'root-pw', isAdministrator: true },
        { name: 'kid', password: 'kid-pw' },
        { name: 'guest', password: 'guest-pw' },
      ],
    });
    gw = await startGateway({ upstreamUrl: jf.url, clock, config: { EnforcementScope: 'All', JellyfinApiKey: jf.createApiKey('jg') } });
  });
  afterAll(async () => {
    await gw?.close();
    await jf?.close();
  });

  it('holds a user without a factor until they enroll TOTP inside the challenge, then completes the login', async () => {
    const client = jellyfinClient(gw.url, { deviceId: 'kid-tv' });
    const first = await sdkLogin(client, 'kid', 'kid-pw');
    expect(first.status).toBe(401);
    const { challengeId, methods } = first.data as { challengeId: string; methods: string[] };
    expect(methods).toEqual(['enroll']);
    const token = await heldToken(gw, challengeId);
    await expectRefusedEverywhere(gw, token);
    // Verify endpoints are not a way around enrollment.
    expect((await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId, code: '123456' } })).status).toBe(400);
    // Completing before enrolling: refused.
    expect((await api(gw, 'POST', '/JellyfinSecurity/Challenge/Complete', { body: { challengeId } })).status).toBe(409);
    const e = await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollTOTP', { body: { challengeId } });
    expect(e.status, e.text).toBe(200);
    expect(e.json.otpauthUri).toContain('otpauth://totp/Jellyfin:kid');
    const wrong = await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollTOTP/Confirm', { body: { challengeId, code: (await totpCodeAt(e.json.secret, clock.now() + 10 * 60_000)) } });
    expect(wrong.status).toBe(401);
    expect(wrong.json.attemptsLeft).toBe(4);
    const ok = await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollTOTP/Confirm', { body: { challengeId, code: await code(e.json.secret, gw) } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.status).toBe('enrolled');
    expect(ok.json.recoveryCodes).toHaveLength(10);
    expect(gw.gateway.tokens.lookup(token)?.state).toBe('pending'); // not yet
    const done = await api(gw, 'POST', '/JellyfinSecurity/Challenge/Complete', { body: { challengeId } });
    expect(done.status, done.text).toBe(200);
    expect(done.json.AccessToken).toBe(token);
    client.accessToken = token;
    expect((await getUserApi(client).getCurrentUser()).status).toBe(200);
    expect(gw.gateway.tokens.lookup(token)).toMatchObject({ state: 'verified', method: 'enroll:totp' });
    // From now on kid has TOTP: the next login is a normal challenge, enrollment is closed.
    const next = expectChallenge(await passwordLogin(gw, 'kid', 'kid-pw', { deviceId: 'kid-phone' }), ['totp', 'recovery']);
    expect((await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollTOTP', { body: { challengeId: next.challengeId } })).status).toBe(400);
  });

  it('or enroll a passkey inside the challenge', async () => {
    const origin = `http://localhost:${gw.port}`;
    const res = await fetch(`${origin}/Users/AuthenticateByName`, {
      method: 'POST',
      headers: { authorization: 'MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="guest-web", Version="10.11.11"', 'content-type': 'application/json' },
      body: JSON.stringify({ Username: 'guest', Pw: 'guest-pw' }),
    });
    expect(res.status).toBe(401);
    const { challengeId } = (await res.json()) as { challengeId: string };
    const options = await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollPasskey/Options', { origin, body: { challengeId } });
    expect(options.status, options.text).toBe(200);
    const key = new SoftAuthenticator(origin);
    const reg = await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollPasskey', { origin, body: { challengeId, response: key.create(options.json), name: 'Laptop' } });
    expect(reg.status, reg.text).toBe(200);
    expect(reg.json.recoveryCodes).toHaveLength(10);
    const done = await api(gw, 'POST', '/JellyfinSecurity/Challenge/Complete', { origin, body: { challengeId } });
    expect(done.status).toBe(200);
    expect(gw.gateway.tokens.lookup(done.json.AccessToken)).toMatchObject({ state: 'verified', method: 'enroll:passkey' });
  });

  it('refuses to remove the last factor of a user who must have one', async () => {
    // root is an admin without a factor: enroll, then try to remove.
    const c = expectChallenge(await passwordLogin(gw, 'root', 'root-pw', { deviceId: 'root-web' }), ['enroll']);
    const e = await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollTOTP', { body: { challengeId: c.challengeId } });
    await api(gw, 'POST', '/JellyfinSecurity/Challenge/EnrollTOTP/Confirm', { body: { challengeId: c.challengeId, code: await code(e.json.secret, gw) } });
    const done = await api(gw, 'POST', '/JellyfinSecurity/Challenge/Complete', { body: { challengeId: c.challengeId } });
    const rootToken = done.json.AccessToken as string;
    const del = await api(gw, 'DELETE', '/JellyfinSecurity/Me/TOTP', { token: rootToken, deviceId: 'root-web' });
    expect(del.status).toBe(409);
    expect(del.json.error).toBe('factor_required');
    expect((await api(gw, 'GET', '/JellyfinSecurity/Me', { token: rootToken, deviceId: 'root-web' })).json.factors.totp.enrolled).toBe(true);
  });
});

describe('TOTP appended to the password (AllowTOTPInPassword)', () => {
  let jf: Emulator;
  let gw: TestGateway;
  const clock = new ManualClock();
  let secret = '';

  beforeAll(async () => {
    jf = await startEmulator({ users: [{ name: 'tv', password: 'tv-pw' }], loginAttemptsBeforeLockout: 5 });
    gw = await startGateway({ upstreamUrl: jf.url, clock, config: { AllowTOTPInPassword: true } });
    const token = await login200(gw, 'tv', 'tv-pw', 'setup');
    secret = (await enrollTotp(gw, token)).secret;
  });
  afterAll(async () => {
    await gw?.close();
    await jf?.close();
  });

  it('releases password+code in one step, Jellyfin seeing only the password once', async () => {
    clock.advance(30_000);
    const before = jf.loginAttempts;
    const roku = jellyfinClient(gw.url, { deviceId: 'roku-1', client: 'Roku' });
    const r = await sdkLogin(roku, 'tv', `tv-pw${await code(secret, gw)}`);
    expect(r.status).toBe(200);
    expect(jf.loginAttempts - before).toBe(1);
    expect(gw.gateway.tokens.lookup(r.token!)).toMatchObject({ state: 'verified', method: 'password+totp' });
    expect(jf.user('tv').invalidLoginAttemptCount).toBe(0);
    // The same code again (a replay): forwarded as typed, refused by Jellyfin, no token.
    const replay = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'roku-2' }), 'tv', `tv-pw${await code(secret, gw)}`);
    expect(replay.status).toBe(401);
    expect(replay.token).toBeUndefined();
  });

  it('an account held after "This wasn\'t me" stays held: a code in the password is no way past the hold', async () => {
    clock.advance(30_000);
    const userId = jf.user('tv').id;
    await gw.gateway.store.db.insertInto('approval_holds').values({ user_id: userId, held_at: clock.now(), lifted_at: null, reports: 3 }).execute();
    try {
      const r = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'roku-held', client: 'Roku' }), 'tv', `tv-pw${await code(secret, gw)}`);
      expect(r.status).toBe(403); // no phone can lift the hold: refused, never released
      expect(r.token).toBeUndefined();
      expect(r.data).toMatchObject({ error: 'account_held' });
    } finally {
      await gw.gateway.store.db.deleteFrom('approval_holds').where('user_id', '=', userId).execute();
    }
  });

  it('works on /Users/{id}/Authenticate?pw= too', async () => {
    clock.advance(30_000);
    const id = jf.user('tv').id;
    const a = await passwordLogin(gw, 'tv', '', { path: `/Users/${id}/Authenticate?pw=${encodeURIComponent('tv-pw' + (await code(secret, gw)))}`, deviceId: 'kodi' });
    expect(a.status, a.text).toBe(200);
  });

  it('a wrong code is forwarded as typed (one failure at Jellyfin, no split retry); the password alone is challenged', async () => {
    clock.advance(30_000);
    const right = await code(secret, gw);
    const wrong = right === '000000' ? '000001' : '000000';
    jf.user('tv').invalidLoginAttemptCount = 0;
    const before = jf.loginAttempts;
    const r = await passwordLogin(gw, 'tv', `tv-pw${wrong}`, { deviceId: 'roku-3' });
    expect(r.status).toBe(401);
    expect(r.text).not.toMatch(/second_factor_required/);
    expect(jf.loginAttempts - before).toBe(1);
    // A wrong password with a right code: one (split) attempt, refused, code not consumed.
    const r2 = await passwordLogin(gw, 'tv', `nope${right}`, { deviceId: 'roku-3' });
    expect(r2.status).toBe(401);
    expect(jf.loginAttempts - before).toBe(2);
    expect(jf.user('tv').invalidLoginAttemptCount).toBe(2);
    // The password alone still gets only a challenge.
    expectChallenge(await passwordLogin(gw, 'tv', 'tv-pw', { deviceId: 'roku-3' }), ['totp', 'recovery']);
    jf.user('tv').invalidLoginAttemptCount = 0;
  });

  it('is off by default', async () => {
    const plain = await startGateway({ upstreamUrl: jf.url, clock, dataDir: undefined });
    try {
      // A fresh gateway knows no factor for tv; give it one.
      const token = await login200(plain, 'tv', 'tv-pw', 'plain-setup');
      const s = (await enrollTotp(plain, token)).secret;
      clock.advance(30_000);
      const before = jf.loginAttempts;
      const r = await passwordLogin(plain, 'tv', `tv-pw${await totpCodeAt(s, clock.now())}`, { deviceId: 'plain-roku' });
      expect(r.status).toBe(401);
      expect(r.text).not.toMatch(/accesstoken/i);
      expect(jf.loginAttempts - before).toBe(1);
    } finally {
      jf.user('tv').invalidLoginAttemptCount = 0;
      await plain.close();
    }
  });
});

describe('behind a BaseUrl', () => {
  let jf: Emulator;
  let gw: TestGateway;
  const clock = new ManualClock();

  beforeAll(async () => {
    jf = await startEmulator({ baseUrl: '/jellyfin', users: [{ name: 'zoe', password: 'zoe-pw' }] });
    gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, clock, config: { BaseUrl: '/jellyfin' } });
  });
  afterAll(async () => {
    await gw?.close();
    await jf?.close();
  });

  it('challenges and completes under the BaseUrl, the cookie scoped to it', async () => {
    const token = await login200(gw, 'zoe', 'zoe-pw', 'zoe-setup', '/jellyfin');
    const e = await api(gw, 'POST', '/jellyfin/JellyfinSecurity/Me/TOTP', { token });
    expect(e.status, e.text).toBe(200);
    await api(gw, 'POST', '/jellyfin/JellyfinSecurity/Me/TOTP/Confirm', { token, body: { code: await code(e.json.secret, gw) } });
    for (const path of ['/jellyfin/Users/AuthenticateByName', '/jellyfin/emby/users/authenticatebyname', '/JELLYFIN/users/AuthenticateByName']) {
      const a = await passwordLogin(gw, 'zoe', 'zoe-pw', { path, deviceId: 'zoe-web' });
      expect(a.text, path).not.toMatch(/accesstoken/i);
    }
    const c = expectChallenge(await passwordLogin(gw, 'zoe', 'zoe-pw', { deviceId: 'zoe-web', baseUrl: '/jellyfin' }));
    clock.advance(30_000);
    const ok = await api(gw, 'POST', '/jellyfin/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c.challengeId, code: await code(e.json.secret, gw), trustBrowser: true } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.setCookie.join('\n')).toContain('Path=/jellyfin/;');
  });
});

describe('fail closed', () => {
  let jf: Emulator;
  beforeAll(async () => {
    jf = await startEmulator({ users: [{ name: 'ann', password: 'ann-pw' }] });
  });
  afterAll(async () => {
    await jf?.close();
  });

  it('a user whose only factor was turned off is refused (and the token revoked), not let through', async () => {
    const clock = new ManualClock();
    const first = await startGateway({ upstreamUrl: jf.url, clock });
    const token = await login200(first, 'ann', 'ann-pw', 'ann-setup');
    await enrollTotp(first, token);
    await first.stop();
    const off = await startGateway({
      upstreamUrl: jf.url,
      clock,
      dataDir: first.dataDir,
      keys: first.keys,
      config: { TOTPEnabled: false, RecoveryCodesEnabled: false },
    });
    try {
      const before = jf.requests.filter((r) => /\/sessions\/logout/i.test(r.url)).length;
      const a = await passwordLogin(off, 'ann', 'ann-pw', { deviceId: 'ann-web' });
      expect(a.status).toBe(403);
      expect(a.json).toMatchObject({ error: 'second_factor_unavailable' });
      expect(a.text).not.toMatch(/accesstoken/i);
      expect(jf.requests.filter((r) => /\/sessions\/logout/i.test(r.url)).length).toBe(before + 1);
    } finally {
      await off.close();
    }
  });

  it('EmailOTPEnabled without SMTP stops start-up, naming the key', async () => {
    await expect(startGateway({ upstreamUrl: jf.url, config: { EmailOTPEnabled: true } })).rejects.toThrow(/EmailOTPEnabled/);
  });
});
