/**
 * The short path (server/fast-path.ts) forwards a request only when every step of the pipeline would have
 * let it through untouched; anything else must reach the full pipeline. Real parts: the path normalizer,
 * the credential reader, the client-address walk, a token gate on a real SQLite registry and API key cache.
 * The guard is reduced to its one question (is this address banned); bans themselves are tested elsewhere.
 */
import { isAdminRoute } from '../../server/stepup/admin-actions.ts';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fastPath } from '../../server/fast-path.ts';
import { CidrList } from '../../server/net/cidr.ts';
import { AUTH_ROUTES, createPathNormalizer } from '../../server/jellyfin/paths.ts';
import type { InterceptTable } from '../../server/jellyfin/intercept.ts';
import { JellyfinProxy, type ForwardInfo } from '../../server/jellyfin/proxy.ts';
import { JellyfinClient } from '../../server/jellyfin/upstream.ts';
import { ApiKeyCache, TokenGate, TokenRegistry, UserDirectory } from '../../server/gate/index.ts';
import type { Ban } from '../../server/guard/index.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { ManualClock } from '../../server/clock.ts';
import { tempDir } from '../helpers/gateway.ts';

const VERIFIED = 'a'.repeat(32);
const OTHER_VERIFIED = 'c'.repeat(32);
const PENDING = 'b'.repeat(32);
const API_KEY = 'k'.repeat(32);
const UNKNOWN = 'f'.repeat(32);
const mb = (token: string) => `MediaBrowser Client="t", Device="d", DeviceId="d1", Version="1", Token="${token}"`;

let store: Store;
let server: http.Server;
let port: number;
const banned = new Set<string>();
const forwarded: { url: string; info: ForwardInfo }[] = [];
let pipelined: string[] = [];
let upstreamForApi: JellyfinProxy;

const nothing: InterceptTable[number][1] = (_ctx, next) => next();
/** The pipeline's interceptor patterns (app.ts uses these routes); handlers are not called here. */
const tables: InterceptTable[] = [
  [
    [AUTH_ROUTES.authenticateByName, nothing],
    [AUTH_ROUTES.authenticateById, nothing],
    [AUTH_ROUTES.authenticateWithQuickConnect, nothing],
    [AUTH_ROUTES.quickConnectInitiate, nothing],
  ],
  [
    [AUTH_ROUTES.quickConnectAuthorize, nothing],
    [AUTH_ROUTES.sessionsLogout, nothing],
    [AUTH_ROUTES.webIndex, nothing],
    ['/web', nothing],
  ],
];

beforeAll(async () => {
  const clock = new ManualClock();
  const key = Buffer.alloc(32, 3);
  store = await openStore(tempDir());
  const tokens = new TokenRegistry(store.db, key, clock);
  await tokens.load();
  await tokens.record(VERIFIED, { userId: 'u'.repeat(32), deviceId: 'd1', method: 'password' });
  await tokens.record(OTHER_VERIFIED, { userId: 'v'.repeat(32), deviceId: 'd2', method: 'password' });
  await tokens.record(PENDING, { userId: 'u'.repeat(32), deviceId: 'd3', method: 'password' }, 'pending');
  upstreamForApi = new JellyfinProxy({ url: 'http://127.0.0.1:9' });
  const jellyfin = new JellyfinClient(upstreamForApi, '', API_KEY);
  const apiKeys = new ApiKeyCache(jellyfin, key, clock, API_KEY); // the gateway's own key is always known
  const gate = new TokenGate(tokens, apiKeys, jellyfin, new UserDirectory(store.db, clock), clock, {
    apiKeyBypass: false,
    adoptUntil: undefined,
    apiKeyMissRefreshMs: 10_000,
  });
  const handle = fastPath(
    {
      trustedProxies: new CidrList(['127.0.0.1/32']),
      forwardedHeader: 'x-forwarded-for',
      guard: { refusal: (client) => (banned.has(client.ip) ? ({ scope: 'address' } as unknown as Ban) : undefined) },
      paths: createPathNormalizer({ baseUrl: '/jellyfin' }),
      intercepted: tables,
      adminAction: isAdminRoute,
      gate,
      proxy: {
        forward(req, res, info) {
          forwarded.push({ url: req.url ?? '', info });
          res.writeHead(200, { 'content-length': '0' }).end();
          return Promise.resolve();
        },
      },
    },
    (req, res) => {
      pipelined.push(req.url ?? '');
      res.writeHead(299, { 'content-length': '0' }).end();
    },
  );
  server = http.createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await upstreamForApi.close();
  await store.close();
});

