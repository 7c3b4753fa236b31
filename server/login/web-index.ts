import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { GatewayContext, GatewayMiddleware } from '../context.ts';
import type { BufferedResponse, JellyfinProxy } from '../jellyfin/proxy.ts';
import { forwardInfo, headersForUpstream, relayableResponseHeaders } from '../jellyfin/forwarding.ts';
import { relay, relayUpstreamError } from './relay.ts';

/**
 * jellyfin-web's `/web/index.html` (and `/web/`, `/web`, in every path variant: the intercept table
 * matches the normalized route) gets one more tag before `</head>`:
 *
 *   <script src="{BaseUrl}/JellyfinSecurity/inject.js" defer></script>
 *
 * (pwa/login/inject.js: it sends users to the gateway's login page instead of jellyfin-web's own form, and
 * asks "Confirm it's you" when one of jellyfin-web's requests needs a step-up.)
 *
 * Whatever encoding the client asked for, Jellyfin is asked for the page uncompressed (proxy.request
 * sends `Accept-Encoding: identity`; a compressed answer anyway is decoded here), and the page is
 * answered uncompressed with its new Content-Length. Validators are never forwarded and never answered
 * (no If-None-Match / If-Modified-Since / Range upstream; no ETag / Last-Modified back) and the answer
 * says `Cache-Control: no-cache`, so a copy cached before the gateway was installed is never used.
 * Only a GET or HEAD answered 200 with text/html is rewritten; anything else passes through as Jellyfin
 * answered it.
 */

/** The injected tag for a BaseUrl ('' or like '/jellyfin'). */
export function injectScriptTag(baseUrl: string): string {
  return `<script src="${baseUrl}/JellyfinSecurity/inject.js" defer></script>`;
}

/**
 * The page with `tag` inserted before the first `</head>` (or before `<body`, or first, for a page
 * without a head). Works on bytes through latin1, so any ASCII-compatible charset survives untouched.
 * Idempotent: a page that already carries the tag is returned unchanged.
 */
export function injectIntoHtml(html: Buffer, tag: string): Buffer {
  const text = html.toString('latin1');
  if (text.includes(tag)) return html;
  const lower = text.toLowerCase();
  let at = lower.indexOf('</head');
  if (at === -1) at = lower.indexOf('<body');
  if (at === -1) {
    const doctype = /^\s*<!doctype[^>]*>/i.exec(text);
    at = doctype ? doctype[0].length : 0;
  }
  return Buffer.concat([html.subarray(0, at), Buffer.from(tag, 'latin1'), html.subarray(at)]);
}

/** Request headers never sent upstream for the page: conditionals and ranges would spare Jellyfin the body. */
const NOT_FORWARDED = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'];
/** Response headers that describe Jellyfin's bytes, not ours. */
const NOT_RELAYED = new Set(['etag', 'last-modified', 'content-length', 'content-encoding', 'content-range', 'accept-ranges', 'content-md5', 'digest', 'cache-control', 'expires']);
/** jellyfin-web's index.html is about 30 KiB; anything near this cap is not it. */
export const MAX_INDEX_BYTES = 4 * 1024 * 1024;

function header(res: BufferedResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Undo a Content-Encoding Jellyfin should not have used (it was asked for identity); undefined if unknown. */
function decoded(body: Buffer, encoding: string): Buffer | undefined {
  const opts = { maxOutputLength: MAX_INDEX_BYTES };
  try {
    switch (encoding) {
      case '':
      case 'identity':
        return body;
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body, opts);
      case 'br':
        return brotliDecompressSync(body, opts);
      case 'deflate':
        return inflateSync(body, opts);
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

export interface WebIndexDeps {
  proxy: JellyfinProxy;
  /** Jellyfin's BaseUrl ('' or like '/jellyfin'). */
  baseUrl: string;
  log: (msg: string) => void;
}

/** The interceptor for `/web` and `/web/index.html` (after the token gate). */
export function webIndex(deps: WebIndexDeps): GatewayMiddleware {
  const tag = injectScriptTag(deps.baseUrl);
  return async (ctx: GatewayContext, next) => {
    const url = ctx.req.url ?? '/';
    // Other methods, and an absolute-form target the proxy answers itself, pass through.
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || url.charCodeAt(0) !== 0x2f) return next();
    const headers = headersForUpstream(ctx.req.headers, forwardInfo(ctx.state.client, 'encrypted' in ctx.req.socket, ctx.get('host') || undefined));
    for (const h of NOT_FORWARDED) delete headers[h];
    let res: BufferedResponse;
    try {
      // HEAD is asked as GET: the answer's length is the length of the page with the tag.
      res = await deps.proxy.request({ method: 'GET', path: url, headers, maxResponseBytes: MAX_INDEX_BYTES });
    } catch (err) {
      return relayUpstreamError(ctx, err);
    }
    const type = header(res, 'content-type') ?? '';
    if (res.status !== 200 || !/^\s*text\/html\b/i.test(type)) return relay(ctx, res);
    const encoding = (header(res, 'content-encoding') ?? '').trim().toLowerCase();
    const page = decoded(res.body, encoding);
    if (!page) {
      deps.log(`jellyfin-web's index.html came with Content-Encoding "${encoding}" that could not be decoded: served without the Jellyguard script`);
      ctx.status = res.status;
      for (const [k, v] of Object.entries(relayableResponseHeaders(res.headers))) ctx.set(k, v);
      ctx.set('content-encoding', encoding);
      ctx.body = res.body;
      return;
    }
    const body = injectIntoHtml(page, tag);
    ctx.status = 200;
    for (const [k, v] of Object.entries(relayableResponseHeaders(res.headers))) if (!NOT_RELAYED.has(k)) ctx.set(k, v);
    ctx.set('content-type', type);
    ctx.set('cache-control', 'no-cache');
    ctx.body = body; // Koa sets Content-Length, and sends no body for HEAD
  };
}
