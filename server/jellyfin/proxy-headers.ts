/**
 * Header rewriting for the proxy (RFC 9110 §7.6.1): hop-by-hop headers never cross the gateway, and the
 * forwarding headers Jellyfin trusts (X-Forwarded-For/Proto/Host, KnownProxies) are asserted by the gateway
 * alone: whatever a client sent under those names is dropped, never appended to.
 *
 * Everything here runs once per proxied request: no regular expressions, no intermediate objects; output is
 * a flat `[name, value, name, value, …]` array, which both undici's dispatcher and `res.writeHead` accept
 * without converting.
 */
/** Who asked, as the gateway established it (trusted-proxy walk done by the caller). */
export interface ForwardInfo {
  clientIp: string;
  proto: 'http' | 'https';
  /** The Host the client used; `undefined` drops X-Forwarded-Host. */
  host: string | undefined;
}

/** Overrides from the caller: a string sets the header, `undefined` deletes it. Names are case-insensitive. */
export type HeaderOverrides = Record<string, string | undefined>;

/** Parsed headers with lower-case names, as Node's `req.headers` and undici give them. */
export type HeaderBag = Record<string, string | string[] | undefined>;

/** A flat header list: `[name, value, name, value, …]`; a value may be several values of one header. */
export type FlatHeaders = (string | string[])[];

