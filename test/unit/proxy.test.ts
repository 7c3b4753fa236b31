/**
 * The proxy against a real upstream: a tiny node:http server (and a `ws` server for upgrades) on
 * 127.0.0.1, a gateway server that calls JellyfinProxy, and real clients. No mocks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import Koa from 'koa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  JellyfinProxy,
  UpstreamError,
  refuseUpgrade,
  type ForwardInfo,
  type ForwardOverrides,
} from '../../server/jellyfin/proxy.ts';

const INFO: ForwardInfo = { clientIp: '203.0.113.7', proto: 'https', host: 'media.example.org' };
const MiB = 1024 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

async function listen(server: net.Server, port = 0): Promise<number> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const sockets = new WeakMap<net.Server, Set<net.Socket>>();

/** Remember a server's sockets, upgraded ones included, so that closing it never waits on one. */
function track<T extends net.Server>(server: T): T {
  const set = new Set<net.Socket>();
  sockets.set(server, set);
  server.on('connection', (s: net.Socket) => {
    set.add(s);
    s.once('close', () => set.delete(s));
  });
  return server;
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  for (const s of sockets.get(server) ?? []) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on (bound once, then released). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function send(
  port: number,
  opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string; chunks?: Buffer[] } = {},
): Promise<Reply> {
  const headers = { ...opts.headers };
  // Node's client sends no Content-Length for a GET/DELETE/OPTIONS body unless told to.
  if (opts.body !== undefined && headers['content-length'] === undefined) headers['content-length'] = Buffer.byteLength(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers, agent: false },
      (res) => {
        readAll(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
      },
    );
    req.on('error', reject);
    if (opts.chunks) for (const c of opts.chunks) req.write(c);
    req.end(opts.body);
  });
}

/** Send raw bytes, read everything until the server closes. */
async function raw(port: number, text: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.write(text);
  return (await readAll(socket)).toString('latin1');
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// The upstream (stands in for Jellyfin), the gateway (calls the proxy), per-test handlers.

let upstream: http.Server;
let upstreamPort: number;
let upstreamConnections = 0;
let handle: Handler;
let handleUpgrade: UpgradeHandler;
const wss = new WebSocketServer({ noServer: true });

let gateway: http.Server;
let gatewayPort: number;
let proxy: JellyfinProxy;
let overrides: ForwardOverrides | undefined;
let onForward: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
let forwardsSettled = 0;

function startGateway(p: JellyfinProxy): http.Server {
  const server = track(http.createServer((req, res) => {
    onForward?.(req, res);
    void p.forward(req, res, INFO, overrides).then(() => forwardsSettled++);
  }));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => p.upgrade(req, socket, head, INFO));
  return server;
}

beforeAll(async () => {
  upstream = track(http.createServer((req, res) => handle(req, res)));
  upstream.on('connection', () => upstreamConnections++);
  upstream.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => handleUpgrade(req, socket, head));
  upstreamPort = await listen(upstream);
  proxy = new JellyfinProxy({ url: `http://127.0.0.1:${upstreamPort}`, headersTimeoutMs: 2_000 });
  gateway = startGateway(proxy);
  gatewayPort = await listen(gateway);
});

afterAll(async () => {
  await closeServer(gateway);
  await proxy.close();
  await closeServer(upstream);
});

beforeEach(() => {
  overrides = undefined;
  onForward = undefined;
  handle = (_req, res) => {
    res.writeHead(404).end();
  };
  handleUpgrade = (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    });
  };
});

/** Upstream handler that echoes what it received as JSON. */
const echo: Handler = (req, res) => {
  readAll(req).then((body) => {
    const payload = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, length: body.length, sha: sha(body) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    res.end(req.method === 'HEAD' ? undefined : payload);
  });
};

interface Echoed {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  length: number;
  sha: string;
}

const echoed = (r: Reply) => JSON.parse(r.body.toString('utf8')) as Echoed;

// ---------------------------------------------------------------------------------------------------------

