import WebSocket from 'ws';
import { expect } from 'vitest';
import { open } from '../../server/crypto.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import type { SecondFactorRequired } from '../../shared/api/factors.ts';
import type { AuditEvent } from '../../server/audit/index.ts';

/**
 * Shared steps of the second-factor integration tests (test/integration/factors-*.test.ts): real HTTP
 * against the real gateway, which talks to the Jellyfin emulator.
 */
export const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

export function mbHeader(deviceId: string, token?: string, client = 'Jellyfin Web'): string {
  return `MediaBrowser Client="${client}", Device="Chrome", DeviceId="${deviceId}", Version="10.11.11"${token ? `, Token="${token}"` : ''}`;
}

export interface LoginAnswer {
  status: number;
  text: string;
  json: unknown;
  setCookie: string[];
}

/** A password login as jellyfin-web sends it (or at `path`). */
export async function passwordLogin(
  gw: TestGateway,
  username: string,
  password: string,
  opts: { deviceId?: string; path?: string; cookie?: string; accept?: string; ua?: string; baseUrl?: string } = {},
): Promise<LoginAnswer> {
  const path = opts.path ?? `${opts.baseUrl ?? ''}/Users/authenticatebyname`;
  const headers: Record<string, string> = {
    authorization: mbHeader(opts.deviceId ?? 'web-device'),
    'content-type': 'application/json',
    'user-agent': opts.ua ?? UA,
  };
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.accept) headers.accept = opts.accept;
  const res = await fetch(gw.url + path, {
    method: 'POST',
    headers,
    body: path.toLowerCase().includes('?pw=') ? '' : JSON.stringify({ Username: username, Pw: password }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, setCookie: res.headers.getSetCookie() };
}

/** Expect a second-factor challenge (401 JSON, no token anywhere in it). */
export function expectChallenge(a: LoginAnswer, methods?: string[]): SecondFactorRequired {
  expect(a.status, a.text).toBe(401);
  expect(a.text).not.toMatch(/accesstoken/i);
  const c = a.json as SecondFactorRequired;
  expect(c.error).toBe('second_factor_required');
  expect(c.challengeId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  if (methods) expect([...c.methods].sort()).toEqual([...methods].sort());
  return c;
}

/** The token Jellyfin issued for a held login (the test reads the sealed record with the gateway's key). */
export async function heldToken(gw: TestGateway, challengeId: string): Promise<string> {
  const row = await gw.gateway.store.db.selectFrom('login_challenges').selectAll().where('id', '=', challengeId).executeTakeFirstOrThrow();
  expect(row.result_enc).not.toBeNull();
  return (JSON.parse(open(gw.keys.encryptionKey, challengeId, row.result_enc!).toString('utf8')) as { token: string }).token;
}

export async function api(
  gw: TestGateway,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; cookie?: string; ua?: string; deviceId?: string; origin?: string; stepUp?: string } = {},
): Promise<{ status: number; json: any; text: string; setCookie: string[]; headers: Headers }> {
  const headers: Record<string, string> = { 'user-agent': opts.ua ?? UA };
  if (opts.stepUp) headers['x-jellyguard-stepup'] = opts.stepUp;
  if (opts.token) headers.authorization = mbHeader(opts.deviceId ?? 'web-device', opts.token);
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = opts.cookie;
  const res = await fetch((opts.origin ?? gw.url) + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, setCookie: res.headers.getSetCookie(), headers: res.headers };
}

export const code = (secret: string, gw: TestGateway, offsetSteps = 0) => totpCodeAt(secret, gw.gateway.services.clock.now() + offsetSteps * 30_000);

/** Every way a request can carry the token (JELLYFIN.md §1), as [description, path, headers]. */
export function credentialForms(token: string, path = '/Users/Me'): Array<[string, string, Record<string, string>]> {
  return [
    ['Authorization Token=', path, { authorization: mbHeader('probe', token) }],
    ['X-Emby-Authorization', path, { 'x-emby-authorization': mbHeader('probe', token) }],
    ['X-Emby-Token', path, { 'x-emby-token': token }],
    ['X-MediaBrowser-Token', path, { 'x-mediabrowser-token': token }],
    ['?ApiKey=', `${path}?ApiKey=${token}`, {}],
    ['?api_key=', `${path}?api_key=${token}`, {}],
  ];
}

/** Expect the gateway to refuse a token in every credential form, and on the WebSocket. */
export async function expectRefusedEverywhere(gw: TestGateway, token: string): Promise<void> {
  for (const [what, path, headers] of credentialForms(token)) {
    const res = await fetch(gw.url + path, { headers });
    expect(res.status, what).toBe(401);
    expect(await res.text(), what).not.toMatch(/"Name"/);
  }
  const ws = await new Promise<number>((resolve, reject) => {
    const s = new WebSocket(`${gw.url.replace('http', 'ws')}/socket?api_key=${token}&deviceId=x`);
    s.once('open', () => {
      s.close();
      resolve(101);
    });
    s.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    s.once('error', reject);
  });
  expect(ws).not.toBe(101);
}

/** Collect the audit events the gateway records (they still go to its audit log too). */
export function tapAudit(gw: TestGateway, into: AuditEvent[]): void {
  const log = gw.gateway.services.audit;
  const record = log.record.bind(log);
  log.record = (e: AuditEvent) => {
    into.push(e);
    record(e);
  };
}
