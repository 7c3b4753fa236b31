/**
 * The ONE credential reader (DESIGN principle 3, JELLYFIN.md §1).
 *
 * Reproduces Jellyfin.Server.Implementations/Security/AuthorizationContext.cs (10.10 and 10.11/HEAD):
 *
 * - `GetAuthorizationDictionary`: 10.11 reads `Authorization`, and only when that (joined) value is empty
 *   and legacy authorization is on, `X-Emby-Authorization`; 10.10 reads `X-Emby-Authorization` first. Only
 *   the FIRST value of the chosen header is parsed (`auth[0]`).
 * - `GetAuthorization`: scheme = text before the first ' ' (U+0020 only); `MediaBrowser` or `Emby`,
 *   OrdinalIgnoreCase; anything else (Basic, Bearer, no space) → no parameters at all.
 * - `GetParts`: ported literally below (quotes toggle, commas outside quotes end a value, `=` outside quotes
 *   starts a key, keys `Trim()`ed, values `Trim('"')` then `WebUtility.UrlDecode`, a plain
 *   `Dictionary<string,string>` so keys are case-sensitive and the last one wins).
 * - Token precedence (`string.IsNullOrEmpty` at each step): header `Token`, `X-Emby-Token`,
 *   `X-MediaBrowser-Token`, query `ApiKey`, query `api_key`. Header and query values are ASP.NET
 *   `StringValues`: several values are seen as ONE string joined with ','.
 *
 * `candidates` is deliberately wider than what any one Jellyfin version reads (fail closed): every value of
 * every form, each repeated header/query value on its own and joined (',' as ASP.NET joins, ', ' as Node
 * and many proxies merge), both header orders, the `Emby` scheme, `Token` keys in any case (10.7 used an
 * OrdinalIgnoreCase dictionary) and query names folded a little more loosely than .NET does.
 * Credentials under other schemes (`Basic`, `Bearer`) are not Jellyfin credentials and are not candidates.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type CredentialSource =
  | 'authorization'
  | 'x-emby-authorization'
  | 'x-emby-token'
  | 'x-mediabrowser-token'
  | 'query:apikey'
  | 'query:api_key';

export interface Credential {
  /** The token Jellyfin 10.11 would use (first non-empty by precedence), or null. */
  token: string | null;
  /** Where `token` came from. */
  source?: CredentialSource;
  /**
   * EVERY non-empty token value presented in any form, any header value, deduplicated — the gate requires
   * all of them to pass (fail closed). Includes the comma-joined forms of repeated headers/query keys.
   */
  candidates: string[];
  client?: string;
  device?: string;
  deviceId?: string;
  version?: string;
}

/**
 * Put in `candidates` if reading ever failed unexpectedly: it is never a valid token, so the gate refuses
 * the request rather than letting it through as anonymous.
 */
export const UNREADABLE_CREDENTIAL = '\u0000unreadable-credential';

// ---------------------------------------------------------------------------------------------------------
// .NET primitives

