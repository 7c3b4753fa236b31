import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { BansResponse, LiftAllResponse } from '../../shared/api/guard.ts';
import { apiError } from '../errors.ts';
import type { Guard } from '../guard/index.ts';
import { presentBan } from './presenters.ts';
import type { ParamRule, RouteContext } from './route.ts';

/** Admin: bans in force, lift one, lift all (shared/api/guard.ts). Lifting is audited by the guard. */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export const banIdParam: ParamRule = (raw) => {
  if (!/^\d{1,15}$/.test(raw)) throw apiError('invalid_ban_id');
  return raw;
};

export function banHandlers({ guard }: { guard: Pick<Guard, 'listBans' | 'liftBan' | 'liftAll'> }) {
  return {
    async list(ctx: Ctx<'Bans'>) {
      const body: BansResponse = { items: (await guard.listBans()).map(presentBan) };
      ctx.set('cache-control', 'no-store');
      ctx.body = body;
    },

    async lift(ctx: Ctx<'BanLift'>) {
      const lifted = await guard.liftBan(Number(ctx.params.id), { userId: ctx.state.session!.userId, ip: ctx.state.client.ip });
      if (!lifted) throw apiError('ban_not_found');
      ctx.status = 204;
    },

    async liftAll(ctx: Ctx<'BansLiftAll'>) {
      const body: LiftAllResponse = { lifted: await guard.liftAll({ userId: ctx.state.session!.userId, ip: ctx.state.client.ip }) };
      ctx.body = body;
    },
  };
}
