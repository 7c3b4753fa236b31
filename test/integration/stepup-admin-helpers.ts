import http from 'node:http';
import { expect } from 'vitest';
import type { AuditEvent } from '../../server/audit/index.ts';
import type { TestGateway } from '../helpers/gateway.ts';

/**
 * Shared steps of the administrator step-up tests: raw HTTP with the path sent exactly as written (no URL
 * parser resolving `..` or `//` first), the path variants Jellyfin routes alike, logins and grants.
 */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

export function mb(deviceId: string, token?: string, client = 'Jellyfin Web'): string {
  return `MediaBrowser Client="${client}", Device="Firefox", DeviceId="${deviceId}", Version="10.11.11"${token ? `, Token="${token}"` : ''}`;
}

/** One request, the path verbatim. */
export function send(
  origin: string,
  method: string,
  path: string,
  opts: { token?: string; deviceId?: string; body?: unknown; rawBody?: string; stepUp?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const url = new URL(origin);
  const body = opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const headers: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers };
  if (opts.token) headers.authorization = mb(opts.deviceId ?? 'web-1', opts.token);
  if (opts.stepUp) headers['x-jellyguard-stepup'] = opts.stepUp;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A password login through the gateway as jellyfin-web (no second factor on these accounts). */
export async function login(gw: TestGateway, base: string, user: string, pw: string, deviceId: string): Promise<string> {
  const r = await send(gw.url, 'POST', `${base}/Users/AuthenticateByName`, { headers: { authorization: mb(deviceId) }, body: { Username: user, Pw: pw } });
  expect(r.status, r.text).toBe(200);
  return r.json.AccessToken as string;
}

/** A grant for this session, proved with the account's password (an account with no other factor). */
export async function passwordGrant(gw: TestGateway, base: string, token: string, deviceId: string, pw: string, action: string, target: string | null): Promise<string> {
  const r = await send(gw.url, 'POST', `${base}/JellyfinSecurity/StepUp`, { token, deviceId, body: { method: 'password', action, target, password: pw } });
  expect(r.status, r.text).toBe(200);
  expect(r.json).toMatchObject({ status: 'granted', action, target });
  return r.json.grant as string;
}

export const dashed = (id: string) => `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;

/**
 * The spellings of one path Jellyfin routes to the same action (JELLYFIN.md §2 and §9): case, a trailing
 * slash, repeated slashes, /emby and /mediabrowser, a percent-encoded letter (once and twice), dot
 * segments, `;params`, a GUID in D and B form. `path` is without the BaseUrl; the query is kept.
 */
export function variantsOf(base: string, pathAndQuery: string): string[] {
  const q = pathAndQuery.indexOf('?');
  const path = q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q === -1 ? '' : pathAndQuery.slice(q);
  const segs = path.split('/').filter(Boolean);
  const last = segs.length - 1;
  const encLetter = (twice: boolean) =>
    '/' +
    segs
      .map((s, i) => {
        if (i !== last || !/^[A-Za-z]/.test(s)) return s;
        const hex = s.charCodeAt(0).toString(16).toUpperCase();
        return (twice ? `%25${hex}` : `%${hex}`) + s.slice(1);
      })
      .join('/');
  const guid = /^[0-9a-f]{32}$/;
  const out = [
    path,
    path.toLowerCase(),
    path.toUpperCase() + '/',
    path.replace(/\//g, '//'),
    '/emby' + path,
    '/mediabrowser' + path,
    '/Emby' + path.toLowerCase(),
    encLetter(false),
    encLetter(true),
    '/x/..' + path,
    '/.' + path,
    path + ';x=1', // ASP.NET has no path parameters: a different path, which Jellyfin routes elsewhere or not at all
  ];
  if (segs.some((s) => guid.test(s))) {
    out.push('/' + segs.map((s) => (guid.test(s) ? dashed(s) : s)).join('/'));
    out.push('/' + segs.map((s) => (guid.test(s) ? `{${dashed(s).toUpperCase()}}` : s)).join('/'));
  }
  return out.map((p) => base + p + query);
}

/** Every audit event the gateway records, as it records it. */
export function tapAudit(gw: TestGateway): AuditEvent[] {
  const into: AuditEvent[] = [];
  const log = gw.gateway.services.audit;
  const record = log.record.bind(log);
  log.record = (e: AuditEvent) => {
    into.push(e);
    record(e);
  };
  return into;
}
