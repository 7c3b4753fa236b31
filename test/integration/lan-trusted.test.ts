import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { authHeader, jellyfinClient, sdkLogin } from '../helpers/sdk.ts';

/**
 * Jellyfin authorizes `POST /System/Restart` for an administrator OR any request from its LAN, token or not
 * (LocalAccessOrRequiresElevation). Behind the gateway every request comes from the gateway's address, so
 * without this rule anyone on the internet could restart the server through the gateway.
 */
let jf: Emulator;
let gw: TestGateway;
let apiKey: string;

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'alice', password: 'alice-pw' },
    ],
  });
  apiKey = jf.createApiKey('jellyguard');
  gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey } });
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

describe('routes Jellyfin trusts its LAN for', () => {
  it('Jellyfin itself restarts for an anonymous request from its LAN (what the gateway must not pass on)', async () => {
    const before = jf.restarts;
    expect((await fetch(`${jf.url}/System/Restart`, { method: 'POST' })).status).toBe(204);
    expect(jf.restarts).toBe(before + 1);
  });

  it('through the gateway, an anonymous restart is refused in every path form and never reaches Jellyfin', async () => {
    const before = jf.restarts;
    const seen = jf.requests.length;
    for (const path of ['/System/Restart', '/system/restart', '/emby/System/Restart', '/System//Restart/', '/System/%52estart', '/mediabrowser/system/RESTART']) {
      const res = await fetch(gw.url + path, { method: 'POST' });
      expect(res.status, path).toBe(401);
      expect(await res.json(), path).toMatchObject({ error: 'unauthenticated' });
    }
    expect(jf.restarts).toBe(before);
    expect(jf.requests.slice(seen).filter((r) => /restart/i.test(r.url))).toEqual([]);
  });

  it('a signed-in user who is not an administrator is refused (Jellyfin would let the LAN address pass); an administrator (with a fresh proof) and an API key restart', async () => {
    const before = jf.restarts;
    const alice = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'lan-alice' }), 'alice', 'alice-pw');
    const refused = await fetch(`${gw.url}/System/Restart`, { method: 'POST', headers: { authorization: authHeader(alice.token!, 'lan-alice') } });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'forbidden' });
    expect(jf.restarts).toBe(before);
    const admin = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'lan-admin' }), 'admin', 'admin-pw');
    // Restarting is an administrator action (StepUpLevel AdminActions): a fresh proof first.
    const asked = await fetch(`${gw.url}/System/Restart`, { method: 'POST', headers: { authorization: authHeader(admin.token!, 'lan-admin') } });
    expect(asked.status).toBe(401);
    expect(await asked.json()).toMatchObject({ error: 'step_up_required', action: 'RestartServer' });
    expect(jf.restarts).toBe(before);
    const grant = await fetch(`${gw.url}/JellyfinSecurity/StepUp`, {
      method: 'POST',
      headers: { authorization: authHeader(admin.token!, 'lan-admin'), 'content-type': 'application/json' },
      body: JSON.stringify({ method: 'password', action: 'RestartServer', target: null, password: 'admin-pw' }),
    });
    expect(grant.status).toBe(200);
    const proof = ((await grant.json()) as { grant: string }).grant;
    const done = await fetch(`${gw.url}/System/Restart`, { method: 'POST', headers: { authorization: authHeader(admin.token!, 'lan-admin'), 'x-jellyguard-stepup': proof } });
    expect(done.status).toBe(204);
    expect(jf.restarts).toBe(before + 1);
    const key = await fetch(`${gw.url}/System/Restart`, { method: 'POST', headers: { 'x-emby-token': apiKey } });
    expect(key.status).toBe(204);
    expect(jf.restarts).toBe(before + 2);
  });
});
