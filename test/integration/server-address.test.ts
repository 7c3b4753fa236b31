import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { getSystemApi, jellyfinClient, sdkLogin } from '../helpers/sdk.ts';

/**
 * Jellyfin's SystemInfo names its own address (LocalAddress = the upstream's bind address). Clients store it
 * and try it first at home, around the gateway; every answer that reaches a client names the gateway instead.
 */
let jf: Emulator;
let gw: TestGateway;
let withPublicUrl: TestGateway;

beforeAll(async () => {
  jf = await startEmulator({ users: [{ name: 'alice', password: 'alice-pw' }] });
  const apiKey = jf.createApiKey('jellyguard');
  gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey } });
  withPublicUrl = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey, PublicUrl: 'https://media.example.org/' } });
});

afterAll(async () => {
  await withPublicUrl?.close();
  await gw?.close();
  await jf?.close();
});

describe('the upstream address never reaches a client', () => {
  it('the emulator itself names the upstream (what the gateway must replace)', async () => {
    const res = await fetch(`${jf.url}/System/Info/Public`);
    expect((await res.json()).LocalAddress).toBe(jf.url);
  });

  it('System/Info/Public through the gateway names the gateway, in every path form', async () => {
    for (const path of ['/System/Info/Public', '/system/info/public', '/emby/System/Info/Public', '/System//Info/Public/', '/System/%49nfo/Public']) {
      const res = await fetch(gw.url + path);
      expect(res.status, path).toBe(200);
      const body = await res.json();
      expect(body.LocalAddress, path).toBe(gw.url);
      expect(body.ServerName, path).toBeTruthy(); // the rest of the answer is Jellyfin's
      expect(Number(res.headers.get('content-length')), path).toBe(Buffer.byteLength(JSON.stringify(body)));
    }
  });

  it('System/Info for a signed-in client (the SDK) names the gateway', async () => {
    const api = jellyfinClient(gw.url, { deviceId: 'addr-1' });
    const { token } = await sdkLogin(api, 'alice', 'alice-pw');
    api.accessToken = token!;
    const info = await getSystemApi(api).getSystemInfo();
    expect(info.data.LocalAddress).toBe(gw.url);
    expect(JSON.stringify(info.data)).not.toContain(jf.url);
  });

  it('with PublicUrl, the address is the public one whatever Host the request carried', async () => {
    const res = await get(withPublicUrl.port, '/System/Info/Public', 'evil.example');
    expect(JSON.parse(res.body).LocalAddress).toBe('https://media.example.org');
  });

  it('without PublicUrl, the Host the client reached names the gateway', async () => {
    const res = await get(gw.port, '/System/Info/Public', 'jellyfin.home.arpa:8920');
    expect(JSON.parse(res.body).LocalAddress).toBe('http://jellyfin.home.arpa:8920');
  });

  it('an unusable Host gives no address rather than the upstream one', async () => {
    const res = await get(gw.port, '/System/Info/Public', 'bad_host!');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).LocalAddress).toBe('');
  });

  it('an unauthenticated System/Info is still refused by the gate', async () => {
    expect((await fetch(`${gw.url}/System/Info`)).status).toBe(401);
  });
});

/** A GET with a Host header of our choosing (fetch always sends the real one). */
function get(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
