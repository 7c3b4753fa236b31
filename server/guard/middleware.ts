import type { GatewayMiddleware } from '../context.ts';
import type { Guard } from './index.ts';

/**
 * Pipeline step 2, right after the client address: a banned address is refused before anything else
 * (our own routes, logins, the proxy), with a clear 429 + Retry-After (403 when permanent). Memory only:
 * one Map lookup when any ban exists, nothing at all when none does.
 */
export function guardAddress(guard: Guard): GatewayMiddleware {
  return (ctx, next) => {
    const ban = guard.refusal(ctx.state.client, ctx.req.headers, ctx.req.headersDistinct, ctx.querystring);
    if (!ban) return next();
    // Answered here rather than thrown: under a flood this is the hottest path (no stack trace to build).
    const e = guard.banError(ban, false);
    ctx.status = e.status;
    for (const [k, v] of Object.entries(e.headers)) ctx.set(k, v);
    ctx.body = { error: e.code, message: e.message };
  };
}
