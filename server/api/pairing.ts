import type Router from '@koa/router';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';
import type { GatewayContext, GatewayMiddleware, GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import { canonicalGuid } from '../jellyfin/json.ts';
import { queryParam } from '../login/query.ts';
import type { Services } from '../services.ts';
import { guardedAttempt } from '../stepup/attempt.ts';
import type { Actor } from '../stepup/index.ts';
import { PAIR_PAGE_CSP, PAIR_SCRIPT, PAIR_STYLES, pairPageHtml, pairQrPng, pairQrSvg, publicOrigin, sendAsset } from '../pairing/page.ts';
import { MAX_PENDING_PER_ADDRESS, POLL_INTERVAL_MS, presentPairedDevice, presentPendingPair, unknownCode } from '../pairing/index.ts';
import { MAX_PENDING_TOTAL } from '../pairing/devices.ts';
import {
  ApprovePairRequestSchema,
  DenyPairRequestSchema,
  PairApproveRequestSchema,
  PairCodeRequestSchema,
  PairDenyRequestSchema,
  PairDeviceRequestSchema,
  QUICK_CONNECT_CODE,
  compactCode,
  pairPageUrl,
  parsePairCode,
  type PairDeviceResponse,
  type PairingStatusResponse,
} from '../../shared/api/pairing.ts';
import { requireAdmin, requireSession } from './auth.ts';
import { AssertionRefused } from '../approvals/index.ts';
import { noStore, readJson, rpOf } from './factors.ts';

/**
 * TV pairing and step-up under `{BaseUrl}/JellyfinSecurity/` (shared/api/pairing.ts lists every
 * endpoint). Which checks guard which route:
 *
 *   route                          | who                | guard counts         | other limits
 *   GET  pair, p, pair.js/.css     | anyone             | —                    | TVPairingEnabled
 *   GET  pair/qr.svg               | anyone             | —                    | a well-formed code only
 *   POST PairDevice                | anyone             | —                    | 5 pending per address, 1000 in all
 *   GET  PairDeviceQR              | anyone             | —                    | a well-formed code only
 *   GET  CheckPairingStatus        | the code's holder  | unknown codes        | 1 answer per code per 2 s
 *   GET  PendingPairs, POST Approve/DenyPair | admin    | —                    | —
 *   GET/DELETE Me/PairedDevices    | verified session   | —                    | own devices only
 *   GET  Pair/Lookup, POST Pair/Approval | verified session | wrong/expired/used | TVPairingEnabled; Approval: a passkey
 *   POST Pair/Approve, Pair/Deny   | the session that began it | refused assertions (engine) | one decision
 *   POST StepUp (+ Passkey/Options)| verified session   | wrong codes/assertions | per-user wrong-code lock
 *   GET  StepUp/{id}               | the asking session | —                    | —
 */

/** Property names of a body matched case-insensitively, as Jellyfin binds JSON (Kodi sends `deviceName`). */
function pascal(names: readonly string[]) {
  return (json: unknown): unknown => {
    if (!json || typeof json !== 'object' || Array.isArray(json)) return json;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      const name = names.find((n) => n.toLowerCase() === k.toLowerCase()) ?? k;
      out[name] = v;
    }
    return out;
  };
}

function readPascal<S extends z.ZodType>(ctx: GatewayContext, schema: S, names: readonly string[]): Promise<z.infer<S>> {
  return readJson(ctx, z.preprocess(pascal(names), schema) as unknown as S);
}

const iso = (ms: number) => new Date(ms).toISOString();

