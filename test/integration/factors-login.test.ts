import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { getUserApi, jellyfinClient, sdkLogin } from '../helpers/sdk.ts';
import { codeIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import type { FactorKind } from '../../server/factors/index.ts';
import { api, code, tapAudit, expectChallenge, expectRefusedEverywhere, heldToken, passwordLogin, UA } from './factors-helpers.ts';

/**
 * Issue 3 acceptance, through the real gateway with @jellyfin/sdk and raw HTTP against the Jellyfin
 * emulator and a real SMTP server: a user with any one factor gets no working token without it, by any
 * login path; each factor completes the login; a held token is refused everywhere and revoked at
 * Jellyfin when the challenge fails or expires.
 */
let jf: Emulator;
let gw: TestGateway;
let smtp: TestSmtp;
const clock = new ManualClock();
const audit: AuditEvent[] = [];
const failures: Array<{ kind: FactorKind; who: { ip: string; username?: string; userId?: string } }> = [];
let aliceSecret = '';
let aliceRecovery: string[] = [];
let aliceToken = '';
let paulToken = '';
const paulAuth = () => new SoftAuthenticator(`http://localhost:${gw.port}`);
let paulKey: SoftAuthenticator;

const tick = () => clock.advance(30_000); // a fresh TOTP step for every use

async function tokenOf(user: string, pw: string, deviceId: string): Promise<string> {
  const a = await passwordLogin(gw, user, pw, { deviceId });
  expect(a.status, a.text).toBe(200);
  return (a.json as { AccessToken: string }).AccessToken;
}

beforeAll(async () => {
  smtp = await startSmtp();
  jf = await startEmulator({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'alice', password: 'alice-pw' }, // TOTP + recovery codes + e-mail
      { name: 'paul', password: 'paul-pw' }, // a passkey only
      { name: 'nora', password: 'nora-pw' }, // no factor
    ],
  });
  gw = await startGateway({
    upstreamUrl: jf.url,
    clock,
    config: { JellyfinApiKey: jf.createApiKey('jellyguard'), EmailOTPEnabled: true, SMTP: smtp.config() },
  });
  tapAudit(gw, audit);
  gw.gateway.services.factorFailures = { recordFailure: (kind, who) => failures.push({ kind, who }) };

  // alice enrolls TOTP and an e-mail address herself, through the API.
  aliceToken = await tokenOf('alice', 'alice-pw', 'alice-setup');
  const enrollment = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP', { token: aliceToken });
  expect(enrollment.status).toBe(200);
  aliceSecret = enrollment.json.secret;
  const confirm = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP/Confirm', { token: aliceToken, body: { code: await code(aliceSecret, gw) } });
  expect(confirm.status, confirm.text).toBe(200);
  aliceRecovery = confirm.json.recoveryCodes;
  expect(aliceRecovery).toHaveLength(10);
  // A second factor is a change the first one must confirm (a fresh TOTP step).
  clock.advance(30_000);
  const setEmail = await api(gw, 'PUT', '/JellyfinSecurity/Me/Email', { token: aliceToken, body: { email: 'alice@example.test' }, stepUp: await code(aliceSecret, gw) });
  expect(setEmail.status, setEmail.text).toBe(202);
  const confirmCode = codeIn(await smtp.nextMessage((m) => m.to.includes('alice@example.test')));
  const emailOk = await api(gw, 'POST', '/JellyfinSecurity/Me/Email/Confirm', { token: aliceToken, body: { code: confirmCode } });
  expect(emailOk.status, emailOk.text).toBe(200);

  // paul registers a passkey (WebAuthn wants a domain: localhost).
  paulToken = await tokenOf('paul', 'paul-pw', 'paul-setup');
  paulKey = paulAuth();
  const origin = `http://localhost:${gw.port}`;
  const opts = await api(gw, 'POST', '/JellyfinSecurity/Me/Passkeys/Options', { token: paulToken, origin });
  expect(opts.status, opts.text).toBe(200);
  const reg = await api(gw, 'POST', '/JellyfinSecurity/Me/Passkeys', { token: paulToken, origin, body: { response: paulKey.create(opts.json), name: 'Paul’s phone' } });
  expect(reg.status, reg.text).toBe(201);
  expect(reg.json.recoveryCodes).toHaveLength(10); // a first factor comes with recovery codes
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
  await smtp?.close();
});

