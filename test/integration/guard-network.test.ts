import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { api, login, raw, tokenOf } from './guard-helpers.ts';

/**
 * Network rules through the real gateway: LAN bypass (and SEC-H3), forwarding headers from trusted and
 * untrusted peers, per-user IP allowlists, and API keys at a banned address.
 */
let jf: Emulator;
let apiKey: string;
const gateways: TestGateway[] = [];

async function gateway(config: Partial<ConfigInput>): Promise<TestGateway> {
  // StepUpLevel None: this file is about the admin endpoints themselves; their fresh proof is tested in stepup-admin.test.ts.
  const gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey, StepUpLevel: 'None', ...config } });
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'root', password: 'root-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' },
      { name: 'carol', password: 'carol-pw' },
    ],
  });
  apiKey = jf.createApiKey('jellyguard');
});

afterAll(async () => {
  for (const g of gateways) await g.close();
  await jf?.close();
});

describe('LAN bypass', () => {
  // Every user needs a second factor here, so a login that is released at once was a LAN bypass; one
  // that is not gets the second-factor challenge (401 JSON).
  const secondFactorFor = (a: { status: number; json: unknown }) => a.status === 401 && (a.json as { error?: string })?.error === 'second_factor_required';

  it('is off by default', async () => {
    const gw = await gateway({ EnforcementScope: 'All', LANBypassCIDRs: ['127.0.0.0/8'] });
    expect(secondFactorFor(await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.70' }))).toBe(true);
  });

  it('releases a LAN login through a trusted proxy; a forged X-Forwarded-For from an untrusted peer cannot claim a LAN address', async () => {
    const gw = await gateway({ EnforcementScope: 'All', LANBypassEnabled: true, LANBypassCIDRs: ['10.0.0.0/8'], TrustedProxyCIDRs: ['127.0.0.1/32'] });
    // Through the trusted proxy (peer 127.0.0.1) for a client at 10.1.2.3: LAN.
    const lan = await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.1', xff: '10.1.2.3', deviceId: 'lan-tv' });
    expect(lan.status).toBe(200);
    // Through the trusted proxy for an internet client: not LAN.
    expect(secondFactorFor(await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.1', xff: '198.51.100.7' }))).toBe(true);
    // An untrusted peer claiming 10.1.2.3: its header is not believed.
    expect(secondFactorFor(await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.71', xff: '10.1.2.3' }))).toBe(true);
    await gw.gateway.services.audit.flush();
    const ok = await gw.gateway.services.audit.query({ types: ['login.password.success'] }, { limit: 5, offset: 0 });
    expect(ok.items).toHaveLength(1);
    expect(ok.items[0]).toMatchObject({ ip: '10.1.2.3' });
    expect(JSON.parse(ok.items[0]!.detail!)).toEqual({ method: 'lan_bypass' });
  });

  it('SEC-H3: a trusted proxy that sent no X-Forwarded-For is never a LAN client', async () => {
    const gw = await gateway({ EnforcementScope: 'All', LANBypassEnabled: true, LANBypassCIDRs: ['127.0.0.0/8'], TrustedProxyCIDRs: ['127.0.0.1/32'] });
    expect(secondFactorFor(await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.1' }))).toBe(true);
    // A real LAN client (not a proxy) is.
    expect((await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.72' })).status).toBe(200);
    expect(gw.gateway.services.guard.isLanBypass({ ip: '127.0.0.1', proxyWithoutForwarding: true })).toBe(false);
  });
});

describe('behind a trusted proxy', () => {
  it('bans the client the proxy names, not the proxy; a client cannot dodge by prepending addresses', async () => {
    const gw = await gateway({ TrustedProxyCIDRs: ['127.0.0.1/32'] });
    for (let i = 0; i < 5; i++) await login(gw.url, 'bob', `guess-${i}`, { from: '127.0.0.1', xff: `10.9.9.${i}, 203.0.113.5` });
    expect((await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.1', xff: '1.2.3.4, 203.0.113.5' })).status).toBe(429);
    expect((await raw(gw.url, '/System/Info/Public', { from: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.6' } })).status).toBe(200);
  });

  it('a Jellyfin API key and a verified session still work from a banned address (APIKeyBypassEnabled); an unknown token does not', async () => {
    const gw = await gateway({ TrustedProxyCIDRs: ['127.0.0.1/32'] });
    const bob = tokenOf(await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.1', xff: '203.0.113.77', deviceId: 'bob-phone' }));
    for (let i = 0; i < 5; i++) await login(gw.url, `nobody-${i}`, 'x', { from: '127.0.0.1', xff: '203.0.113.77' });
    const sonarr = jf.createApiKey('sonarr');
    await gw.gateway.services.apiKeys.refresh();
    const withKey = await raw(gw.url, '/Sessions', { from: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.77', 'x-emby-token': sonarr } });
    expect(withKey.status).toBe(200);
    // bob signed in before the ban: the gateway verified his session, and a ban never stops it.
    const withUser = await raw(gw.url, '/Sessions', { from: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.77', 'x-emby-token': bob } });
    expect(withUser.status).toBe(200);
    const mixed = await raw(gw.url, `/Sessions?api_key=${bob}`, { from: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.77', 'x-emby-token': sonarr } });
    expect(mixed.status).toBe(200);
    // A token the gateway never verified is anonymous traffic as far as the ban goes.
    const unknown = await raw(gw.url, `/Sessions?api_key=${'e'.repeat(32)}`, { from: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.77', 'x-emby-token': sonarr } });
    expect(unknown.status).toBe(429);
  });
});

describe('per-user IP allowlists', () => {
  let gw: TestGateway;
  let root: string;
  let bob: string;
  beforeAll(async () => {
    gw = await gateway({});
    root = tokenOf(await login(gw.url, 'root', 'root-pw', { from: '127.0.0.80', deviceId: 'root-pc' }));
    bob = tokenOf(await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.81', deviceId: 'bob-pc' }));
  });

  it('admins manage them; users see their own; others may not', async () => {
    const bobId = jf.user('bob').id;
    expect((await api(gw.url, `/Users/${bobId}/AllowedIPs`, undefined, { from: '127.0.0.80' })).status).toBe(401);
    expect((await api(gw.url, `/Users/${bobId}/AllowedIPs`, bob, { method: 'PUT', body: { cidrs: ['0.0.0.0/0'] }, from: '127.0.0.81' })).status).toBe(403);
    const bad = await api(gw.url, `/Users/${bobId}/AllowedIPs`, root, { method: 'PUT', body: { cidrs: ['127.0.0.82', 'not-an-ip'] }, from: '127.0.0.80' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'invalid_cidr', message: expect.stringContaining('not-an-ip') });
    expect((await api(gw.url, `/Users/${bobId}/AllowedIPs`, root, { method: 'PUT', body: { cidr: [] }, from: '127.0.0.80' })).status).toBe(400);
    expect(((await api(gw.url, '/Me/AllowedIPs', bob, { from: '127.0.0.81' })).json as { cidrs: string[] }).cidrs).toEqual([]);

    const set = await api(gw.url, `/Users/${bobId}/AllowedIPs`, root, { method: 'PUT', body: { cidrs: ['127.0.0.82/31', ' 127.0.0.84 '] }, from: '127.0.0.80' });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ userId: bobId, cidrs: ['127.0.0.82/31', '127.0.0.84'] });
    const mine = await api(gw.url, '/Me/AllowedIPs', bob, { from: '127.0.0.81' });
    expect(mine.json).toMatchObject({ userId: bobId, cidrs: ['127.0.0.82/31', '127.0.0.84'], updatedBy: jf.user('root').id });
    await gw.gateway.services.audit.flush();
    expect((await gw.gateway.services.audit.query({ types: ['guard.allowlist.changed'] }, { limit: 5, offset: 0 })).total).toBe(1);
  });

  it('refuses a login from elsewhere before the password reaches Jellyfin', async () => {
    const attempts = jf.loginAttempts;
    const refused = await login(gw.url, 'Bob', 'bob-pw', { from: '127.0.0.85' });
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: 'address_not_allowed' });
    expect(jf.loginAttempts).toBe(attempts);
    expect((await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.83', deviceId: 'bob-pc' })).status).toBe(200);
    expect((await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.84', deviceId: 'bob-pc' })).status).toBe(200);
    // Lifting the restriction.
    expect((await api(gw.url, `/Users/${jf.user('bob').id}/AllowedIPs`, root, { method: 'PUT', body: { cidrs: [] }, from: '127.0.0.80' })).status).toBe(200);
    expect((await login(gw.url, 'bob', 'bob-pw', { from: '127.0.0.85', deviceId: 'bob-pc' })).status).toBe(200);
  });

  it('a user the gateway never saw is checked once Jellyfin names them: the token is revoked, never released', async () => {
    // Set behind the API (as if the name were unknown): the check happens after Jellyfin answers.
    const carolId = jf.user('carol').id;
    await gw.gateway.services.guard.setAllowedIps(carolId, ['127.0.0.90/32'], null);
    const logouts = () => jf.requests.filter((r) => r.method === 'POST' && /\/sessions\/logout/i.test(r.url)).length;
    const before = logouts();
    const refused = await login(gw.url, 'carol', 'carol-pw', { from: '127.0.0.91', deviceId: 'carol-pc' });
    expect(refused.status).toBe(403);
    expect(refused.text).not.toMatch(/accesstoken/i);
    expect(logouts()).toBe(before + 1);
    expect(gw.gateway.tokens.forUser(carolId)).toHaveLength(0);
    expect((await login(gw.url, 'carol', 'carol-pw', { from: '127.0.0.90', deviceId: 'carol-pc' })).status).toBe(200);
  });
});
