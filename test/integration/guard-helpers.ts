import http from 'node:http';

/**
 * Shared steps of the guard and audit integration tests (test/integration/guard-*.test.ts,
 * audit-*.test.ts): raw HTTP from a chosen loopback source address (Linux routes all of 127.0.0.0/8 to
 * loopback, so each address is a real, distinct TCP peer), so that bans and network rules are tested
 * on real client addresses rather than on headers alone.
 */
export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: unknown;
  /** Wall-clock milliseconds from sending to the last byte (reported, never asserted on). */
  ms: number;
}

export function mbHeader(deviceId: string, token?: string, client = 'Jellyguard Guard Tests'): string {
  return `MediaBrowser Client="${client}", Device="Test", DeviceId="${deviceId}", Version="1.0.0"${token ? `, Token="${token}"` : ''}`;
}

export function raw(
  baseUrl: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {},
): Promise<RawAnswer> {
  const url = new URL(path, baseUrl);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: opts.method ?? 'GET',
        headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
        localAddress: opts.from,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json, ms: performance.now() - started });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A password login (AuthenticateByName) from a source address, optionally through a forwarding header. */
export function login(
  baseUrl: string,
  username: string,
  password: string,
  opts: { from?: string; deviceId?: string; xff?: string; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  const headers: Record<string, string> = { authorization: mbHeader(opts.deviceId ?? 'guard-device'), ...opts.headers };
  if (opts.xff !== undefined) headers['x-forwarded-for'] = opts.xff;
  return raw(baseUrl, '/Users/AuthenticateByName', { method: 'POST', from: opts.from, headers, body: JSON.stringify({ Username: username, Pw: password }) });
}

/** The token of a successful login. */
export function tokenOf(a: RawAnswer): string {
  const t = (a.json as { AccessToken?: string } | undefined)?.AccessToken;
  if (!t) throw new Error(`no token in the answer ${a.status} ${a.text.slice(0, 200)}`);
  return t;
}

/** An authenticated call to our own API. */
export function api(baseUrl: string, path: string, token: string | undefined, opts: { method?: string; body?: unknown; from?: string } = {}): Promise<RawAnswer> {
  return raw(baseUrl, `/JellyfinSecurity${path}`, {
    method: opts.method,
    from: opts.from,
    headers: token ? { authorization: mbHeader('admin-console', token) } : {},
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
}

/** Headers that must be the same on two answers that should look identical (not per-response ones). */
export function comparableHeaders(h: http.IncomingHttpHeaders): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) if (!['date', 'connection', 'keep-alive'].includes(k)) out[k] = v;
  return out;
}
