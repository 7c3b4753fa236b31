import type { GatewayContext } from '../context.ts';
import type { BufferedResponse } from '../jellyfin/proxy.ts';
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