/** `char.IsWhiteSpace`: Zs, Zl, Zp, U+0009–U+000D, U+0085 (NOT U+FEFF, unlike JS `trim`). */
export function isDotNetWhiteSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** `ReadOnlySpan<char>.Trim()` on s[start, end). */
function dotNetTrim(s: string, start: number, end: number): string {
  while (start < end && isDotNetWhiteSpace(s.charCodeAt(start))) start++;
  while (end > start && isDotNetWhiteSpace(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

/** `.Trim('"')` on s[start, end). */
function trimQuotes(s: string, start: number, end: number): string {
  while (start < end && s.charCodeAt(start) === 0x22) start++;
  while (end > start && s.charCodeAt(end - 1) === 0x22) end--;
  return s.slice(start, end);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

const utf8Lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * `System.Net.WebUtility.UrlDecode`: '+' → ' ', `%XX` (exactly two hex digits) → a byte, other '%' kept
 * literally, bytes decoded as UTF-8 with U+FFFD for invalid sequences, non-ASCII chars kept as they are.
 */
export function webUtilityUrlDecode(value: string): string {
  const n = value.length;
  let i = 0;
  for (; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2b || c === 0x25) break;
  }
  if (i === n) return value;
  let out = value.slice(0, i);
  let bytes: number[] | null = null;
  for (; i < n; i++) {
    let c = value.charCodeAt(i);
    if (c === 0x2b) c = 0x20;
    else if (c === 0x25 && i < n - 2) {
      const h1 = hexValue(value.charCodeAt(i + 1));
      const h2 = hexValue(value.charCodeAt(i + 2));
      if (h1 >= 0 && h2 >= 0) {
        const b = (h1 << 4) | h2;
        i += 2;
        if (b < 0x80 && bytes === null) out += String.fromCharCode(b);
        else (bytes ??= []).push(b);
        continue;
      }
    }
    if (c < 0x80) {
      if (bytes === null) out += String.fromCharCode(c);
      else bytes.push(c);
    } else {
      // helper.AddChar: flush pending bytes, then the char itself (a lone surrogate stays as it is).
      if (bytes !== null) {
        out += utf8Lenient.decode(Uint8Array.from(bytes));
        bytes = null;
      }
      out += value[i];
    }
  }
  if (bytes !== null) out += utf8Lenient.decode(Uint8Array.from(bytes));
  return out;
}

/**
 * Decode a run of percent-escaped bytes as `Uri.UnescapeDataString` does: valid UTF-8 becomes text,
 * every byte of an invalid sequence is kept as its original `%XX` text. `raw` holds the escapes' text.
 */
function unescapeUtf8Run(bytes: number[], raw: string[]): string {
  let out = '';
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b0 = bytes[i]!;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i++;
      continue;
    }
    let need = 0;
    let cp = 0;
    let min = 0;
    if (b0 >= 0xc2 && b0 <= 0xdf) (need = 1), (cp = b0 & 0x1f), (min = 0x80);
    else if (b0 >= 0xe0 && b0 <= 0xef) (need = 2), (cp = b0 & 0x0f), (min = 0x800);
    else if (b0 >= 0xf0 && b0 <= 0xf4) (need = 3), (cp = b0 & 0x07), (min = 0x10000);
    let ok = need > 0 && i + need < n;
    if (ok) {
      for (let k = 1; k <= need; k++) {
        const b = bytes[i + k];
        if (b === undefined || (b & 0xc0) !== 0x80) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (b & 0x3f);
      }
    }
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (ok) {
      out += String.fromCodePoint(cp);
      i += need + 1;
    } else {
      out += raw[i]!;
      i++;
    }
  }
  return out;
}

/**
 * ASP.NET Core query decoding (`QueryStringEnumerable` → `Uri.UnescapeDataString` after '+' → ' '):
 * invalid UTF-8 escapes stay as literal `%XX` text.
 */
export function aspNetQueryDecode(value: string): string {
  const n = value.length;
  let i = 0;
  for (; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2b || c === 0x25) break;
  }
  if (i === n) return value;
  let out = value.slice(0, i);
  let bytes: number[] | null = null;
  let raw: string[] | null = null;
  for (; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < n) {
      const h1 = hexValue(value.charCodeAt(i + 1));
      const h2 = hexValue(value.charCodeAt(i + 2));
      if (h1 >= 0 && h2 >= 0) {
        (bytes ??= []).push((h1 << 4) | h2);
        (raw ??= []).push(value.slice(i, i + 3));
        i += 2;
        continue;
      }
    }
    if (bytes !== null) {
      out += unescapeUtf8Run(bytes, raw!);
      bytes = null;
      raw = null;
    }
    out += c === 0x2b ? ' ' : value[i];
  }
  if (bytes !== null) out += unescapeUtf8Run(bytes, raw!);
  return out;
}

