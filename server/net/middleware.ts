import type { IncomingMessage } from 'node:http';
import type { GatewayMiddleware } from '../context.ts';
import type { CidrList } from './cidr.ts';
import { resolveClientAddress, type ClientAddress } from './client-address.ts';

/** The real client address of a request, believing forwarding headers from trusted proxies only. */
export function clientOf(req: IncomingMessage, trusted: CidrList, header: 'x-forwarded-for' | 'forwarded'): ClientAddress {
  return resolveClientAddress(req.socket.remoteAddress ?? '', req.headers, trusted, header);
}

/** Pipeline step 1: the real client address. */
export function clientAddress(trusted: CidrList, header: 'x-forwarded-for' | 'forwarded'): GatewayMiddleware {
  return (ctx, next) => {
    ctx.state.client = clientOf(ctx.req, trusted, header);
    return next();
  };
}
