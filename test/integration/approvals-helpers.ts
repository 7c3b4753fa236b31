import http from 'node:http';
import { expect } from 'vitest';
import type { Api } from '@jellyfin/sdk/lib/api.js';
import { ManualClock } from '../../server/clock.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import type { Keys } from '../../server/store/keys.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { jellyfinClient, sdkLogin } from '../helpers/sdk.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { startPushService, type PushServiceHandle, type PushSubscriber, type ReceivedPush } from '../push/push-service.ts';
import { raw, type RawAnswer } from './guard-helpers.ts';
import type { PhoneInfo } from '../../shared/api/approvals.ts';

/**
 * Shared steps of the push-approval integration tests (test/integration/approvals-*.test.ts): a real
 * gateway (ManualClock) in front of the Jellyfin emulator, a real local push service, phones made of a
 * software authenticator + a Node push subscriber, and clients on distinct loopback addresses (Linux
 * routes all of 127.0.0.0/8 to loopback) so that "the address that asked" is a real TCP peer.
 *
 * The phone talks to the gateway as `localhost:PORT` (WebAuthn needs a domain; localhost is a secure
 * context), from its own address.
 */
export const PHONE_IP = '127.0.0.20';
export const TV_IP = '127.0.0.30';
export const WEB_IP = '127.0.0.40';
export const ATTACKER_IP = '127.0.0.66';

export interface World {
  jf: Emulator;
  gw: TestGateway;
  push: PushServiceHandle;
  clock: ManualClock;
  audit: AuditEvent[];
  /** http://localhost:PORT — the origin the phone's passkeys are bound to. */
  origin: string;
  close(): Promise<void>;
  /** Stop and start the gateway on the same data directory and keys (a restart). */
  restart(): Promise<void>;
}

export async function startWorld(opts: { config?: Partial<ConfigInput>; users?: Array<{ name: string; password: string; isAdministrator?: boolean }> } = {}): Promise<World> {
  const clock = new ManualClock();
  const push = await startPushService();
  const jf = await startEmulator({
    users: opts.users ?? [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'alice', password: 'alice-pw' },
      { name: 'bob', password: 'bob-pw' },
    ],
  });
  const config: Partial<ConfigInput> = { JellyfinApiKey: jf.createApiKey('jellyguard'), PushAllowHttpLoopback: true, VapidSubject: 'mailto:admin@example.org', ...opts.config };
  const audit: AuditEvent[] = [];
  const w: World = {
    jf,
    push,
    clock,
    audit,
    gw: undefined as unknown as TestGateway,
    origin: '',
    async close() {
      await push.close(); // first: a push it never answers fails at once instead of timing out
      await w.gw.close();
      await jf.close();
    },
    async restart() {
      const { dataDir, keys, port } = w.gw;
      await w.gw.stop();
      w.gw = await boot(dataDir, keys, port);
    },
  };
  const boot = async (dataDir?: string, keys?: Keys, port?: number) => {
    const gw = await startGateway({ upstreamUrl: jf.url, clock, config, dataDir, keys, port });
    const log = gw.gateway.services.audit;
    const record = log.record.bind(log);
    log.record = (e: AuditEvent) => {
      audit.push(e);
      record(e);
    };
    return gw;
  };
  w.gw = await boot();
  w.origin = `http://localhost:${w.gw.port}`;
  return w;
}

export function appHeader(deviceId: string, token?: string, client = 'Jellyguard Authenticator'): string {
  return `MediaBrowser Client="${client}", Device="Pixel", DeviceId="${deviceId}", Version="0.1.0"${token ? `, Token="${token}"` : ''}`;
}

/** A request from `from` to the gateway as `localhost:PORT` (JSON in and out). */
export function call(
  w: World,
  method: string,
  path: string,
  opts: { from?: string; token?: string; deviceId?: string; body?: unknown; client?: string; stepUp?: string } = {},
): Promise<RawAnswer & { json: any }> {
  const headers: Record<string, string> = { host: `localhost:${w.gw.port}` };
  if (opts.token) headers.authorization = appHeader(opts.deviceId ?? 'phone', opts.token, opts.client);
  if (opts.stepUp) headers['x-jellyguard-stepup'] = opts.stepUp;
  return raw(w.gw.url, path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), from: opts.from ?? PHONE_IP });
}

/** A password login with the given Jellyfin client name (raw HTTP, from an address). */
export function passwordLogin(w: World, user: string, pw: string, opts: { deviceId: string; client?: string; from?: string }): Promise<RawAnswer> {
  return raw(w.gw.url, '/Users/AuthenticateByName', {
    method: 'POST',
    headers: { authorization: appHeader(opts.deviceId, undefined, opts.client ?? 'Jellyfin Web'), host: `localhost:${w.gw.port}` },
    body: JSON.stringify({ Username: user, Pw: pw }),
    from: opts.from ?? WEB_IP,
  });
}

export interface Phone {
  user: string;
  token: string;
  deviceId: string;
  key: SoftAuthenticator;
  sub: PushSubscriber;
  info: PhoneInfo;
}

/**
 * Install the Authenticator on a phone: sign in (the user has no factor yet: the password is enough),
 * register a platform passkey and a push subscription in one record.
 */
