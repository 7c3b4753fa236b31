import type { GatewayMiddleware } from '../context.ts';
import { apiError } from '../errors.ts';
import { isAdministrator, type AuthDeps } from '../api/auth.ts';

/**
 * Routes Jellyfin lets anyone in its LAN call. `POST /System/Restart` is authorized by
 * LocalAccessOrRequiresElevation: an administrator, or ANY request whose remote address is in the LAN, token
 * or not — and behind the gateway that address is the gateway's own (loopback or LAN) unless Jellyfin's
 * Known proxies list it. So through the gateway these routes need what Jellyfin asks of everyone else: an
 * administrator (or an API key).
 */
export const LAN_TRUSTED_ROUTES = ['/system/restart'] as const;

/** After the token gate (every token in the request is verified by now): an administrator or an API key. */
export function administratorRequired(deps: AuthDeps): GatewayMiddleware {
  return async (ctx, next) => {
    if (ctx.state.apiKey) return next();
    const session = ctx.state.session;
    if (!session) throw apiError('unauthenticated', 'Restarting the server needs an administrator signed in through Jellyguard.');
    if (!(await isAdministrator(deps, session.userId))) throw apiError('forbidden', 'Only an administrator may restart the server.');
    return next();
  };
}
