import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/index.ts';
import { SessionMinter, type DeviceFields } from '../../server/login/mint.ts';
import { HttpError } from '../../server/errors.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { getUserApi, jellyfinClient } from '../helpers/sdk.ts';
import { tapAudit } from './factors-helpers.ts';

/**
 * Minting a session for a user the gateway authenticated itself: Quick Connect initiated as the browser,
 * authorised with the gateway's API key naming the user, exchanged. The session is the browser's own at
 * Jellyfin, its token works through the gateway (the gateway's Quick Connect interceptor never sees it),
 * and every refusal (Quick Connect off, no API key, a disabled user) is a clear error that changes nothing.
 */
let jf: Emulator;
let gw: TestGateway;
let noKey: TestGateway;
const audit: AuditEvent[] = [];

const browser: DeviceFields = { client: 'Jellyfin Web', device: 'Chrome', deviceId: 'TW96aWxsYS81LjAgKFgxMSk7|1733400000000', version: '10.11.11' };

function minter(g: TestGateway): SessionMinter {
  const s = g.gateway.services;
  return new SessionMinter({
    proxy: s.proxy, jellyfin: s.jellyfin, tokens: s.tokens, users: s.users, baseUrl: s.config.BaseUrl,
    log: () => {}, audit: s.audit,
  });
}

async function status(url: string, token: string): Promise<number> {
  return (await fetch(`${url}/Users/Me`, { headers: { authorization: `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="x", Version="1", Token="${token}"` } })).status;
}

async function mintError(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HttpError) return e;
    throw e;
  }
  throw new Error('minted where it must not');
}

beforeAll(async () => {
  jf = await startEmulator({ users: [{ name: 'admin', password: 'admin-pw', isAdministrator: true }, { name: 'dana', password: 'dana-pw' }] });
  const apiKey = jf.createApiKey('jellyguard');
  gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey } });
  noKey = await startGateway({ upstreamUrl: jf.url });
  tapAudit(gw, audit);
});

afterAll(async () => {
  await gw?.close();
  await noKey?.close();
  await jf?.close();
});

