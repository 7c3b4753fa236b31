import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ManualClock } from '../../server/clock.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { api, login, mbHeader, raw, tokenOf } from './guard-helpers.ts';

/**
 * Bans that fit a household (DESIGN: brute force): most homes sit behind one public address, so one
 * person's typos must not stop the others, and a ban never stops what the gateway already let in. Real
 * gateway, the Jellyfin emulator, real client addresses (127.0.0.x: each test its own).
 */
let jf: Emulator;
let gw: TestGateway;
let clock: ManualClock;
let adminToken: string;
const ADMIN_IP = '127.0.0.250';
/** CodeFailuresPerAddress for this gateway (default 20): low enough to reach with two users in a test. */
const CODE_LIMIT = 12;

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'root', password: 'root-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' },
      { name: 'alice', password: 'alice-pw' },
      { name: 'carol', password: 'carol-pw' },
      { name: 'dan', password: 'dan-pw' },
      { name: 'eve', password: 'eve-pw' },
      { name: 'fay', password: 'fay-pw' },
      { name: 'gus', password: 'gus-pw' },
    ],
  });
  clock = new ManualClock();
  gw = await startGateway({
    upstreamUrl: jf.url,
    clock,
    config: { JellyfinApiKey: jf.createApiKey('jellyguard'), MaxFailedAttempts: 5, LockoutDuration: 900, CodeFailuresPerAddress: CODE_LIMIT },
  });
  adminToken = tokenOf(await login(gw.url, 'root', 'root-pw', { from: ADMIN_IP, deviceId: 'root-laptop' }));
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

interface BanItem {
  id: number;
  scope: string;
  address: string | null;
  user: string | null;
  reason: string;
  strikes: number;
}

async function bans(): Promise<BanItem[]> {
  return ((await api(gw.url, '/Bans', adminToken, { from: ADMIN_IP })).json as { items: BanItem[] }).items;
}

