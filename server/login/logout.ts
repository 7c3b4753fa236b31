import type { GatewayMiddleware } from '../context.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import { forwardBuffered, type LoginDeps } from './password.ts';
import { readSmallBody } from './body.ts';
import { relay } from './relay.ts';
import type { AuditSink } from '../audit/index.ts';

/** `/Sessions/Logout`: forward, then forget the session's token whatever Jellyfin answered (fail closed). */
export function logout(deps: LoginDeps & { tokens: TokenRegistry; audit: AuditSink }): GatewayMiddleware {
  return async (ctx) => {
    const body = await readSmallBody(ctx, deps.maxBodyBytes, 'sign-out requests');
    try {
      const res = await forwardBuffered(ctx, deps, body);
      relay(ctx, res);
    } finally {
      for (const token of ctx.state.credential.candidates) {
        const entry = deps.tokens.lookup(token);
        if (!entry) continue;
        await deps.tokens.forgetHash(entry.tokenHash);
        deps.audit.record({
          type: 'session.logout', outcome: 'success', userId: entry.userId, ip: ctx.state.client.ip,
          deviceId: entry.deviceId, deviceName: entry.deviceName, client: entry.client,
        });
      }
    }
  };
}
