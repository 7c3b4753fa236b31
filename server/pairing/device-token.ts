import type { GatewayContext } from '../context.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { Guard } from '../guard/index.ts';
import type { BeforeCheck, LoginStep } from '../login/hooks.ts';
import { isDeviceTokenShape } from './codes.ts';
import type { DevicePairings } from './devices.ts';

/** The header a paired device sends its device token in (the seed's name). */
export const DEVICE_TOKEN_HEADER = 'x-device-token';

export interface DeviceTokenDeps {
  pairings: DevicePairings;
  guard: Guard;
  audit: (e: AuditEvent) => void;
}

/**
 * The paired-device bypass, two checks of the login policy (server/login/policy.ts):
 *   - a `before` check takes X-Device-Token off the login request (Jellyfin never sees it);
 *   - a policy step releases the login ("paired_device") only when the token belongs to the user Jellyfin
 *     just accepted AND to the DeviceId of the login's own credential header (and of Jellyfin's answer).
 *     Anything else (unknown token, another user's, another device's) is ignored — the login is challenged
 *     as usual — audited, and counted as a pairing failure by the guard.
 */
export function deviceTokenBypass(deps: DeviceTokenDeps): { before: BeforeCheck; step: LoginStep } {
  const presented = new WeakMap<GatewayContext, string>();

  const before: BeforeCheck = {
    name: 'takeDeviceToken',
    run: async (ctx) => {
      const value = ctx.get(DEVICE_TOKEN_HEADER);
      if (value === '') return;
      presented.set(ctx, value.trim());
      delete ctx.req.headers[DEVICE_TOKEN_HEADER];
    },
  };

  const step: LoginStep = {
    name: 'pairedDevice',
    async run(f) {
      const token = presented.get(f.ctx);
      if (token === undefined) return undefined;
      const ip = f.ctx.state.client.ip;
      const headerDeviceId = f.ctx.state.credential.deviceId;
      // Both must name the same device: the DeviceId the request carried and the one Jellyfin's session has.
      const deviceId = f.result.deviceId && headerDeviceId && f.result.deviceId !== headerDeviceId ? undefined : headerDeviceId;
      const check = isDeviceTokenShape(token)
        ? await deps.pairings.checkDeviceToken(token, f.result.userId, deviceId, ip)
        : ({ ok: false, reason: 'unknown' } as const);
      const people = {
        userId: f.result.userId,
        userName: f.result.userName,
        ip,
        deviceId: headerDeviceId ?? null,
        deviceName: f.result.deviceName ?? f.ctx.state.credential.device ?? null,
        client: f.result.client ?? f.ctx.state.credential.client ?? null,
      };
      if (check.ok) {
        deps.audit({ ...people, type: 'pairing.device_token.used', outcome: 'success', detail: { pairedDeviceId: check.device.id } });
        return { kind: 'release', method: 'paired_device' };
      }
      deps.guard.recordFailure('pairing', { ip, userId: f.result.userId, username: f.result.userName });
      deps.audit({ ...people, type: 'pairing.device_token.refused', outcome: 'refused', detail: { reason: check.reason } });
      return undefined;
    },
  };
  return { before, step };
}
