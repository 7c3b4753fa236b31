import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import { QUICK_CONNECT_CODE, compactCode } from '../../shared/api/pairing.ts';
import type { StepUpAction, StepUpGrant, StepUpStatus } from '../../shared/api/stepup.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { STEP_UP_HEADER, type StepUp } from '../stepup/index.ts';
import { isAdminAction } from '../stepup/admin-actions.ts';
import { actorOf, iso, noStore, rpOf } from './http.ts';
import type { RouteContext } from './route.ts';

/**
 * Step-up over HTTP (shared/api/stepup.ts): POST StepUp turns a fresh proof into a grant of this session,
 * for one action (and target); its passkey options; GET StepUp/{id} the status of one asked of a
 * phone. Routes that need a grant say so in the route table (stepUp(action)); `stepUpGiven` is that guard.
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

/**
 * The step-up guard: spend the proof the request carries in X-Jellyguard-StepUp, or answer 401
 * StepUpRequired and say false (the route stops there).
 */
export async function stepUpGiven(stepUp: StepUp, ctx: GatewayContext, action: StepUpAction, target: string | null): Promise<boolean> {
  const r = await stepUp.check(actorOf(ctx), action, target, ctx.get(STEP_UP_HEADER) || undefined);
  if (r.ok) return true;
  noStore(ctx);
  ctx.status = 401;
  ctx.body = r.required;
  return false;
}

/**
 * The target an action needs: Quick Connect Authorize is for one code, a removal for one phone or
 * passkey (so a grant the owner gave for one cannot remove another); the other actions name none.
 */
function targetOf(action: StepUpAction, target: string | null | undefined): string | null {
  if (action === 'QuickConnectAuthorize') {
    const c = compactCode(target ?? '');
    if (!QUICK_CONNECT_CODE.test(c)) throw apiError('invalid_request', 'target must be the 6-digit Quick Connect code');
    return c;
  }
  if (action === 'RemovePhone' || action === 'RemovePasskey') {
    if (!target) throw apiError('invalid_request', `target must be the id of the ${action === 'RemovePhone' ? 'phone' : 'passkey'} to remove`);
    return target;
  }
  // An administrator action's target is the one its 401 named (a user id, a name, a fingerprint): a grant
  // asked for another target is simply useless for this one.
  if (isAdminAction(action)) return target ?? null;
  if (target) throw apiError('invalid_request', `${action} takes no target`);
  return null;
}

export interface StepUpRouteDeps {
  config: Pick<Config, 'PublicUrl' | 'PushMaxPerWindow' | 'PushWindowSeconds'>;
  clock: Clock;
  stepUp: StepUp;
}

export function stepUpHandlers({ config, clock, stepUp }: StepUpRouteDeps) {
  return {
    async passkeyOptions(ctx: Ctx<'StepUpPasskeyOptions'>) {
      const target = targetOf(ctx.input.action, ctx.input.target);
      noStore(ctx);
      ctx.body = await stepUp.passkeyOptions(actorOf(ctx), ctx.input.action, target, rpOf(ctx, config.PublicUrl));
    },

    async grant(ctx: Ctx<'StepUp'>) {
      const input = ctx.input;
      const target = targetOf(input.action, input.target);
      const actor = actorOf(ctx);
      let body: StepUpGrant;
      if (input.method === 'phone') {
        if (!stepUp.phone || !(await stepUp.phone.available(actor.session.userId, actor.session.deviceId))) {
          throw apiError('method_unavailable', 'This account has no other phone with the Jellyguard Authenticator.');
        }
        // Each session may ask the phone only so often (a stolen session must not bombard the owner).
        const { PushMaxPerWindow, PushWindowSeconds } = config;
        if ((await stepUp.grants.phoneRequestsSince(actor.session.tokenHash, clock.now() - PushWindowSeconds * 1000)) >= PushMaxPerWindow) {
          throw apiError('too_many_requests', {
            message: 'Your phone was asked several times already. Answer it there, or use another way.',
            headers: { 'retry-after': String(PushWindowSeconds) },
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
    },

    async status(ctx: Ctx<'StepUpStatus'>) {
      let row = await stepUp.grants.get(ctx.params.id);
      if (!row || row.token_hash !== ctx.state.session!.tokenHash) throw apiError('unknown_step_up', 'No such step-up for this session.');
      if (row.state === 'pending' && stepUp.phone?.refresh) row = (await stepUp.phone.refresh(row)) ?? row;
      const now = clock.now();
      const status = (row.state === 'pending' || row.state === 'granted') && row.expires_at <= now ? 'expired' : row.state;
      const body: StepUpStatus = { stepUpId: row.id, status, expiresAt: iso(row.expires_at) };
      noStore(ctx);
      ctx.body = body;
    },
  };
}
