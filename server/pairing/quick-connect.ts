import type { GatewayContext, GatewayMiddleware } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { Guard } from '../guard/index.ts';
import { canonicalGuid } from '../jellyfin/json.ts';
import { jellyfinQueryPairs, queryParam } from '../login/query.ts';
import { compactCode } from '../../shared/api/pairing.ts';
import type { QuickConnectRequests } from '../login/quick-connect.ts';
import { STEP_UP_HEADER, type StepUp } from '../stepup/index.ts';

const NO_USER = '00000000000000000000000000000000';

export interface AuthorizeDeps {
  stepUp: StepUp;
  codes: Pick<QuickConnectRequests, 'pending' | 'claim' | 'unclaim'>;
  guard: Guard;
  audit: (e: AuditEvent) => void;
}

function people(ctx: GatewayContext) {
  const s = ctx.state.session;
  return {
    userId: s?.userId ?? null,
    ip: ctx.state.client.ip,
    deviceId: s?.deviceId ?? ctx.state.credential.deviceId ?? null,
    deviceName: s?.deviceName ?? ctx.state.credential.device ?? null,
    client: s?.client ?? ctx.state.credential.client ?? null,
  };
}

function answeredTrue(ctx: GatewayContext): boolean {
  if (ctx.status !== 200) return false;
  const b = ctx.body;
  const text = Buffer.isBuffer(b) ? b.toString('utf8') : typeof b === 'string' ? b : '';
  return text.trim() === 'true';
}

/**
 * `POST /QuickConnect/Authorize?code=&userId=` as a step-up action (DESIGN: TV pairing). Jellyfin signs
 * the waiting device in with no password, so a verified token alone is not enough: the request must
 * carry a fresh proof of THIS session (X-Jellyguard-StepUp: a grant for this code, or a TOTP code), and
 * the code must be one the gateway saw initiated and still waiting. Otherwise nothing is forwarded.
 * Then the request is claimed, the wrapped interceptor forwards it (and records the authorisation), and
 * a refusal by Jellyfin gives the claim back. Runs after the token gate, in every method (fail closed).
 */
export function stepUpQuickConnectAuthorize(deps: AuthorizeDeps, inner: GatewayMiddleware): GatewayMiddleware {
  return async (ctx, next) => {
    const session = ctx.state.session;
    if (!session) {
      if (ctx.state.apiKey) {
        throw new HttpError(403, 'step_up_unavailable', 'A Jellyfin API key cannot approve a Quick Connect code: approve it from the Jellyguard Authenticator.');
      }
      throw new HttpError(401, 'unauthenticated', 'Sign in through Jellyguard first.');
    }
    const raw = queryParam(ctx.querystring, 'code');
    if (raw === undefined || raw.trim() === '') throw new HttpError(400, 'invalid_request', 'code is required');
    const code = compactCode(raw);
    // A code signs a device in as the person who approves it. Jellyfin lets an administrator name another
    // user (userId), but the proof — and the phone's question — name only the code: one approval must not
    // sign a device in as someone else. That person approves the code themselves.
    for (const [k, v] of jellyfinQueryPairs(ctx.querystring)) {
      if (k.toLowerCase() !== 'userid' || v.trim() === '') continue;
      const id = canonicalGuid(v);
      if (id !== session.userId && id !== NO_USER) {
        throw new HttpError(403, 'forbidden', 'A Quick Connect code signs the device in as you. To sign it in as someone else, they approve the code themselves.');
      }
    }
    const actor = { session, ip: ctx.state.client.ip };
    const proved = await deps.stepUp.check(actor, 'QuickConnectAuthorize', code, ctx.get(STEP_UP_HEADER) || undefined);
    if (!proved.ok) {
      ctx.status = 401;
      ctx.set('cache-control', 'no-store');
      ctx.body = proved.required;
      return;
    }
    delete ctx.req.headers[STEP_UP_HEADER]; // the proof is ours: Jellyfin never sees it

    const waiting = await deps.codes.pending(code);
    if (!waiting) {
      deps.guard.recordFailure('pairing', { ip: actor.ip, userId: session.userId });
      deps.audit({ ...people(ctx), type: 'pairing.code.invalid', outcome: 'failure', detail: { via: 'authorize' } });
      throw new HttpError(404, 'unknown_code', 'No device is waiting with this code. Check the code on the screen.');
    }
    const named = canonicalGuid(queryParam(ctx.querystring, 'userId'));
    const userId = named && named !== NO_USER ? named : session.userId;
    const at = await deps.codes.claim(code, userId);
    if (at === undefined) throw new HttpError(404, 'unknown_code', 'No device is waiting with this code. Check the code on the screen.');
    try {
      await inner(ctx, next);
    } catch (e) {
      await deps.codes.unclaim(code, userId, at);
      throw e;
    }
    // (the core interceptor audits `quickconnect.authorized`)
    if (!answeredTrue(ctx)) await deps.codes.unclaim(code, userId, at);
  };
}
