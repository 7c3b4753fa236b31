/**
 * The upstream client and reverse proxy to Jellyfin (DESIGN.md pipeline step 7, principle 5).
 *
 * `forward` streams one exchange through undici's low-level `Pool.dispatch` with a handler: the response
 * head goes to `res.writeHead`, each body chunk to `res.write`, and the dispatch is paused while the client
 * is not keeping up (more than PAUSE_AT bytes queued) and resumed on `drain` — so at most a few hundred KiB
 * wait in the gateway per response, and the request body (the IncomingMessage itself, which undici pauses
 * when its upstream socket is full) is never buffered either.
 * PERFORMANCE.md measured this design at 1.6× `Pool.stream` and 2.2× http-proxy.
 *
 * The hot path allocates one small handler object per request and attaches two listeners that are shared
 * functions (no closures); header rewriting works on flat arrays (proxy-headers.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import {
  normalizeOverrides,
  ownRequestHeaders,
  requestHeaders,
  responseHeaderRecord,
  responseHeaders,
  type ForwardInfo,
  type HeaderBag,
  type HeaderOverrides,
} from './proxy-headers.ts';
import { proxyUpgrade, refuseUpgrade, type UpgradeTarget } from './proxy-upgrade.ts';

export type { ForwardInfo, HeaderOverrides } from './proxy-headers.ts';
export { refuseUpgrade };

export interface UpstreamOptions {
  /** JELLYFIN_URL: an origin (`http://127.0.0.1:8096`); a path is refused — BaseUrl lives in the paths. */
  url: string;
  /** Keep-alive connections to Jellyfin. Default 128. */
  connections?: number;
  /** Default 5000. Exceeded → 504. */
  connectTimeoutMs?: number;
  /** No response head within this time → 504. Default 30000. */
  headersTimeoutMs?: number;
  /** Longest silence inside a response body; 0 = none (default): a paused video stops reading for hours.
   *  While the client is not reading the dispatch is paused and this timer does not run anyway. */
  bodyTimeoutMs?: number;
}

export interface BufferedResponse {
  status: number;
  /** Lower-case names, hop-by-hop headers removed; repeated headers (Set-Cookie) keep every value. */
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export class UpstreamError extends Error {
  constructor(readonly status: 502 | 504, message: string) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface RequestOptions {
  method: string;
  path: string;
  headers?: Record<string, string | string[] | undefined>;
  body?: Buffer | string;
  /** Larger responses are refused with UpstreamError 502. Default 1 MiB. */
  maxResponseBytes?: number;
  /** The whole exchange, head and body. Default: the proxy's headers timeout. Exceeded → UpstreamError 504. */
  timeoutMs?: number;
  /** When the call is made on a client's behalf (a login): X-Forwarded-For/Proto/Host as `forward` sets them. */
  info?: ForwardInfo;
}

export interface ForwardOverrides {
  /** The path and query to request; default `req.url`. */
  path?: string;
  /** Set (string) or delete (undefined) request headers after the gateway's own rewriting. */
  headers?: HeaderOverrides;
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
/**
 * Pause the upstream only once this much waits in the client's socket, not at its 16 KiB high-water mark:
 * undici then reads full 64 KiB buffers and Node flushes queued chunks with one writev, which halved the
 * reads and writes per GiB streamed in test/bench (32 → 64 KiB per call) and cut the gateway's CPU per GiB.
 * Still a hard bound per stream (≤ 256 KiB + one chunk), like nginx's proxy_buffers 8 64k.
 */
const PAUSE_AT = 256 * 1024;
/** How long `close()` lets exchanges in flight finish before cutting them. */
const CLOSE_GRACE_MS = 5_000;

const kExchange = Symbol('jellyguard.exchange');
type ProxiedResponse = ServerResponse & { [kExchange]?: Exchange };

/** Why an exchange was aborted by the gateway: the client left. Never shown to anyone. */
class ClientGoneError extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGoneError';
  }
}

function jsonBody(error: string, message: string): Buffer {
  return Buffer.from(JSON.stringify({ error, message }), 'utf8');
}
const BODY_502 = jsonBody('upstream_unavailable', 'Jellyfin could not be reached.');
const BODY_504 = jsonBody('upstream_timeout', 'Jellyfin did not answer in time.');
const BODY_400 = jsonBody('bad_request', 'The request target must be a path.');

/** undici error codes that mean "Jellyfin was too slow", as opposed to "Jellyfin is not there". */
function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const name = (err as { name?: unknown } | null)?.name;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' || name === 'TimeoutError';
}

