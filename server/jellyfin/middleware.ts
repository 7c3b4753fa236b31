import type { GatewayMiddleware } from '../context.ts';
import { badRequest } from '../errors.ts';
import { readCredential } from './credentials.ts';
import type { PathNormalizer } from './paths.ts';
import type { JellyfinProxy } from './proxy.ts';
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

/** The one path normalizer: every later step matches on `ctx.state.route`. Unclassifiable → 400. */
export function normalizeRoute(normalizer: PathNormalizer): GatewayMiddleware {
  return (ctx, next) => {
    const route = normalizer.normalize(rawPathOf(ctx.req.url ?? '/'));
    if (route === null) throw badRequest('malformed_path', 'The request path cannot be read');
    ctx.state.route = route;
    return next();
  };
}

/** Pipeline step 4: the one credential reader, all five forms. */
export function credential(): GatewayMiddleware {
  return (ctx, next) => {
    const url = ctx.req.url ?? '/';
    ctx.state.credential = readCredential(ctx.req.headers, ctx.req.headersDistinct, rawQueryOf(url));
    return next();
  };
}

/** Pipeline step 7: stream everything else to Jellyfin. */
export function proxyToJellyfin(proxy: JellyfinProxy): GatewayMiddleware {
  return async (ctx) => {
    ctx.respond = false;
    await proxy.forward(ctx.req, ctx.res, forwardInfo(ctx.state.client, 'encrypted' in ctx.req.socket, ctx.req.headers.host));
  };
}
