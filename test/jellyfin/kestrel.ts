/**
 * How Kestrel and ASP.NET Core turn a request target into the path, query and route values that
 * Jellyfin's code sees. Every rule here is one a gateway must mirror, or a route it guards can be
 * reached under another spelling.
 */

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function hexAt(s: string, i: number): number {
  const h = s.slice(i, i + 2);
  return /^[0-9a-fA-F]{2}$/.test(h) ? parseInt(h, 16) : -1;
}

/**
 * Percent-decoding as done by ASP.NET Core's shared UrlDecoder (Kestrel request line, and
 * PathString.FromUriComponent): `%XX` sequences are decoded as UTF-8; a sequence that is not valid
 * UTF-8 stays encoded; with `keepSlash`, `%2F` stays encoded (UrlDecoder.SkipUnescape).
 * Returns null when a `%00` appears (Kestrel answers 400 to a NUL in the path).
 */
export function decodePathPercent(s: string, keepSlash = true): string | null {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    const b = c === '%' ? hexAt(s, i + 1) : -1;
    if (b < 0) {
      out += c;
      i++;
      continue;
    }
    if (b === 0) return null;
    if (keepSlash && b === 0x2f) {
      out += s.slice(i, i + 3);
      i += 3;
      continue;
    }
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i += 3;
      continue;
    }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    const bytes = [b];
    let j = i + 3;
    while (bytes.length < len && s[j] === '%') {
      const nb = hexAt(s, j + 1);
      if (nb < 0 || (nb & 0xc0) !== 0x80) break;
      bytes.push(nb);
      j += 3;
    }
    if (len > 0 && bytes.length === len) {
      try {
        out += utf8Strict.decode(Uint8Array.from(bytes));
        i = j;
        continue;
      } catch {
        /* fall through: leave it encoded */
      }
    }
    out += s.slice(i, i + 3);
    i += 3;
  }
  return out;
}

/** Uri.UnescapeDataString after '+' → ' ' (QueryHelpers/QueryStringEnumerable decoding of names and values). */
export function decodeQueryComponent(s: string): string {
  return decodePathPercent(s.replace(/\+/g, ' '), false) ?? s.replace(/\+/g, ' ');
}

/**
 * System.Net.WebUtility.UrlDecode, used on every Authorization-header value
 * (AuthorizationContext.GetParts): '+' is a space, `%XX` bytes are UTF-8 with U+FFFD for bad bytes.
 */
export function webUtilityUrlDecode(s: string): string {
  let out = '';
  const bytes: number[] = [];
  const flush = () => {
    if (bytes.length > 0) {
      out += Buffer.from(bytes).toString('utf8');
      bytes.length = 0;
    }
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const b = c === '%' ? hexAt(s, i + 1) : -1;
    if (b >= 0) {
      bytes.push(b);
      i += 2;
    } else if (c === '+') {
      bytes.push(0x20);
    } else if (c.charCodeAt(0) < 0x80) {
      bytes.push(c.charCodeAt(0));
    } else {
      flush();
      out += c;
    }
  }
  flush();
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments, as Kestrel's PathNormalizer applies it after decoding. */
export function removeDotSegments(path: string): string {
  let input = path;
  const out: string[] = [];
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      out.pop();
    } else if (input === '/..') {
      input = '/';
      out.pop();
    } else if (input === '.' || input === '..') input = '';
    else {
      const seg = /^\/?[^/]*/.exec(input)![0];
      out.push(seg);
      input = input.slice(seg.length);
    }
  }
  return out.join('');
}

/**
 * Kestrel's view of the request target: origin-form or absolute-form; the path percent-decoded
 * except %2F, then dot segments removed. Doubled slashes: JELLYFIN.md §2 says treat `//` as `/`
 * (fail closed), so they are collapsed here.
 */
export function normalizeTarget(rawTarget: string): { path: string; rawQuery: string } | null {
  let target = rawTarget;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target)) {
    const afterScheme = target.indexOf('//') + 2;
    const slash = target.indexOf('/', afterScheme);
    const q = target.indexOf('?', afterScheme);
    target = slash < 0 || (q >= 0 && q < slash) ? '/' + (q >= 0 ? target.slice(q) : '') : target.slice(slash);
  }
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  if (!rawPath.startsWith('/')) return null;
  const decoded = decodePathPercent(rawPath, true);
  if (decoded === null) return null;
  const path = removeDotSegments(decoded).replace(/\/{2,}/g, '/');
  return { path, rawQuery };
}

/** One char, upper-cased the way .NET's invariant simple case mapping does (never changes length). */
function upperChar(c: string): string {
  const u = c.toUpperCase();
  return u.length === 1 ? u : c;
}

/**
 * StringComparison.OrdinalIgnoreCase. Non-ASCII letters fold too ('ſ' matches 's'): routing and
 * the scheme check then accept more spellings, never fewer, which is the fail-closed side for a
 * gateway under test.
 */
export function equalsIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && upperChar(a[i]!) !== upperChar(b[i]!)) return false;
  }
  return true;
}

export function startsWithIgnoreCase(s: string, prefix: string): boolean {
  return s.length >= prefix.length && equalsIgnoreCase(s.slice(0, prefix.length), prefix);
}