/** ASCII-only case-insensitive equality against a lower-case ASCII literal (.NET OrdinalIgnoreCase for it). */
function equalsAsciiIgnoreCase(s: string, lowerLiteral: string): boolean {
  if (s.length !== lowerLiteral.length) return false;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lowerLiteral.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Looser than .NET on purpose (candidates only): also folds U+0131 'ı' → 'i', U+017F 'ſ' → 's' and the
 * Kelvin sign, which some case mappings send to ASCII.
 */
function looseFold(s: string): string {
  const f = s.toLowerCase();
  return NON_ASCII.test(f) ? f.replace(DOTLESS_I, 'i').replace(LONG_S, 's') : f;
}
const NON_ASCII = /[^\x00-\x7f]/;
const DOTLESS_I = /\u0131/g;
const LONG_S = /\u017f/g;

// ---------------------------------------------------------------------------------------------------------
// The header grammar

/** Jellyfin's `AuthorizationContext.GetParts` on the text after the scheme (a literal port). */
export function parseAuthorizationParameters(value: string): Map<string, string> {
  const result = new Map<string, string>();
  let escaped = false;
  let start = 0;
  let key = '';
  let i: number;
  const n = value.length;
  for (i = 0; i < n; i++) {
    const token = value.charCodeAt(i);
    if (token === 0x22 /* " */ || token === 0x2c /* , */) {
      // escaped = (!escaped) == (token == '"'): a quote toggles, a comma leaves it as it is.
      if (token === 0x22) escaped = !escaped;
      if (token === 0x2c && !escaped) {
        if (start < i) {
          result.set(key, webUtilityUrlDecode(trimQuotes(value, start, i)));
          key = '';
        }
        start = i + 1;
      }
    } else if (!escaped && token === 0x3d /* = */) {
      key = dotNetTrim(value, start, i);
      start = i + 1;
    }
  }
  if (start < i) result.set(key, webUtilityUrlDecode(trimQuotes(value, start, i)));
  return result;
}

/**
 * Parse a full header value "MediaBrowser k=v, …": the scheme is the text before the first U+0020,
 * `MediaBrowser` or `Emby` (ASCII case-insensitive, as OrdinalIgnoreCase is for these literals).
 * Another scheme, or no space at all → null.
 */
export function parseMediaBrowserHeader(value: string): Map<string, string> | null {
  const sp = value.indexOf(' ');
  if (sp === -1) return null;
  const scheme = value.slice(0, sp);
  if (!equalsAsciiIgnoreCase(scheme, 'mediabrowser') && !equalsAsciiIgnoreCase(scheme, 'emby')) return null;
  return parseAuthorizationParameters(value.slice(sp + 1));
}

/** Candidate reading of a header value: schemes folded loosely and split on any space or tab. */
function looseHeaderParameters(value: string): Map<string, string> | null {
  const exact = parseMediaBrowserHeader(value);
  if (exact !== null) return exact;
  let sp = -1;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x20 || c === 0x09) {
      sp = i;
      break;
    }
  }
  if (sp === -1) return null;
  const scheme = looseFold(value.slice(0, sp).trim());
  if (scheme !== 'mediabrowser' && scheme !== 'emby') return null;
  return parseAuthorizationParameters(value.slice(sp + 1));
}

// ---------------------------------------------------------------------------------------------------------
// Reading a request

/** Every value of a header, in order (Node merges repeated custom headers; headersDistinct keeps them). */
function headerValues(
  headers: IncomingHttpHeaders,
  distinct: NodeJS.Dict<string[]> | undefined,
  name: string,
): readonly string[] {
  const d = distinct?.[name];
  if (d !== undefined) return d;
  const v = headers[name];
  if (v === undefined) return EMPTY;
  return typeof v === 'string' ? [v] : v;
}

const EMPTY: readonly string[] = [];

/** The one string ASP.NET sees for a `StringValues` (values joined with ','), or null if there are none. */
function joinedStringValues(values: readonly string[]): string | null {
  if (values.length === 0) return null;
  return values.length === 1 ? values[0]! : values.join(',');
}

class CandidateSet {
  readonly list: string[] = [];
  add(v: string | undefined | null): void {
    if (v && !this.list.includes(v)) this.list.push(v);
  }
  /** Each value, and the joined forms when there are several. */
  addAll(values: readonly string[]): void {
    for (const v of values) this.add(v);
    if (values.length > 1) {
      this.add(values.join(','));
      this.add(values.join(', '));
    }
  }
}

/**
 * Add every token-like value of a MediaBrowser header: each value, the joined forms, and Node's merged
 * form. `known` is a value already parsed (exactly) by the caller, with its parameters, to skip re-parsing.
 */
