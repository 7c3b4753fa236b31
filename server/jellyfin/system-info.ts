import type { GatewayContext, GatewayMiddleware } from '../context.ts';
import type { BufferedResponse, JellyfinProxy } from './proxy.ts';
import { forwardInfo, headersForUpstream } from './forwarding.ts';
import { relay, relayUpstreamError } from '../login/relay.ts';
import { publicOrigin } from '../pairing/page.ts';

/**
 * `System/Info` and `System/Info/Public` name the server's own address in `LocalAddress` (Jellyfin's
 * SystemManager fills it from its bind address: the upstream, e.g. http://192.168.1.5:8096). Clients
 * store it beside the address they typed and try it first when they think they are at home — a direct
 * connection around the gateway. Every address in these answers is replaced by the gateway's own:
 * PublicUrl when configured, else the origin the request reached, plus Jellyfin's BaseUrl.
 */

/** Fields of SystemInfo/PublicSystemInfo that hold an address of the server (10.10, 10.11). */
export const ADDRESS_FIELDS = ['LocalAddress'] as const;
/** A SystemInfo answer is a few KiB; anything near this cap is not one. */
const MAX_INFO_BYTES = 1024 * 1024;

export interface SystemInfoDeps {
  proxy: JellyfinProxy;
  publicUrl: string | undefined;
  /** Jellyfin's BaseUrl ('' or like '/jellyfin'). */
  baseUrl: string;
}

/** The address clients are told: the gateway's, never the upstream's ('' when the Host is unusable). */
export function gatewayAddress(ctx: GatewayContext, publicUrl: string | undefined, baseUrl: string): string {
  const origin = publicOrigin(ctx, publicUrl);
  return origin === '' ? '' : origin + baseUrl;
}

/** Replace the address fields of a parsed SystemInfo; true when anything changed. */
export function rewriteAddresses(info: Record<string, unknown>, address: string): boolean {
  let changed = false;
  for (const field of ADDRESS_FIELDS) {
    if (typeof info[field] === 'string' && info[field] !== address) {
      info[field] = address;
      changed = true;
    }
  }
  return changed;
}

/** The interceptor for `/system/info` and `/system/info/public` (every path variant, after the gate). */
export function systemInfoAddresses(deps: SystemInfoDeps): GatewayMiddleware {
  return async (ctx, next) => {
    const url = ctx.req.url ?? '/';
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || url.charCodeAt(0) !== 0x2f) return next();
    const headers = headersForUpstream(ctx.req.headers, forwardInfo(ctx.state.client, 'encrypted' in ctx.req.socket, ctx.get('host') || undefined));
    let res: BufferedResponse;
    try {
      res = await deps.proxy.request({ method: 'GET', path: url, headers, maxResponseBytes: MAX_INFO_BYTES });
    } catch (err) {
      return relayUpstreamError(ctx, err);
    }
    const type = res.headers['content-type'];
    const contentType = (Array.isArray(type) ? type[0] : type) ?? '';
    let info: unknown;
    if (res.status === 200 && /json/i.test(contentType)) {
      try {
        info = JSON.parse(res.body.toString('utf8'));
      } catch {
        info = undefined;
      }
    }
    if (info === null || typeof info !== 'object' || Array.isArray(info)) return relay(ctx, res);
    // Fail closed: an answer whose address cannot be replaced loses the address rather than leak it.
    const address = gatewayAddress(ctx, deps.publicUrl, deps.baseUrl);
    rewriteAddresses(info as Record<string, unknown>, address);
    relay(ctx, { ...res, body: Buffer.from(JSON.stringify(info)) }); // Koa sets the new Content-Length
    ctx.remove('etag');
  };
}
