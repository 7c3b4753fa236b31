import type { GatewayContext, GatewayMiddleware } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { GateDecision, TokenGate } from './index.ts';

const REFUSALS: Record<Exclude<GateDecision, { pass: true }>['reason'], string> = {
  unknown_token: 'This token was not issued through Jellyguard. Sign in again.',
  pending_token: 'This sign-in is waiting for a second factor.',
  api_key_refused: 'API keys are not allowed through this gateway.',
};

function apply(ctx: GatewayContext, gate: TokenGate, d: GateDecision): void {
  if (!d.pass) {
    gate.noteRefusal(ctx.state.client.ip, d.reason, { path: ctx.path, client: ctx.state.credential.client ?? null });
    throw new HttpError(401, d.reason, REFUSALS[d.reason]);
  }
  if (d.session) ctx.state.session = d.session;
  ctx.state.apiKey = d.apiKey;
}

/**
 * The token gate (DESIGN principle 4): a request carrying any credential passes only if every token in it
 * is verified or an admitted API key. Requests without a credential pass: Jellyfin enforces its own
 * anonymous rules. The verified case is decided from memory without awaiting anything.
 */
export function tokenGate(gate: TokenGate): GatewayMiddleware {
  return async (ctx, next) => {
    const { candidates } = ctx.state.credential;
    if (candidates.length === 0) return next();
    apply(ctx, gate, gate.checkFast(candidates) ?? (await gate.check(candidates)));
    return next();
  };
}
