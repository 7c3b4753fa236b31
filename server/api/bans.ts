import type Router from '@koa/router';
import type { GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Services } from '../services.ts';
import type { Ban } from '../guard/index.ts';
import type { BanInfo, BansResponse, LiftAllResponse } from '../../shared/api/guard.ts';
import { requireAdmin } from './auth.ts';

/** The presenter: what an admin sees of a ban (never the regulator's internal key). */
export function presentBan(b: Ban): BanInfo {
  return {
    id: b.id ?? 0,
    scope: b.scope,
    address: b.address,
    user: b.userName,
    reason: b.reason,
    strikes: b.strikes,
    failures: b.failures,
    createdAt: new Date(b.createdAt).toISOString(),
    expiresAt: b.expiresAt === null ? null : new Date(b.expiresAt).toISOString(),
  };
}

/** Admin: bans in force, lift one, lift all (shared/api/guard.ts). Lifting is audited. */
export function mountBanRoutes(router: Router<GatewayState>, services: Services): void {
  const admin = requireAdmin(services);
  const { guard } = services;

  router.get('/Bans', admin, async (ctx) => {
    const body: BansResponse = { items: (await guard.listBans()).map(presentBan) };
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  });

  router.delete('/Bans/:id', admin, async (ctx) => {
    const raw = ctx.params.id ?? '';
    if (!/^\d{1,15}$/.test(raw)) throw new HttpError(400, 'invalid_ban_id', 'A ban id is a positive whole number.');
    const lifted = await guard.liftBan(Number(raw), { userId: ctx.state.session!.userId, ip: ctx.state.client.ip });
    if (!lifted) throw new HttpError(404, 'ban_not_found', 'No such ban (it may have been lifted already).');
    ctx.status = 204;
  });

  router.delete('/Bans', admin, async (ctx) => {
    const body: LiftAllResponse = { lifted: await guard.liftAll({ userId: ctx.state.session!.userId, ip: ctx.state.client.ip }) };
    ctx.body = body;
  });
}