const dash = (id: string) => `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;

describe('a user with a second factor gets no token on the password alone', () => {
  it('in every path variant and case of JELLYFIN.md §9', async () => {
    const id = jf.user('alice').id;
    const variants = [
      '/Users/AuthenticateByName',
      '/users/authenticatebyname',
      '/USERS/AUTHENTICATEBYNAME/',
      '//Users//AuthenticateByName',
      '/Users/%41uthenticateByName',
      '/Users/x/../AuthenticateByName',
      '/emby/Users/AuthenticateByName',
      '/mediabrowser/Users/AuthenticateByName',
      '/Emby/users/authenticatebyname',
      `/Users/${id}/Authenticate?pw=alice-pw`,
      `/Users/${id.toUpperCase()}/Authenticate?pw=alice-pw`,
      `/Users/${dash(id)}/Authenticate?pw=alice-pw`,
      `/emby/users/${dash(id)}/authenticate?PW=alice-pw`,
    ];
    let n = 0;
    let challenged = 0;
    for (const path of variants) {
      const before = jf.loginAttempts;
      const a = await passwordLogin(gw, 'alice', 'alice-pw', { path, deviceId: `variant-${n++}` });
      expect(a.text, path).not.toMatch(/accesstoken/i);
      if (jf.loginAttempts === before) {
        expect(a.status, path).not.toBe(200); // not routed at Jellyfin either
        continue;
      }
      const c = expectChallenge(a, ['totp', 'email', 'recovery']);
      expect(jf.isTokenValid(await heldToken(gw, c.challengeId)), path).toBe(true); // Jellyfin issued one; it is held
      challenged++;
    }
    expect(challenged).toBe(variants.length); // the 10.11 emulator routes every one of them
  });

  it('with the camelCase profile, and through @jellyfin/sdk', async () => {
    const camel = await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'camel', accept: 'application/json; profile="CamelCase"' });
    expectChallenge(camel);
    const sdk = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'sdk-1' }), 'alice', 'alice-pw');
    expect(sdk.status).toBe(401);
    expect(sdk.token).toBeUndefined();
    expect((sdk.data as { methods: string[] }).methods).toContain('totp');
    const paul = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'sdk-2' }), 'paul', 'paul-pw');
    expect(paul.status).toBe(401);
    expect((paul.data as { methods: string[] }).methods.sort()).toEqual(['passkey', 'recovery']);
  });

  it('the held token is refused for every request, in every credential form, and on the WebSocket', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'held-1' }));
    const token = await heldToken(gw, c.challengeId);
    expect(gw.gateway.tokens.lookup(token)?.state).toBe('pending');
    await expectRefusedEverywhere(gw, token);
    // …and through the SDK.
    const client = jellyfinClient(gw.url, { deviceId: 'held-1' });
    client.accessToken = token;
    await expect(getUserApi(client).getCurrentUser()).rejects.toMatchObject({ response: { status: 401 } });
    // The gateway's own API does not take it either.
    expect((await api(gw, 'GET', '/JellyfinSecurity/Me', { token })).status).toBe(401);
  });

  it('a user without any factor (and none required) logs in with the password', async () => {
    const a = await passwordLogin(gw, 'nora', 'nora-pw', { deviceId: 'nora-1' });
    expect(a.status).toBe(200);
    expect(gw.gateway.tokens.isVerified((a.json as { AccessToken: string }).AccessToken)).toBe(true);
  });
});

describe('each factor completes the login', () => {
  it('TOTP: a wrong code costs an attempt, the right one releases Jellyfin’s own answer', async () => {
    const client = jellyfinClient(gw.url, { deviceId: 'sdk-totp' });
    const login = await sdkLogin(client, 'alice', 'alice-pw');
    const challengeId = (login.data as { challengeId: string }).challengeId;
    const info = await api(gw, 'GET', `/JellyfinSecurity/Challenge/${challengeId}`);
    expect(info.json).toMatchObject({ userName: 'alice', state: 'pending', attemptsLeft: 5, emailHint: 'a***@example.test' });
    tick();
    const wrong = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId, code: (Number(await code(aliceSecret, gw)) + 1).toString().padStart(6, '0').slice(-6) } });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ error: 'invalid_code', attemptsLeft: 4 });
    const ok = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId, code: await code(aliceSecret, gw) } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/application\/json/);
    expect(ok.json.User.Name).toBe('alice');
    expect(ok.json.SessionInfo.DeviceId).toBe('sdk-totp');
    expect(ok.json.ServerId).toBe(jf.serverId);
    const token = ok.json.AccessToken as string;
    expect(gw.gateway.tokens.lookup(token)).toMatchObject({ state: 'verified', method: 'totp' });
    client.accessToken = token;
    const me = await getUserApi(client).getCurrentUser();
    expect(me.status).toBe(200);
    expect(me.data.Name).toBe('alice');
    // The code (and the challenge) cannot be used again.
    const again = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId, code: await code(aliceSecret, gw) } });
    expect(again.status).toBe(410);
    expect(audit.some((e) => e.type === 'login.challenge.passed' && e.detail?.method === 'totp')).toBe(true);
  });

  it('TOTP: the answer keeps the camelCase profile Jellyfin answered with', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'camel-2', accept: 'application/json; profile="CamelCase"' }));
    tick();
    const ok = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c.challengeId, code: await code(aliceSecret, gw) } });
    expect(ok.status).toBe(200);
    expect(ok.json.accessToken).toMatch(/^[0-9a-f]{32}$/);
    expect(ok.json.AccessToken).toBeUndefined();
  });

  it('a recovery code, once', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'rc-1' }));
    const ok = await api(gw, 'POST', '/JellyfinSecurity/VerifyRecoveryCode', { body: { challengeId: c.challengeId, code: aliceRecovery[0] } });
    expect(ok.status, ok.text).toBe(200);
    expect(gw.gateway.tokens.isVerified(ok.json.AccessToken)).toBe(true);
    const c2 = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'rc-2' }));
    const reused = await api(gw, 'POST', '/JellyfinSecurity/VerifyRecoveryCode', { body: { challengeId: c2.challengeId, code: aliceRecovery[0] } });
    expect(reused.status).toBe(401);
    expect(reused.json).toMatchObject({ error: 'invalid_code', attemptsLeft: 4 });
  });

  it('an e-mail code read from the SMTP server', async () => {
    const client = jellyfinClient(gw.url, { deviceId: 'sdk-email' });
    const login = await sdkLogin(client, 'alice', 'alice-pw');
    const challengeId = (login.data as { challengeId: string }).challengeId;
    const sent = await api(gw, 'POST', '/JellyfinSecurity/SendEmailOTP', { body: { challengeId } });
    expect(sent.status).toBe(202);
    const mail = await smtp.nextMessage((m) => m.to.includes('alice@example.test'));
    expect(mail.text).toContain('someone knows your password');
    const ok = await api(gw, 'POST', '/JellyfinSecurity/VerifyEmailOTP', { body: { challengeId, code: codeIn(mail) } });
    expect(ok.status, ok.text).toBe(200);
    client.accessToken = ok.json.AccessToken;
    expect((await getUserApi(client).getCurrentUser()).status).toBe(200);
  });

  it('SendEmailOTP answers the same whatever exists', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'email-generic' }));
    const answers = await Promise.all([
      api(gw, 'POST', '/JellyfinSecurity/SendEmailOTP', { body: { challengeId: c.challengeId } }),
      api(gw, 'POST', '/JellyfinSecurity/SendEmailOTP', { body: { challengeId: 'A'.repeat(22) } }),
      api(gw, 'POST', '/JellyfinSecurity/SendEmailOTP', { body: { username: 'nobody-at-all' } }),
      api(gw, 'POST', '/JellyfinSecurity/SendEmailOTP', { body: { username: 'nora' } }),
    ]);
    for (const a of answers) {
      expect(a.status).toBe(202);
      expect(a.text).toBe(answers[0]!.text);
    }
    const bad = await api(gw, 'POST', '/JellyfinSecurity/SendEmailOTP', { body: {} });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('invalid_request');
  });

  it('a passkey (with user verification)', async () => {
    const origin = `http://localhost:${gw.port}`;
    const a = await fetch(`${origin}/Users/AuthenticateByName`, {
      method: 'POST',
      headers: { authorization: 'MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="paul-web", Version="10.11.11"', 'content-type': 'application/json' },
      body: JSON.stringify({ Username: 'paul', Pw: 'paul-pw' }),
    });
    expect(a.status).toBe(401);
    const { challengeId } = (await a.json()) as { challengeId: string };
    const options = await api(gw, 'POST', '/JellyfinSecurity/VerifyPasskey/Options', { origin, body: { challengeId } });
    expect(options.status, options.text).toBe(200);
    expect(options.json.userVerification).toBe('required');
    // Without user verification: refused, and it costs an attempt.
    paulKey.userVerified = false;
    const noUv = await api(gw, 'POST', '/JellyfinSecurity/VerifyPasskey', { origin, body: { challengeId, response: paulKey.get(options.json) } });
    expect(noUv.status).toBe(401);
    expect(noUv.json.attemptsLeft).toBe(4);
    paulKey.userVerified = true;
    const options2 = await api(gw, 'POST', '/JellyfinSecurity/VerifyPasskey/Options', { origin, body: { challengeId } });
    const ok = await api(gw, 'POST', '/JellyfinSecurity/VerifyPasskey', { origin, body: { challengeId, response: paulKey.get(options2.json) } });
    expect(ok.status, ok.text).toBe(200);
    expect(gw.gateway.tokens.lookup(ok.json.AccessToken)).toMatchObject({ state: 'verified', method: 'passkey' });
  });

  it('a cloned passkey (counter going backwards) is refused and recorded as a risk', async () => {
    const origin = `http://localhost:${gw.port}`;
    const c = expectChallenge(await passwordLogin(gw, 'paul', 'paul-pw', { deviceId: 'paul-clone' }));
    const options = await api(gw, 'POST', '/JellyfinSecurity/VerifyPasskey/Options', { origin, body: { challengeId: c.challengeId } });
    const cred = paulKey.credentials[0]!;
    const cloned = paulKey.assert(cred, options.json.challenge, 1); // the real one is past 1 already
    const r = await api(gw, 'POST', '/JellyfinSecurity/VerifyPasskey', { origin, body: { challengeId: c.challengeId, response: cloned } });
    expect(r.status).toBe(401);
    expect(audit.some((e) => e.type === 'factor.passkey.counter_regression' && e.userName === 'paul')).toBe(true);
  });
});

