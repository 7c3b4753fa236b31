/**
 * What Jellyfin's responses look like on the wire: JSON conventions (Jellyfin.Extensions/Json/
 * JsonDefaults.cs), the camelCase/PascalCase profile formatters (Jellyfin.Api/Formatters), error
 * bodies (Jellyfin.Api/Middleware/ExceptionMiddleware.cs), ASP.NET's ProblemDetails for bare
 * NotFound()/BadRequest(), and ASP.NET response compression (br before gzip).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Writes the body itself (media): called after the head is written. */
  stream?: (res: ServerResponse) => void;
  /** ExceptionMiddleware answers outside ResponseCompressionMiddleware: never compressed. */
  noCompress?: boolean;
}

/** .NET exception kinds Jellyfin's ExceptionMiddleware maps to statuses (ExceptionMiddleware.GetStatusCode). */
export type DotnetExceptionKind = 'Argument' | 'Authentication' | 'Security' | 'ResourceNotFound' | 'InvalidOperation';

export class DotnetException extends Error {
  constructor(
    readonly kind: DotnetExceptionKind,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    switch (this.kind) {
      case 'Argument':
        return 400;
      case 'Authentication':
        return 401;
      case 'Security':
        return 403;
      case 'ResourceNotFound':
        return 404;
      default:
        return 500;
    }
  }
}

/** ExceptionMiddleware outside Development: status from the exception type, body `Error processing request.` */
export function exceptionReply(status: number): Reply {
  return {
    status,
    headers: { 'Content-Type': 'text/plain' },
    body: Buffer.from('Error processing request.'),
    noCompress: true,
  };
}

export function emptyReply(status: number, headers?: Record<string, string>): Reply {
  return headers ? { status, headers } : { status };
}

const PROBLEM_TYPES: Record<number, [string, string]> = {
  400: ['https://tools.ietf.org/html/rfc9110#section-15.5.1', 'Bad Request'],
  401: ['https://tools.ietf.org/html/rfc9110#section-15.5.2', 'Unauthorized'],
  403: ['https://tools.ietf.org/html/rfc9110#section-15.5.4', 'Forbidden'],
  404: ['https://tools.ietf.org/html/rfc9110#section-15.5.5', 'Not Found'],
  415: ['https://tools.ietf.org/html/rfc9110#section-15.5.16', 'Unsupported Media Type'],
};

/**
 * [ApiController] client-error mapping: BadRequest()/NotFound() without a value, and model
 * validation failures (with `errors`), become RFC 9457 problem details.
 */
export function problemReply(status: number, errors?: Record<string, string[]>): Reply {
  const [type, title] = PROBLEM_TYPES[status] ?? ['about:blank', 'Error'];
  const traceId = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
  const body: Record<string, unknown> = errors
    ? { type, title: 'One or more validation errors occurred.', status, errors, traceId }
    : { type, title, status, traceId };
  return {
    status,
    headers: { 'Content-Type': 'application/problem+json; charset=utf-8' },
    body: Buffer.from(JSON.stringify(body)),
  };
}

/** JsonNamingPolicy.CamelCase.ConvertName (System.Text.Json): `ServerId` → `serverId`, `URLPath` → `urlPath`. */
export function camelCaseName(name: string): string {
  if (name === '' || !isUpper(name[0]!)) return name;
  const chars = [...name];
  for (let i = 0; i < chars.length; i++) {
    if (i === 1 && !isUpper(chars[i]!)) break;
    const hasNext = i + 1 < chars.length;
    if (i > 0 && hasNext && !isUpper(chars[i + 1]!)) {
      if (chars[i + 1] === ' ') chars[i] = chars[i]!.toLowerCase();
      break;
    }
    chars[i] = chars[i]!.toLowerCase();
  }
  return chars.join('');
}

function isUpper(c: string): boolean {
  return c !== c.toLowerCase() && c === c.toUpperCase();
}

/** Null and undefined properties are omitted (JsonDefaults: DefaultIgnoreCondition = WhenWritingNull). */
function shape(value: unknown, camel: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : shape(v, camel)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined) continue;
      out[camel ? camelCaseName(k) : k] = shape(v, camel);
    }
    return out;
  }
  return value;
}

export type JsonProfile = 'default' | 'PascalCase' | 'CamelCase';

/**
 * Output formatter selection (BaseJellyfinApiController [Produces] + PascalCase/CamelCase profile
 * formatters, RespectBrowserAcceptHeader): Accept ranges by quality; `application/json` with
 * profile CamelCase picks camelCase, with PascalCase or no profile PascalCase; anything else falls
 * back to plain application/json (PascalCase).
 */