describe('forward: methods, bodies, statuses', () => {
  it('passes every method with its body', async () => {
    handle = echo;
    const body = randomBytes(10_000);
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const r = await send(gatewayPort, { method, path: `/Items/x?m=${method}`, body, headers: { 'content-type': 'application/octet-stream' } });
      expect(r.status).toBe(200);
      const seen = echoed(r);
      expect(seen).toMatchObject({ method, url: `/Items/x?m=${method}`, length: body.length, sha: sha(body) });
      expect(seen.headers['content-type']).toBe('application/octet-stream');
      expect(seen.headers['content-length']).toBe(String(body.length));
    }
  });

  it('streams a chunked request body (no Content-Length) and an empty POST', async () => {
    handle = echo;
    const parts = [randomBytes(1000), randomBytes(70_000), randomBytes(5)];
    const r = await send(gatewayPort, { method: 'POST', path: '/up', chunks: parts });
    const seen = echoed(r);
    expect(seen.length).toBe(71_005);
    expect(seen.sha).toBe(sha(Buffer.concat(parts)));
    expect(seen.headers['transfer-encoding']).toBe('chunked');

    const empty = echoed(await send(gatewayPort, { method: 'POST', path: '/Sessions/Logout', headers: { 'content-length': '0' } }));
    expect(empty).toMatchObject({ method: 'POST', length: 0 });
    expect(empty.headers['content-length']).toBe('0');
  });

  it('answers HEAD with the headers and no body', async () => {
    handle = (req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': '123456', 'x-method': req.method ?? '' });
      res.end();
    };
    const r = await send(gatewayPort, { method: 'HEAD', path: '/Videos/1/stream' });
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('123456');
    expect(r.headers['x-method']).toBe('HEAD');
    expect(r.body.length).toBe(0);
  });

  it('relays 204 and 304 without a body, and error statuses as they are', async () => {
    handle = (req, res) => {
      if (req.url === '/204') res.writeHead(204, { 'x-a': '1' }).end();
      else if (req.url === '/304') res.writeHead(304, { etag: '"abc"' }).end();
      else res.writeHead(401, { 'content-type': 'text/plain' }).end('nope');
    };
    const a = await send(gatewayPort, { path: '/204' });
    expect([a.status, a.headers['x-a'], a.body.length]).toEqual([204, '1', 0]);
    const b = await send(gatewayPort, { path: '/304', headers: { 'if-none-match': '"abc"' } });
    expect([b.status, b.headers.etag, b.body.length]).toEqual([304, '"abc"', 0]);
    const c = await send(gatewayPort, { path: '/x' });
    expect([c.status, c.body.toString()]).toEqual([401, 'nope']);
  });

  it('passes Range and 206 through untouched', async () => {
    const file = randomBytes(100 * 1024);
    handle = (req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!m) {
        res.writeHead(200, { 'accept-ranges': 'bytes', 'content-length': file.length }).end(file);
        return;
      }
      const start = Number(m[1]);
      const end = Number(m[2]);
      res.writeHead(206, {
        'accept-ranges': 'bytes',
        'content-range': `bytes ${start}-${end}/${file.length}`,
        'content-length': end - start + 1,
      });
      res.end(file.subarray(start, end + 1));
    };
    const r = await send(gatewayPort, { path: '/Videos/1/stream?static=true', headers: { range: 'bytes=1000-1999' } });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 1000-1999/${file.length}`);
    expect(r.headers['content-length']).toBe('1000');
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.body.equals(file.subarray(1000, 2000))).toBe(true);
  });

  it('keeps every value of a repeated response header (Set-Cookie)', async () => {
    handle = (_req, res) => {
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
      res.end('ok');
    };
    const r = await send(gatewayPort, { path: '/' });
    expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
  });

  it('answers Expect: 100-continue itself and sends the body on', async () => {
    handle = echo;
    const body = randomBytes(50_000);
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1', port: gatewayPort, method: 'PUT', path: '/expect', agent: false,
          headers: { expect: '100-continue', 'content-length': body.length },
        },
        (res) => void readAll(res).then((b) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }), reject),
      );
      req.on('continue', () => req.end(body));
      req.on('error', reject);
    });
    const seen = echoed(reply);
    expect(seen.sha).toBe(sha(body));
    expect(seen.headers.expect).toBeUndefined();
  });

  it('reuses keep-alive connections to the upstream', async () => {
    handle = echo;
    const before = upstreamConnections;
    for (let i = 0; i < 30; i++) await send(gatewayPort, { path: `/seq/${i}` });
    expect(upstreamConnections - before).toBeLessThanOrEqual(2);
  });

  it('refuses an absolute-form request target with 400 instead of forwarding it', async () => {
    let reached = false;
    handle = (_req, res) => {
      reached = true;
      res.end();
    };
    const text = await raw(gatewayPort, 'GET http://evil.example/System/Info HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
    expect(text.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(reached).toBe(false);
  });
});

describe('forward: headers', () => {
  it('removes hop-by-hop request headers, including those named in Connection', async () => {
    handle = echo;
    const text = await raw(
      gatewayPort,
      'POST /h HTTP/1.1\r\nHost: gw.example\r\n' +
        'Connection: close, X-Hop-Req, x-other-hop\r\nX-Hop-Req: secret\r\nx-other-hop: secret\r\n' +
        'Keep-Alive: timeout=9\r\nTE: trailers\r\nTrailer: X-T\r\nProxy-Authorization: Basic eDp5\r\n' +
        'Proxy-Connection: keep-alive\r\nX-End-To-End: kept\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5\r\nhello\r\n0\r\nX-T: trailer-value\r\n\r\n',
    );
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    const seen = JSON.parse(body) as Echoed;
    const h = seen.headers;
    expect(seen.sha).toBe(sha(Buffer.from('hello')));
    expect(h['x-end-to-end']).toBe('kept');
    for (const name of ['x-hop-req', 'x-other-hop', 'keep-alive', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'x-t']) {
      expect(h[name], name).toBeUndefined();
    }
    expect(h.connection).toBe('keep-alive'); // the gateway's own connection to the upstream
    expect(h.host).toBe(`127.0.0.1:${upstreamPort}`);
  });

  it('removes hop-by-hop response headers, including those named in Connection', async () => {
    handle = (_req, res) => {
      res.writeHead(200, {
        connection: 'X-Hop-Res',
        'x-hop-res': 'secret',
        'keep-alive': 'timeout=3',
        'proxy-authenticate': 'Basic',
        'proxy-connection': 'close',
        trailer: 'x-foo',
        upgrade: 'h2c',
        'x-end': 'kept',
      });
      res.end('body');
    };
    const r = await send(gatewayPort, { path: '/r' });
    expect(r.body.toString()).toBe('body');
    expect(r.headers['x-end']).toBe('kept');
    for (const name of ['x-hop-res', 'keep-alive', 'proxy-authenticate', 'proxy-connection', 'trailer', 'upgrade']) {
      expect(r.headers[name], name).toBeUndefined();
    }
  });

  it('sets X-Forwarded-For/Proto/Host and drops forged forwarding headers', async () => {
    handle = echo;
    const r = await send(gatewayPort, {
      path: '/f',
      headers: {
        'x-forwarded-for': '6.6.6.6, 7.7.7.7',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-prefix': '/evil',
        forwarded: 'for=6.6.6.6;proto=http',
        'x-real-ip': '6.6.6.6',
      },
    });
    const h = echoed(r).headers;
    expect(h['x-forwarded-for']).toBe('203.0.113.7');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-forwarded-host']).toBe('media.example.org');
    expect(h['x-forwarded-prefix']).toBeUndefined();
    expect(h.forwarded).toBeUndefined();
    expect(h['x-real-ip']).toBeUndefined();
  });

  it('applies path and header overrides', async () => {
    handle = echo;
    overrides = { path: '/Other/Path?x=1', headers: { 'X-Extra': 'yes', 'User-Agent': undefined, 'X-Forwarded-For': '198.51.100.1' } };
    const r = await send(gatewayPort, { path: '/original', headers: { 'user-agent': 'curl', 'x-keep': '1' } });
    const seen = echoed(r);
    expect(seen.url).toBe('/Other/Path?x=1');
    expect(seen.headers['x-extra']).toBe('yes');
    expect(seen.headers['user-agent']).toBeUndefined();
    expect(seen.headers['x-keep']).toBe('1');
    expect(seen.headers['x-forwarded-for']).toBe('198.51.100.1');
  });
});

describe('forward: failures', () => {
  it('answers 502 JSON when the upstream is down, and serves again once it is back', async () => {
    const port = await deadPort();
    const p = new JellyfinProxy({ url: `http://127.0.0.1:${port}` });
    const gw = startGateway(p);
    const gwPort = await listen(gw);
    try {
      const r = await send(gwPort, { path: '/System/Info' });
      expect(r.status).toBe(502);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      const body = JSON.parse(r.body.toString()) as { error: string; message: string };
      expect(body.error).toBe('upstream_unavailable');
      expect(typeof body.message).toBe('string');
      // A POST with a body gets the same answer (its body is never read by anyone).
      const post = await send(gwPort, { method: 'POST', path: '/x', body: randomBytes(100_000) });
      expect(post.status).toBe(502);

      const back = http.createServer((_req, res) => res.end('back'));
      await listen(back, port);
      try {
        const again = await send(gwPort, { path: '/System/Info' });
        expect([again.status, again.body.toString()]).toEqual([200, 'back']);
      } finally {
        await closeServer(back);
      }
    } finally {
      await closeServer(gw);
      await p.close();
    }
  });

  it('relays an early answer to an upload the upstream does not read (413), and keeps serving', async () => {
    handle = (req, res) => {
      if (req.url === '/big') res.writeHead(413, { 'content-type': 'text/plain' }).end('too big');
      else res.end('fine');
    };
    const r = await send(gatewayPort, { method: 'POST', path: '/big', body: randomBytes(5 * MiB) }).catch((e: Error) => e);
    // The client may see the answer or, having been cut mid-upload, an error; it must not hang, and the
    // gateway must go on serving.
    if (!(r instanceof Error)) expect([r.status, r.body.toString()]).toEqual([413, 'too big']);
    const ok = await send(gatewayPort, { path: '/ok' });
    expect([ok.status, ok.body.toString()]).toEqual([200, 'fine']);
  });

  it('answers 502 when the upstream resets the connection, and keeps serving', async () => {
    handle = (req, res) => {
      if (req.url === '/reset') req.socket.destroy();
      else res.end('fine');
    };
    const r = await send(gatewayPort, { path: '/reset' });
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body.toString())).toMatchObject({ error: 'upstream_unavailable' });
    const ok = await send(gatewayPort, { path: '/ok' });
    expect([ok.status, ok.body.toString()]).toEqual([200, 'fine']);
  });

  it('cuts the client connection when the upstream fails after the headers were sent', async () => {
    handle = (req, res) => {
      res.writeHead(200, { 'content-length': '1000000' });
      res.write(Buffer.alloc(1000));
      setTimeout(() => req.socket.destroy(), 50);
    };
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: gatewayPort, path: '/cut', agent: false }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.complete ? 'complete' : 'incomplete'));
        res.on('error', () => resolve('error'));
        res.on('aborted', () => resolve('aborted'));
      });
      req.on('error', () => resolve('error'));
    });
    expect(outcome).not.toBe('complete');
  });

  it('answers 504 JSON when the upstream sends no headers in time', async () => {
    const p = new JellyfinProxy({ url: `http://127.0.0.1:${upstreamPort}`, headersTimeoutMs: 300 });
    const gw = startGateway(p);
    const gwPort = await listen(gw);
    const stuck: ServerResponse[] = [];
    handle = (_req, res) => void stuck.push(res);
    try {
      const started = Date.now();
      const r = await send(gwPort, { path: '/slow' });
      expect(r.status).toBe(504);
      expect(JSON.parse(r.body.toString())).toMatchObject({ error: 'upstream_timeout' });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const res of stuck) res.destroy();
      await closeServer(gw);
      await p.close();
    }
  });
});