describe('a challenge ends', () => {
  it('after 5 wrong codes: the held token is revoked at Jellyfin and forgotten', async () => {
    failures.length = 0;
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'five-wrong' }));
    const token = await heldToken(gw, c.challengeId);
    tick();
    const right = await code(aliceSecret, gw);
    const wrongs = ['000000', '111111', '222222', '333333', '444444', '555555'].filter((w) => w !== right);
    const lefts: number[] = [];
    for (const w of wrongs.slice(0, 5)) {
      const r = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c.challengeId, code: w } });
      expect(r.status).toBe(401);
      lefts.push(r.json.attemptsLeft);
    }
    expect(lefts).toEqual([4, 3, 2, 1, 0]);
    expect(jf.isTokenValid(token)).toBe(false);
    expect(gw.gateway.tokens.lookup(token)).toBeUndefined();
    const late = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c.challengeId, code: right } });
    expect(late.status).toBe(410);
    expect(late.json.error).toBe('challenge_failed');
    expect(failures.filter((f) => f.kind === 'totp' && f.who.username === 'alice')).toHaveLength(5);
    expect(failures[0]!.who.ip).toBe('127.0.0.1');
    expect(audit.some((e) => e.type === 'login.challenge.ended' && e.userName === 'alice')).toBe(true);
    await gw.gateway.services.factors.attempts.succeed(jf.user('alice').id); // leave the per-user count clean
  });

  it('when nobody completes it in time: revoked at Jellyfin by the sweep', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'expiry' }));
    const token = await heldToken(gw, c.challengeId);
    clock.advance(gw.config.ChallengeSeconds * 1000);
    await gw.gateway.services.challenges.sweep();
    expect(jf.isTokenValid(token)).toBe(false);
    expect(gw.gateway.tokens.lookup(token)).toBeUndefined();
    const r = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c.challengeId, code: await code(aliceSecret, gw) } });
    expect(r.status).toBe(410);
    expect(r.json.error).toBe('challenge_expired');
  });

  it('when it is looked up after its expiry (no sweep needed)', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'expiry-2' }));
    const token = await heldToken(gw, c.challengeId);
    clock.advance(gw.config.ChallengeSeconds * 1000 + 1);
    const r = await api(gw, 'GET', `/JellyfinSecurity/Challenge/${c.challengeId}`);
    expect(r.status).toBe(410);
    expect(jf.isTokenValid(token)).toBe(false);
  });

  it('when the same device logs in again (superseded)', async () => {
    const first = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'twice' }));
    const second = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'twice' }));
    tick();
    const r = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: first.challengeId, code: await code(aliceSecret, gw) } });
    expect(r.status).toBe(410);
    const ok = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: second.challengeId, code: await code(aliceSecret, gw) } });
    expect(ok.status).toBe(200);
  });

  it('refuses code checks for a while after 10 wrong codes in a row across challenges (per user)', async () => {
    const userId = jf.user('alice').id;
    const c1 = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'lock-1' }));
    const c2 = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'lock-2' }));
    tick();
    const right = await code(aliceSecret, gw);
    const wrong = right === '123456' ? '654321' : '123456';
    for (const c of [c1, c2]) {
      for (let i = 0; i < 5; i++) await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c.challengeId, code: wrong } });
    }
    const c3 = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'lock-3' }));
    const locked = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c3.challengeId, code: right } });
    expect(locked.status).toBe(429);
    expect(locked.json.error).toBe('too_many_attempts');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await api(gw, 'GET', `/JellyfinSecurity/Challenge/${c3.challengeId}`)).json.attemptsLeft).toBe(5); // not spent
    clock.advance(15 * 60 * 1000);
    await gw.gateway.services.factors.attempts.succeed(userId);
  });

  it('refuses bad input with a 4xx that changes nothing', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'bad-input' }));
    for (const body of [{}, { challengeId: c.challengeId }, { challengeId: 'short', code: '123456' }, { challengeId: c.challengeId, code: 12 }]) {
      const r = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body });
      expect(r.status).toBe(400);
      expect(r.json.error).toBe('invalid_request');
    }
    const notJson = await fetch(`${gw.url}/JellyfinSecurity/VerifyTOTP`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toBe('malformed_body');
    const unknown = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: 'B'.repeat(22), code: '123456' } });
    expect(unknown.status).toBe(404);
    const wrongMethod = await api(gw, 'POST', '/JellyfinSecurity/VerifyPasskey/Options', { body: { challengeId: c.challengeId } });
    expect(wrongMethod.status).toBe(400);
    expect((await api(gw, 'GET', `/JellyfinSecurity/Challenge/${c.challengeId}`)).json.attemptsLeft).toBe(5);
  });
});

