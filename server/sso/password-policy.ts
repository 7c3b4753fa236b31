import type { AuditSink } from '../audit/index.ts';
import { HttpError } from '../errors.ts';
import type { AcceptedCheck } from '../login/hooks.ts';
import type { SsoLinks } from './accounts.ts';

/**
 * DisablePasswordLoginForSSOUsers: a user linked to an OIDC identity signs in at the provider only. Checked
 * once Jellyfin accepted the password (an `accepted` hook, whose refusal revokes the token), so only
 * someone who knows the password learns that the account is single sign-on only; a TV of such a user
 * signs in by Quick Connect approved from the phone.
 */
export function refusePasswordForSsoUsers(
  links: SsoLinks,
  revoke: (token: string) => Promise<unknown>,
  audit: AuditSink,
): AcceptedCheck {
  return { name: 'ssoUsersUseTheirProvider', run: async (ctx, _attempt, result) => {
    if (!(await links.isLinked(result.userId))) return;
    await revoke(result.accessToken);
    audit.record({
      type: 'sso.password.refused', outcome: 'refused', userId: result.userId, userName: result.userName,
      ip: ctx.state.client.ip, deviceId: result.deviceId ?? null, deviceName: result.deviceName ?? null, client: result.client ?? null,
    });
    throw new HttpError(403, 'password_login_disabled', 'This account signs in with single sign-on: use its button on the sign-in page. On a TV, use Quick Connect and approve it from your phone.');
  } };
}
