/**
 * The ONE path normalizer (DESIGN principle 2, JELLYFIN.md §2 and §9).
 *
 * `normalize` returns the path as Jellyfin's router would see it, canonicalised for matching, failing
 * closed wherever Jellyfin's stack could see MORE than one reading:
 *
 * - percent-decoded repeatedly until stable, `%2F` included: Kestrel decodes the path once (not `%2F`), and
 *   Jellyfin's LegacyEmbyRouteRewriteMiddleware assigns a plain string to `Request.Path`, which goes through
 *   `PathString.FromUriComponent` and is decoded AGAIN. Bytes must be UTF-8 (else null). More than
 *   MAX_DECODE_ROUNDS rounds → null (no client double-encodes that deep; bounds the work).
 * - '\' is treated as '/', duplicate slashes collapsed, dot segments resolved, trailing slash dropped;
 * - lower-cased (ASP.NET routes compare OrdinalIgnoreCase), also folding 'ı' and 'ſ' to 'i' and 's';
 * - leading BaseUrl, `/emby` and `/mediabrowser` prefixes stripped, any sequence of them. Jellyfin strips
 *   `/emby` / `/mediabrowser` with a bare `StartsWith` (no segment boundary), so `/embyusers/…` becomes a
 *   path without a leading '/' that PathString refuses: such a first segment → null.
 * - GUID segments in any form .NET `Guid.Parse` accepts (N, D, B, P, X, with the D-format "0x"/"+" compat
 *   quirks and surrounding whitespace) become 32 lower-case hex digits (the N form).
 * - null also for: NUL after decoding, a raw '#', a path not starting with '/' (absolute-form
 *   `http://host/path` is reduced to its path), longer than MAX_PATH_LENGTH.
 *
 * The result is fully decoded text, so normalize(normalize(x)) === normalize(x).
 */
import { canonicalGuid, hexValue } from './guid.ts';

export interface PathNormalizer {
  /** The normalized path (always starts with '/', '/' for the root), or null: refuse with 400. */
  normalize(rawPathname: string): string | null;
  /** The BaseUrl as the normalizer uses it: '' or '/segment(/segment)*', lower-case. */
  readonly baseUrl: string;
}

export const MAX_DECODE_ROUNDS = 4;
export const MAX_PATH_LENGTH = 16 * 1024;

/**
 * First path segments of Jellyfin's API (and the gateway's own). A BaseUrl starting with one of them would
 * be indistinguishable from a route after repeated stripping (BaseUrl `/users` + `/users/authenticatebyname`),
 * so for such a BaseUrl the normalizer strips it at most once, exactly as Jellyfin does.
 */
const ROUTE_ROOTS = new Set([
  'albums', 'artists', 'audio', 'auth', 'backup', 'branding', 'channels', 'clientlog', 'collections',
  'devices', 'displaypreferences', 'dlna', 'environment', 'fallbackfont', 'genres', 'getutctime', 'health',
  'images', 'items', 'jellyfinsecurity', 'libraries', 'library', 'livestreams', 'livetv', 'localization',
  'lyrics', 'mediainfo', 'mediasegments', 'movies', 'musicgenres', 'notifications', 'packages', 'persons',
  'playback', 'playingitems', 'playlists', 'plugins', 'providers', 'quickconnect', 'repositories',
  'scheduledtasks', 'search', 'sessions', 'shows', 'socket', 'songs', 'startup', 'studios', 'syncplay',
  'system', 'tmdb', 'trailers', 'trickplay', 'useritems', 'userfavoriteitems', 'userplayeditems', 'users',
  'userviews', 'videos', 'web', 'websocket', 'years', 'api-docs', 'openapi', 'emby', 'mediabrowser',
]);

// ---------------------------------------------------------------------------------------------------------
// Decoding


/**
 * One round of percent-decoding. Escaped bytes must form valid UTF-8 (a lead byte's continuation bytes
 * must be escapes too); any other char stands for itself. Returns null for invalid UTF-8.
 */
function percentDecodeOnce(s: string, firstPercent: number): string | null {
  const n = s.length;
  let out = s.slice(0, firstPercent);
  let runStart = firstPercent; // start of literal text not yet copied
  let i = firstPercent;
  while (i < n) {
    if (s.charCodeAt(i) !== 0x25 || i + 2 >= n) {
      i++;
      continue;
    }
    const h1 = hexValue(s.charCodeAt(i + 1));
    const h2 = hexValue(s.charCodeAt(i + 2));
    if (h1 < 0 || h2 < 0) {
      i++;
      continue;
    }
    if (runStart < i) out += s.slice(runStart, i);
    const b0 = (h1 << 4) | h2;
    i += 3;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
    } else {
      let need: number;
      let cp: number;
      let min: number;
      if (b0 >= 0xc2 && b0 <= 0xdf) (need = 1), (cp = b0 & 0x1f), (min = 0x80);
      else if (b0 >= 0xe0 && b0 <= 0xef) (need = 2), (cp = b0 & 0x0f), (min = 0x800);
      else if (b0 >= 0xf0 && b0 <= 0xf4) (need = 3), (cp = b0 & 0x07), (min = 0x10000);
      else return null;
      for (let k = 0; k < need; k++) {
        if (i + 2 >= n) return null;
        if (s.charCodeAt(i) !== 0x25) return null;
        const c1 = hexValue(s.charCodeAt(i + 1));
        const c2 = hexValue(s.charCodeAt(i + 2));
        if (c1 < 0 || c2 < 0) return null;
        const b = (c1 << 4) | c2;
        if ((b & 0xc0) !== 0x80) return null;
        cp = (cp << 6) | (b & 0x3f);
        i += 3;
      }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
      out += String.fromCodePoint(cp);
    }
    runStart = i;
  }
  if (runStart < n) out += s.slice(runStart);
  return out;
}