/** PathString.StartsWithSegments (case-insensitive): returns the remaining path or null. */
export function startsWithSegments(path: string, prefix: string): string | null {
  if (prefix === '') return path;
  if (!startsWithIgnoreCase(path, prefix)) return null;
  const rest = path.slice(prefix.length);
  return rest === '' || rest.startsWith('/') ? rest : null;
}

/** A query collection: ordered pairs plus how names compare. */
export interface QueryBag {
  pairs: Array<[string, string]>;
  /** ASP.NET's QueryCollection is OrdinalIgnoreCase; UrlDecodeQueryFeature's rebuilt one is case-sensitive. */
  caseInsensitive: boolean;
}

/** QueryHelpers.ParseNullableQuery: split on '&', empty segments skipped, names and values decoded. */
export function parseQuery(rawQuery: string): QueryBag {
  const pairs: Array<[string, string]> = [];
  for (const seg of rawQuery.split('&')) {
    if (seg === '') continue;
    const eq = seg.indexOf('=');
    const name = eq < 0 ? seg : seg.slice(0, eq);
    const value = eq < 0 ? '' : seg.slice(eq + 1);
    pairs.push([decodeQueryComponent(name), decodeQueryComponent(value)]);
  }
  return { pairs, caseInsensitive: true };
}

/** All values of a query name (StringValues). */
export function queryValues(q: QueryBag, name: string): string[] {
  return q.pairs
    .filter(([k]) => (q.caseInsensitive ? equalsIgnoreCase(k, name) : k === name))
    .map(([, v]) => v);
}

/** `queryString["name"]` converted to string: null when absent, values joined with ',' when repeated. */
export function queryString(q: QueryBag, name: string): string | undefined {
  const v = queryValues(q, name);
  return v.length === 0 ? undefined : v.join(',');
}

/**
 * Jellyfin.Api/Middleware/UrlDecodeQueryFeature.cs (installed by UseQueryStringDecoding, which runs
 * AFTER UseAuthentication): a query that is one key with no value and a '=' in it (`?api_key%3Dtok`)
 * is split again on '&' and '=', with no further decoding and case-SENSITIVE names.
 */
export function urlDecodeQueryFeature(q: QueryBag): QueryBag {
  const keys: string[] = [];
  for (const [k] of q.pairs) if (!keys.some((x) => equalsIgnoreCase(x, k))) keys.push(k);
  if (keys.length !== 1) return q;
  const key = keys[0]!;
  const joined = queryValues(q, key).join(',');
  if (joined !== '' || !key.includes('=')) return q;
  const pairs: Array<[string, string]> = [];
  for (const piece of key.split('&')) {
    const i = piece.indexOf('=');
    if (i < 0) {
      if (!pairs.some(([k]) => k === piece)) pairs.push([piece, '']);
      continue;
    }
    pairs.push([piece.slice(0, i), piece.slice(i + 1)]);
  }
  return { pairs, caseInsensitive: false };
}

/** Request headers as Kestrel keeps them: name (case-insensitive) → every value, in order. */
export type HeaderBag = Map<string, string[]>;

export function headerBag(rawHeaders: string[]): HeaderBag {
  const bag: HeaderBag = new Map();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const list = bag.get(name) ?? [];
    list.push(rawHeaders[i + 1]!);
    bag.set(name, list);
  }
  return bag;
}

/** `headers["name"]` as a string (StringValues → string joins repeated values with ','). */
export function headerString(h: HeaderBag, name: string): string | undefined {
  const v = h.get(name.toLowerCase());
  return v === undefined || v.length === 0 ? undefined : v.join(',');
}

/**
 * System.Guid parsing as used by model binding (GuidConverter → new Guid(s.Trim())): formats N, D,
 * B `{…}`, P `(…)` and X `{0x…,…}`, any case. Returns the N form (32 lowercase hex) or null.
 */
export function parseGuid(input: string): string | null {
  const s = input.trim();
  let m = /^[0-9a-fA-F]{32}$/.exec(s);
  if (m) return s.toLowerCase();
  m = /^([({]?)([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})([)}]?)$/.exec(s);
  if (m) {
    const open = m[1]!;
    const close = m[7]!;
    const ok = (open === '' && close === '') || (open === '{' && close === '}') || (open === '(' && close === ')');
    if (ok) return (m[2]! + m[3]! + m[4]! + m[5]! + m[6]!).toLowerCase();
    return null;
  }
  m = /^\{0[xX]([0-9a-fA-F]{1,8}),0[xX]([0-9a-fA-F]{1,4}),0[xX]([0-9a-fA-F]{1,4}),\{((?:0[xX][0-9a-fA-F]{1,2},){7}0[xX][0-9a-fA-F]{1,2})\}\}$/.exec(s);
  if (m) {
    const bytes = m[4]!.split(',').map((b) => b.slice(2).padStart(2, '0'));
    return (m[1]!.padStart(8, '0') + m[2]!.padStart(4, '0') + m[3]!.padStart(4, '0') + bytes.join('')).toLowerCase();
  }
  return null;
}
