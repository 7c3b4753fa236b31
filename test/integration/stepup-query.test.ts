import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { login, mb, send } from './stepup-admin-helpers.ts';

/**
 * A stolen administrator session hides another user's id in a whole query encoded as one key:
 * `?userId%3D…`. Jellyfin's UrlDecodeQueryFeature splits such a query again and binds `userId`
 * (Jellyfin.Server/Middleware/UrlDecodeQueryFeature.cs), so the gate must read it too, or "change
 * dan's password" passes as the caller's own. Real gateway, the Jellyfin emulator.
 */
const BASE = '/jellyfin';
let jf: Emulator;
let gw: TestGateway;
let root = '';
let apiKey = '';

beforeAll(async () => {
  jf = await startEmulator({
    baseUrl: BASE,
    users: [
      { name: 'root', password: 'root-pw', isAdministrator: true },
      { name: 'dan', password: 'dan-pw' },
      { name: 'eve', password: 'eve-pw' },
    ],
  });
  apiKey = jf.createApiKey('probe');
  gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, clock: new ManualClock(), config: { BaseUrl: BASE, JellyfinApiKey: jf.createApiKey('jellyguard') } });
  root = await login(gw, BASE, 'root', 'root-pw', 'root-web');
}, 30_000);

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

const direct = () => new URL(jf.url).origin;
const signsIn = async (user: string, pw: string) =>
  (await send(direct(), 'POST', `${BASE}/Users/AuthenticateByName`, { headers: { authorization: mb('probe-dev') }, body: { Username: user, Pw: pw } })).status === 200;

describe("another user's password, the userId hidden in an encoded query", () => {
  it('Jellyfin (the emulator) binds userId from ?userId%3D… and changes that user’s password', async () => {
    const r = await send(direct(), 'POST', `${BASE}/Users/Password?userId%3D${jf.user('eve').id}`, { headers: { authorization: `MediaBrowser Token="${apiKey}"` }, body: { NewPw: 'changed' } });
    expect(r.status, r.text).toBe(204);
    expect(await signsIn('eve', 'changed')).toBe(true);
  });

  for (const [what, path] of [
    ['change', (id: string) => `/Users/Password?userId%3D${id}`],
    ['change (more pairs)', (id: string) => `/Users/Password?x%3D1%26userId%3D${id}`],
  ] as const) {
    it(`${what}: asked for a proof naming dan, nothing forwarded`, async () => {
      const dan = jf.user('dan').id;
      const before = jf.reached('POST Users/Password');
      const r = await send(gw.url, 'POST', BASE + path(dan), { token: root, deviceId: 'root-web', body: { NewPw: 'owned' } });
      expect(r.status, r.text).toBe(401);
      expect(r.json).toMatchObject({ error: 'step_up_required', action: 'ChangeUserPassword', target: dan });
      expect(jf.reached('POST Users/Password')).toBe(before);
      expect(await signsIn('dan', 'dan-pw')).toBe(true);
    });
  }
});
