import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '@jellyfin/sdk/lib/api.js';
import { ManualClock } from '../../server/clock.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { getQuickConnectApi, getUserApi, jellyfinClient } from '../helpers/sdk.ts';
import type { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { api, code, tapAudit } from './factors-helpers.ts';
import { approveOnPhone, enrollPhone, enrollTotp, localOrigin, signIn } from './pairing-helpers.ts';

/**
 * Issue 6, Quick Connect: a TV (@jellyfin/sdk) initiates through the gateway and is approved from the
 * phone (a passkey assertion over an approval of kind "pairing"), or by a session that steps up; the
 * token the TV collects works through the gateway. Quick Connect Authorize without a fresh proof, with a
 * spent or foreign grant, or by an API key is refused and reaches nothing; codes authorised behind the
 * gateway's back yield nothing; wrong, expired and used codes are refused and counted.
 */
let jf: Emulator;
let gw: TestGateway;
const clock = new ManualClock();
const audit: AuditEvent[] = [];
let apiKey = '';
let bobToken = '';
let bobPhoneToken = '';
let bobSecret = '';
let bobKey: SoftAuthenticator;
let carolToken = '';

const tick = () => clock.advance(30_000); // a fresh TOTP step for every code

function tv(deviceId: string): Api {
  return jellyfinClient(gw.url, { client: 'Android TV', device: 'Living Room TV', deviceId });
}

async function initiate(t: Api): Promise<{ Code: string; Secret: string }> {
  const r = await getQuickConnectApi(t).initiateQuickConnect();
  expect(r.status).toBe(200);
  return { Code: r.data.Code!, Secret: r.data.Secret! };
}

/** The TV collects its token the way clients do: Connect says Authenticated, then the exchange. */
async function collect(t: Api, secret: string): Promise<{ status: number; token?: string }> {
  const state = await getQuickConnectApi(t).getQuickConnectState({ secret });
  if (state.data.Authenticated !== true) return { status: 0 };
  try {
    const r = await getUserApi(t).authenticateWithQuickConnect({ quickConnectDto: { Secret: secret } });
    return { status: r.status, token: r.data.AccessToken ?? undefined };
  } catch (e) {
    const r = (e as { response?: { status: number } }).response;
    if (!r) throw e;
    return { status: r.status };
  }
}

async function worksThroughGateway(token: string): Promise<number> {
  return (await fetch(`${gw.url}/Users/Me`, { headers: { 'x-emby-token': token } })).status;
}

const authorizeRequests = () => jf.requests.filter((r) => /\/quickconnect\/authorize/i.test(r.url)).length;

/** Quick Connect Authorize as jellyfin-web sends it, optionally with a step-up proof. */
function authorize(token: string, deviceId: string, qcCode: string, proof?: string, extra: Record<string, string> = {}) {
  const headers: Record<string, string> = {
    authorization: `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="${deviceId}", Version="10.11.11", Token="${token}"`,
    ...extra,
  };
  if (proof) headers['x-jellyguard-stepup'] = proof;
  return fetch(`${gw.url}/QuickConnect/Authorize?code=${qcCode}`, { method: 'POST', headers }).then(async (r) => ({ status: r.status, text: await r.text() }));
}

beforeAll(async () => {
  jf = await startEmulator({
    now: () => clock.now(),
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' }, // TOTP and an enrolled phone
      { name: 'carol', password: 'carol-pw' }, // no second factor
    ],
  });
  apiKey = jf.createApiKey('jellyguard');
  // Plenty of failures allowed here: the guard's counting is checked through its counters.
  gw = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: apiKey, MaxFailedAttempts: 100 } });
  tapAudit(gw, audit);
  bobToken = await signIn(gw, 'bob', 'bob-pw', 'bob-web');
  bobPhoneToken = await signIn(gw, 'bob', 'bob-pw', 'bob-phone');
  carolToken = await signIn(gw, 'carol', 'carol-pw', 'carol-web');
  bobSecret = await enrollTotp(gw, bobToken, 'bob-web');
  tick(); // a fresh TOTP step: setting up the phone is a change to bob's factors, proved with his app
  bobKey = await enrollPhone(gw, bobPhoneToken, 'bob-phone', await code(bobSecret, gw));
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

