import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CidrList } from './net/cidr.ts';
import { clientOf } from './net/middleware.ts';
import { banOf } from './guard/middleware.ts';
import type { Guard } from './guard/index.ts';
import { isGatewayRoute, type PathNormalizer } from './jellyfin/paths.ts';
import { credentialOf, forwardInfoOf, routeOf } from './jellyfin/middleware.ts';
import { isIntercepted, type InterceptTable } from './jellyfin/intercept.ts';
import type { ForwardInfo, JellyfinProxy } from './jellyfin/proxy.ts';
import type { TokenGate } from './gate/index.ts';

export interface FastPathDeps {
  trustedProxies: CidrList;
  forwardedHeader: 'x-forwarded-for' | 'forwarded';
  guard: Pick<Guard, 'refusal'>;
  paths: PathNormalizer;
  /** Every interceptor table of the pipeline: a request one of them matches is never taken here. */
  intercepted: readonly InterceptTable[];
  /**
   * Whether a method and path are an administrator action (server/stepup/admin-actions.ts): never taken
   * here. The table is by method, so a GET costs one Map lookup and never leaves the short path.
   */
  adminAction: (method: string, route: string) => boolean;
  gate: Pick<TokenGate, 'checkFast'>;
  proxy: Pick<JellyfinProxy, 'forward'>;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The short path for the requests that need nothing from the gateway but the gate (library browsing,
 * images, playback reports, HLS segments): the pipeline's own steps, as the same functions, with no Koa
 * context, router or middleware chain around them —
 *
 *   1. the client address  2. not banned  3. the normalized path is readable, not ours (/JellyfinSecurity),
 *   not intercepted and not an administrator action  4. the credential  5. memory alone says every token
 *   passes  → streamed to Jellyfin.
 *
 * Whatever this path cannot settle with a plain "pass" — a ban, an unreadable path, our own routes, an
 * interceptor, a refused token, a token only the slower check can judge — goes to `pipeline` (Koa's
 * callback), which runs every step again from the start and answers exactly as it always has. Nothing
 * here has a side effect before it forwards, so handing over is always safe.
 */
export function fastPath(deps: FastPathDeps, pipeline: Listener): Listener {
  return (req, res) => {
    let info: ForwardInfo | undefined;
    try {
      info = onlyTheGate(deps, req);
    } catch {
      info = undefined; // the pipeline's error handler answers, and logs what went wrong
    }
    if (info === undefined) pipeline(req, res);
    else void deps.proxy.forward(req, res, info);
  };
}

/** Steps 1–5 above; `X-Forwarded-*` for the request when it passes them all, else undefined. */
function onlyTheGate(deps: FastPathDeps, req: IncomingMessage): ForwardInfo | undefined {
  const client = clientOf(req, deps.trustedProxies, deps.forwardedHeader);
  if (banOf(deps.guard, client, req) !== undefined) return undefined;
  const route = routeOf(deps.paths, req);
  if (route === null || isGatewayRoute(route) || isIntercepted(deps.intercepted, route)) return undefined;
  if (deps.adminAction(req.method ?? 'GET', route)) return undefined;
  const { candidates } = credentialOf(req);
  if (candidates.length > 0 && deps.gate.checkFast(candidates)?.pass !== true) return undefined;
  return forwardInfoOf(req, client);
}