describe('minting a session through Quick Connect', () => {
  it("gives the browser Jellyfin's own AuthenticationResult for its own DeviceId, and the token works through the gateway", async () => {
    const dana = jf.user('dana');
    const minted = await minter(gw).mint({ userId: dana.id, device: browser, ip: '203.0.113.7', method: 'oidc' });
    expect(minted.result.userId).toBe(dana.id);
    const body = minted.body as { AccessToken: string; ServerId: string; User: { Id: string; Name: string }; SessionInfo: { DeviceId: string; Client: string; DeviceName: string } };
    expect(body.User).toMatchObject({ Id: dana.id, Name: 'dana' });
    expect(body.ServerId).toBe(jf.serverId);
    expect(body.SessionInfo).toMatchObject({ DeviceId: browser.deviceId, Client: 'Jellyfin Web', DeviceName: 'Chrome' });
    expect(jf.isTokenValid(body.AccessToken)).toBe(true);
    // Verified at the gate at once, and known as this browser's session.
    expect(await status(gw.url, body.AccessToken)).toBe(200);
    const entry = gw.gateway.tokens.forUser(dana.id).find((t) => t.deviceId === browser.deviceId);
    expect(entry).toMatchObject({ state: 'verified', method: 'oidc', client: 'Jellyfin Web', ip: '203.0.113.7' });
    // The SDK, as the browser, sees the same user with that token.
    const api = jellyfinClient(gw.url, { client: browser.client, device: browser.device, deviceId: browser.deviceId });
    api.accessToken = body.AccessToken;
    const me = await getUserApi(api).getCurrentUser();
    expect(me.data.Name).toBe('dana');
    // What went to Jellyfin: Initiate and the exchange as the browser, Authorize with the API key naming dana.
    const qc = jf.requests.filter((r) => /quickconnect|authenticatewithquickconnect/i.test(r.url));
    const initiate = qc.find((r) => /initiate/i.test(r.url))!;
    expect(String(initiate.headers.authorization)).toContain(`DeviceId="${encodeURIComponent(browser.deviceId)}"`);
    expect(initiate.headers['x-forwarded-for']).toBe('203.0.113.7');
    const authorize = qc.find((r) => /authorize/i.test(r.url))!;
    expect(authorize.url).toContain(`userId=${dana.id}`);
    expect(audit.some((e) => e.type === 'session.minted' && e.userId === dana.id && e.detail?.method === 'oidc')).toBe(true);
  });

  it('a second sign-in of the same browser replaces its earlier session, at Jellyfin and at the gate', async () => {
    const dana = jf.user('dana');
    const first = await minter(gw).mint({ userId: dana.id, device: { ...browser, deviceId: 'dana-laptop' }, ip: '127.0.0.1', method: 'oidc' });
    const second = await minter(gw).mint({ userId: dana.id, device: { ...browser, deviceId: 'dana-laptop' }, ip: '127.0.0.1', method: 'oidc' });
    expect(second.result.accessToken).not.toBe(first.result.accessToken);
    expect(jf.isTokenValid(first.result.accessToken)).toBe(false);
    expect(await status(gw.url, first.result.accessToken)).toBe(401);
    expect(await status(gw.url, second.result.accessToken)).toBe(200);
  });

  it('Quick Connect turned off at Jellyfin: a clear 503, audited, no token anywhere; the password sign-in still works', async () => {
    const dana = jf.user('dana');
    const before = gw.gateway.tokens.size;
    jf.quickConnectEnabled = false;
    try {
      const e = await mintError(minter(gw).mint({ userId: dana.id, device: { ...browser, deviceId: 'qc-off' }, ip: '127.0.0.1', method: 'oidc' }));
      expect(e.status).toBe(503);
      expect(e.code).toBe('quick_connect_disabled');
      expect(e.message).toMatch(/Quick Connect/);
      expect(gw.gateway.tokens.size).toBe(before);
      expect(audit.some((x) => x.type === 'session.mint.failed' && x.detail?.reason === 'quick_connect_disabled')).toBe(true);
      const pw = await fetch(`${gw.url}/Users/AuthenticateByName`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="pw-1", Version="10.11.11"' },
        body: JSON.stringify({ Username: 'dana', Pw: 'dana-pw' }),
      });
      expect(pw.status).toBe(200);
    } finally {
      jf.quickConnectEnabled = true;
    }
  });

  it('no API key configured: a clear 503 before anything reaches Jellyfin', async () => {
    const dana = jf.user('dana');
    const n = jf.requests.length;
    const e = await mintError(minter(noKey).mint({ userId: dana.id, device: browser, ip: '127.0.0.1', method: 'oidc' }));
    expect(e.status).toBe(503);
    expect(e.code).toBe('sso_needs_api_key');
    expect(jf.requests.length).toBe(n);
  });

  it('a user disabled at Jellyfin is refused (Quick Connect alone would sign them in) and nothing is initiated', async () => {
    const erin = jf.addUser('erin', 'erin-pw');
    const adminToken = jf.loginDirect('admin', 'admin-pw');
    const policy = await fetch(`${jf.url}/Users/${erin.id}/Policy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-emby-token': adminToken },
      body: JSON.stringify({ IsDisabled: true, AuthenticationProviderId: 'x', PasswordResetProviderId: 'y' }),
    });
    expect(policy.status).toBe(204);
    const initiates = jf.requests.filter((r) => /initiate/i.test(r.url)).length;
    const e = await mintError(minter(gw).mint({ userId: erin.id, device: browser, ip: '127.0.0.1', method: 'oidc' }));
    expect(e.status).toBe(403);
    expect(e.code).toBe('user_disabled');
    expect(jf.requests.filter((r) => /initiate/i.test(r.url)).length).toBe(initiates);
  });

  it('a browser that does not name its device fields gets 400', async () => {
    const e = await mintError(minter(gw).mint({ userId: jf.user('dana').id, device: { ...browser, deviceId: '' }, ip: '127.0.0.1', method: 'oidc' }));
    expect(e.status).toBe(400);
  });
});