export async function enrollPhone(w: World, user: string, pw: string, name = `${user}’s phone`): Promise<Phone> {
  const deviceId = `jga-${user}`;
  const login = await passwordLogin(w, user, pw, { deviceId, client: 'Jellyguard Authenticator', from: PHONE_IP });
  expect(login.status, login.text).toBe(200);
  const token = (login.json as { AccessToken: string }).AccessToken;
  const config = await call(w, 'GET', '/JellyfinSecurity/Push/Config');
  expect(config.status).toBe(200);
  const sub = w.push.subscribe({ applicationServerKey: (config.json as { publicKey: string }).publicKey });
  const key = new SoftAuthenticator(w.origin);
  const options = await call(w, 'POST', '/JellyfinSecurity/Me/Phones/Options', { token, deviceId });
  expect(options.status, options.text).toBe(200);
  const enrolled = await call(w, 'POST', '/JellyfinSecurity/Me/Phones', {
    token,
    deviceId,
    body: { name, response: key.create(options.json as never), subscription: sub.subscription },
  });
  expect(enrolled.status, enrolled.text).toBe(201);
  return { user, token, deviceId, key, sub, info: enrolled.json as PhoneInfo };
}

/** A TV: @jellyfin/sdk as "Jellyfin Roku", from its own address. */
export function tv(w: World, deviceId: string, from = TV_IP): Api {
  const api = jellyfinClient(w.gw.url, { client: 'Jellyfin Roku', device: 'Living room', deviceId });
  api.axiosInstance.defaults.httpAgent = new http.Agent({ localAddress: from });
  return api;
}

export { sdkLogin };

/**
 * The next approval push a phone receives (decrypted by the local push service); notices of factor
 * changes (kind "change") are skipped unless asked for.
 */
export async function nextApproval(
  w: World,
  phone: Phone,
  kind?: string,
): Promise<ReceivedPush & { json: { approvalId: string; kind: string; title: string; body: string; type: 'approval'; expiresAt: number } }> {
  const m = await w.push.nextMessage(
    (x) => x.subscriberId === phone.sub.id && x.json?.type === 'approval' && (kind === undefined ? x.json?.kind !== 'change' : x.json?.kind === kind),
  );
  return m as never;
}

/** A step-up grant for this phone's session, proved with its own passkey (POST StepUp, method passkey). */
export async function passkeyGrant(w: World, phone: Phone, action: string, target: string | null = null): Promise<string> {
  const opts = await call(w, 'POST', '/JellyfinSecurity/StepUp/Passkey/Options', { token: phone.token, deviceId: phone.deviceId, body: { action, target } });
  expect(opts.status, opts.text).toBe(200);
  const g = await call(w, 'POST', '/JellyfinSecurity/StepUp', {
    token: phone.token,
    deviceId: phone.deviceId,
    body: { action, target, method: 'passkey', response: phone.key.get(opts.json as never) },
  });
  expect(g.status, g.text).toBe(200);
  return (g.json as { grant: string }).grant;
}

/** Wait (without sleeping) until a request waits for this approval: a held login or a long poll. */
export async function waiting(w: World, approvalId: string): Promise<void> {
  await w.gw.gateway.services.approvals.waiters.whenWaiting(approvalId);
}

/** Move the clock and run the sweeps that watch it. */
export async function advance(w: World, ms: number): Promise<void> {
  w.clock.advance(ms);
  await w.gw.gateway.services.approvals.sweep();
}

/** The phone's approval page: options, a passkey tap, and the answer. */
export async function tap(
  w: World,
  phone: Phone,
  approvalId: string,
  action: 'Approve' | 'Report' = 'Approve',
  opts: { number?: string; from?: string; key?: SoftAuthenticator } = {},
): Promise<RawAnswer & { json: any }> {
  const options = await call(w, 'POST', `/JellyfinSecurity/Approvals/${approvalId}/Options`, { from: opts.from });
  if (options.status !== 200) return options;
  const response = (opts.key ?? phone.key).get(options.json as never);
  return call(w, 'POST', `/JellyfinSecurity/Approvals/${approvalId}/${action}`, { from: opts.from, body: { response, ...(opts.number ? { number: opts.number } : {}) } });
}

export async function approvalRow(w: World, approvalId: string) {
  return w.gw.gateway.store.db.selectFrom('approvals').selectAll().where('id', '=', approvalId).executeTakeFirstOrThrow();
}

export function types(w: World): string[] {
  return w.audit.map((e) => e.type);
}

/**
 * The approval a held login is waiting for, as the phone's app lists it (Me/Approvals) — independent of
 * pushes, which the fatigue limits may withhold.
 */
export async function held(w: World, phone: Phone, known: string[] = []): Promise<string> {
  const id = await w.gw.gateway.services.approvals.waiters.whenWaiting((x) => !known.includes(x));
  const r = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', { token: phone.token, deviceId: phone.deviceId });
  expect(r.status, r.text).toBe(200);
  expect((r.json as { items: Array<{ id: string }> }).items.map((i) => i.id)).toContain(id);
  return id;
}

/** Let the push-fatigue window pass (tests that are not about it start with a fresh budget). */
export async function freshBudget(w: World): Promise<void> {
  await advance(w, 11 * 60_000);
}