describe('forward: client aborts', () => {
  it('closes the upstream request when the client leaves mid-stream', async () => {
    let upstreamClosed: Promise<boolean> = Promise.resolve(false);
    handle = (_req, res) => {
      upstreamClosed = new Promise((resolve) => res.on('close', () => resolve(res.writableFinished)));
      res.writeHead(200, { 'content-type': 'video/mp4' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    };
    const settledBefore = forwardsSettled;
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: gatewayPort, path: '/Videos/1/stream', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
    });
    // the upstream saw its request closed before it finished sending
    expect(await within(upstreamClosed, 5_000, 'upstream close')).toBe(false);
    await within((async () => { while (forwardsSettled === settledBefore) await sleep(10); })(), 5_000, 'forward() to resolve');
  });

  it('closes the upstream request when the client leaves while waiting for headers', async () => {
    let gotRequest!: () => void;
    const requested = new Promise<void>((r) => (gotRequest = r));
    let closed!: () => void;
    const upstreamClosed = new Promise<void>((r) => (closed = r));
    handle = (_req, res) => {
      res.on('close', () => closed());
      gotRequest();
    };
    const req = http.get({ host: '127.0.0.1', port: gatewayPort, path: '/wait', agent: false });
    req.on('error', () => {});
    await within(requested, 5_000, 'upstream request');
    req.destroy();
    await within(upstreamClosed, 5_000, 'upstream close');
  });

  it('closes the upstream request when the client leaves mid-upload', async () => {
    let aborted!: (complete: boolean) => void;
    const upstreamSaw = new Promise<boolean>((r) => (aborted = r));
    handle = (req) => {
      req.on('data', () => {});
      req.on('close', () => aborted(req.complete));
    };
    const req = http.request({
      host: '127.0.0.1', port: gatewayPort, method: 'PUT', path: '/upload', agent: false,
      headers: { 'content-length': String(10 * MiB) },
    });
    req.on('error', () => {});
    req.write(Buffer.alloc(256 * 1024));
    await sleep(100);
    req.destroy();
    expect(await within(upstreamSaw, 5_000, 'upstream close')).toBe(false);
  });
});