describe('trusted browser', () => {
  it('skips the second factor for this user, browser and network only, until revoked', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'trusted-web' }));
    expect((await api(gw, 'GET', `/JellyfinSecurity/Challenge/${c.challengeId}`)).json.trustedDeviceDays).toBe(90);
    tick();
    const ok = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c.challengeId, code: await code(aliceSecret, gw), trustBrowser: true } });
    expect(ok.status).toBe(200);
    const setCookie = ok.setCookie.find((h) => h.startsWith('JellyfinSecurity-TrustedDevice='))!;
    expect(setCookie).toMatch(/; Path=\/; Max-Age=7776000; HttpOnly; SameSite=Strict$/); // not Secure: plain http here
    const cookie = setCookie.split(';')[0]!;

    const again = await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'trusted-web', cookie });
    expect(again.status, again.text).toBe(200);
    const token = (again.json as { AccessToken: string }).AccessToken;
    expect(gw.gateway.tokens.lookup(token)).toMatchObject({ state: 'verified', method: 'trusted_browser' });

    // Another browser (DeviceId or User-Agent), another user, a tampered cookie: challenged.
    expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'other-browser', cookie }));
    expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'trusted-web', cookie, ua: UA.replace('Chrome', 'Firefox') }));
    expectChallenge(await passwordLogin(gw, 'paul', 'paul-pw', { deviceId: 'trusted-web', cookie }));
    expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'trusted-web', cookie: cookie.slice(0, -2) + 'xx' }));

    // Listed and revocable by its owner; revoking takes effect at once.
    const list = await api(gw, 'GET', '/JellyfinSecurity/Me/TrustedBrowsers', { token: aliceToken, deviceId: 'alice-setup' });
    expect(list.status).toBe(200);
    expect(list.json).toHaveLength(1);
    expect(list.json[0]).toMatchObject({ label: 'Chrome on Linux', ipPrefix: '127.0.0.0/24' });
    expect((await api(gw, 'DELETE', `/JellyfinSecurity/Me/TrustedBrowsers/${list.json[0].id}`, { token: paulToken, deviceId: 'paul-setup' })).status).toBe(404);
    expect((await api(gw, 'DELETE', `/JellyfinSecurity/Me/TrustedBrowsers/${list.json[0].id}`, { token: aliceToken, deviceId: 'alice-setup' })).status).toBe(204);
    expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'trusted-web', cookie }));
  });
});

describe('restart', () => {
  it('a held login survives a restart: still refused, still completable', async () => {
    const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId: 'restart' }));
    const token = await heldToken(gw, c.challengeId);
    await gw.stop();
    const again = await startGateway({ upstreamUrl: jf.url, dataDir: gw.dataDir, keys: gw.keys, clock, config: gw.config, port: gw.port });
    Object.assign(gw, { gateway: again.gateway, stop: again.stop, close: again.close });
    await expectRefusedEverywhere(gw, token);
    tick();
    const ok = await api(gw, 'POST', '/JellyfinSecurity/VerifyTOTP', { body: { challengeId: c.challengeId, code: await code(aliceSecret, gw) } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.AccessToken).toBe(token);
    expect(gw.gateway.tokens.isVerified(token)).toBe(true);
  });
});
