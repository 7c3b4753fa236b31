import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { Config } from '../config/index.ts';
import type { PasskeySignIn } from '../login/passkey-signin.ts';
import { noStore, rpOf } from './http.ts';
import type { RouteContext } from './route.ts';

/**
 * "Sign in with a passkey" (server/login/passkey-signin.ts), public:
 *
 *   POST Passkey/SignIn/Options → WebAuthn options with no user and no credential list (usernameless)
 *   POST Passkey/SignIn {response} → Jellyfin's AuthenticationResult for this browser, as a password
 *        login that passed its challenge gets it; the browser's own Authorization header names the device
 */
type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export function passkeySignInHandlers({ config, signIn }: { config: Config; signIn: PasskeySignIn }) {
  return {
    async options(ctx: Ctx<'PasskeySignInOptions'>) {
      noStore(ctx);
      ctx.body = await signIn.options(rpOf(ctx, config.PublicUrl));
    },

    async signIn(ctx: Ctx<'PasskeySignIn'>) {
      noStore(ctx);
      const c = ctx.state.credential;
      const minted = await signIn.signIn(
        ctx.input.response as unknown as AuthenticationResponseJSON,
        rpOf(ctx, config.PublicUrl),
        { client: c.client ?? '', device: c.device ?? '', deviceId: c.deviceId ?? '', version: c.version ?? '' },
        ctx.state.client.ip,
      );
      ctx.body = minted.body;
    },
  };
}
