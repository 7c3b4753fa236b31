import type { IncomingMessage } from 'node:http';
import type { GatewayMiddleware } from '../context.ts';
import { badRequest } from '../errors.ts';
import type { ClientAddress } from '../net/client-address.ts';
import { readCredential, type Credential } from './credentials.ts';
import type { PathNormalizer } from './paths.ts';
import type { ForwardInfo, JellyfinProxy } from './proxy.ts';
import { forwardInfo, headersForUpstream } from './forwarding.ts';
import { relay, relayUpstreamError } from '../login/relay.ts';

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

/** Answers of a request whose body the gateway read (an administrator action) are relayed up to this size. */
const MAX_BUFFERED_ANSWER = 8 * 1024 * 1024;

/**
 * Pipeline step 8: stream everything else to Jellyfin. A request whose body a step already read (only
 * administrator actions, never a stream) is sent with those bytes and its answer relayed.
 */
export function proxyToJellyfin(proxy: JellyfinProxy): GatewayMiddleware {
  return async (ctx) => {
    const body = ctx.state.body;
    if (body !== undefined) {
      try {
        const info = forwardInfoOf(ctx.req, ctx.state.client);
        relay(ctx, await proxy.request({ method: ctx.method, path: ctx.url, headers: headersForUpstream(ctx.req.headers, info), body, maxResponseBytes: MAX_BUFFERED_ANSWER }));
      } catch (e) {
        relayUpstreamError(ctx, e);
      }
      return;
    }
    ctx.respond = false;
    await proxy.forward(ctx.req, ctx.res, forwardInfoOf(ctx.req, ctx.state.client));
  };
}