describe('forward: 50 MB streams with backpressure', () => {
  const SIZE = 50 * MiB;
  const CHUNK = 64 * 1024;

  it('download: a client that stops reading stops the upstream; the gateway buffers almost nothing', async () => {
    let upstreamFlushed = 0;
    const expected = createHash('sha256');
    const block = randomBytes(CHUNK);
    for (let i = 0; i < SIZE / CHUNK; i++) expected.update(block);
    handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SIZE });
      let sent = 0;
      const pump = () => {
        while (sent < SIZE) {
          sent += CHUNK;
          const more = res.write(block, () => (upstreamFlushed += CHUNK));
          if (!more) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    };
    let maxBuffered = 0;
    onForward = (_req, res) => {
      const t = setInterval(() => (maxBuffered = Math.max(maxBuffered, res.writableLength)), 2);
      res.on('close', () => clearInterval(t));
    };
    const result = await new Promise<{ duringPause: number; hash: string; length: number }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: gatewayPort, path: '/Videos/big', agent: false }, (res) => {
        res.pause();
        setTimeout(() => {
          const duringPause = upstreamFlushed;
          const hash = createHash('sha256');
          let length = 0;
          res.on('data', (c: Buffer) => {
            hash.update(c);
            length += c.length;
          });
          res.on('end', () => resolve({ duringPause, hash: hash.digest('hex'), length }));
          res.resume();
        }, 1000);
      }).on('error', reject);
    });
    expect(result.length).toBe(SIZE);
    expect(result.hash).toBe(expected.digest('hex'));
    // While the client read nothing for a second, the upstream could only fill the sockets' buffers.
    expect(result.duringPause).toBeLessThan(16 * MiB);
    // The gateway's own write queue stayed at about one chunk above the high-water mark.
    expect(maxBuffered).toBeLessThan(512 * 1024);
  });

  it('upload: an upstream that stops reading stops the client; the gateway buffers almost nothing', async () => {
    let clientFlushed = 0;
    let atResume = 0;
    handle = (req, res) => {
      req.pause();
      setTimeout(() => {
        atResume = clientFlushed;
        const hash = createHash('sha256');
        let length = 0;
        req.on('data', (c: Buffer) => {
          hash.update(c);
          length += c.length;
        });
        req.on('end', () => res.end(JSON.stringify({ length, sha: hash.digest('hex') })));
        req.resume();
      }, 1000);
    };
    let maxBuffered = 0;
    onForward = (req, res) => {
      const t = setInterval(() => (maxBuffered = Math.max(maxBuffered, req.readableLength)), 2);
      res.on('close', () => clearInterval(t));
    };
    const block = randomBytes(CHUNK);
    const expected = createHash('sha256');
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1', port: gatewayPort, method: 'POST', path: '/Videos/upload', agent: false,
          headers: { 'content-length': SIZE },
        },
        (res) => void readAll(res).then((b) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }), reject),
      );
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < SIZE) {
          sent += CHUNK;
          expected.update(block);
          const more = req.write(block, () => (clientFlushed += CHUNK));
          if (!more) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    const seen = JSON.parse(reply.body.toString()) as { length: number; sha: string };
    expect(seen).toEqual({ length: SIZE, sha: expected.digest('hex') });
    expect(atResume).toBeLessThan(16 * MiB);
    expect(maxBuffered).toBeLessThan(512 * 1024);
  });
});