export function jsonProfile(accept: string | undefined): JsonProfile {
  if (!accept) return 'default';
  const ranges = accept.split(',').map((part, index) => {
    const [type = '', ...params] = part.split(';').map((p) => p.trim());
    let q = 1;
    let profile: string | undefined;
    for (const p of params) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const name = p.slice(0, eq).trim().toLowerCase();
      const value = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
      if (name === 'q') q = Number(value);
      if (name === 'profile') profile = value;
    }
    return { type: type.toLowerCase(), q: Number.isFinite(q) ? q : 0, profile, index };
  });
  ranges.sort((a, b) => b.q - a.q || a.index - b.index);
  for (const r of ranges) {
    if (r.q <= 0) continue;
    if (r.type === 'application/json') {
      if (r.profile === undefined) return 'default';
      if (r.profile.toLowerCase() === 'camelcase') return 'CamelCase';
      if (r.profile.toLowerCase() === 'pascalcase') return 'PascalCase';
      continue;
    }
    if (r.type === '*/*' || r.type === 'application/*') return 'default';
  }
  return 'default';
}

export function jsonReply(status: number, value: unknown, profile: JsonProfile): Reply {
  const camel = profile === 'CamelCase';
  const contentType =
    profile === 'default'
      ? 'application/json; charset=utf-8'
      : `application/json; profile="${profile}"; charset=utf-8`;
  return {
    status,
    headers: { 'Content-Type': contentType },
    body: Buffer.from(JSON.stringify(shape(value, camel))),
  };
}

/** Dates as Jellyfin writes them: UTC, seven fractional digits, `Z` (JELLYFIN.md §3). */
export function formatDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

/** DateTime.MinValue, which Jellyfin writes for unset non-nullable dates. */
export const MIN_DATE = '0001-01-01T00:00:00.0000000Z';

/** ResponseCompressionDefaults.MimeTypes. */
const COMPRESSIBLE = new Set([
  'text/plain',
  'text/css',
  'application/javascript',
  'text/javascript',
  'text/html',
  'application/xml',
  'text/xml',
  'application/json',
  'text/json',
  'application/wasm',
]);

export function isCompressible(contentType: string | undefined): boolean {
  if (!contentType) return false;
  return COMPRESSIBLE.has(contentType.split(';')[0]!.trim().toLowerCase());
}

/**
 * ResponseCompressionProvider.GetCompressionProvider with the default providers [br, gzip]:
 * highest q wins, ties go to provider order, `identity` (or nothing acceptable) means none.
 */
export function chooseEncoding(acceptEncoding: string | undefined): 'br' | 'gzip' | null {
  if (!acceptEncoding) return null;
  const providers = ['br', 'gzip'] as const;
  const candidates: Array<{ name: 'br' | 'gzip' | null; q: number; priority: number }> = [];
  for (const part of acceptEncoding.split(',')) {
    const [nameRaw = '', ...params] = part.split(';').map((p) => p.trim());
    let q = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    if (!(q > Number.EPSILON)) continue;
    const name = nameRaw.toLowerCase();
    providers.forEach((p, i) => {
      if (p === name) candidates.push({ name: p, q, priority: i });
    });
    if (nameRaw === '*') {
      providers.forEach((p, i) => candidates.push({ name: p, q, priority: i }));
      break;
    }
    if (name === 'identity') candidates.push({ name: null, q, priority: Number.MAX_SAFE_INTEGER });
  }
  if (candidates.length === 0) return null;
  candidates.sort((a, b) => b.q - a.q || a.priority - b.priority);
  return candidates[0]!.name;
}

/** Writes a reply, compressing compressible bodies as ResponseCompressionMiddleware would (level Fastest). */
export function writeReply(req: IncomingMessage, res: ServerResponse, reply: Reply, extraHeaders: Record<string, string>): void {
  const headers: Record<string, string> = { ...extraHeaders, ...(reply.headers ?? {}) };
  let body = reply.body;
  const compressible = !reply.noCompress && body !== undefined && isCompressible(headers['Content-Type']);
  if (compressible) {
    headers['Vary'] = 'Accept-Encoding';
    const enc = chooseEncoding(req.headers['accept-encoding']);
    if (enc === 'br') {
      body = brotliCompressSync(body!, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 1 } });
      headers['Content-Encoding'] = 'br';
    } else if (enc === 'gzip') {
      body = gzipSync(body!, { level: 1 });
      headers['Content-Encoding'] = 'gzip';
    }
  }
  if (body !== undefined && !reply.stream) headers['Content-Length'] = String(body.length);
  if (body === undefined && !reply.stream && !headers['Content-Length']) headers['Content-Length'] = '0';
  res.writeHead(reply.status, headers);
  if (reply.stream) {
    if (req.method === 'HEAD') res.end();
    else reply.stream(res);
    return;
  }
  res.end(req.method === 'HEAD' ? undefined : body);
}
