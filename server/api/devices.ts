import { createHash } from 'node:crypto';
import type Router from '@koa/router';
import type { GatewayContext, GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Services } from '../services.ts';
import type { TokenEntry } from '../gate/tokens.ts';
import { requireSession } from './auth.ts';
import { isoOrNull, noStore } from './factors.ts';
import { presentPasskey, presentTrustedBrowser } from './me.ts';
import { presentPhone } from './approvals.ts';
import type { MyDevices, PairedDeviceInfo, RevokeSessionResponse, SessionInfo } from '../../shared/api/approvals.ts';

/**
 * "My devices" (shared/api/approvals.ts): everything that can sign in as the caller — enrolled phones,
 * passkeys, trusted browsers, paired devices and the Jellyfin sessions opened through the gateway — and
 * the revocation of a session. Phones, passkeys, trusted browsers and paired devices are revoked by their
 * own endpoints (Me/Phones, Me/Passkeys, Me/TrustedBrowsers, Me/PairedDevices).
 *
 * A session is named by an opaque id derived from the gate's token hash (the token itself is never stored;
 * the hash is not shown either). Revoking it: the gate forgets the token at once (every credential form
 * is refused from then on), and Jellyfin is told to drop it — a held login's token with `/Sessions/Logout`
 * (its sealed token is still at hand), any other with `DELETE /Devices?id=` under the gateway's API key.
 */
export function sessionId(tokenHash: string): string {
  return createHash('sha256').update('jellyguard-session\0').update(tokenHash).digest('base64url').slice(0, 22);
}

function presentSession(e: TokenEntry, current: string | undefined): SessionInfo {
  return {
    id: sessionId(e.tokenHash),
    client: e.client,
    deviceName: e.deviceName,
    deviceId: e.deviceId,
    appVersion: e.appVersion,
    ip: e.ip,
    method: e.method,
    state: e.state,
    createdAt: new Date(e.createdAt).toISOString(),
    lastSeenAt: new Date(e.lastSeenAt).toISOString(),
    current: e.tokenHash === current,
  };
}

/**
 * Extension point for paired devices (TV pairing, server/pairing): the devices paired to a user, read
 * from the `paired_devices` table when it exists. Pairing may replace this with its own presenter.
 */
export type PairedDeviceSource = (services: Services, userId: string) => Promise<PairedDeviceInfo[]>;

export const pairedDevicesFromStore: PairedDeviceSource = async (services, userId) => {
  const rows = await services.store.db
    .selectFrom('paired_devices')
    .select(['id', 'device_name', 'device_id', 'created_at', 'last_used_at'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .execute()
    .catch(() => []);
  return rows.map((r) => ({
    id: r.id,
    deviceName: r.device_name,
    deviceId: r.device_id,
    client: null,
    createdAt: new Date(r.created_at).toISOString(),
    lastSeenAt: isoOrNull(r.last_used_at),
  }));
};

export function mountDeviceRoutes(router: Router<GatewayState>, services: Services, pairedDevices: PairedDeviceSource = pairedDevicesFromStore): void {
  const auth = requireSession(services);
  const me = (ctx: GatewayContext) => ctx.state.session!.userId;

  router.get('/Me/Devices', auth, async (ctx) => {
    const userId = me(ctx);
    const [phones, passkeys, trusted, paired] = await Promise.all([
      services.approvals.phones.list(userId),
      services.factors.passkeys.list(userId),
      services.factors.trustedBrowsers.list(userId),
      pairedDevices(services, userId),
    ]);
    const current = ctx.state.session!.tokenHash;
    const sessions = services.tokens
      .forUser(userId)
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt)
      .map((e) => presentSession(e, current));
    const body: MyDevices = {
      phones: phones.map(presentPhone),
      passkeys: passkeys.map(presentPasskey),
      trustedBrowsers: trusted.map(presentTrustedBrowser),
      pairedDevices: paired,
      sessions,
    };
    noStore(ctx);
    ctx.body = body;
  });

  router.delete('/Me/Sessions/:sessionId', auth, async (ctx) => {
    const userId = me(ctx);
    const id = ctx.params.sessionId ?? '';
    const entry = /^[A-Za-z0-9_-]{22}$/.test(id) ? services.tokens.forUser(userId).find((e) => sessionId(e.tokenHash) === id) : undefined;
    if (!entry) throw new HttpError(404, 'unknown_session', 'No such session.');
    let revokedAtJellyfin = false;
    // A held login (pending): end its challenge, which logs the sealed token out at Jellyfin.
    const held = await services.store.db
      .selectFrom('login_challenges')
      .selectAll()
      .where('user_id', '=', userId)
      .where('token_hash', '=', entry.tokenHash)
      .where('state', 'in', ['pending', 'satisfied'])
      .execute();
    for (const c of held) {
      await services.challenges.end(c, 'failed', { reason: 'revoked_by_user' });
      revokedAtJellyfin = services.tokens.byHashEntry(entry.tokenHash) === undefined;
    }
    if (!revokedAtJellyfin && entry.deviceId) {
      revokedAtJellyfin = await services.jellyfin.deleteDevice(entry.deviceId).catch((e: Error) => {
        services.log.warn(`revoking a session at Jellyfin failed: ${e.message}`);
        return false;
      });
    }
    await services.tokens.forgetHash(entry.tokenHash);
    services.approvals.audit({
      type: 'session.revoked',
      outcome: 'success',
      userId,
      ip: ctx.state.client.ip,
      deviceId: entry.deviceId,
      deviceName: entry.deviceName,
      client: entry.client,
      detail: { revokedAtJellyfin, current: entry.tokenHash === ctx.state.session!.tokenHash },
    });
    const body: RevokeSessionResponse = { revokedAtJellyfin };
    noStore(ctx);
    ctx.body = body;
  });
}