describe('upgrade (WebSocket)', () => {
  type Message = { data: Buffer; isBinary: boolean };
  const inbox = new WeakMap<WebSocket, { queue: Message[]; waiting: ((m: Message) => void)[] }>();

  /** Open a client; messages are queued from the start (the first one can arrive with the handshake). */
  function open(path: string, headers?: Record<string, string>): Promise<WebSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${gatewayPort}${path}`, { headers });
    const box = { queue: [] as Message[], waiting: [] as ((m: Message) => void)[] };
    inbox.set(ws, box);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const m = { data: data as Buffer, isBinary };
      const w = box.waiting.shift();
      if (w) w(m);
      else box.queue.push(m);
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  }

  function nextMessage(ws: WebSocket): Promise<Message> {
    const box = inbox.get(ws);
    if (!box) throw new Error('not opened with open()');
    const m = box.queue.shift();
    if (m) return Promise.resolve(m);
    return within(new Promise<Message>((resolve) => box.waiting.push(resolve)), 5_000, 'a message');
  }

  it('pipes text and binary both ways and sets X-Forwarded-* on the handshake', async () => {
    let seenHeaders: http.IncomingHttpHeaders = {};
    let seenUrl = '';
    handleUpgrade = (req, socket, head) => {
      seenHeaders = req.headers;
      seenUrl = req.url ?? '';
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send(JSON.stringify({ MessageType: 'ForceKeepAlive', Data: 60 }));
        ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data, { binary: isBinary }));
      });
    };
    const ws = await open('/socket?api_key=abc&deviceId=d1', { 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6' });
    try {
      const first = await nextMessage(ws);
      expect(first.isBinary).toBe(false);
      expect(JSON.parse(first.data.toString())).toEqual({ MessageType: 'ForceKeepAlive', Data: 60 });
      expect(seenUrl).toBe('/socket?api_key=abc&deviceId=d1');
      expect(seenHeaders['x-forwarded-for']).toBe('203.0.113.7');
      expect(seenHeaders['x-forwarded-proto']).toBe('https');
      expect(seenHeaders['x-forwarded-host']).toBe('media.example.org');
      expect(seenHeaders['x-real-ip']).toBeUndefined();
      expect(seenHeaders.upgrade?.toLowerCase()).toBe('websocket');

      ws.send('{"MessageType":"KeepAlive"}');
      const text = await nextMessage(ws);
      expect([text.isBinary, text.data.toString()]).toEqual([false, '{"MessageType":"KeepAlive"}']);

      const bin = randomBytes(3 * MiB);
      ws.send(bin);
      const back = await nextMessage(ws);
      expect(back.isBinary).toBe(true);
      expect(back.data.equals(bin)).toBe(true);
    } finally {
      ws.terminate();
    }
  });

  it('propagates a close from the client to the upstream, and from the upstream to the client', async () => {
    let serverClose!: (v: { code: number; reason: string }) => void;
    const serverClosed = new Promise<{ code: number; reason: string }>((r) => (serverClose = r));
    let serverSide: WebSocket | undefined;
    let upstreamSocketClosed!: () => void;
    const upstreamSocketGone = new Promise<void>((r) => (upstreamSocketClosed = r));
    handleUpgrade = (req, socket, head) => {
      socket.once('close', () => upstreamSocketClosed());
      wss.handleUpgrade(req, socket, head, (ws) => {
        serverSide = ws;
        ws.on('close', (code: number, reason: Buffer) => serverClose({ code, reason: reason.toString() }));
      });
    };
    const ws = await open('/socket');
    const clientClosed = new Promise<number>((r) => ws.once('close', (code: number) => r(code)));
    ws.close(4001, 'bye');
    expect(await within(serverClosed, 5_000, 'server close')).toEqual({ code: 4001, reason: 'bye' });
    expect(await within(clientClosed, 5_000, 'client close')).toBe(4001);
    await within(upstreamSocketGone, 5_000, 'upstream TCP close');
    expect(serverSide).toBeDefined();

    // the other direction: Jellyfin closes
    handleUpgrade = (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (w) => setTimeout(() => w.close(4002, 'server says bye'), 20));
    };
    const ws2 = await open('/socket');
    const code2 = await within(new Promise<number>((r) => ws2.once('close', (code: number) => r(code))), 5_000, 'client close');
    expect(code2).toBe(4002);

    // and abruptly: the upstream's TCP connection dies without a close frame; the gateway sends the
    // client one (1001 going away) rather than leaving it an abnormal closure (1006)
    handleUpgrade = (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (w) => setTimeout(() => w.terminate(), 20));
    };
    const ws3 = await open('/socket');
    const code3 = await within(new Promise<number>((r) => ws3.once('close', (code: number) => r(code))), 5_000, 'client close');
    expect(code3).toBe(1001);
  });

  it('relays a non-101 answer to the client and closes both sides', async () => {
    let upstreamSocketClosed!: () => void;
    const upstreamGone = new Promise<void>((r) => (upstreamSocketClosed = r));
    handleUpgrade = (_req, socket) => {
      // The gateway's FIN (the server allows half-open sockets) or its reset.
      socket.once('end', () => upstreamSocketClosed());
      socket.once('close', () => upstreamSocketClosed());
      // Kestrel keeps the connection open after refusing: the gateway must not wait for it.
      socket.write('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 25\r\nServer: Kestrel\r\n\r\nError processing request.');
    };
    const ws = new WebSocket(`ws://127.0.0.1:${gatewayPort}/socket?api_key=bad`);
    ws.on('error', () => {});
    const res = await within(
      new Promise<IncomingMessage>((resolve) => ws.once('unexpected-response', (_req: unknown, r: IncomingMessage) => resolve(r))),
      5_000,
      'unexpected-response',
    );
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toBe('text/plain');
    expect((await within(readAll(res), 5_000, 'body')).toString()).toBe('Error processing request.');
    await within(upstreamGone, 5_000, 'upstream close');
  });

  it('answers 502 when the upstream is down', async () => {
    const p = new JellyfinProxy({ url: `http://127.0.0.1:${await deadPort()}` });
    const gw = startGateway(p);
    const gwPort = await listen(gw);
    try {
      const text = await within(
        raw(gwPort, 'GET /socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
        5_000,
        'a 502',
      );
      expect(text.startsWith('HTTP/1.1 502 Bad Gateway\r\n')).toBe(true);
      expect(text).toContain('"error":"upstream_unavailable"');
    } finally {
      await closeServer(gw);
      await p.close();
    }
  });

  it('refuseUpgrade writes the bytes Jellyfin sends, then closes', async () => {
    const gw = http.createServer();
    gw.on('upgrade', (_req: IncomingMessage, socket: Duplex) => refuseUpgrade(socket, 403, 'Error processing request.'));
    const gwPort = await listen(gw);
    try {
      const text = await within(
        raw(gwPort, 'GET /socket?api_key=x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
        5_000,
        'the refusal',
      );
      expect(text).toMatch(
        /^HTTP\/1\.1 403 Forbidden\r\nContent-Type: text\/plain\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\nContent-Length: 25\r\nConnection: close\r\n\r\nError processing request\.$/,
      );
    } finally {
      await closeServer(gw);
    }
  });
});