describe('a TV approved from the phone', () => {
  it('shows what is asking, approves with a passkey tap, and the TV signs in through the gateway', async () => {
    const t = tv('tv-phone-1');
    const { Code, Secret } = await initiate(t);
    expect(await collect(t, Secret)).toEqual({ status: 0 }); // not yet

    const { lookup, started, approved } = await approveOnPhone(gw, bobPhoneToken, 'bob-phone', bobKey, Code);
    expect(lookup.json).toMatchObject({
      kind: 'quickconnect',
      code: Code,
      deviceName: 'Living Room TV',
      deviceId: 'tv-phone-1',
      appName: 'Android TV',
      appVersion: '1.0.0',
      ip: '127.0.0.1',
    });
    expect(Date.parse(lookup.json.requestedAt)).toBe(clock.now());
    expect(started.json.target).toEqual(lookup.json);
    expect(started.json.options.userVerification).toBe('required');
    // The approval (kind "pairing") commits to exactly what the phone shows.
    const view = await api(gw, 'GET', `/JellyfinSecurity/Approvals/${started.json.approvalId}`);
    expect(view.json.kind).toBe('pairing');
    expect(view.json.asking).toMatchObject({ client: 'Android TV', deviceName: 'Living Room TV', deviceId: 'tv-phone-1', ip: '127.0.0.1' });
    expect(view.json.asking.action).toContain(Code);
    expect(approved.status, approved.text).toBe(200);
    expect(approved.json).toMatchObject({ status: 'approved', kind: 'quickconnect', deviceName: 'Living Room TV' });
    // A retried request gets the same answer; nothing is authorised twice.
    const retried = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approve', {
      token: bobPhoneToken,
      deviceId: 'bob-phone',
      origin: localOrigin(gw),
      body: { approvalId: started.json.approvalId, response: bobKey.get(started.json.options) },
    });
    expect(retried.status).toBe(200);
    expect(view.json.status).toBe('approved');

    const got = await collect(t, Secret);
    expect(got.status).toBe(200);
    expect(await worksThroughGateway(got.token!)).toBe(200);
    const me = await (await fetch(`${gw.url}/Users/Me`, { headers: { 'x-emby-token': got.token! } })).json();
    expect((me as { Name: string }).Name).toBe('bob');
    expect(gw.gateway.tokens.lookup(got.token!)).toMatchObject({ state: 'verified', method: 'quickconnect', deviceId: 'tv-phone-1' });
    expect(audit.map((e) => e.type)).toEqual(expect.arrayContaining(['pairing.approval.requested', 'pairing.quickconnect.approved', 'login.quickconnect.success']));
  });

  it('refuses a used code, an expired code and a wrong code, counting each as a pairing failure', async () => {
    const failures = () => gw.gateway.services.guard.failures('pairing', 'address', '127.0.0.1');
    const t = tv('tv-phone-2');
    const { Code, Secret } = await initiate(t);
    expect((await approveOnPhone(gw, bobPhoneToken, 'bob-phone', bobKey, Code)).approved.status).toBe(200);
    expect((await collect(t, Secret)).status).toBe(200);

    const before = failures();
    // Used: single use.
    const used = await api(gw, 'GET', `/JellyfinSecurity/Pair/Lookup?code=${Code}`, { token: bobPhoneToken, deviceId: 'bob-phone' });
    expect(used.status).toBe(404);
    expect(used.json.error).toBe('unknown_code');
    const again = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approval', { token: bobPhoneToken, deviceId: 'bob-phone', origin: localOrigin(gw), body: { code: Code } });
    expect(again.status).toBe(404);
    // Wrong.
    const wrong = await api(gw, 'GET', '/JellyfinSecurity/Pair/Lookup?code=000000', { token: bobPhoneToken, deviceId: 'bob-phone' });
    expect(wrong.status).toBe(404);
    // Expired: Jellyfin (and the gateway) forget a request 10 minutes after it began.
    const late = await initiate(tv('tv-phone-3'));
    clock.advance(10 * 60 * 1000 + 1000);
    const expired = await api(gw, 'GET', `/JellyfinSecurity/Pair/Lookup?code=${late.Code}`, { token: bobPhoneToken, deviceId: 'bob-phone' });
    expect(expired.status).toBe(404);
    expect(failures()).toBe(before + 4);
    expect(audit.filter((e) => e.type === 'pairing.code.invalid').length).toBeGreaterThanOrEqual(4);
  });

  it('needs a verified session, and a passkey of that user', async () => {
    const { Code } = await initiate(tv('tv-phone-4'));
    expect((await api(gw, 'GET', `/JellyfinSecurity/Pair/Lookup?code=${Code}`)).status).toBe(401);
    expect((await api(gw, 'POST', '/JellyfinSecurity/Pair/Approval', { body: { code: Code } })).status).toBe(401);
    // carol has no passkey: the lookup works, approving needs one.
    const noKey = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approval', { token: carolToken, deviceId: 'carol-web', origin: localOrigin(gw), body: { code: Code } });
    expect(noKey.status).toBe(400);
    expect(noKey.json.error).toBe('passkey_required');
    // Another session of bob cannot finish the approval bob's phone began.
    const started = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approval', { token: bobPhoneToken, deviceId: 'bob-phone', origin: localOrigin(gw), body: { code: Code } });
    expect(started.status).toBe(200);
    const other = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approve', {
      token: bobToken,
      deviceId: 'bob-web',
      origin: localOrigin(gw),
      body: { approvalId: started.json.approvalId, response: bobKey.get(started.json.options) },
    });
    expect(other.status).toBe(404);
    // Deny: the approval ends, nothing is authorised.
    const deny = await api(gw, 'POST', '/JellyfinSecurity/Pair/Deny', { token: bobPhoneToken, deviceId: 'bob-phone', body: { approvalId: started.json.approvalId } });
    expect(deny.status).toBe(204);
    expect((await api(gw, 'GET', `/JellyfinSecurity/Approvals/${started.json.approvalId}`)).json.status).toBe('denied');
  });

  it('refuses an assertion over another approval’s challenge', async () => {
    const a = await initiate(tv('tv-phone-5'));
    const b = await initiate(tv('tv-phone-6'));
    const o = { token: bobPhoneToken, deviceId: 'bob-phone', origin: localOrigin(gw) };
    const first = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approval', { ...o, body: { code: a.Code } });
    const second = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approval', { ...o, body: { code: b.Code } });
    const crossed = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approve', { ...o, body: { approvalId: second.json.approvalId, response: bobKey.get(first.json.options) } });
    expect(crossed.status).toBe(401);
    expect(crossed.json).toMatchObject({ error: 'invalid_assertion', attemptsLeft: 2 });
    expect((await collect(tv('tv-phone-6'), b.Secret)).status).toBe(0);
  });
});

