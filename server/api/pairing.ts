import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import { PairCodeRequestSchema, pairPageUrl, parsePairCode, type PairDeviceResponse, type PairingStatusResponse } from '../../shared/api/pairing.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext } from '../context.ts';
import { apiError, errorBody } from '../errors.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { Guard } from '../guard/index.ts';
import { canonicalGuid } from '../jellyfin/json.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import { AssertionRefused } from '../approvals/index.ts';
import { PAIR_PAGE_CSP, PAIR_SCRIPT, PAIR_STYLES, pairPageHtml, pairQrPng, pairQrSvg, publicOrigin, sendAsset } from '../pairing/page.ts';
import { MAX_PENDING_PER_ADDRESS, POLL_INTERVAL_MS, presentPairedDevice, presentPendingPair, unknownCode, type Pairing } from '../pairing/index.ts';
import { MAX_PENDING_TOTAL } from '../pairing/devices.ts';
import { guardedAttempt } from '../stepup/attempt.ts';
import { iso, noStore, rpOf } from './http.ts';
import type { RouteContext } from './route.ts';

/**
 * TV pairing under `{BaseUrl}/JellyfinSecurity/` (shared/api/pairing.ts lists every endpoint; the route
 * table says who may call each, and that all but Me/PairedDevices vanish with TVPairingEnabled off).
 *
 *   route                          | guard counts             | other limits
 *   GET  pair, p, pair.js/.css     | —                        | —
 *   GET  pair/qr.svg, PairDeviceQR | —                        | a well-formed code only
 *   POST PairDevice                | —                        | 5 pending per address, 1000 in all
 *   GET  CheckPairingStatus        | unknown codes            | 1 answer per code per 2 s
 *   GET  Pair/Lookup, POST Pair/Approval | wrong/expired/used | Approval: a passkey
 *   POST Pair/Approve, Pair/Deny   | refused assertions       | the session that began it; one decision
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export interface PairingRouteDeps {
  config: Pick<Config, 'BaseUrl' | 'PublicUrl'>;
  pairing: Pairing;
  /** Unknown codes polled count as failures of the address (brute-force guard). */
  guard: Guard;
  users: UserDirectory;
  jellyfin: JellyfinClient;
}

