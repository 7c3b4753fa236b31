import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { login, mb } from './stepup-admin-helpers.ts';

/**
 * The thief with a stolen administrator session tries the step-up table's actions as HTTP upgrades: any
 * method, `Connection: Upgrade`. Node hands every such request to the gateway's upgrade handler, and
 * Jellyfin runs anything that is not a WebSocket handshake as an ordinary request
 * (WebSocketHandlerMiddleware → MVC). So only a real WebSocket handshake may be piped; anything else is
 * refused before Jellyfin sees it. Real gateway, the Jellyfin emulator.
 */
const BASE = '/jellyfin';
let jf: Emulator;
let gw: TestGateway;
let root = '';

beforeAll(async () => {
  jf = await startEmulator({
    baseUrl: BASE,
    users: [
      { name: 'root', password: 'root-pw', isAdministrator: true },
      { name: 'bob', password: 'bob-pw' },
    ],
  });
  gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, clock: new ManualClock(), config: { BaseUrl: BASE, JellyfinApiKey: jf.createApiKey('jellyguard') } });
  root = await login(gw, BASE, 'root', 'root-pw', 'root-web');
}, 30_000);

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

/** A raw request with upgrade headers; resolves with the status line (or '' when the socket just closed). */
function upgradeRequest(origin: string, method: string, path: string, headers: Record<string, string>): Promise<string> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port), url.hostname);
    let got = '';
    s.on('data', (c) => {
      got += c.toString('latin1');
      if (got.includes('\r\n\r\n')) s.destroy();
    });
    s.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    s.on('error', reject);
    const head = Object.entries({ host: url.host, connection: 'Upgrade', ...headers }).map(([k, v]) => `${k}: ${v}`).join('\r\n');
    s.write(`${method} ${path} HTTP/1.1\r\n${head}\r\n\r\n`);
  });
}

describe('administrator actions sent as an HTTP upgrade', () => {
  const auth = () => ({ authorization: mb('root-web', root) });
  let bob = '';
  beforeAll(() => {
    bob = jf.user('bob').id;
  });
  const cases = () => [
    { what: 'delete a user', method: 'DELETE', path: `/Users/${bob}`, reaches: 'DELETE Users/{userId}' },
    { what: 'create an API key', method: 'POST', path: '/Auth/Keys?app=Thief', reaches: 'POST Auth/Keys' },
    { what: 'shut down', method: 'POST', path: '/System/Shutdown', reaches: 'POST System/Shutdown' },
    { what: 'install a plugin', method: 'POST', path: '/Packages/Installed/Thief?version=1.0.0.0', reaches: 'POST Packages/Installed/{name}' },
  ];

  it('the emulator, like Jellyfin, runs a non-WebSocket upgrade as an ordinary request', async () => {
    const before = jf.reached('POST Auth/Keys');
    const line = await upgradeRequest(new URL(jf.url).origin, 'POST', `${BASE}/Auth/Keys?app=Direct`, { upgrade: 'websocket', authorization: mb('x', jf.createApiKey('probe')) });
    expect(line).toMatch(/^HTTP\/1\.1 204/);
    expect(jf.reached('POST Auth/Keys')).toBe(before + 1);
  });

  for (const upgrade of ['websocket', 'h2c']) {
    it(`with a stolen admin session and Upgrade: ${upgrade}, no listed action reaches Jellyfin`, async () => {
      for (const c of cases()) {
        const before = jf.reached(c.reaches);
        const line = await upgradeRequest(gw.url, c.method, BASE + c.path, { upgrade, ...auth() });
        expect(jf.reached(c.reaches), `${c.what}: ${line}`).toBe(before);
        expect(line, c.what).toMatch(/^HTTP\/1\.1 4\d\d/);
      }
      expect(jf.user('bob').id).toBe(bob); // still there
      expect(jf.admin.shutdowns).toBe(0);
      expect(jf.admin.installed).toEqual([]);
    });
  }

  it('POST /System/Restart as an upgrade with no token at all never reaches Jellyfin (it trusts its LAN)', async () => {
    const before = jf.reached('POST System/Restart');
    const line = await upgradeRequest(gw.url, 'POST', `${BASE}/System/Restart`, { upgrade: 'websocket' });
    expect(line).toMatch(/^HTTP\/1\.1 4\d\d/);
    expect(jf.reached('POST System/Restart')).toBe(before);
    expect(jf.restarts).toBe(0);
  });

  it('a real WebSocket handshake still opens the socket', async () => {
    const line = await upgradeRequest(gw.url, 'GET', `${BASE}/socket`, {
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': Buffer.alloc(16, 7).toString('base64'),
      ...auth(),
    });
    expect(line).toMatch(/^HTTP\/1\.1 101/);
  });
});
