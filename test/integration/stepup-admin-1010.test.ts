import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { login, send, variantsOf } from './stepup-admin-helpers.ts';

/**
 * The same administrator step-up in front of Jellyfin 10.10 with no BaseUrl, and without the gateway's
 * own API key (the gateway reads a user's policy with the administrator's own token): every spelling
 * Jellyfin routes is asked for a proof, and none reaches the action.
 */
let jf: Emulator;
let gw: TestGateway;
let root = '';

beforeAll(async () => {
  jf = await startEmulator({ version: '10.10', users: [{ name: 'root', password: 'root-pw', isAdministrator: true }, { name: 'bob', password: 'bob-pw' }] });
  gw = await startGateway({ upstreamUrl: jf.url });
  root = await login(gw, '', 'root', 'root-pw', 'root-1010');
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

describe('Jellyfin 10.10, no BaseUrl, no API key', () => {
  it('every spelling of the administrator routes is asked for a proof, and none is forwarded', async () => {
    const bob = () => jf.user('bob').id;
    const cases: Array<[string, string, unknown, string, string]> = [
      ['POST', '/Users/New', { Name: 'mallory' }, 'POST Users/New', 'Create user mallory'],
      ['POST', `/Users/${bob()}/Policy`, { IsAdministrator: true, AuthenticationProviderId: 'a', PasswordResetProviderId: 'b' }, 'POST Users/{userId}/Policy', 'Make bob an administrator'],
      ['DELETE', `/Users/${bob()}`, undefined, 'DELETE Users/{userId}', 'Delete user bob'],
      ['POST', '/System/Configuration', { ServerName: 'x' }, 'POST System/Configuration', 'Change server settings'],
      ['POST', '/Auth/Keys?app=Thief', undefined, 'POST Auth/Keys', 'Create an API key “Thief”'],
      ['POST', '/System/Restart', undefined, 'POST System/Restart', 'Restart the server'],
    ];
    for (const [method, path, body, reaches, label] of cases) {
      let routed = 0;
      for (const variant of variantsOf('', path)) {
        const before = jf.reached(reaches);
        if (reaches !== 'POST System/Restart') await send(new URL(jf.url).origin, method, variant, { body }); // anonymous: counted, then refused
        const isRoute = reaches === 'POST System/Restart' ? !variant.includes(';') : jf.reached(reaches) === before + 1;
        const base = jf.reached(reaches);
        const r = await send(gw.url, method, variant, { token: root, deviceId: 'root-1010', body });
        expect(jf.reached(reaches), `${method} ${variant} was forwarded`).toBe(base);
        if (!isRoute) continue;
        routed++;
        expect(r.status, `${method} ${variant}: ${r.text}`).toBe(401);
        if (!variant.includes(';')) expect(r.json.label, variant).toBe(label);
      }
      expect(routed, path).toBeGreaterThanOrEqual(9);
    }
    expect(jf.user('bob').isAdministrator).toBe(false);
    expect(jf.restarts).toBe(0);
  });
});
