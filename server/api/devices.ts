import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { MyDevices, RevokeSessionResponse } from '../../shared/api/approvals.ts';
import { apiError } from '../errors.ts';
import type { Approvals } from '../approvals/index.ts';
import type { Factors } from '../factors/index.ts';
import type { TokenRegistry } from '../gate/index.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { Logger } from '../log.ts';
import type { LoginChallenges } from '../login/challenge-store.ts';
import type { DevicePairings } from '../pairing/devices.ts';
import { me, noStore } from './http.ts';
import { presentMyPairedDevice, presentPasskey, presentPhone, presentSession, presentTrustedBrowser, sessionId } from './presenters.ts';
import type { ParamRule, RouteContext } from './route.ts';

/**
 * "My devices" (shared/api/approvals.ts): everything that can sign in as the caller — enrolled phones,
 * passkeys, trusted browsers, paired devices and the Jellyfin sessions opened through the gateway — and
 * the revocation of a session. Phones, passkeys, trusted browsers and paired devices are revoked by their
 * own endpoints (Me/Phones, Me/Passkeys, Me/TrustedBrowsers, Me/PairedDevices).
 *
 * Revoking a session: the gate forgets the token at once (every credential form is refused from then on),
 * and Jellyfin is told to drop it — a held login's token with `/Sessions/Logout` (its sealed token is still
 * at hand), any other with `DELETE /Devices?id=` under the gateway's API key.
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export const sessionIdParam: ParamRule = (raw) => {
  if (!/^[A-Za-z0-9_-]{22}$/.test(raw)) throw apiError('unknown_session');
  return raw;
};

export interface DeviceRouteDeps {
  approvals: Approvals;
  factors: Factors;
  pairedDevices: Pick<DevicePairings, 'devicesOf'>;
  tokens: TokenRegistry;
  challenges: LoginChallenges;
  jellyfin: JellyfinClient;
  log: Logger;
}

export function deviceHandlers(d: DeviceRouteDeps) {
  return {
    async list(ctx: Ctx<'MeDevices'>) {
      const userId = me(ctx);
      const [phones, passkeys, trusted, paired] = await Promise.all([
        d.approvals.phones.list(userId),
        d.factors.passkeys.list(userId),
        d.factors.trustedBrowsers.list(userId),
        d.pairedDevices.devicesOf(userId),
      ]);
      const current = ctx.state.session!.tokenHash;
      const sessions = d.tokens
        .forUser(userId)
        .sort((a, b) => b.lastSeenAt - a.lastSeenAt)
        .map((e) => presentSession(e, current));
      const body: MyDevices = {
        phones: phones.map(presentPhone),
        passkeys: passkeys.map(presentPasskey),
        trustedBrowsers: trusted.map(presentTrustedBrowser),
        pairedDevices: [...paired].sort((a, b) => a.created_at - b.created_at).map(presentMyPairedDevice),
        sessions,
      };
      noStore(ctx);
      ctx.body = body;
    },

    async revokeSession(ctx: Ctx<'MeSessionRevoke'>) {
      const userId = me(ctx);
      const entry = d.tokens.forUser(userId).find((e) => sessionId(e.tokenHash) === ctx.params.sessionId);
      if (!entry) throw apiError('unknown_session');
      let revokedAtJellyfin = false;
      // A held login (pending): end its challenge, which logs the sealed token out at Jellyfin.
      for (const c of await d.challenges.openForSession(userId, entry.tokenHash)) {
        await d.challenges.end(c, 'failed', { reason: 'revoked_by_user' });
        revokedAtJellyfin = d.tokens.byHashEntry(entry.tokenHash) === undefined;
      }
      if (!revokedAtJellyfin && entry.deviceId) {
        revokedAtJellyfin = await d.jellyfin.deleteDevice(entry.deviceId).catch((e: Error) => {
          d.log.warn(`revoking a session at Jellyfin failed: ${e.message}`);
          return false;
        });
      }
      await d.tokens.forgetHash(entry.tokenHash);
      d.approvals.audit({
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
    },
  };
}