function addHeaderTokens(
  set: CandidateSet,
  values: readonly string[],
  merged: string | undefined,
  known: string | undefined,
  knownParams: Map<string, string> | null,
): void {
  for (const v of values) addTokensOf(set, v, known, knownParams);
  if (values.length > 1) {
    addTokensOf(set, values.join(','), known, knownParams);
    addTokensOf(set, values.join(', '), known, knownParams);
  }
  if (merged !== undefined && merged !== values[0] && values.length <= 1) addTokensOf(set, merged, known, knownParams);
}

/** The `Token` values of one header value (keys folded loosely). A module function: no closure per request. */
function addTokensOf(set: CandidateSet, v: string, known: string | undefined, knownParams: Map<string, string> | null): void {
  const params = v === known && knownParams !== null ? knownParams : looseHeaderParameters(v);
  if (params === null) return;
  for (const [k, val] of params) {
    if (k === 'Token') set.add(val);
    else if (k.length >= 5) {
      const t = k.length === 5 ? k : k.trim(); // only the Kelvin sign folds to ASCII keeping length 1
      if (t.length === 5 && looseFold(t) === 'token') set.add(val);
    }
  }
}

/** Node's merged value of a header when it is one string (repeated custom headers joined with ', '). */
function mergedOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

interface QueryToken {
  /** ApiKey or api_key exactly as ASP.NET groups names (OrdinalIgnoreCase), or null for a loose match. */
  exact: 'apikey' | 'api_key' | null;
  /** The group the value belongs to (ASCII-folded name). */
  group: string;
  value: string;
}

function isLooseQueryTokenName(name: string): boolean {
  const f = looseFold(name);
  return f === 'apikey' || f === 'api_key';
}

/** Scan the raw query (text after '?') for ApiKey / api_key, as ASP.NET Core parses it. */
function queryTokens(rawQuery: string): QueryToken[] {
  const found: QueryToken[] = [];
  let q = rawQuery;
  if (q.charCodeAt(0) === 0x3f) q = q.slice(1);
  const n = q.length;
  let pos = 0;
  while (pos < n) {
    let amp = q.indexOf('&', pos);
    if (amp === -1) amp = n;
    if (amp > pos) {
      const eq = q.indexOf('=', pos);
      const nameEnd = eq !== -1 && eq < amp ? eq : amp;
      const rawName = q.slice(pos, nameEnd);
      // Cheap reject: the decoded name must fold to 6 or 7 chars; encoded names are longer, never shorter.
      if (rawName.length >= 6) {
        const name = aspNetQueryDecode(rawName);
        let exact: 'apikey' | 'api_key' | null = null;
        if (equalsAsciiIgnoreCase(name, 'apikey')) exact = 'apikey';
        else if (equalsAsciiIgnoreCase(name, 'api_key')) exact = 'api_key';
        if (exact !== null || isLooseQueryTokenName(name)) {
          const value = nameEnd < amp ? aspNetQueryDecode(q.slice(nameEnd + 1, amp)) : '';
          found.push({ exact, group: exact ?? 'loose:' + name, value });
        }
      }
    }
    pos = amp + 1;
  }
  return found;
}

/** Query tokens visible only once the whole query string is URL-decoded, up to MAX rounds. */
function wholeQueryDecodedTokens(rawQuery: string): QueryToken[] {
  const found: QueryToken[] = [];
  let q = rawQuery;
  for (let round = 0; round < 4; round++) {
    const next = aspNetQueryDecode(q);
    if (next === q) break;
    q = next;
    found.push(...queryTokens(q));
  }
  return found;
}

/**
 * Read the Jellyfin credential of a request (HTTP or WebSocket upgrade). Never throws.
 * `rawQuery` is the request target's text after the first '?' (a leading '?' is tolerated).
 */
export function readCredential(
  headers: IncomingHttpHeaders,
  headersDistinct: NodeJS.Dict<string[]> | undefined,
  rawQuery: string,
): Credential {
  try {
    return read(headers, headersDistinct, typeof rawQuery === 'string' ? rawQuery : '');
  } catch {
    return { token: null, candidates: [UNREADABLE_CREDENTIAL] };
  }
}

/** The query forms, in Jellyfin's order of precedence. */
const QUERY_SOURCES = [
  ['apikey', 'query:apikey'],
  ['api_key', 'query:api_key'],
] as const;

