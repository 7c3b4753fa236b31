import type { IncomingMessage } from 'node:http';
import type { GatewayMiddleware } from '../context.ts';
import type { ClientAddress } from '../net/client-address.ts';
import { rawQueryOf, routeOf } from '../jellyfin/middleware.ts';
import type { PathNormalizer } from '../jellyfin/paths.ts';
import type { Ban } from './bans.ts';
import type { Guard } from './index.ts';

/**
 * The ban that refuses this request, if any: memory only, one Map lookup when any ban exists, nothing at
 * all when none does. The query is read as the credential reader reads it (the API-key exception).
 */
export function banOf(guard: Pick<Guard, 'refusal'>, client: ClientAddress, req: IncomingMessage): Ban | undefined {
  return guard.refusal(client, req.headers, req.headersDistinct, rawQueryOf(req.url ?? '/'));
}

/**
 * The pages a person opens (the web login, the Authenticator, the TV page) and their files: they render
 * under a ban, so that the person reads what happened and what to do next instead of raw JSON. They are
 * static; every sign-in attempt they make is an API call, refused as usual.
 */
const PAGES = /^\/jellyfinsecurity\/(?:login(?:\/.*)?|app(?:\/.*)?|pair|p|pair\.js|pair\.css|inject\.js)$/;

export function isPersonPage(method: string | undefined, route: string | null): boolean {
  return (method === 'GET' || method === 'HEAD') && route !== null && PAGES.test(route);
}

/**
 * Right after the client address in the pipeline: a banned address is refused before anything else
 * (our own routes, logins, the proxy), with a clear 429 + Retry-After (403 when permanent) — except
 * verified sessions and API keys (see Guard.refusal) and the pages above. A browser opening any other
 * page (jellyfin-web at /web/, say) gets the same refusal as a short page in words, never raw JSON.
 */
export function guardAddress(guard: Guard, paths: PathNormalizer, baseUrl: string): GatewayMiddleware {
  return (ctx, next) => {
    const ban = banOf(guard, ctx.state.client, ctx.req);
    if (!ban || isPersonPage(ctx.method, routeOf(paths, ctx.req))) return next();
    // Answered here rather than thrown: under a flood this is the hottest path (no stack trace to build).
    const e = guard.banError(ban, false);
    ctx.status = e.status;
    for (const [k, v] of Object.entries(e.headers)) ctx.set(k, v);
    if (ctx.method === 'GET' && /\btext\/html\b/.test(ctx.get('accept'))) {
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('cache-control', 'no-store');
      ctx.body = bannedPage(e.message, `${baseUrl}/JellyfinSecurity/login/`);
      return;
    }
    ctx.body = { error: e.code, message: e.message };
  };
}

/** The refusal as a page: what happened and what to do next, and the way to the login page. */
function bannedPage(message: string, loginUrl: string): string {
  const esc = (t: string) => t.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Jellyfin: sign-in paused</title><style>body{font-family:system-ui,sans-serif;background:#101010;color:#eee;margin:0}main{max-width:28rem;margin:15vh auto;padding:1.5rem}a{color:#7fd3f5}</style></head>
<body><main><h1>Sign-in paused</h1><p data-testid="error">${esc(message)}</p><p><a href="${esc(loginUrl)}">Go to the sign-in page</a></p></main></body></html>`;
}
