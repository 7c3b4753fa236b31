import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { api, code, expectChallenge, mbHeader, passwordLogin, tapAudit, UA } from './factors-helpers.ts';

/**
 * POST Me/RecoveryCodes is a step-up action ("RegenerateRecoveryCodes", target null).
 * Without a proof it answers 401 step_up_required and the old codes keep working; a current TOTP code in
 * X-Jellyguard-StepUp or a grant from POST StepUp (this session only, spent once) makes new codes and
 * kills the old ones; wrong proofs are refused and counted. Real HTTP against the real gateway and the
 * Jellyfin emulator.
 */
let jf: Emulator;
let gw: TestGateway;
let smtp: TestSmtp;
const clock = new ManualClock();
const audit: AuditEvent[] = [];
let aliceSecret = '';
let aliceRecovery: string[] = [];
let aliceToken = '';
let aliceOther = ''; // a second verified session of alice
let paulToken = '';
let paulKey: SoftAuthenticator;
let emmaToken = '';
let noraToken = '';

const RECOVERY = '/JellyfinSecurity/Me/RecoveryCodes';
const tick = () => clock.advance(30_000); // a fresh TOTP step for every use
const totpFailures = () => gw.gateway.services.guard.failures('totp', 'address', '127.0.0.1');

async function tokenOf(user: string, pw: string, deviceId: string): Promise<string> {
  const a = await passwordLogin(gw, user, pw, { deviceId });
  expect(a.status, a.text).toBe(200);
  return (a.json as { AccessToken: string }).AccessToken;
}

/** POST Me/RecoveryCodes with an optional step-up proof. */
async function regenerate(token: string, proof?: string, deviceId = 'web-device') {
  const headers: Record<string, string> = { 'user-agent': UA, authorization: mbHeader(deviceId, token), 'content-type': 'application/json' };
  if (proof !== undefined) headers['x-jellyguard-stepup'] = proof;
  const res = await fetch(gw.url + RECOVERY, { method: 'POST', headers, body: '{}' });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text), cacheControl: res.headers.get('cache-control') };
}

/** Does a recovery code still sign alice in? */
async function recoveryWorks(rc: string, deviceId: string): Promise<boolean> {
  const c = expectChallenge(await passwordLogin(gw, 'alice', 'alice-pw', { deviceId }));
  const r = await api(gw, 'POST', '/JellyfinSecurity/VerifyRecoveryCode', { body: { challengeId: c.challengeId, code: rc } });
  return r.status === 200;
}

beforeAll(async () => {
  smtp = await startSmtp();
  jf = await startEmulator({
    users: [
      { name: 'alice', password: 'alice-pw' }, // TOTP + recovery codes
      { name: 'paul', password: 'paul-pw' }, // a passkey only
      { name: 'emma', password: 'emma-pw' }, // an e-mail address only: nothing to step up with
      { name: 'nora', password: 'nora-pw' }, // no factor
    ],
  });
  gw = await startGateway({
    upstreamUrl: jf.url,
    clock,
    config: { JellyfinApiKey: jf.createApiKey('jellyguard'), EmailOTPEnabled: true, SMTP: smtp.config() },
  });
  tapAudit(gw, audit);

  aliceToken = await tokenOf('alice', 'alice-pw', 'alice-setup');
  aliceOther = await tokenOf('alice', 'alice-pw', 'alice-laptop');
  const enrollment = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP', { token: aliceToken });
  expect(enrollment.status).toBe(200);
  aliceSecret = enrollment.json.secret;
  const confirm = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP/Confirm', { token: aliceToken, body: { code: await code(aliceSecret, gw) } });
  expect(confirm.status, confirm.text).toBe(200);
  aliceRecovery = confirm.json.recoveryCodes;
  expect(aliceRecovery).toHaveLength(10);

  paulToken = await tokenOf('paul', 'paul-pw', 'paul-setup');
  paulKey = new SoftAuthenticator(`http://localhost:${gw.port}`);
  const origin = `http://localhost:${gw.port}`;
  const opts = await api(gw, 'POST', '/JellyfinSecurity/Me/Passkeys/Options', { token: paulToken, origin });
  expect(opts.status, opts.text).toBe(200);
  const reg = await api(gw, 'POST', '/JellyfinSecurity/Me/Passkeys', { token: paulToken, origin, body: { response: paulKey.create(opts.json), name: 'Paul’s phone' } });
  expect(reg.status, reg.text).toBe(201);

  emmaToken = await tokenOf('emma', 'emma-pw', 'emma-setup');
  const setEmail = await api(gw, 'PUT', '/JellyfinSecurity/Me/Email', { token: emmaToken, body: { email: 'emma@example.test' } });
  expect(setEmail.status).toBe(202);
  const confirmCode = codeIn(await smtp.nextMessage((m) => m.to.includes('emma@example.test')));
  const emailOk = await api(gw, 'POST', '/JellyfinSecurity/Me/Email/Confirm', { token: emmaToken, body: { code: confirmCode } });
  expect(emailOk.status, emailOk.text).toBe(200);

  noraToken = await tokenOf('nora', 'nora-pw', 'nora-setup');
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
  await smtp?.close();
});

