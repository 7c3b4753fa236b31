import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { jellyfinClient } from '../helpers/sdk.ts';
import { getQuickConnectApi } from '@jellyfin/sdk/lib/utils/api/quick-connect-api.js';
import { api, mbHeader, passwordLogin } from './factors-helpers.ts';

/**
 * An account with no second factor proves a factor change with its password again: checked at Jellyfin
 * (the session that check makes is ended at once), wrong passwords counted by the guard like any sign-in,
 * another account's password no proof. Within a few minutes of a password sign-in the session itself is
 * the proof — never for a session that came from Quick Connect. And bad input: request bodies sent
 * chunked (no Content-Length) over an endpoint's limit get a 413 that names the limit, on every endpoint
 * that reads a body, and the gateway keeps serving.
 */
let jf: Emulator;
let gw: TestGateway;
const clock = new ManualClock();
let noraToken = '';

async function tokenOf(user: string, pw: string, deviceId: string): Promise<string> {
  const a = await passwordLogin(gw, user, pw, { deviceId });
  expect(a.status, a.text).toBe(200);
  return (a.json as { AccessToken: string }).AccessToken;
}

const beginTotp = (token: string, stepUp?: string, deviceId = 'nora-web') => api(gw, 'POST', '/JellyfinSecurity/Me/TOTP', { token, deviceId, stepUp });
const passwordGrant = (token: string, password: string, deviceId = 'nora-web') =>
  api(gw, 'POST', '/JellyfinSecurity/StepUp', { token, deviceId, body: { action: 'AddTOTP', method: 'password', password } });

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'nora', password: 'nora-pw' }, // no factor
      { name: 'otto', password: 'otto-pw' }, // no factor either
    ],
  });
  gw = await startGateway({ upstreamUrl: jf.url, clock, config: { JellyfinApiKey: jf.createApiKey('jellyguard') } });
  noraToken = await tokenOf('nora', 'nora-pw', 'nora-web');
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

describe('the password again, for an account with no factor', () => {
  it('right after signing in with the password, the session itself is the proof', async () => {
    const r = await beginTotp(noraToken);
    expect(r.status, r.text).toBe(200);
    expect(r.json.secret).toMatch(/^[A-Z2-7]+$/);
  });

  it('a few minutes later it asks for the password: right → a grant, and the check leaves no session at Jellyfin', async () => {
    clock.advance(6 * 60_000);
    const asked = await beginTotp(noraToken);
    expect(asked.status).toBe(401);
    expect(asked.json).toMatchObject({ error: 'step_up_required', action: 'AddTOTP', methods: ['password'] });

    const before = jf.requests.length;
    const g = await passwordGrant(noraToken, 'nora-pw');
    expect(g.status, g.text).toBe(200);
    expect(g.json).toMatchObject({ status: 'granted', action: 'AddTOTP' });
    // The gateway logged in at Jellyfin as nora and logged that session out at once.
    const seen = jf.requests.slice(before);
    const login = seen.find((r) => /authenticatebyname/i.test(r.url));
    expect(login?.headers['x-forwarded-for']).toBe('127.0.0.1');
    const logout = seen.find((r) => /sessions\/logout/i.test(r.url));
    const token = /Token="([0-9a-f]{32})"/.exec(String(logout?.headers.authorization))?.[1];
    expect(token).toBeDefined();
    expect(jf.isTokenValid(token!)).toBe(false);
    expect(gw.gateway.tokens.lookup(token!)).toBeUndefined(); // and it never became a gateway session

    const r = await beginTotp(noraToken, g.json.grant);
    expect(r.status, r.text).toBe(200);
    expect((await beginTotp(noraToken, g.json.grant)).status).toBe(403); // spent
  });

  it('another account’s right password is no proof for this one', async () => {
    const g = await passwordGrant(noraToken, 'otto-pw');
    expect(g.status).toBe(401);
    expect(g.json.error).toBe('invalid_code');
  });

  it('a session that came from Quick Connect gets no grace: it must give the password', async () => {
    const stick = jellyfinClient(gw.url, { client: 'Jellyfin Android TV', device: 'Stick', deviceId: 'nora-stick' });
    const qc = getQuickConnectApi(stick);
    const { data } = await qc.initiateQuickConnect();
    // nora authorises it from her browser, proving it with her password.
    const g = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
      token: noraToken,
      deviceId: 'nora-web',
      body: { action: 'QuickConnectAuthorize', target: data.Code, method: 'password', password: 'nora-pw' },
    });
    expect(g.status, g.text).toBe(200);
    const auth = await fetch(`${gw.url}/QuickConnect/Authorize?code=${data.Code}`, {
      method: 'POST',
      headers: { authorization: mbHeader('nora-web', noraToken), 'x-jellyguard-stepup': g.json.grant },
    });
    expect(auth.status).toBe(200);
    const done = await fetch(`${gw.url}/Users/AuthenticateWithQuickConnect`, {
      method: 'POST',
      headers: { authorization: 'MediaBrowser Client="Jellyfin Android TV", Device="Stick", DeviceId="nora-stick", Version="1"', 'content-type': 'application/json' },
      body: JSON.stringify({ Secret: data.Secret }),
    });
    expect(done.status).toBe(200);
    const stickToken = ((await done.json()) as { AccessToken: string }).AccessToken;
    expect(gw.gateway.tokens.lookup(stickToken)?.method).toBe('quickconnect');
    // Moments after its sign-in, the stick still cannot change nora's factors without the password.
    const r = await beginTotp(stickToken, undefined, 'nora-stick');
    expect(r.status).toBe(401);
    expect(r.json.methods).toEqual(['password']);
  });

  it('guessed again and again: the guard counts it like any password and bans the address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await passwordGrant(noraToken, `guess-${i}`)).status);
    // otto's password (above) counted once already; the fifth failure bans the address.
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(4).every((s) => s === 429)).toBe(true);
    const banned = await passwordGrant(noraToken, 'nora-pw');
    expect(banned.status).toBe(429);
    expect(banned.json.error).toBe('address_banned');
    expect((await gw.gateway.services.guard.listBans()).some((b) => b.scope === 'address')).toBe(true);
    await gw.gateway.services.guard.liftAll({ userId: 'test', ip: '127.0.0.1' });
  });
});