export function mountPairingRoutes(router: Router<GatewayState>, services: Services): void {
  const { config, pairing, stepUp } = services;
  const baseUrl = config.BaseUrl;
  const session = requireSession(services);
  const admin = requireAdmin(services);

  /** TV pairing switched off: its routes do not exist. */
  const enabled: GatewayMiddleware = (_ctx, next) => {
    if (!pairing.enabled) throw new HttpError(404, 'pairing_disabled', 'TV pairing is turned off on this server.');
    return next();
  };

  const actorOf = (ctx: GatewayContext): Actor => ({ session: ctx.state.session!, ip: ctx.state.client.ip });
  const userName = async (userId: string) => (await services.users.get(userId))?.name;

  // ── The big-screen page ──────────────────────────────────────────────────────────────────────────

  const page: GatewayMiddleware = (ctx) => {
    ctx.status = 200;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('content-security-policy', PAIR_PAGE_CSP);
    ctx.set('x-frame-options', 'DENY');
    ctx.set('referrer-policy', 'no-referrer');
    ctx.set('x-content-type-options', 'nosniff');
    ctx.set('cache-control', 'no-store');
    ctx.body = pairPageHtml(baseUrl);
  };
  router.get('/pair', enabled, page);
  router.get('/p', enabled, page);
  router.get('/pair.js', enabled, (ctx) => sendAsset(ctx, PAIR_SCRIPT));
  router.get('/pair.css', enabled, (ctx) => sendAsset(ctx, PAIR_STYLES));

  /** A QR code for any well-formed code (no lookup: it reveals nothing about which codes wait). */
  const qrCode = (ctx: GatewayContext, kind: 'quickconnect' | 'device' | 'any'): string => {
    const p = parsePairCode(queryParam(ctx.querystring, 'code') ?? '');
    if (!p || (kind !== 'any' && p.kind !== kind)) {
      throw new HttpError(400, 'invalid_code', kind === 'device' ? 'code must look like AB23-CD45' : 'code must be a 6-digit code');
    }
    return p.code;
  };
  const svg = async (ctx: GatewayContext, code: string) => {
    ctx.status = 200;
    ctx.type = 'image/svg+xml';
    ctx.set('cache-control', 'no-store');
    ctx.set('x-content-type-options', 'nosniff');
    ctx.set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    ctx.body = await pairQrSvg(publicOrigin(ctx, config.PublicUrl), baseUrl, code);
  };
  router.get('/pair/qr.svg', enabled, (ctx) => svg(ctx, qrCode(ctx, 'quickconnect')));

  // ── The seed's pairing API ───────────────────────────────────────────────────────────────────────

  router.post('/PairDevice', enabled, async (ctx) => {
    const input = await readPascal(ctx, PairDeviceRequestSchema, ['DeviceName', 'DeviceId']);
    const ip = ctx.state.client.ip;
    const counts = await pairing.devices.pendingCounts(ip);
    if (counts.address >= MAX_PENDING_PER_ADDRESS || counts.total >= MAX_PENDING_TOTAL) {
      throw new HttpError(429, 'too_many_pairings', 'Too many devices are waiting to be paired. Approve or deny them, or wait a few minutes.', { 'retry-after': '60' });
    }
    const cred = ctx.state.credential;
    const { code, row } = await pairing.devices.request({
      deviceName: input.DeviceName,
      deviceId: input.DeviceId,
      client: cred.client ?? null,
      appVersion: cred.version ?? null,
      ip,
    });
    pairing.audit({
      type: 'pairing.device.requested',
      outcome: 'info',
      ip,
      deviceId: row.device_id,
      deviceName: row.device_name,
      client: row.client,
      detail: { pairingId: row.id, expiresAt: iso(row.expires_at) },
    });
    const body: PairDeviceResponse = {
      pairingCode: code,
      qrCodeUrl: `${baseUrl}/JellyfinSecurity/PairDeviceQR?code=${encodeURIComponent(code)}`,
      pairUrl: pairPageUrl(publicOrigin(ctx, config.PublicUrl), baseUrl, code),
      expiresAt: iso(row.expires_at),
    };
    noStore(ctx);
    ctx.body = body;
  });

  router.get('/PairDeviceQR', enabled, async (ctx) => {
    const code = qrCode(ctx, 'device');
    const format = (queryParam(ctx.querystring, 'format') ?? 'png').toLowerCase();
    if (format === 'svg') return svg(ctx, code);
    if (format !== 'png') throw new HttpError(400, 'invalid_format', 'format must be png or svg');
    ctx.status = 200;
    ctx.type = 'image/png';
    ctx.set('cache-control', 'no-store');
    ctx.set('x-content-type-options', 'nosniff');
    ctx.body = await pairQrPng(publicOrigin(ctx, config.PublicUrl), baseUrl, code);
  });

  router.get('/CheckPairingStatus', enabled, async (ctx) => {
    const raw = queryParam(ctx.querystring, 'code') ?? '';
    const ip = ctx.state.client.ip;
    noStore(ctx);
    const r = await guardedAttempt(services.guard, 'pairing', { ip }, async () => {
      const poll = await pairing.devices.poll(raw);
      return { ok: poll.kind !== 'unknown', value: poll };
    });
    const poll = r.value;
    switch (poll.kind) {
      case 'unknown':
        pairing.audit({ type: 'pairing.code.invalid', outcome: 'failure', ip, detail: { via: 'CheckPairingStatus' } });
        throw unknownCode();
      case 'too_fast': {
        const seconds = Math.max(1, Math.ceil(poll.retryAfterMs / 1000));
        throw new HttpError(429, 'polling_too_fast', `Poll at most every ${POLL_INTERVAL_MS / 1000} seconds.`, { 'retry-after': String(seconds) });
      }
      case 'collected':
        throw unknownCode();
      case 'expired':
        if (poll.justExpired) pairing.auditExpired(poll.row);
        throw new HttpError(410, 'pairing_expired', 'This pairing code expired. Ask for a new one.');
      case 'pending': {
        const body: PairingStatusResponse = { status: 'pending', expiresAt: iso(poll.row.expires_at) };
        ctx.body = body;
        return;
      }
      case 'denied': {
        const body: PairingStatusResponse = { status: 'denied' };
        ctx.body = body;
        return;
      }
      case 'approved': {
        const userId = poll.row.user_id!;
        const body: PairingStatusResponse = {
          status: 'approved',
          deviceToken: poll.deviceToken,
          userId,
          userName: (await userName(userId)) ?? null,
          deviceId: poll.row.device_id,
        };
        pairing.audit({
          type: 'pairing.device.collected',
          outcome: 'success',
          userId,
          ip,
          deviceId: poll.row.device_id,
          deviceName: poll.row.device_name,
          client: poll.row.client,
          detail: { pairingId: poll.row.id, pairedDeviceId: poll.row.paired_device_id },
        });
        ctx.body = body;
        return;
      }
    }
  });

  /** The pairing an admin names by Id or PairingCode, still waiting. */
  const openPairing = async (input: { Id?: string | undefined; PairingCode?: string | undefined }) => {
    const row = input.Id !== undefined ? await pairing.devices.byId(input.Id) : await pairing.devices.byCode(input.PairingCode ?? '');
    if (!pairing.devices.isOpen(row)) throw new HttpError(404, 'unknown_pairing', 'No pairing with this id or code is waiting (it may have expired or been decided).');
    return row;
  };

  router.get('/PendingPairs', enabled, admin, async (ctx) => {
    noStore(ctx);
    ctx.body = (await pairing.devices.list()).map(presentPendingPair);
  });

  router.post('/ApprovePair', enabled, admin, async (ctx) => {
    const input = await readPascal(ctx, ApprovePairRequestSchema, ['Id', 'PairingCode', 'UserId']);
    const userId = canonicalGuid(input.UserId)!;
    const known = (await services.users.get(userId)) ?? (await services.jellyfin.getUser(userId).catch(() => undefined));
    if (!known) throw new HttpError(404, 'unknown_user', 'No such Jellyfin user.');
    const row = await openPairing(input);
    const by = ctx.state.session!.userId;
    const done = await pairing.devices.approve(row.id, userId, { userId: by, via: 'admin' });
    if (!done) throw new HttpError(404, 'unknown_pairing', 'No pairing with this id or code is waiting (it may have expired or been decided).');
    pairing.audit({
      type: 'pairing.device.approved',
      outcome: 'success',
      userId,
      userName: (await userName(userId)) ?? null,
      ip: ctx.state.client.ip,
      deviceId: done.device_id,
      deviceName: done.device_name,
      client: done.client,
      detail: { pairingId: done.id, by, via: 'admin', requestIp: done.ip },
    });
    noStore(ctx);
    ctx.body = presentPendingPair(done);
  });

  router.post('/DenyPair', enabled, admin, async (ctx) => {
    const input = await readPascal(ctx, DenyPairRequestSchema, ['Id', 'PairingCode']);
    const row = await openPairing(input);
    const by = ctx.state.session!.userId;
    const done = await pairing.devices.deny(row.id, { userId: by, via: 'admin' });
    if (!done) throw new HttpError(404, 'unknown_pairing', 'No pairing with this id or code is waiting (it may have expired or been decided).');
    pairing.audit({
      type: 'pairing.device.denied',
      outcome: 'refused',
      ip: ctx.state.client.ip,
      deviceId: done.device_id,
      deviceName: done.device_name,
      client: done.client,
      detail: { pairingId: done.id, by, via: 'admin', requestIp: done.ip },
    });
    ctx.status = 204;
  });

  // ── My paired devices ────────────────────────────────────────────────────────────────────────────

  router.get('/Me/PairedDevices', session, async (ctx) => {
    noStore(ctx);
    ctx.body = (await pairing.devices.devicesOf(ctx.state.session!.userId)).map(presentPairedDevice);
  });

  router.delete('/Me/PairedDevices/:id', session, async (ctx) => {
    const userId = ctx.state.session!.userId;
    const gone = await pairing.devices.revoke(userId, ctx.params.id ?? '');
    if (!gone) throw new HttpError(404, 'unknown_device', 'No such paired device.');
    pairing.audit({
      type: 'pairing.device.revoked',
      outcome: 'success',
      userId,
      ip: ctx.state.client.ip,
      deviceId: gone.device_id,
      deviceName: gone.device_name,
      detail: { pairedDeviceId: gone.id, by: userId },
    });
    ctx.status = 204;
  });

  // ── The phone: what is waiting behind a code ─────────────────────────────────────────────────────

  router.get('/Pair/Lookup', enabled, session, async (ctx) => {
    const input = PairCodeRequestSchema.safeParse({ code: queryParam(ctx.querystring, 'code') ?? '' });
    if (!input.success) throw new HttpError(400, 'invalid_request', 'code is required');
    const userId = ctx.state.session!.userId;
    const found = await pairing.lookup(input.data.code, { ip: ctx.state.client.ip, userId, userName: await userName(userId) });
    noStore(ctx);
    ctx.body = found.target;
  });

  /** The phone flows need the approvals engine. */
  const phone = () => {
    if (!pairing.phone) throw new HttpError(503, 'approvals_unavailable', 'Phone approval is not available on this server.');
    return pairing.phone;
  };

  router.post('/Pair/Approval', enabled, session, async (ctx) => {
    const input = await readJson(ctx, PairCodeRequestSchema);
    const started = await phone().begin(ctx.state.session!, ctx.state.client.ip, input.code, rpOf(ctx, services));
    noStore(ctx);
    ctx.body = started;
  });

  router.post('/Pair/Approve', enabled, session, async (ctx) => {
    const input = await readJson(ctx, PairApproveRequestSchema);
    noStore(ctx);
    try {
      ctx.body = await phone().finish(
        ctx.state.session!,
        ctx.state.client.ip,
        input.approvalId,
        input.response as unknown as AuthenticationResponseJSON,
        rpOf(ctx, services),
      );
    } catch (e) {
      if (!(e instanceof AssertionRefused)) throw e;
      // As the approvals API answers it: how many taps this approval still accepts.
      ctx.status = 401;
      ctx.body = { error: e.code, message: e.message, attemptsLeft: e.attemptsLeft };
    }
  });

  router.post('/Pair/Deny', enabled, session, async (ctx) => {
    const input = await readJson(ctx, PairDenyRequestSchema);
    await phone().decline(ctx.state.session!, ctx.state.client.ip, input.approvalId);
    ctx.status = 204;
  });
}
