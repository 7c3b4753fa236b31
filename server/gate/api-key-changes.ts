import type { GatewayMiddleware } from '../context.ts';
import { forwardBuffered, type LoginDeps } from '../login/password.ts';
import { readSmallBody } from '../login/body.ts';
import { relay } from '../login/relay.ts';
import type { ApiKeyCache } from './api-keys.ts';

/**
 * `POST /Auth/Keys?App=` and `DELETE /Auth/Keys/{key}` through the gateway (Jellyfin's own admin routes):
 * once Jellyfin made the change, the gateway reads its key list again before answering, so a key created
 * through it works at its first use (Jellyseerr's set-up wizard creates one and uses it at once) and a
 * deleted one is refused at once. Other methods pass on untouched.
 */
export function apiKeyChanges(deps: LoginDeps & { apiKeys: Pick<ApiKeyCache, 'refreshAfterChange'> }): GatewayMiddleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' && ctx.method !== 'DELETE') return next();
    const body = await readSmallBody(ctx, deps.maxBodyBytes, 'API key requests');
    const res = await forwardBuffered(ctx, deps, body);
    if (res.status >= 200 && res.status < 300) await deps.apiKeys.refreshAfterChange();
    relay(ctx, res);
  };
}