function openSocket(from: string, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/socket`, { localAddress: from, headers: token ? { authorization: mbHeader('bob-tv', token) } : {} });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
}

/** A user enrolls TOTP through the API (signed in from `from`); returns the secret. */
async function enrollTotp(name: string, password: string, from: string): Promise<string> {
  const setup = tokenOf(await login(gw.url, name, password, { from, deviceId: `${name}-setup` }));
  const secret = ((await api(gw.url, '/Me/TOTP', setup, { method: 'POST', from })).json as { secret: string }).secret;
  const confirmed = await api(gw.url, '/Me/TOTP/Confirm', setup, { method: 'POST', body: { code: await totpCodeAt(secret, clock.now()) }, from });
  expect(confirmed.status, confirmed.text).toBe(200);
  return secret;
}

/** A password login held behind a second-factor challenge: its id. */
async function challengeFor(name: string, password: string, from: string, deviceId: string): Promise<string> {
  const held = await login(gw.url, name, password, { from, deviceId });
  expect(held.json, held.text).toMatchObject({ error: 'second_factor_required' });
  return (held.json as { challengeId: string }).challengeId;
}

/** A wrong (but whole) TOTP code for a secret now. */
async function wrongCode(secret: string): Promise<string> {
  const right = await totpCodeAt(secret, clock.now());
  return right === '000000' ? '111111' : '000000';
}

function verifyTotp(challengeId: string, code: string, from: string) {
  return api(gw.url, '/VerifyTOTP', undefined, { method: 'POST', body: { challengeId, code }, from });
}

describe('a ban stops guesses and anonymous traffic, never a verified session', () => {
  it("another user's TV, signed in before, keeps working while the household's address is banned", async () => {
    const home = '127.0.0.60';
    const tv = tokenOf(await login(gw.url, 'bob', 'bob-pw', { from: home, deviceId: 'bob-tv' }));
    const asTv = { authorization: mbHeader('bob-tv', tv) };
    // Someone at home gets alice's password wrong five times: the address is banned.
    for (let i = 0; i < 5; i++) expect((await login(gw.url, 'alice', `guess-${i}`, { from: home })).status).toBe(401);
    expect((await login(gw.url, 'alice', 'alice-pw', { from: home })).status).toBe(429);

    // bob's TV: the proxied API (the short path and the pipeline's interceptors), our own API, its WebSocket.
    expect((await raw(gw.url, '/Users/Me', { from: home, headers: asTv })).status).toBe(200);
    expect((await raw(gw.url, '/System/Info', { from: home, headers: asTv })).status).toBe(200);
    expect((await raw(gw.url, '/JellyfinSecurity/Me', { from: home, headers: asTv })).status).toBe(200);
    expect(await openSocket(home, tv)).toBe(101);

    // Anonymous traffic, sign-in attempts and tokens the gateway never verified are still refused.
    expect((await raw(gw.url, '/System/Info/Public', { from: home })).status).toBe(429);
    expect((await raw(gw.url, '/Users/Me', { from: home, headers: { authorization: mbHeader('x', 'f'.repeat(32)) } })).status).toBe(429);
    expect(await openSocket(home)).toBe(403);
    const qc = await raw(gw.url, '/QuickConnect/Initiate', { method: 'POST', from: home, headers: { authorization: mbHeader('new-tv') } });
    expect(qc.status).toBe(429);
    // A verified session cannot carry a sign-in attempt past the ban either: the login's own check refuses it.
    const withToken = await login(gw.url, 'alice', 'alice-pw', { from: home, headers: { authorization: mbHeader('bob-tv', tv) } });
    expect(withToken.status).toBe(429);
    expect(withToken.json).toMatchObject({ error: 'address_banned', message: expect.stringContaining('Devices that are already signed in keep working') });
    expect(withToken.json).toMatchObject({ message: expect.stringContaining('Admin → Bans') });
  });

  it('the pages a person opens render under a ban (never raw JSON); their API calls get the ban', async () => {
    const home = '127.0.0.61';
    for (let i = 0; i < 5; i++) await login(gw.url, `nobody-${i}`, 'x', { from: home });
    expect((await raw(gw.url, '/System/Info/Public', { from: home })).status).toBe(429);
    for (const page of ['/JellyfinSecurity/login', '/JellyfinSecurity/app', '/JellyfinSecurity/pair']) {
      let r = await raw(gw.url, page, { from: home });
      if (r.status === 302) r = await raw(gw.url, r.headers.location!, { from: home }); // to the page's own folder
      expect(r.status, page).toBe(200);
      expect(r.headers['content-type'], page).toMatch(/text\/html/);
    }
    // The page's first API call is answered with the ban, which the page shows in words.
    const options = await raw(gw.url, '/JellyfinSecurity/LoginOptions', { from: home });
    expect(options.status).toBe(429);
    expect(options.json).toMatchObject({ error: 'address_banned' });
    // Any other page a browser opens (jellyfin-web) is still refused, but in words, never raw JSON.
    const web = await raw(gw.url, '/web/', { from: home, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(web.status).toBe(429);
    expect(web.headers['content-type']).toMatch(/text\/html/);
    expect(web.text).toContain('Devices that are already signed in keep working');
    expect(web.text).toContain('href="/JellyfinSecurity/login/"');
    expect(jf.requests.some((r) => r.url.startsWith('/web'))).toBe(false);
    // Not a way around the ban for anything else under our prefix.
    expect((await raw(gw.url, '/JellyfinSecurity/login', { method: 'POST', from: home })).status).toBe(429);
  });
});

describe('wrong codes: the challenge ends, the user pauses, the address is counted only at CodeFailuresPerAddress', () => {
  it("five typos of one person end her challenge but do not ban the household's address nor lock her name", async () => {
    const home = '127.0.0.70';
    const secret = await enrollTotp('carol', 'carol-pw', '127.0.0.71');
    const challengeId = await challengeFor('carol', 'carol-pw', home, 'carol-laptop');
    const wrong = await wrongCode(secret);
    for (let left = 4; left >= 1; left--) {
      const r = await verifyTotp(challengeId, wrong, home);
      expect(r.status).toBe(401);
      expect(r.json).toMatchObject({ error: 'invalid_code', attemptsLeft: left });
    }
    const last = await verifyTotp(challengeId, wrong, home);
    expect(last.json).toMatchObject({ error: 'challenge_failed', attemptsLeft: 0, message: expect.stringContaining('Sign in again to get new tries') });

    // The address is not banned: the household goes on (anonymous pages, another user's sign-in).
    expect((await raw(gw.url, '/System/Info/Public', { from: home })).status).toBe(200);
    expect((await login(gw.url, 'dan', 'dan-pw', { from: home, deviceId: 'dan-phone' })).status).toBe(200);
    expect((await bans()).filter((b) => b.address === home || b.user === 'carol')).toEqual([]);
    // Her name is not locked: signing in again gives her a new challenge, and her right code gets her in.
    clock.advance(30_000);
    const again = await challengeFor('carol', 'carol-pw', home, 'carol-laptop');
    const ok = await verifyTotp(again, await totpCodeAt(secret, clock.now()), home);
    expect(ok.status, ok.text).toBe(200);
  });

  it('an incomplete code is not a try: 400 with what to type, nothing counted', async () => {
    const home = '127.0.0.72';
    const secret = await enrollTotp('eve', 'eve-pw', '127.0.0.73');
    const challengeId = await challengeFor('eve', 'eve-pw', home, 'eve-laptop');
    for (const code of ['12345', '1234567', '12a456', '-']) {
      const r = await verifyTotp(challengeId, code, home);
      expect(r.status, code).toBe(400);
      expect(r.json, code).toMatchObject({ error: 'incomplete_code', message: 'Enter all 6 digits of the code your authenticator app shows.' });
    }
    for (const [path, code] of [['/VerifyRecoveryCode', 'ABC'], ['/VerifyEmailOTP', '12']] as const) {
      const r = await api(gw.url, path, undefined, { method: 'POST', body: { challengeId, code }, from: home });
      // A method the user does not have is refused first (method_unavailable): neither counts.
      expect(r.status, path).toBe(400);
    }
    const info = (await api(gw.url, `/Challenge/${challengeId}`, undefined, { from: home })).json as { attemptsLeft: number };
    expect(info.attemptsLeft).toBe(5);
    const guard = gw.gateway.services.guard;
    expect(guard.failures('totp', 'address', home)).toBe(0);
    // Spaces and a dash around a whole code are fine.
    clock.advance(30_000);
    const right = await totpCodeAt(secret, clock.now());
    const ok = await verifyTotp(challengeId, `${right.slice(0, 3)} ${right.slice(3)}`, home);
    expect(ok.status, ok.text).toBe(200);
  });

  it('the address is banned only at CodeFailuresPerAddress wrong codes, as one row that says why', async () => {
    const home = '127.0.0.74';
    const secrets = { fay: await enrollTotp('fay', 'fay-pw', '127.0.0.75'), dan: await enrollTotp('dan', 'dan-pw', '127.0.0.75') };
    let sent = 0;
    for (const name of ['fay', 'dan'] as const) {
      for (let round = 0; round < 2 && sent < CODE_LIMIT - 1; round++) {
        const challengeId = await challengeFor(name, `${name}-pw`, home, `${name}-laptop`);
        for (let i = 0; i < 5 && sent < CODE_LIMIT - 1; i++, sent++) await verifyTotp(challengeId, await wrongCode(secrets[name]), home);
      }
    }
    expect(sent).toBe(CODE_LIMIT - 1);
    expect((await raw(gw.url, '/System/Info/Public', { from: home })).status).toBe(200);
    const challengeId = await challengeFor('dan', 'dan-pw', home, 'dan-laptop');
    await verifyTotp(challengeId, await wrongCode(secrets.dan), home);
    expect((await raw(gw.url, '/System/Info/Public', { from: home })).status).toBe(429);
    const rows = (await bans()).filter((b) => b.address === home || b.user === 'dan' || b.user === 'fay');
    expect(rows).toEqual([expect.objectContaining({ scope: 'address', address: home, reason: `${CODE_LIMIT} wrong authenticator codes, the last for dan`, strikes: 1 })]);
  });
});

describe("the owner's own phone", () => {
  it('looks up a TV code ("Sign in a TV") while the name is locked by someone else\'s guesses', async () => {
    const phone = tokenOf(await login(gw.url, 'gus', 'gus-pw', { from: '127.0.0.90', deviceId: 'gus-phone' }));
    for (let i = 0; i < 5; i++) await login(gw.url, 'gus', `spread-${i}`, { from: `127.0.2.${10 + i}` });
    expect((await bans()).some((b) => b.scope === 'user' && b.user === 'gus')).toBe(true);
    const tv = await raw(gw.url, '/QuickConnect/Initiate', { method: 'POST', from: '127.0.0.91', headers: { authorization: mbHeader('living-room-tv', undefined, 'Jellyfin Android TV') } });
    expect(tv.status, tv.text).toBe(200);
    const code = (tv.json as { Code: string }).Code;
    const lookup = await api(gw.url, `/Pair/Lookup?code=${code}`, phone, { from: '127.0.0.90' });
    expect(lookup.status, lookup.text).toBe(200);
  });
});

describe('one incident is one ban row that says why', () => {
  it('five wrong passwords from one address: one address ban, not three rows; a repeat strikes the same row', async () => {
    const from = '127.0.0.80';
    for (let i = 0; i < 5; i++) await login(gw.url, 'alice', `guess-${i}`, { from });
    let rows = (await bans()).filter((b) => b.address === from || b.user === 'alice');
    expect(rows).toEqual([expect.objectContaining({ scope: 'address', address: from, user: null, reason: '5 wrong passwords, the last for alice', strikes: 1 })]);
    // alice herself, elsewhere, is not locked out by it.
    expect((await login(gw.url, 'alice', 'alice-pw', { from: '127.0.0.81', deviceId: 'alice-new-phone' })).status).toBe(200);

    clock.advance(900_000); // the ban ends; it is remembered for escalation
    for (let i = 0; i < 5; i++) await login(gw.url, 'alice', `again-${i}`, { from });
    rows = (await bans()).filter((b) => b.address === from || b.user === 'alice');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ scope: 'address', strikes: 2 });
  });

  it('guesses spread over many addresses lock the name alone, with its reason', async () => {
    for (let i = 0; i < 5; i++) await login(gw.url, 'bob', `spread-${i}`, { from: `127.0.1.${10 + i}` });
    const rows = (await bans()).filter((b) => b.user === 'bob' || (b.address ?? '').startsWith('127.0.1.'));
    expect(rows).toEqual([expect.objectContaining({ scope: 'user', user: 'bob', reason: '5 wrong passwords for bob' })]);
  });
});