describe('POST Me/RecoveryCodes is a step-up action', () => {
  it('without a proof: 401 step_up_required (as Quick Connect answers it), and the old codes still work', async () => {
    const r = await regenerate(aliceToken);
    expect(r.status, r.text).toBe(401);
    expect(r.json).toEqual({
      error: 'step_up_required',
      message: expect.any(String),
      action: 'RegenerateRecoveryCodes',
      label: 'Make new recovery codes (the old ones stop working)',
      target: null,
      methods: ['totp', 'recovery'],
    });
    expect(r.cacheControl).toBe('no-store');
    expect(r.text).not.toMatch(/recoveryCodes/);
    expect(audit.some((e) => e.type === 'stepup.required' && e.userId === jf.user('alice').id && e.detail?.action === 'RegenerateRecoveryCodes')).toBe(true);
    expect(await recoveryWorks(aliceRecovery[0]!, 'rc-still')).toBe(true);
  });

  it('offers a passkey to a passkey user', async () => {
    const r = await regenerate(paulToken);
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: 'step_up_required', action: 'RegenerateRecoveryCodes', target: null, methods: ['passkey', 'recovery'] });
  });

  it('a current TOTP code in X-Jellyguard-StepUp: new codes, the old ones are dead', async () => {
    tick();
    const r = await regenerate(aliceToken, await code(aliceSecret, gw));
    expect(r.status, r.text).toBe(200);
    expect(r.json.recoveryCodes).toHaveLength(10);
    expect(r.cacheControl).toMatch(/no-store/);
    const fresh: string[] = r.json.recoveryCodes;
    expect(fresh).not.toContain(aliceRecovery[1]);
    expect(await recoveryWorks(aliceRecovery[1]!, 'rc-old')).toBe(false);
    expect(await recoveryWorks(fresh[0]!, 'rc-new')).toBe(true);
    aliceRecovery = fresh.slice(1);
    expect(audit.some((e) => e.type === 'stepup.used' && e.detail?.action === 'RegenerateRecoveryCodes' && e.detail?.method === 'totp')).toBe(true);
    // The same code again is not a fresh proof.
    const replay = await regenerate(aliceToken, await code(aliceSecret, gw));
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('invalid_code');
  });

  it('a grant from POST StepUp works once, for this session only', async () => {
    tick();
    const g = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: aliceToken,
      body: { action: 'RegenerateRecoveryCodes', target: null, method: 'totp', code: await code(aliceSecret, gw) },
    });
    expect(g.status, g.text).toBe(200);
    expect(g.json).toMatchObject({ status: 'granted', action: 'RegenerateRecoveryCodes', target: null });
    const grant: string = g.json.grant;

    // Another session of the same user cannot spend it (and the try is counted).
    const before = totpFailures();
    const stolen = await regenerate(aliceOther, grant, 'alice-laptop');
    expect(stolen.status).toBe(403);
    expect(stolen.json.error).toBe('step_up_invalid');
    expect(totpFailures()).toBe(before + 1);

    const ok = await regenerate(aliceToken, grant);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.recoveryCodes).toHaveLength(10);
    expect(await recoveryWorks(aliceRecovery[0]!, 'rc-grant-old')).toBe(false);
    aliceRecovery = ok.json.recoveryCodes;

    const again = await regenerate(aliceToken, grant);
    expect(again.status).toBe(403);
    expect(again.json.error).toBe('step_up_used');
    expect(await recoveryWorks(aliceRecovery[0]!, 'rc-grant-new')).toBe(true);
  });

  it('a grant for another action is refused', async () => {
    tick();
    // A Quick Connect grant needs a waiting code, so build one for the other action directly.
    const session = gw.gateway.tokens.lookup(aliceToken);
    expect(session).toBeDefined();
    const g = await gw.gateway.services.stepUp.grants.issue(
      { tokenHash: session!.tokenHash, userId: session!.userId, action: 'QuickConnectAuthorize', target: '123456', method: 'totp' },
      'granted',
    );
    const r = await regenerate(aliceToken, g.grant);
    expect(r.status).toBe(403);
    expect(r.json.error).toBe('step_up_invalid');
  });

  it('an account without a phone cannot ask for a phone approval: POST StepUp method phone is refused', async () => {
    const r = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: aliceToken,
      body: { action: 'RegenerateRecoveryCodes', method: 'phone' },
    });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('method_unavailable');
  });

  it('a wrong code: 401 invalid_code, counted by the guard, no new codes', async () => {
    const before = totpFailures();
    const current = await code(aliceSecret, gw, 5);
    const wrong = current === '000000' ? '111111' : '000000';
    const r = await regenerate(aliceToken, wrong);
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_code');
    expect(totpFailures()).toBe(before + 1);
    expect(audit.some((e) => e.type === 'stepup.failure' && e.detail?.action === 'RegenerateRecoveryCodes' && e.detail?.reason === 'wrong_code')).toBe(true);
    expect(await recoveryWorks(aliceRecovery[1]!, 'rc-after-wrong')).toBe(true);
    // A wrong code by POST StepUp too.
    const g = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: aliceToken,
      body: { action: 'RegenerateRecoveryCodes', method: 'totp', code: wrong },
    });
    expect(g.status).toBe(401);
    expect(g.json.error).toBe('invalid_code');
    expect(totpFailures()).toBe(before + 2);
    // Garbage is neither a grant nor a code.
    const junk = await regenerate(aliceToken, 'not-a-proof');
    expect(junk.status).toBe(400);
    expect(junk.json.error).toBe('invalid_step_up');
  });

  it('a passkey assertion from StepUp/Passkey/Options gives a grant', async () => {
    const origin = `http://localhost:${gw.port}`;
    const opts = await api(gw, 'POST', '/JellyfinSecurity/StepUp/Passkey/Options', { token: paulToken, origin, body: { action: 'RegenerateRecoveryCodes' } });
    expect(opts.status, opts.text).toBe(200);
    const g = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: paulToken,
      origin,
      body: { action: 'RegenerateRecoveryCodes', method: 'passkey', response: paulKey.get(opts.json) },
    });
    expect(g.status, g.text).toBe(200);
    const r = await regenerate(paulToken, g.json.grant);
    expect(r.status, r.text).toBe(200);
    expect(r.json.recoveryCodes).toHaveLength(10);
  });

  it('an account with an e-mail address only proves itself with its password (a mailed code is no key); one with no factor gets no codes', async () => {
    // Within a few minutes of signing in with the password, the session itself is the proof.
    const fresh = await regenerate(emmaToken);
    expect(fresh.status, fresh.text).toBe(200);
    expect(fresh.json.recoveryCodes).toHaveLength(10);
    // Later it asks for the password again.
    clock.advance(6 * 60_000);
    const later = await regenerate(emmaToken);
    expect(later.status, later.text).toBe(401);
    expect(later.json).toMatchObject({ error: 'step_up_required', action: 'RegenerateRecoveryCodes', methods: ['recovery', 'password'] });
    const g = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: emmaToken,
      body: { action: 'RegenerateRecoveryCodes', method: 'password', password: 'emma-pw' },
    });
    expect(g.status, g.text).toBe(200);
    const ok = await regenerate(emmaToken, g.json.grant);
    expect(ok.status, ok.text).toBe(200);
    const nora = await regenerate(noraToken);
    expect(nora.status).toBe(409);
    expect(nora.json.error).toBe('no_factor');
  });
});
