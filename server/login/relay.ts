import type { GatewayContext } from '../context.ts';
import { UpstreamError, type BufferedResponse } from '../jellyfin/proxy.ts';
import { relayableResponseHeaders } from '../jellyfin/forwarding.ts';

/** Answer the client exactly as Jellyfin answered the gateway (status, headers, body). */
export function relay(ctx: GatewayContext, res: BufferedResponse): void {
  ctx.status = res.status;
  for (const [k, v] of Object.entries(relayableResponseHeaders(res.headers))) ctx.set(k, v);
  ctx.body = res.body;
  // Koa would infer a type from a Buffer; keep Jellyfin's own.
  const type = res.headers['content-type'];
  if (type) ctx.set('content-type', Array.isArray(type) ? type[0]! : type);
  else ctx.remove('content-type');
}

/** Answer a failed request of the gateway's own to Jellyfin (502 unreachable, 504 too slow); rethrow anything else. */
export function relayUpstreamError(ctx: GatewayContext, err: unknown): void {
  if (!(err instanceof UpstreamError)) throw err;
  ctx.status = err.status;
  ctx.set('cache-control', 'no-store');
  ctx.body = err.status === 504
    ? { error: 'upstream_timeout', message: 'Jellyfin did not answer in time.' }
    : { error: 'upstream_unavailable', message: 'Jellyfin could not be reached.' };
}
