import type Router from '@koa/router';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { GatewayContext, GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Services } from '../services.ts';
import { STEP_UP_HEADER, type Actor } from '../stepup/index.ts';
import { QUICK_CONNECT_CODE, compactCode } from '../../shared/api/pairing.ts';
import {
  StepUpRequestSchema,
  StepUpTargetSchema,
  type StepUpAction,
  type StepUpGrant,
  type StepUpStatus,
} from '../../shared/api/stepup.ts';
import { requireSession } from './auth.ts';
import { noStore, readJson, rpOf } from './factors.ts';

const iso = (ms: number) => new Date(ms).toISOString();

export function actorOf(ctx: GatewayContext): Actor {
  return { session: ctx.state.session!, ip: ctx.state.client.ip };
}

/**
 * Gate a step-up action of the session's own account (shared/api/stepup.ts): spend the proof the request
 * carries in X-Jellyguard-StepUp, or answer 401 StepUpRequired and say false (the route stops there).
 * Returns how the session proved itself.
 */
export async function stepUpGiven(ctx: GatewayContext, services: Services, action: StepUpAction, target: string | null = null): Promise<string | false> {
  const r = await services.stepUp.check(actorOf(ctx), action, target, ctx.get(STEP_UP_HEADER) || undefined);
  if (r.ok) return r.method;
  noStore(ctx);
  ctx.status = 401;
  ctx.body = r.required;
  return false;
}

/** Step-up grants: POST StepUp (a proof → a single-use grant of this session), its passkey options and status. */
export function mountStepUpRoutes(router: Router<GatewayState>, services: Services): void {
  const { stepUp } = services;
  const session = requireSession(services);

  /**
   * The target an action needs: Quick Connect Authorize is for one code, a removal for one phone or
   * passkey (so a grant the owner gave for one cannot remove another); the other actions name none.
   */
  const targetOf = (action: StepUpAction, target: string | null | undefined): string | null => {
    if (action === 'QuickConnectAuthorize') {
      const c = compactCode(target ?? '');
      if (!QUICK_CONNECT_CODE.test(c)) throw new HttpError(400, 'invalid_request', 'target must be the 6-digit Quick Connect code');
      return c;
    }
    if (action === 'RemovePhone' || action === 'RemovePasskey') {
      if (!target) throw new HttpError(400, 'invalid_request', `target must be the id of the ${action === 'RemovePhone' ? 'phone' : 'passkey'} to remove`);
      return target;
    }
    if (target) throw new HttpError(400, 'invalid_request', `${action} takes no target`);
    return null;
  };

  router.post('/StepUp/Passkey/Options', session, async (ctx) => {
    const input = await readJson(ctx, StepUpTargetSchema);
    const target = targetOf(input.action, input.target);
    noStore(ctx);
    ctx.body = await stepUp.passkeyOptions(actorOf(ctx), input.action, target, rpOf(ctx, services));
  });

  router.post('/StepUp', session, async (ctx) => {
    const input = await readJson(ctx, StepUpRequestSchema);
    const target = targetOf(input.action, input.target);
    const actor = actorOf(ctx);
    let body: StepUpGrant;
    if (input.method === 'phone') {
      if (!stepUp.phone || !(await stepUp.phone.available(actor.session.userId, actor.session.deviceId))) {
        throw new HttpError(400, 'method_unavailable', 'This account has no other phone with the Jellyguard Authenticator.');
      }
      // Each session may ask the phone only so often (a stolen session must not bombard the owner).
      const { PushMaxPerWindow, PushWindowSeconds } = services.config;
      if ((await stepUp.grants.phoneRequestsSince(actor.session.tokenHash, services.clock.now() - PushWindowSeconds * 1000)) >= PushMaxPerWindow) {
        throw new HttpError(429, 'too_many_requests', 'Your phone was asked several times already. Answer it there, or use another way.', {
          'retry-after': String(PushWindowSeconds),
        });
      }
      const started = await stepUp.phone.start(actor, input.action, target);
      body = {
        stepUpId: started.stepUpId,
        grant: started.grant,
        status: 'pending',
        action: input.action,
        target,
        expiresAt: iso(started.expiresAt),
        approvalId: started.approvalId,
      };
    } else {
      const g =
        input.method === 'totp'
          ? await stepUp.grantWithCode(actor, input.action, target, input.code)
          : input.method === 'recovery'
            ? await stepUp.grantWithRecoveryCode(actor, input.action, target, input.code)
            : input.method === 'password'
              ? await stepUp.grantWithPassword(actor, input.action, target, input.password)
              : await stepUp.grantWithPasskey(actor, input.action, target, input.response as unknown as AuthenticationResponseJSON);
      body = { stepUpId: g.id, grant: g.grant, status: 'granted', action: input.action, target, expiresAt: iso(g.expiresAt) };
    }
    noStore(ctx);
    ctx.body = body;
  });

  router.get('/StepUp/:id', session, async (ctx) => {
    const id = ctx.params.id ?? '';
    let row = await stepUp.grants.get(id);
    if (!row || row.token_hash !== ctx.state.session!.tokenHash) throw new HttpError(404, 'unknown_step_up', 'No such step-up for this session.');
    if (row.state === 'pending' && stepUp.phone?.refresh) row = (await stepUp.phone.refresh(row)) ?? row;
    const now = services.clock.now();
    const status = (row.state === 'pending' || row.state === 'granted') && row.expires_at <= now ? 'expired' : row.state;
    const body: StepUpStatus = { stepUpId: row.id, status, expiresAt: iso(row.expires_at) };
    noStore(ctx);
    ctx.body = body;
  });
}