beforeEach(() => {
  forwarded.length = 0;
  pipelined = [];
  banned.clear();
});

/** Send a request exactly as written (raw target, repeated headers allowed); resolves to the status code. */
function send(target: string, headers: [string, string][] = [], method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => {
      data += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) {
        resolve(Number(m[1]));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    const lines = [`${method} ${target} HTTP/1.1`, 'Host: jellyfin.example', ...headers.map(([k, v]) => `${k}: ${v}`), 'Connection: close'];
    socket.write(lines.join('\r\n') + '\r\n\r\n');
  });
}

const FORWARDED = 200;
const PIPELINE = 299;

describe('the short path forwards what needs nothing but the gate', () => {
  it('a verified token in any of the five forms, or no credential at all', async () => {
    expect(await send('/jellyfin/Items?ParentId=1', [['Authorization', mb(VERIFIED)]])).toBe(FORWARDED);
    expect(await send('/jellyfin/Items', [['X-Emby-Authorization', mb(VERIFIED)]])).toBe(FORWARDED);
    expect(await send('/jellyfin/Items', [['X-Emby-Token', VERIFIED]])).toBe(FORWARDED);
    expect(await send('/jellyfin/Items', [['X-MediaBrowser-Token', VERIFIED]])).toBe(FORWARDED);
    expect(await send(`/jellyfin/Videos/1/hls1/main/0.ts?api_key=${VERIFIED}`)).toBe(FORWARDED);
    expect(await send(`/jellyfin/Items/1/Images/Primary?ApiKey=${VERIFIED}`)).toBe(FORWARDED);
    expect(await send('/jellyfin/System/Info/Public')).toBe(FORWARDED);
    expect(await send('/jellyfin/Sessions/Playing/Progress', [['X-Emby-Token', VERIFIED]], 'POST')).toBe(FORWARDED);
    expect(pipelined).toEqual([]);
  });

  it('sets X-Forwarded-* from the client-address step: the trusted proxy walk, the Host', async () => {
    await send('/jellyfin/Items', [['X-Forwarded-For', '203.0.113.7'], ['X-Forwarded-Proto', 'https']]);
    expect(forwarded[0]?.info).toEqual({ clientIp: '203.0.113.7', proto: 'https', host: 'jellyfin.example' });
  });
});

