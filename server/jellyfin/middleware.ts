import type { IncomingMessage } from 'node:http';
import type { GatewayMiddleware } from '../context.ts';
import { badRequest } from '../errors.ts';
import type { ClientAddress } from '../net/client-address.ts';
import { readCredential, type Credential } from './credentials.ts';
import type { PathNormalizer } from './paths.ts';
import type { ForwardInfo, JellyfinProxy } from './proxy.ts';
import { forwardInfo } from './forwarding.ts';

/** The raw path of a request URL, without the query. */
export function rawPathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function rawQueryOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q + 1);
}

/** The path as Jellyfin's router sees it (the one path normalizer), or null when it cannot be read. */
export function routeOf(normalizer: PathNormalizer, req: IncomingMessage): string | null {
  return normalizer.normalize(rawPathOf(req.url ?? '/'));
}

/** The Jellyfin credential of a request (the one credential reader, all five forms). */
export function credentialOf(req: IncomingMessage): Credential {
  return readCredential(req.headers, req.headersDistinct, rawQueryOf(req.url ?? '/'));
}

/** Who asked, for X-Forwarded-*: the client address step's answer and the connection's scheme and Host. */
export function forwardInfoOf(req: IncomingMessage, client: ClientAddress): ForwardInfo {
  return forwardInfo(client, 'encrypted' in req.socket, req.headers.host);
}

/** The one path normalizer: every later step matches on `ctx.state.route`. Unclassifiable → 400. */
export function normalizeRoute(normalizer: PathNormalizer): GatewayMiddleware {
  return (ctx, next) => {
    const route = routeOf(normalizer, ctx.req);
    if (route === null) throw badRequest('malformed_path', 'The request path cannot be read');
    ctx.state.route = route;
    return next();
  };
}

/** Pipeline step 3: the one credential reader, all five forms. */
export function credential(): GatewayMiddleware {
  return (ctx, next) => {
    ctx.state.credential = credentialOf(ctx.req);
    return next();
  };
}

/** Pipeline step 8: stream everything else to Jellyfin. */
export function proxyToJellyfin(proxy: JellyfinProxy): GatewayMiddleware {
  return async (ctx) => {
    ctx.respond = false;
    await proxy.forward(ctx.req, ctx.res, forwardInfoOf(ctx.req, ctx.state.client));
  };
}