describe('request (buffered, for interceptors)', () => {
  it('reads a whole response, asks for identity encoding, keeps repeated headers, drops hop-by-hop ones', async () => {
    let seen: { headers: http.IncomingHttpHeaders; body: string } | undefined;
    handle = (req, res) => {
      void readAll(req).then((body) => {
        seen = { headers: req.headers, body: body.toString() };
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.writeHead(200, { 'content-type': 'application/json', connection: 'x-hop', 'x-hop': '1' });
        res.end('{"AccessToken":"t"}');
      });
    };
    const r = await proxy.request({
      method: 'POST',
      path: '/Users/AuthenticateByName',
      headers: { 'Content-Type': 'application/json', 'Accept-Encoding': 'gzip, br', Connection: 'close', 'X-Skip': undefined },
      body: '{"Username":"a","Pw":"b"}',
      info: INFO,
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ AccessToken: 't' });
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.headers['x-hop']).toBeUndefined();
    expect(r.headers.connection).toBeUndefined();
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(seen?.headers['accept-encoding']).toBe('identity');
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.headers['content-length']).toBe('25');
    expect(seen?.headers['x-forwarded-for']).toBe('203.0.113.7');
    expect(seen?.body).toBe('{"Username":"a","Pw":"b"}');
  });

  it('refuses responses over maxResponseBytes with UpstreamError 502 (declared or streamed)', async () => {
    handle = (req, res) => {
      if (req.url === '/declared') res.writeHead(200, { 'content-length': 2 * MiB }).end(Buffer.alloc(2 * MiB));
      else {
        res.writeHead(200);
        res.write(Buffer.alloc(MiB));
        res.end(Buffer.alloc(MiB));
      }
    };
    for (const path of ['/declared', '/chunked']) {
      const err = await proxy.request({ method: 'GET', path }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).status).toBe(502);
    }
    const small = await proxy.request({ method: 'GET', path: '/declared', maxResponseBytes: 3 * MiB });
    expect(small.body.length).toBe(2 * MiB);
  });

  it('maps a slow upstream to 504 and a dead one to 502', async () => {
    const stuck: ServerResponse[] = [];
    handle = (_req, res) => void stuck.push(res);
    const slow = await proxy.request({ method: 'GET', path: '/slow', timeoutMs: 200 }).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(UpstreamError);
    expect((slow as UpstreamError).status).toBe(504);
    for (const res of stuck) res.destroy();

    const dead = new JellyfinProxy({ url: `http://127.0.0.1:${await deadPort()}` });
    const err = await dead.request({ method: 'GET', path: '/System/Info' }).catch((e: unknown) => e);
    expect((err as UpstreamError).status).toBe(502);
    await dead.close();
  });
});

