import type { GatewayMiddleware } from '../context.ts';
import type { CidrList } from './cidr.ts';
import { resolveClientAddress } from './client-address.ts';

/** Pipeline step 1: the real client address, believing forwarding headers from trusted proxies only. */
export function clientAddress(trusted: CidrList, header: 'x-forwarded-for' | 'forwarded'): GatewayMiddleware {
  return (ctx, next) => {
    ctx.state.client = resolveClientAddress(ctx.req.socket.remoteAddress ?? '', ctx.req.headers, trusted, header);
    return next();
  };
}