/** Decode until stable; null for invalid UTF-8 or too many rounds. */
function decodeFully(s: string): string | null {
  for (let round = 0; ; round++) {
    const p = s.indexOf('%');
    if (p === -1) return s;
    const d = percentDecodeOnce(s, p);
    if (d === null) return null;
    if (d === s) return s; // only '%' not followed by two hex digits
    if (round >= MAX_DECODE_ROUNDS) return null;
    s = d;
  }
}

/** Lone surrogates cannot be UTF-8: the raw text must be well-formed. */
function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Normalizing

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/;
const DOTLESS_I = /\u0131/g;
const LONG_S = /\u017f/g;

/** Lower-case as ASP.NET's OrdinalIgnoreCase would equate, plus 'ı' → 'i' and 'ſ' → 's' (fail closed). */
function lowerSegment(seg: string): string {
  let l = seg.toLowerCase();
  if (l.length !== seg.length || l.includes('\u0131') || l.includes('\u017f')) {
    l = l.replace(DOTLESS_I, 'i').replace(LONG_S, 's');
  }
  return l;
}

/** Split, resolve dot segments, drop empty segments; '\' counts as '/'. */
function segmentsOf(path: string): string[] {
  const out: string[] = [];
  const n = path.length;
  let start = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? path.charCodeAt(i) : 0x2f;
    if (c !== 0x2f && c !== 0x5c) continue;
    if (i > start) {
      const seg = path.slice(start, i);
      if (seg === '.') {
        // nothing
      } else if (seg === '..') {
        out.pop();
      } else {
        out.push(seg);
      }
    }
    start = i + 1;
  }
  return out;
}