describe('in a Koa app (ctx.respond = false)', () => {
  let server: http.Server;
  let port: number;
  afterEach(async () => {
    if (server) await closeServer(server);
  });

  it('streams through Koa and answers 502 through it too', async () => {
    handle = echo;
    const app = new Koa();
    app.use(async (ctx, next) => {
      ctx.set('x-gateway', 'jellyguard');
      await next();
    });
    app.use(async (ctx) => {
      ctx.respond = false;
      await proxy.forward(ctx.req, ctx.res, INFO);
    });
    server = http.createServer(app.callback());
    port = await listen(server);
    const body = randomBytes(200_000);
    const r = await send(port, { method: 'POST', path: '/koa', body });
    expect(r.status).toBe(200);
    expect(r.headers['x-gateway']).toBe('jellyguard');
    expect(echoed(r)).toMatchObject({ url: '/koa', sha: sha(body) });

    handle = (req) => req.socket.destroy();
    const bad = await send(port, { path: '/koa' });
    expect(bad.status).toBe(502);
  });
});

describe('construction', () => {
  it('refuses a JELLYFIN_URL with a path', () => {
    expect(() => new JellyfinProxy({ url: 'http://127.0.0.1:8096/jellyfin' })).toThrow(/origin only/);
    expect(() => new JellyfinProxy({ url: 'ftp://127.0.0.1' })).toThrow(/http/);
  });
});