describe('Quick Connect Authorize is a step-up action', () => {
  it('is refused without a fresh proof, and nothing reaches Jellyfin', async () => {
    const { Code, Secret } = await initiate(tv('tv-su-1'));
    const before = authorizeRequests();
    const r = await authorize(bobToken, 'bob-web', Code);
    expect(r.status).toBe(401);
    const body = JSON.parse(r.text);
    expect(body).toMatchObject({ error: 'step_up_required', action: 'QuickConnectAuthorize', target: Code });
    expect(body.methods).toEqual(expect.arrayContaining(['totp', 'phone']));
    // The SDK as a client sees the 401 too.
    const phoneApi = jellyfinClient(gw.url, { deviceId: 'bob-web' });
    phoneApi.accessToken = bobToken;
    await expect(getQuickConnectApi(phoneApi).authorizeQuickConnect({ code: Code })).rejects.toMatchObject({ response: { status: 401 } });
    // A user without any second factor is asked for the password again.
    const carol = JSON.parse((await authorize(carolToken, 'carol-web', Code)).text);
    expect(carol).toMatchObject({ error: 'step_up_required', methods: ['password'] });
    expect(authorizeRequests()).toBe(before);
    expect((await collect(tv('tv-su-1'), Secret)).status).toBe(0);
    expect(audit.some((e) => e.type === 'stepup.required')).toBe(true);
  });

  it('signs the device in as the one who approves it: naming another user is refused, in either query form, before any proof', async () => {
    const t = tv('tv-su-other');
    const { Code, Secret } = await initiate(t);
    tick();
    const proof = await code(bobSecret, gw);
    const before = authorizeRequests();
    const headers = { authorization: `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="bob-web", Version="10.11.11", Token="${bobToken}"`, 'x-jellyguard-stepup': proof };
    const carolId = jf.user('carol').id;
    for (const query of [`code=${Code}&userId=${carolId}`, encodeURIComponent(`code=${Code}&userId=${carolId}`), `code=${Code}&userId=not-a-guid`]) {
      const r = await fetch(`${gw.url}/QuickConnect/Authorize?${query}`, { method: 'POST', headers });
      expect(r.status, query).toBe(403);
    }
    expect(authorizeRequests()).toBe(before);
    // jellyfin-web names the signed-in user itself: that is the same as naming nobody.
    const own = await fetch(`${gw.url}/QuickConnect/Authorize?code=${Code}&userId=${jf.user('bob').id}`, { method: 'POST', headers });
    expect(own.status, await own.text()).toBe(200);
    expect((await collect(t, Secret)).status).toBe(200);
  });

  it('passes with a current TOTP code in X-Jellyguard-StepUp, which Jellyfin never sees', async () => {
    const t = tv('tv-su-2');
    const { Code, Secret } = await initiate(t);
    tick();
    const r = await authorize(bobToken, 'bob-web', Code, await code(bobSecret, gw));
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('true');
    const forwarded = jf.requests.filter((q) => /\/quickconnect\/authorize/i.test(q.url)).at(-1)!;
    expect(forwarded.headers['x-jellyguard-stepup']).toBeUndefined();
    const got = await collect(t, Secret);
    expect(got.status).toBe(200);
    expect(await worksThroughGateway(got.token!)).toBe(200);
  });

  it('refuses a wrong code (401, counted as a pairing failure) and the same code twice', async () => {
    const failures = () => gw.gateway.services.guard.failures('pairing', 'address', '127.0.0.1');
    const { Code } = await initiate(tv('tv-su-3'));
    const before = failures();
    const beforeForwarded = authorizeRequests();
    tick();
    const good = await code(bobSecret, gw);
    const wrong = good === '000000' ? '111111' : '000000';
    const r = await authorize(bobToken, 'bob-web', Code, wrong);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.text).error).toBe('invalid_code');
    expect(failures()).toBe(before + 1);
    expect((await authorize(bobToken, 'bob-web', Code, good)).status).toBe(200);
    // The same TOTP step again (a replay) is refused.
    const { Code: other } = await initiate(tv('tv-su-4'));
    expect((await authorize(bobToken, 'bob-web', other, good)).status).toBe(401);
    expect(authorizeRequests()).toBe(beforeForwarded + 1);
    expect(audit.some((e) => e.type === 'stepup.failure')).toBe(true);
  });

  it('gives a single-use grant bound to the session that asked: never reused, never by another session', async () => {
    const t = tv('tv-su-5');
    const { Code, Secret } = await initiate(t);
    tick();
    const g = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: bobToken,
      deviceId: 'bob-web',
      body: { action: 'QuickConnectAuthorize', target: Code, method: 'totp', code: await code(bobSecret, gw) },
    });
    expect(g.status, g.text).toBe(200);
    expect(g.json).toMatchObject({ status: 'granted', action: 'QuickConnectAuthorize', target: Code });
    const grant = g.json.grant as string;

    // Another session of the same user (bob's phone) cannot use it; that counts.
    const failures = () => gw.gateway.services.guard.failures('pairing', 'address', '127.0.0.1');
    const before = failures();
    const stolen = await authorize(bobPhoneToken, 'bob-phone', Code, grant);
    expect(stolen.status).toBe(403);
    expect(JSON.parse(stolen.text).error).toBe('step_up_invalid');
    expect(failures()).toBe(before + 1);
    // Nor another user's session.
    expect((await authorize(carolToken, 'carol-web', Code, grant)).status).toBe(403);
    // Nor for another code.
    const { Code: otherCode } = await initiate(tv('tv-su-6'));
    expect(JSON.parse((await authorize(bobToken, 'bob-web', otherCode, grant)).text).error).toBe('step_up_invalid');

    // The session it belongs to uses it once…
    const forwardedBefore = authorizeRequests();
    expect((await authorize(bobToken, 'bob-web', Code, grant)).status).toBe(200);
    expect((await collect(t, Secret)).status).toBe(200);
    // …and never again.
    const { Code: third } = await initiate(tv('tv-su-7'));
    const reuse = await authorize(bobToken, 'bob-web', third, grant);
    expect(reuse.status).toBe(403);
    expect(authorizeRequests()).toBe(forwardedBefore + 1);
    expect(audit.some((e) => e.type === 'stepup.used')).toBe(true);
  });

  it('expires an unused grant', async () => {
    const { Code } = await initiate(tv('tv-su-8'));
    tick();
    const g = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: bobToken,
      deviceId: 'bob-web',
      body: { action: 'QuickConnectAuthorize', target: Code, method: 'totp', code: await code(bobSecret, gw) },
    });
    clock.advance(2 * 60 * 1000 + 1);
    const r = await authorize(bobToken, 'bob-web', Code, g.json.grant);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text).error).toBe('step_up_expired');
  });

  it('steps up with the phone: a push approval turns the grant usable', async () => {
    const t = tv('tv-su-9');
    const { Code, Secret } = await initiate(t);
    const s = await api(gw, 'POST', '/JellyfinSecurity/StepUp', { token: bobToken, deviceId: 'bob-web', body: { action: 'QuickConnectAuthorize', target: Code, method: 'phone' } });
    expect(s.status, s.text).toBe(200);
    expect(s.json.status).toBe('pending');
    // Waiting: the grant is inert.
    expect((await authorize(bobToken, 'bob-web', Code, s.json.grant)).status).toBe(409);
    // The phone's approvals list shows it; the Authenticator approves it with the engine's own endpoints.
    const list = await api(gw, 'GET', '/JellyfinSecurity/Me/Approvals', { token: bobPhoneToken, deviceId: 'bob-phone' });
    const item = list.json.items.find((a: { id: string }) => a.id === s.json.approvalId);
    expect(item).toMatchObject({ kind: 'pairing', asking: { deviceName: 'Living Room TV', client: 'Android TV' } });
    const origin = localOrigin(gw);
    const opts = await api(gw, 'POST', `/JellyfinSecurity/Approvals/${s.json.approvalId}/Options`, { origin });
    const ok = await api(gw, 'POST', `/JellyfinSecurity/Approvals/${s.json.approvalId}/Approve`, { origin, body: { response: bobKey.get(opts.json) } });
    expect(ok.status, ok.text).toBe(200);
    const status = await api(gw, 'GET', `/JellyfinSecurity/StepUp/${s.json.stepUpId}`, { token: bobToken, deviceId: 'bob-web' });
    expect(status.json.status).toBe('granted');
    // Only the session that asked may even look at it.
    expect((await api(gw, 'GET', `/JellyfinSecurity/StepUp/${s.json.stepUpId}`, { token: bobPhoneToken, deviceId: 'bob-phone' })).status).toBe(404);
    expect((await authorize(bobToken, 'bob-web', Code, s.json.grant)).status).toBe(200);
    expect((await collect(t, Secret)).status).toBe(200);
  });

  it('steps up with a passkey assertion bound to this session and code', async () => {
    const t = tv('tv-su-10');
    const { Code, Secret } = await initiate(t);
    const origin = localOrigin(gw);
    const o = { token: bobPhoneToken, deviceId: 'bob-phone', origin };
    const opts = await api(gw, 'POST', '/JellyfinSecurity/StepUp/Passkey/Options', { ...o, body: { action: 'QuickConnectAuthorize', target: Code } });
    expect(opts.status, opts.text).toBe(200);
    // The same assertion offered by another session is refused.
    const assertion = bobKey.get(opts.json);
    const foreign = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: bobToken,
      deviceId: 'bob-web',
      origin,
      body: { action: 'QuickConnectAuthorize', target: Code, method: 'passkey', response: assertion },
    });
    expect(foreign.status).toBe(401);
    const opts2 = await api(gw, 'POST', '/JellyfinSecurity/StepUp/Passkey/Options', { ...o, body: { action: 'QuickConnectAuthorize', target: Code } });
    const g = await api(gw, 'POST', '/JellyfinSecurity/StepUp', { ...o, body: { action: 'QuickConnectAuthorize', target: Code, method: 'passkey', response: bobKey.get(opts2.json) } });
    expect(g.status, g.text).toBe(200);
    expect((await authorize(bobPhoneToken, 'bob-phone', Code, g.json.grant)).status).toBe(200);
    expect((await collect(t, Secret)).status).toBe(200);
  });

  it('refuses a Jellyfin API key (it cannot step up), forwarding nothing', async () => {
    const { Code } = await initiate(tv('tv-su-11'));
    const before = authorizeRequests();
    const r = await fetch(`${gw.url}/QuickConnect/Authorize?code=${Code}&userId=${jf.user('bob').id}`, { method: 'POST', headers: { 'x-emby-token': apiKey } });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: string }).error).toBe('step_up_unavailable');
    expect(authorizeRequests()).toBe(before);
  });

  it('refuses a code the gateway never saw initiated, even with a valid proof', async () => {
    // Initiated directly at Jellyfin, behind the gateway's back.
    const direct = await fetch(`${jf.url}/QuickConnect/Initiate`, {
      method: 'POST',
      headers: { authorization: 'MediaBrowser Client="Sneaky", Device="Box", DeviceId="sneaky-1", Version="1"' },
    });
    const { Code } = (await direct.json()) as { Code: string };
    tick();
    const before = authorizeRequests();
    const r = await authorize(bobToken, 'bob-web', Code, await code(bobSecret, gw));
    expect(r.status).toBe(404);
    expect(authorizeRequests()).toBe(before);
  });
});

describe('behind the gateway’s back', () => {
  it('a code authorised directly at Jellyfin yields a token the gate refuses', async () => {
    const t = tv('tv-back-1');
    const { Code, Secret } = await initiate(t);
    jf.authorizeQuickConnectDirect(Code, jf.user('bob').id);
    const got = await collect(t, Secret);
    expect(got.status).toBe(403);
    // The token collected directly at Jellyfin is useless through the gateway (and was revoked).
    const direct = await fetch(`${jf.url}/Users/AuthenticateWithQuickConnect`, {
      method: 'POST',
      headers: { authorization: t.authorizationHeader, 'content-type': 'application/json' },
      body: JSON.stringify({ Secret }),
    });
    if (direct.status === 200) {
      const token = ((await direct.json()) as { AccessToken: string }).AccessToken;
      expect(await worksThroughGateway(token)).toBe(401);
    }
    expect(audit.some((e) => e.type === 'login.quickconnect.refused')).toBe(true);
  });
});