function parseBaseUrl(baseUrl: string): string[] {
  if (typeof baseUrl !== 'string') throw new Error('BaseUrl must be a string');
  const trimmed = baseUrl.trim();
  if (trimmed === '' || trimmed === '/') return [];
  if (/[?#%\\\s\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new Error(`BaseUrl "${baseUrl}" is invalid: use a plain path like "/jellyfin" (no ?, #, %, \\ or spaces)`);
  }
  const segs = trimmed.split('/').filter((s) => s !== '');
  if (segs.some((s) => s === '.' || s === '..')) throw new Error(`BaseUrl "${baseUrl}" is invalid: no dot segments`);
  return segs.map(lowerSegment);
}

/** The gateway's normalizer for a Jellyfin BaseUrl ('' or like '/jellyfin'; a trailing '/' is ignored). */
export function createPathNormalizer(opts: { baseUrl: string }): PathNormalizer {
  const base = parseBaseUrl(opts.baseUrl ?? '');
  const baseUrl = base.length === 0 ? '' : '/' + base.join('/');
  const baseCollides = base.length > 0 && ROUTE_ROOTS.has(base[0]!);

  function normalize(rawPathname: string): string | null {
    if (typeof rawPathname !== 'string') return null;
    let raw = rawPathname;
    if (raw.length === 0 || raw.length > MAX_PATH_LENGTH) return null;
    if (raw.charCodeAt(0) !== 0x2f && raw.charCodeAt(0) !== 0x5c) {
      const m = ABSOLUTE_FORM.exec(raw);
      if (m === null) return null;
      raw = raw.slice(m[0].length) || '/';
      if (raw.charCodeAt(0) !== 0x2f) return null;
    }
    if (raw.includes('#') || hasLoneSurrogate(raw)) return null;
    const decoded = decodeFully(raw);
    if (decoded === null || decoded.includes('\u0000')) return null;

    const segs = segmentsOf(lowerSegment(decoded));
    let i = 0;
    let baseUsed = false;
    // Strip any leading sequence of BaseUrl, /emby, /mediabrowser.
    while (i < segs.length) {
      if (base.length > 0 && !(baseCollides && baseUsed) && i + base.length <= segs.length) {
        let match = true;
        for (let k = 0; k < base.length; k++) {
          if (segs[i + k] !== base[k]) {
            match = false;
            break;
          }
        }
        if (match) {
          i += base.length;
          baseUsed = true;
          continue;
        }
      }
      const first = segs[i]!;
      if (first === 'emby' || first === 'mediabrowser') {
        i++;
        continue;
      }
      if (first.startsWith('emby') || first.startsWith('mediabrowser')) return null;
      break;
    }
    if (i >= segs.length) return '/';
    let out = '';
    for (; i < segs.length; i++) {
      const seg = segs[i]!;
      out += '/' + (seg.length >= 32 ? (canonicalGuid(seg) ?? seg) : seg);
    }
    return out;
  }

  return { normalize, baseUrl };
}

/**
 * The raw path's remainder under the BaseUrl ('/' at least), or null when it does not lie under it.
 * Compared as ASP.NET's `Map(BaseUrl)` does: segment-wise, case-insensitively, on the decoded segments.
 * With no BaseUrl every path is under it and comes back unchanged.
 */
export function stripBaseUrl(rawPathname: string, baseUrl: string): string | null {
  let base: string[];
  try {
    base = parseBaseUrl(baseUrl);
  } catch {
    return null;
  }
  if (base.length === 0) return rawPathname;
  let pos = 0;
  for (const want of base) {
    if (rawPathname.charCodeAt(pos) !== 0x2f) return null;
    let end = rawPathname.indexOf('/', pos + 1);
    if (end === -1) end = rawPathname.length;
    const d = decodeFully(rawPathname.slice(pos + 1, end));
    if (d === null || lowerSegment(d) !== want) return null;
    pos = end;
  }
  return pos === rawPathname.length ? '/' : rawPathname.slice(pos);
}

/** True when rawPathname lies under the BaseUrl (or there is none). */
export function isUnderBaseUrl(rawPathname: string, baseUrl: string): boolean {
  return stripBaseUrl(rawPathname, baseUrl) !== null;
}

// ---------------------------------------------------------------------------------------------------------
// Matching routes on the normalized path

export type RouteParams = Record<string, string>;

interface CompiledRoute {
  /** Lower-case literal, or null for a `{param}` segment. */
  literals: (string | null)[];
  names: (string | null)[];
}

const compiled = new Map<string, CompiledRoute>();

function compile(pattern: string): CompiledRoute {
  let c = compiled.get(pattern);
  if (c !== undefined) return c;
  const literals: (string | null)[] = [];
  const names: (string | null)[] = [];
  for (const seg of pattern.split('/')) {
    if (seg === '') continue;
    if (seg.length > 2 && seg.startsWith('{') && seg.endsWith('}')) {
      literals.push(null);
      names.push(seg.slice(1, -1));
    } else {
      literals.push(seg.toLowerCase());
      names.push(null);
    }
  }
  c = { literals, names };
  if (compiled.size < 1024) compiled.set(pattern, c);
  return c;
}

/**
 * Match a NORMALIZED path against a pattern like '/users/{id}/authenticate'. A `{name}` segment matches
 * any single segment (fail closed: not only GUIDs). Returns the params ({} when there are none) or null.
 */
export function matchRoute(normalized: string, pattern: string): RouteParams | null {
  const route = compile(pattern);
  const n = route.literals.length;
  let params: RouteParams | null = null;
  let pos = 0;
  for (let k = 0; k < n; k++) {
    if (normalized.charCodeAt(pos) !== 0x2f) return null;
    let end = normalized.indexOf('/', pos + 1);
    if (end === -1) end = normalized.length;
    if (end === pos + 1) return null;
    const lit = route.literals[k];
    if (lit === null || lit === undefined) {
      (params ??= {})[route.names[k]!] = normalized.slice(pos + 1, end);
    } else if (end - pos - 1 !== lit.length || !normalized.startsWith(lit, pos + 1)) {
      return null;
    }
    pos = end;
  }
  if (pos !== normalized.length && !(n === 0 && normalized === '/')) return null;
  return params ?? {};
}

/** The login, Quick Connect, logout, web index and socket routes, on the normalized path. */
export const AUTH_ROUTES = {
  authenticateByName: '/users/authenticatebyname',
  authenticateById: '/users/{id}/authenticate',
  authenticateWithQuickConnect: '/users/authenticatewithquickconnect',
  quickConnectInitiate: '/quickconnect/initiate',
  quickConnectConnect: '/quickconnect/connect',
  quickConnectAuthorize: '/quickconnect/authorize',
  sessionsLogout: '/sessions/logout',
  webIndex: '/web/index.html',
  socket: '/socket',
} as const;

export type AuthRouteName = keyof typeof AUTH_ROUTES;

const AUTH_ROUTE_ENTRIES = Object.entries(AUTH_ROUTES) as [AuthRouteName, string][];

/** Which auth route a normalized path is, with its params; `/web` (and `/web/`) count as the web index. */
export function classifyAuthRoute(normalized: string): { route: AuthRouteName; params: RouteParams } | null {
  if (normalized === '/web') return { route: 'webIndex', params: {} };
  for (const [route, pattern] of AUTH_ROUTE_ENTRIES) {
    const params = matchRoute(normalized, pattern);
    if (params !== null) return { route, params };
  }
  return null;
}

/** True for `/jellyfinsecurity` and everything below it (the gateway's own routes), on the normalized path. */
export function isGatewayRoute(normalized: string): boolean {
  return normalized === '/jellyfinsecurity' || normalized.startsWith('/jellyfinsecurity/');
}