/** How a request header is treated: passed on, hop-by-hop, or asserted by the gateway alone. */
const PASS = 0;
const HOP = 1;
const ASSERTED = 2;

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1 plus the de-facto Keep-Alive and Proxy-Connection; every `proxy-*`
 * is matched by prefix), and the request headers a client may not assert to Jellyfin: `host` is the
 * upstream's own (undici writes it); `expect` is answered by Node's server itself (100-continue) and undici
 * refuses to send it; `forwarded`, `x-real-ip` and every `x-forwarded-*` (For, Proto, Host, and Prefix/Port,
 * which ASP.NET's ForwardedHeaders can also honour) would let a client lie about where it is.
 * One map lookup per header on the hot path; prefixes are checked only for names starting with p or x.
 */
const KNOWN = new Map<string, number>([
  ['connection', HOP], ['keep-alive', HOP], ['te', HOP], ['trailer', HOP], ['trailers', HOP],
  ['transfer-encoding', HOP], ['upgrade', HOP],
  ['host', ASSERTED], ['expect', ASSERTED], ['forwarded', ASSERTED], ['x-real-ip', ASSERTED],
]);

function classify(name: string): number {
  const known = KNOWN.get(name);
  if (known !== undefined) return known;
  const c = name.charCodeAt(0);
  if (c === 112 /* p */ && name.startsWith('proxy-')) return HOP;
  if (c === 120 /* x */ && name.startsWith('x-forwarded-')) return ASSERTED;
  return PASS;
}

function isHopByHop(name: string): boolean {
  return classify(name) === HOP;
}

/**
 * Header names listed in a Connection header (lower-cased, trimmed): they are hop-by-hop for this message.
 * `null` when there is none or it only says keep-alive/close/upgrade, which is the common case and costs
 * no allocation.
 */
export function connectionTokens(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return null;
  if (typeof value === 'string') {
    switch (value.length) {
      case 5: // close
      case 7: // upgrade
      case 10: // keep-alive
        if (value === 'close' || value === 'keep-alive' || value === 'Keep-Alive' || value === 'Upgrade' || value === 'upgrade' || value === 'Close') return null;
    }
  }
  const joined = typeof value === 'string' ? value : value.join(',');
  let out: string[] | null = null;
  for (const token of joined.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade') (out ??= []).push(name);
  }
  return out;
}

/** Lower-cased copy of the caller's overrides, or undefined when there are none. */
export function normalizeOverrides(overrides: HeaderOverrides | undefined): HeaderOverrides | undefined {
  if (overrides === undefined) return undefined;
  let out: HeaderOverrides | undefined;
  for (const name in overrides) {
    out ??= Object.create(null) as HeaderOverrides;
    out[name.toLowerCase()] = overrides[name];
  }
  return out;
}

/**
 * The headers to send upstream for a client request. Reads `req.headers` (what the gateway's own credential
 * reader parsed, so Jellyfin sees exactly what was checked; Node has already dropped duplicate Authorization,
 * Host, Content-Length… and joined the rest), drops hop-by-hop and gateway-asserted headers, then sets
 * X-Forwarded-For (replaced, never appended), -Proto and -Host, then applies the caller's overrides.
 *
 * With `upgrade` true (a WebSocket handshake) the `Upgrade` header is kept and `Connection: Upgrade` is set,
 * as an upgrade needs them.
 */
/** The gateway's own cookies (trusted browser, app session) are never shown to Jellyfin. */
const OWN_COOKIE_PREFIX = 'JellyfinSecurity-';

export function withoutOwnCookies(cookie: string): string {
  return cookie
    .split(';')
    .filter((c) => !c.trim().startsWith(OWN_COOKIE_PREFIX))
    .join(';')
    .trim();
}

export function requestHeaders(
  src: HeaderBag,
  info: ForwardInfo,
  overrides: HeaderOverrides | undefined,
  upgrade = false,
): FlatHeaders {
  const named = connectionTokens(src.connection);
  const out: FlatHeaders = [];
  for (const name in src) {
    const value = src[name];
    if (value === undefined) continue;
    const kind = classify(name);
    if (kind !== PASS) {
      if (!(upgrade && name === 'upgrade')) continue;
    } else if (named !== null && named.includes(name)) {
      continue;
    }
    if (overrides !== undefined && name in overrides) continue;
    if (name === 'cookie' && typeof value === 'string' && value.includes(OWN_COOKIE_PREFIX)) {
      const kept = withoutOwnCookies(value);
      if (kept) out.push(name, kept);
      continue;
    }
    out.push(name, value);
  }
  if (upgrade) out.push('connection', 'Upgrade');
  if (overrides === undefined) {
    out.push('x-forwarded-for', info.clientIp, 'x-forwarded-proto', info.proto);
    if (info.host !== undefined) out.push('x-forwarded-host', info.host);
    return out;
  }
  if (!('x-forwarded-for' in overrides)) out.push('x-forwarded-for', info.clientIp);
  if (!('x-forwarded-proto' in overrides)) out.push('x-forwarded-proto', info.proto);
  if (info.host !== undefined && !('x-forwarded-host' in overrides)) out.push('x-forwarded-host', info.host);
  for (const name in overrides) {
    const value = overrides[name];
    // An override cannot re-introduce a hop-by-hop header: undici refuses them and they would be wrong.
    if (value !== undefined && !isHopByHop(name) && name !== 'expect') out.push(name, value);
  }
  return out;
}

/**
 * Headers for a request the gateway makes itself (`JellyfinProxy.request`): hop-by-hop, Expect and
 * Content-Length (undici computes it from the body) dropped, names lower-cased.
 */
export function ownRequestHeaders(src: Record<string, string | string[] | undefined> | undefined): FlatHeaders {
  const out: FlatHeaders = [];
  if (src === undefined) return out;
  const named = connectionTokens(src['connection'] ?? src['Connection']);
  for (const key in src) {
    const value = src[key];
    if (value === undefined) continue;
    const name = key.toLowerCase();
    if (isHopByHop(name) || name === 'expect' || name === 'content-length' || name === 'accept-encoding') continue;
    if (named !== null && named.includes(name)) continue;
    out.push(name, value);
  }
  return out;
}

/** Response headers from Jellyfin, minus hop-by-hop ones, as a flat list for `res.writeHead`. */
export function responseHeaders(src: HeaderBag): FlatHeaders {
  const named = connectionTokens(src.connection);
  const out: FlatHeaders = [];
  for (const name in src) {
    const value = src[name];
    if (value === undefined || isHopByHop(name)) continue;
    if (named !== null && named.includes(name)) continue;
    out.push(name, value);
  }
  return out;
}

/** Response headers as a record (for buffered responses), minus hop-by-hop ones. */
export function responseHeaderRecord(src: HeaderBag): Record<string, string | string[]> {
  const named = connectionTokens(src.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in src) {
    const value = src[name];
    if (value === undefined || isHopByHop(name)) continue;
    if (named !== null && named.includes(name)) continue;
    out[name] = value;
  }
  return out;
}