describe('a household member mistyping the first code of a new app', () => {
  it('makes only that session wait: no ban of the address, the family’s other devices carry on', async () => {
    clock.advance(16 * 60_000);
    const token = await tokenOf('nora', 'nora-pw', 'nora-tablet');
    expect((await beginTotp(token, undefined, 'nora-tablet')).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      statuses.push((await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP/Confirm', { token, deviceId: 'nora-tablet', body: { code: '000000' } })).status);
    }
    expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    expect((await gw.gateway.services.guard.listBans()).some((b) => b.scope === 'address')).toBe(false);
    const tv = await tokenOf('otto', 'otto-pw', 'otto-living-room');
    expect((await fetch(`${gw.url}/Users/Me`, { headers: { authorization: mbHeader('otto-living-room', tv) } })).status).toBe(200);
  });
});

describe('changing the Jellyfin password through the gateway', () => {
  const change = (token: string, deviceId: string, body: unknown, userId = jf.user('otto').id) =>
    fetch(`${gw.url}/Users/${userId}/Password`, {
      method: 'POST',
      headers: { authorization: mbHeader(deviceId, token), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const works = async (token: string, deviceId: string) => (await fetch(`${gw.url}/Users/Me`, { headers: { authorization: mbHeader(deviceId, token) } })).status;

  it('a session guessing the current password is counted like a sign-in and signed out at the limit', async () => {
    clock.advance(16 * 60_000);
    const guesser = await tokenOf('otto', 'otto-pw', 'otto-guesser');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await change(guesser, 'otto-guesser', { CurrentPw: `guess-${i}`, NewPw: 'x' })).status);
    expect(statuses).toEqual([403, 403, 403, 403, 403]);
    expect(gw.gateway.tokens.lookup(guesser)).toBeUndefined(); // signed out (and the address is banned)
    expect((await gw.gateway.services.guard.listBans()).some((b) => b.scope === 'address' && b.reason.startsWith('5 wrong passwords'))).toBe(true);
    await gw.gateway.services.guard.liftAll({ userId: 'test', ip: '127.0.0.1' });
  });

  it('the right current password changes it, and every other session of the user is signed out', async () => {
    clock.advance(16 * 60_000);
    const tv = await tokenOf('otto', 'otto-pw', 'otto-tv');
    const web = await tokenOf('otto', 'otto-pw', 'otto-laptop');
    const r = await change(web, 'otto-laptop', { CurrentPw: 'otto-pw', NewPw: 'otto-new' });
    expect(r.status).toBe(204);
    expect(await works(web, 'otto-laptop')).toBe(200);
    expect(await works(tv, 'otto-tv')).toBe(401);
    expect(gw.gateway.tokens.lookup(tv)).toBeUndefined();
    const malformed = await fetch(`${gw.url}/Users/Password`, { method: 'POST', headers: { authorization: mbHeader('otto-laptop', web), 'content-type': 'application/json' }, body: '{"CurrentPw":' });
    expect(malformed.status).toBe(400);
  });
});

/** POST a chunked body of `size` bytes (no Content-Length) and read the answer. */
function postChunked(path: string, headers: Record<string, string>, size: number): Promise<{ status: number; json: any; connection: string | undefined }> {
  const url = new URL(path, gw.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, agent: false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined, connection: res.headers.connection });
      });
    });
    req.on('error', reject);
    const chunk = Buffer.from('{"Username":"' + 'a'.repeat(8178));
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('oversized chunked bodies', () => {
  it('every endpoint that reads a body answers 413 JSON naming its own limit, and nothing reaches Jellyfin', async () => {
    const token = await tokenOf('nora', 'nora-pw', 'nora-chunky');
    const anon = { authorization: 'MediaBrowser Client="c", Device="d", DeviceId="chunky", Version="1"' };
    const session = { authorization: mbHeader('nora-chunky', token) };
    const ottoId = jf.user('otto').id;
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['/Users/AuthenticateByName', anon, /^Sign-in requests are limited to 16384 bytes/],
      [`/Users/${ottoId}/Authenticate`, anon, /^Sign-in requests are limited to 16384 bytes/],
      ['/emby/users/authenticatebyname', anon, /^Sign-in requests are limited to 16384 bytes/],
      ['/Users/AuthenticateWithQuickConnect', anon, /^Quick Connect requests are limited to 16384 bytes/],
      ['/QuickConnect/Initiate', anon, /^Quick Connect requests are limited to 16384 bytes/],
      ['/Sessions/Logout', session, /^Sign-out requests are limited to 16384 bytes/],
      ['/JellyfinSecurity/VerifyTOTP', anon, /^Requests to \/JellyfinSecurity\/VerifyTOTP are limited to 65536 bytes/],
      ['/JellyfinSecurity/Approvals/Login', anon, /^Requests to \/JellyfinSecurity\/Approvals\/Login are limited to 65536 bytes/],
      ['/JellyfinSecurity/PairDevice', anon, /^Requests to \/JellyfinSecurity\/PairDevice are limited to 65536 bytes/],
      ['/JellyfinSecurity/StepUp', session, /^Requests to \/JellyfinSecurity\/StepUp are limited to 65536 bytes/],
      ['/JellyfinSecurity/Me/Phones', session, /^Requests to \/JellyfinSecurity\/Me\/Phones are limited to 65536 bytes/],
    ];
    const loginsBefore = jf.loginAttempts;
    for (const [path, headers, message] of cases) {
      const r = await postChunked(path, headers, 512 * 1024);
      expect(r.status, path).toBe(413);
      expect(r.json.error, path).toBe('payload_too_large');
      expect(r.json.message, path).toMatch(message);
      expect(r.connection, path).toBe('close');
    }
    expect(jf.loginAttempts).toBe(loginsBefore);
    // The same with a declared Content-Length, and the gateway still serves.
    const declared = await fetch(`${gw.url}/JellyfinSecurity/VerifyTOTP`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(70_000) });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { message: string }).message).toMatch(/limited to 65536 bytes/);
    expect((await fetch(`${gw.url}/Users/Me`, { headers: session })).status).toBe(200);
  });

  it('a body that never ends gets its 413 at once, and the connection is closed instead of held', async () => {
    const url = new URL('/Users/AuthenticateByName', gw.url);
    const started = Date.now();
    let status = 0;
    await new Promise<void>((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, agent: false });
      req.on('response', (res) => {
        status = res.statusCode ?? 0;
        res.resume();
      });
      const chunk = Buffer.alloc(4096, 0x61);
      const timer = setInterval(() => req.write(chunk), 20); // keeps sending, never ends
      const done = () => {
        clearInterval(timer);
        resolve();
      };
      req.on('error', done);
      req.on('close', done);
      setTimeout(done, 15_000).unref();
    });
    expect(status).toBe(413);
    const took = Date.now() - started;
    expect(took).toBeLessThan(12_000);
  });
});