export function pairingHandlers({ config, pairing, guard, users, jellyfin }: PairingRouteDeps) {
  const baseUrl = config.BaseUrl;
  const userName = async (userId: string) => (await users.get(userId))?.name;

  /** A QR code for any well-formed code (no lookup: it reveals nothing about which codes wait). */
  const qrCode = (raw: string | undefined, kind: 'quickconnect' | 'device'): string => {
    const p = parsePairCode(raw ?? '');
    if (!p || p.kind !== kind) throw apiError('invalid_code', kind === 'device' ? 'code must look like AB23-CD45' : 'code must be a 6-digit code');
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

  /** The pairing an admin names by Id or PairingCode, still waiting. */
  const openPairing = async (input: { Id?: string | undefined; PairingCode?: string | undefined }) => {
    const row = input.Id !== undefined ? await pairing.devices.byId(input.Id) : await pairing.devices.byCode(input.PairingCode ?? '');
    if (!pairing.devices.isOpen(row)) throw apiError('unknown_pairing', 'No pairing with this id or code is waiting (it may have expired or been decided).');
    return row;
  };

  /** The phone flows need the approvals engine. */
  const phone = () => {
    if (!pairing.phone) throw apiError('approvals_unavailable');
    return pairing.phone;
  };

  return {
    // ── The big-screen page ──
    page(ctx: Ctx<'PairPage'> | Ctx<'PairPageShort'>) {
      ctx.status = 200;
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('content-security-policy', PAIR_PAGE_CSP);
      ctx.set('x-frame-options', 'DENY');
      ctx.set('referrer-policy', 'no-referrer');
      ctx.set('x-content-type-options', 'nosniff');
      ctx.set('cache-control', 'no-store');
      ctx.body = pairPageHtml(baseUrl, { qrOrigin: publicOrigin(ctx, config.PublicUrl) });
    },
    script: (ctx: Ctx<'PairScript'>) => sendAsset(ctx, PAIR_SCRIPT),
    styles: (ctx: Ctx<'PairStyles'>) => sendAsset(ctx, PAIR_STYLES),
    qrSvg: (ctx: Ctx<'PairQrSvg'>) => svg(ctx, qrCode(ctx.input.code, 'quickconnect')),

    // ── PairDevice: devices that do not speak Quick Connect ──
    async request(ctx: Ctx<'PairDevice'>) {
      const input = ctx.input;
      const ip = ctx.state.client.ip;
      const counts = await pairing.devices.pendingCounts(ip);
      if (counts.address >= MAX_PENDING_PER_ADDRESS || counts.total >= MAX_PENDING_TOTAL) {
        throw apiError('too_many_pairings', { headers: { 'retry-after': '60' } });
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
    },

    async qr(ctx: Ctx<'PairDeviceQR'>) {
      const code = qrCode(ctx.input.code, 'device');
      const format = (ctx.input.format ?? 'png').toLowerCase();
      if (format === 'svg') return svg(ctx, code);
      if (format !== 'png') throw apiError('invalid_format', 'format must be png or svg');
      ctx.status = 200;
      ctx.type = 'image/png';
      ctx.set('cache-control', 'no-store');
      ctx.set('x-content-type-options', 'nosniff');
      ctx.body = await pairQrPng(publicOrigin(ctx, config.PublicUrl), baseUrl, code);
    },

    async status(ctx: Ctx<'CheckPairingStatus'>) {
      const raw = ctx.input.code ?? '';
      const ip = ctx.state.client.ip;
      noStore(ctx);
      const r = await guardedAttempt(guard, 'pairing', { ip }, async () => {
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
          throw apiError('polling_too_fast', { message: `Poll at most every ${POLL_INTERVAL_MS / 1000} seconds.`, headers: { 'retry-after': String(seconds) } });
        }
        case 'collected':
          throw unknownCode();
        case 'expired':
          if (poll.justExpired) pairing.auditExpired(poll.row);
          throw apiError('pairing_expired');
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
    },

    async pending(ctx: Ctx<'PendingPairs'>) {
      noStore(ctx);
      ctx.body = (await pairing.devices.list()).map(presentPendingPair);
    },

    async approve(ctx: Ctx<'ApprovePair'>) {
      const input = ctx.input;
      const userId = canonicalGuid(input.UserId)!;
      const known = (await users.get(userId)) ?? (await jellyfin.getUser(userId).catch(() => undefined));
      if (!known) throw apiError('unknown_user', 'No such Jellyfin user.');
      const row = await openPairing(input);
      const by = ctx.state.session!.userId;
      const done = await pairing.devices.approve(row.id, userId, { userId: by, via: 'admin' });
      if (!done) throw apiError('unknown_pairing', 'No pairing with this id or code is waiting (it may have expired or been decided).');
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
    },

    async deny(ctx: Ctx<'DenyPair'>) {
      const row = await openPairing(ctx.input);
      const by = ctx.state.session!.userId;
      const done = await pairing.devices.deny(row.id, { userId: by, via: 'admin' });
      if (!done) throw apiError('unknown_pairing', 'No pairing with this id or code is waiting (it may have expired or been decided).');
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
    },

    // ── My paired devices ──
    async mine(ctx: Ctx<'MePairedDevices'>) {
      noStore(ctx);
      ctx.body = (await pairing.devices.devicesOf(ctx.state.session!.userId)).map(presentPairedDevice);
    },

    async revoke(ctx: Ctx<'MePairedDeviceRevoke'>) {
      const userId = ctx.state.session!.userId;
      const gone = await pairing.devices.revoke(userId, ctx.params.id);
      if (!gone) throw apiError('unknown_device');
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
    },

    // ── The phone: what is waiting behind a code ──
    async lookup(ctx: Ctx<'PairLookup'>) {
      const input = PairCodeRequestSchema.safeParse({ code: ctx.input.code ?? '' });
      if (!input.success) throw apiError('invalid_request', 'code is required');
      const userId = ctx.state.session!.userId;
      const found = await pairing.lookup(input.data.code, { ip: ctx.state.client.ip, userId, userName: await userName(userId) });
      noStore(ctx);
      ctx.body = found.target;
    },

    async startApproval(ctx: Ctx<'PairApproval'>) {
      const started = await phone().begin(ctx.state.session!, ctx.state.client.ip, ctx.input.code, rpOf(ctx, config.PublicUrl));
      noStore(ctx);
      ctx.body = started;
    },

    async finishApproval(ctx: Ctx<'PairApprove'>) {
      const input = ctx.input;
      noStore(ctx);
      try {
        ctx.body = await phone().finish(ctx.state.session!, ctx.state.client.ip, input.approvalId, input.response as unknown as AuthenticationResponseJSON, rpOf(ctx, config.PublicUrl));
      } catch (e) {
        if (!(e instanceof AssertionRefused)) throw e;
        // As the approvals API answers it: how many taps this approval still accepts.
        ctx.status = 401;
        ctx.body = { ...errorBody(e.code, e.message), attemptsLeft: e.attemptsLeft };
      }
    },

    async declineApproval(ctx: Ctx<'PairDeny'>) {
      await phone().decline(ctx.state.session!, ctx.state.client.ip, ctx.input.approvalId);
      ctx.status = 204;
    },
  };
}