function sendError(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, [
    'content-type', 'application/json; charset=utf-8',
    'content-length', String(body.length),
    'cache-control', 'no-store',
  ]);
  res.end(body);
}

/** Client-side listeners are shared functions reading the exchange from the response: no closure per request. */
function onClientClose(this: ProxiedResponse): void {
  this[kExchange]?.clientClosed();
}
function onClientDrain(this: ProxiedResponse): void {
  this[kExchange]?.controller?.resume();
}

/** One proxied exchange: an undici 7 dispatch handler writing into the client's ServerResponse. */
class Exchange implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null;
  private done = false;
  private clientGone = false;
  private drainListening = false;

  constructor(
    private readonly res: ProxiedResponse,
    private readonly resolve: () => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // The client left while the request waited for a free connection: do not send it at all.
    if (this.clientGone) controller.abort(new ClientGoneError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: HeaderBag): void {
    if (statusCode < 200) return; // 1xx (103 Early Hints): not relayed; undici refuses 100 itself
    const res = this.res;
    if (this.clientGone || res.destroyed) {
      controller.abort(new ClientGoneError());
      return;
    }
    res.writeHead(statusCode, responseHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.res;
    if (res.write(chunk) || res.writableLength < PAUSE_AT) return;
    // The client is not keeping up: stop reading from Jellyfin until its socket drains (backpressure).
    controller.pause();
    if (!this.drainListening) {
      this.drainListening = true;
      res.on('drain', onClientDrain);
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.done) return;
    const res = this.res;
    if (!this.clientGone && !res.destroyed) {
      if (!res.headersSent) sendError(res, isTimeout(err) ? 504 : 502, isTimeout(err) ? BODY_504 : BODY_502);
      else res.destroy(); // mid-body: the client must see a truncated response, not a complete one
    }
    this.finish();
  }

  clientClosed(): void {
    if (this.done) return;
    this.clientGone = true;
    // Abort the upstream request (frees or discards its connection); without a controller yet, the
    // request is still queued and onRequestStart aborts it.
    const controller = this.controller;
    if (controller !== null && !controller.aborted) controller.abort(new ClientGoneError());
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.resolve();
  }
}

export class JellyfinProxy {
  readonly origin: string;
  private readonly pool: Pool;
  private readonly upgradeTarget: UpgradeTarget;
  private readonly headersTimeoutMs: number;
  private readonly upgraded = new Set<Duplex>();

  constructor(opts: UpstreamOptions) {
    const url = new URL(opts.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`JELLYFIN_URL must be http:// or https://, got ${url.protocol}`);
    }
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
      throw new Error('JELLYFIN_URL must be an origin only (scheme, host, port): Jellyfin\'s BaseUrl stays in the request paths');
    }
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    this.headersTimeoutMs = opts.headersTimeoutMs ?? 30_000;
    this.origin = url.origin;
    this.pool = new Pool(url.origin, {
      connections: opts.connections ?? 128,
      pipelining: 1,
      connect: { timeout: connectTimeoutMs },
      headersTimeout: this.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs ?? 0,
      // Kestrel keeps idle connections 130 s: stay well under it so a reused connection is never one
      // the server is closing.
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
    });
    const tlsUpstream = url.protocol === 'https:';
    this.upgradeTarget = {
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port !== '' ? Number(url.port) : tlsUpstream ? 443 : 80,
      host: url.host,
      tls: tlsUpstream,
      connectTimeoutMs,
      headersTimeoutMs: this.headersTimeoutMs,
    };
  }

  /**
   * Stream the client's request to Jellyfin and the response back (see the module comment). Resolves when
   * the exchange is over — response ended, answered with 502/504, or the client gone; never rejects.
   */
  forward(req: IncomingMessage, res: ServerResponse, info: ForwardInfo, overrides?: ForwardOverrides): Promise<void> {
    const path = overrides?.path ?? req.url ?? '/';
    // Origin-form only: an absolute-form target (`GET http://x/ HTTP/1.1`) or `*` would be routed by
    // Jellyfin differently from how the gateway classified it.
    if (path.charCodeAt(0) !== 47 /* '/' */) {
      if (!res.headersSent) sendError(res, 400, BODY_400);
      return Promise.resolve();
    }
    // The client is already gone (a middleware before us took long): nothing to forward.
    if (res.destroyed || res.writableEnded) return Promise.resolve();
    const src = req.headers;
    const te = src['transfer-encoding'];
    const cl = src['content-length'];
    const hasBody = te !== undefined || (cl !== undefined && cl !== '0');
    const headers = requestHeaders(src, info, normalizeOverrides(overrides?.headers));
    return new Promise<void>((resolve) => {
      const exchange = new Exchange(res as ProxiedResponse, resolve);
      (res as ProxiedResponse)[kExchange] = exchange;
      res.on('close', onClientClose);
      this.pool.dispatch(
        {
          path,
          method: req.method ?? 'GET',
          headers: headers as string[],
          body: hasBody ? req : null,
        },
        exchange,
      );
    });
  }

  /**
   * A request of the gateway's own (interceptors, admin calls): small buffered body, whole response read
   * into memory up to `maxResponseBytes`. Always asks for `Accept-Encoding: identity`, so interceptors read
   * plain JSON. Rejects only with UpstreamError (502: unreachable, reset, too large; 504: too slow).
   */
  async request(opts: RequestOptions): Promise<BufferedResponse> {
    const max = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const headers = ownRequestHeaders(opts.headers);
    headers.push('accept-encoding', 'identity');
    if (opts.info !== undefined) {
      const info = opts.info;
      const replaced = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip']);
      for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (replaced.has(headers[i] as string)) headers.splice(i, 2);
      }
      headers.push('x-forwarded-for', info.clientIp, 'x-forwarded-proto', info.proto);
      if (info.host !== undefined) headers.push('x-forwarded-host', info.host);
    }
    if (opts.path.charCodeAt(0) !== 47) throw new UpstreamError(502, 'request path must start with /');
    const timeoutMs = opts.timeoutMs ?? this.headersTimeoutMs;
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({
        method: opts.method,
        path: opts.path,
        headers: headers as string[],
        body: opts.body ?? null,
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err) {
      throw upstreamError(err);
    }
    const { body } = response;
    const declared = response.headers['content-length'];
    if (typeof declared === 'string' && Number(declared) > max) {
      body.destroy();
      throw new UpstreamError(502, `Jellyfin's response is larger than ${max} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        size += buf.length;
        if (size > max) {
          body.destroy();
          throw new UpstreamError(502, `Jellyfin's response is larger than ${max} bytes`);
        }
        chunks.push(buf);
      }
    } catch (err) {
      throw upstreamError(err);
    }
    return {
      status: response.statusCode,
      headers: responseHeaderRecord(response.headers),
      body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size),
    };
  }

  /** Proxy an HTTP upgrade (WebSocket) as raw bytes; see proxy-upgrade.ts. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, info: ForwardInfo): void {
    proxyUpgrade(this.upgradeTarget, req, socket, head, info, this.upgraded);
  }

  /** Stop: let exchanges in flight finish (up to 5 s), then cut what is left, WebSockets included. */
  async close(): Promise<void> {
    for (const socket of this.upgraded) socket.destroy();
    this.upgraded.clear();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS, 'timeout');
      timer.unref();
    });
    const outcome = await Promise.race([this.pool.close().then(() => 'closed' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') await this.pool.destroy();
  }
}

function upstreamError(err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err;
  if (isTimeout(err)) return new UpstreamError(504, 'Jellyfin did not answer in time');
  return new UpstreamError(502, 'Jellyfin could not be reached');
}