function read(headers: IncomingHttpHeaders, distinct: NodeJS.Dict<string[]> | undefined, rawQuery: string): Credential {
  const authorization = headerValues(headers, distinct, 'authorization');
  const embyAuthorization = headerValues(headers, distinct, 'x-emby-authorization');
  const embyToken = headerValues(headers, distinct, 'x-emby-token');
  const mbToken = headerValues(headers, distinct, 'x-mediabrowser-token');
  if (
    authorization.length === 0 &&
    embyAuthorization.length === 0 &&
    embyToken.length === 0 &&
    mbToken.length === 0 &&
    rawQuery.length < 7
  ) {
    return { token: null, candidates: [] };
  }

  // --- What Jellyfin 10.11 (legacy authorization on, its default) uses.
  let params: Map<string, string> | null = null;
  let paramsSource: CredentialSource | undefined;
  const authJoined = joinedStringValues(authorization);
  if (authJoined) {
    params = parseMediaBrowserHeader(authorization[0]!);
    paramsSource = 'authorization';
  } else if (embyAuthorization.length > 0) {
    params = parseMediaBrowserHeader(embyAuthorization[0]!);
    paramsSource = 'x-emby-authorization';
  }

  let token: string | null = null;
  let source: CredentialSource | undefined;
  const headerToken = params?.get('Token');
  if (headerToken) (token = headerToken), (source = paramsSource);
  if (!token) {
    const v = joinedStringValues(embyToken);
    if (v) (token = v), (source = 'x-emby-token');
  }
  if (!token) {
    const v = joinedStringValues(mbToken);
    if (v) (token = v), (source = 'x-mediabrowser-token');
  }

  const qTokens = rawQuery.length >= 7 ? queryTokens(rawQuery) : [];
  // Jellyfin's UrlDecodeQueryFeature re-parses a query that was sent URL-encoded as a whole
  // (`?api_key%3Dtok`), after authentication but before the WebSocket handler reads it: such a token
  // must be a candidate too. Decode the whole query (bounded rounds) and scan again (fail closed).
  const encodedQueryTokens = rawQuery.indexOf('%') !== -1 && rawQuery.length >= 7 ? wholeQueryDecodedTokens(rawQuery) : [];
  if (!token && qTokens.length > 0) {
    for (const [name, src] of QUERY_SOURCES) {
      const values: string[] = [];
      for (const t of qTokens) if (t.exact === name) values.push(t.value);
      const v = joinedStringValues(values);
      if (v) {
        token = v;
        source = src;
        break;
      }
    }
  }

  // --- Every form, for the gate (fail closed).
  const set = new CandidateSet();
  if (token) set.add(token);
  const parsedValue = paramsSource === 'authorization' ? authorization[0] : embyAuthorization[0];
  if (authorization.length > 0) addHeaderTokens(set, authorization, undefined, parsedValue, params);
  if (embyAuthorization.length > 0) {
    addHeaderTokens(set, embyAuthorization, mergedOf(headers, 'x-emby-authorization'), parsedValue, params);
  }
  set.addAll(embyToken);
  set.add(mergedOf(headers, 'x-emby-token'));
  set.addAll(mbToken);
  set.add(mergedOf(headers, 'x-mediabrowser-token'));
  if (qTokens.length > 0) {
    const groups = new Map<string, string[]>();
    for (const t of qTokens) {
      let g = groups.get(t.group);
      if (g === undefined) groups.set(t.group, (g = []));
      g.push(t.value);
    }
    for (const values of groups.values()) {
      set.addAll(values);
      if (values.length > 1) set.add(values.join(','));
    }
  }
  for (const t of encodedQueryTokens) set.add(t.value);

  const cred: Credential = { token, candidates: set.list };
  if (source !== undefined) cred.source = source;
  if (params !== null) {
    const client = params.get('Client');
    const device = params.get('Device');
    const deviceId = params.get('DeviceId');
    const version = params.get('Version');
    if (client !== undefined) cred.client = client;
    if (device !== undefined) cred.device = device;
    if (deviceId !== undefined) cred.deviceId = deviceId;
    if (version !== undefined) cred.version = version;
  }
  return cred;
}