describe('everything else goes to the full pipeline, untouched', () => {
  it('a banned address, whatever it asks for', async () => {
    banned.add('203.0.113.9');
    expect(await send('/jellyfin/Items', [['X-Forwarded-For', '203.0.113.9'], ['X-Emby-Token', VERIFIED]])).toBe(PIPELINE);
    expect(await send('/jellyfin/Items', [['X-Forwarded-For', '203.0.113.10'], ['X-Emby-Token', VERIFIED]])).toBe(FORWARDED);
  });

  it('a path the normalizer cannot read', async () => {
    for (const target of ['/jellyfin/Items/%ff', '/jellyfin/Items/%2500%00', '/jellyfin/embyItems', '/jellyfin/a#b']) {
      expect(await send(target)).toBe(PIPELINE);
    }
  });

  it("the gateway's own routes, in every path variant", async () => {
    for (const target of [
      '/jellyfin/JellyfinSecurity/api/me',
      '/jellyfin/jellyfinsecurity',
      '/jellyfin/emby/JellyfinSecurity/login',
      '/jellyfin/%4Aellyfinsecurity/x',
      '/jellyfin//Items/../JellyfinSecurity/x',
      '/jellyfin/mediabrowser/JELLYFINSECURITY%252Fx',
    ]) {
      expect(await send(target, [['X-Emby-Token', VERIFIED]])).toBe(PIPELINE);
    }
  });

  it('intercepted routes (logins, Quick Connect, logout, the web page), in every path variant and method', async () => {
    for (const target of [
      '/jellyfin/Users/AuthenticateByName',
      '/jellyfin/emby/users/authenticatebyname/',
      '/jellyfin/Users/%41uthenticateByName',
      '/jellyfin/users/x/../authenticatebyname',
      '/jellyfin/Users/0f0e0d0c-0b0a-0908-0706-050403020100/Authenticate',
      '/jellyfin/Users/AuthenticateWithQuickConnect',
      '/jellyfin/QuickConnect/Initiate',
      '/jellyfin/QuickConnect/Authorize?code=1',
      '/jellyfin/Sessions/Logout',
      '/jellyfin/web',
      '/jellyfin/web/',
      '/jellyfin/web/index.html',
      '/jellyfin/mediabrowser/WEB/Index.html',
    ]) {
      expect(await send(target, [['X-Emby-Token', VERIFIED]], 'POST')).toBe(PIPELINE);
    }
    // …but not what merely looks like them
    expect(await send('/jellyfin/web/main.js')).toBe(FORWARDED);
    expect(await send('/jellyfin/Users/AuthenticateByNameX')).toBe(FORWARDED);
  });

  it('any token memory does not vouch for: unknown, pending, an API key while API keys are refused', async () => {
    expect(await send('/jellyfin/Items', [['X-Emby-Token', UNKNOWN]])).toBe(PIPELINE);
    expect(await send('/jellyfin/Items', [['X-Emby-Token', PENDING]])).toBe(PIPELINE);
    expect(await send('/jellyfin/Items', [['X-Emby-Token', API_KEY]])).toBe(PIPELINE);
    expect(await send(`/jellyfin/Items?api_key=${UNKNOWN}`)).toBe(PIPELINE);
    expect(await send(`/jellyfin/Items?api_key%3D${UNKNOWN}`)).toBe(PIPELINE); // the query URL-encoded as a whole
    expect(await send('/jellyfin/Items', [['Authorization', mb(UNKNOWN)]])).toBe(PIPELINE);
  });

  it('a verified token next to any other one: every token must pass', async () => {
    expect(await send(`/jellyfin/Items?api_key=${UNKNOWN}`, [['X-Emby-Token', VERIFIED]])).toBe(PIPELINE);
    expect(await send('/jellyfin/Items', [['Authorization', mb(VERIFIED)], ['X-Emby-Token', UNKNOWN]])).toBe(PIPELINE);
    expect(await send('/jellyfin/Items', [['X-Emby-Token', VERIFIED], ['X-Emby-Token', OTHER_VERIFIED]])).toBe(PIPELINE); // joined forms are unknown
    expect(await send('/jellyfin/Items', [['Authorization', mb(VERIFIED)], ['Authorization', mb(UNKNOWN)]])).toBe(PIPELINE);
    expect(await send('/jellyfin/Items', [['Authorization', mb(VERIFIED)], ['X-Emby-Authorization', mb(OTHER_VERIFIED)]])).toBe(FORWARDED);
  });

  it('never forwards what it handed over', async () => {
    await send('/jellyfin/Items', [['X-Emby-Token', UNKNOWN]]);
    await send('/jellyfin/Users/AuthenticateByName', [], 'POST');
    expect(forwarded).toEqual([]);
    expect(pipelined).toHaveLength(2);
  });
});
