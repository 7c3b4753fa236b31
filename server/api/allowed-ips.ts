import type Router from '@koa/router';
import type { GatewayContext, GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Services } from '../services.ts';
import { canonicalGuid, field, stringField } from '../jellyfin/json.ts';
import { parseAllowList, type AllowList } from '../guard/network.ts';
import { SetAllowedIPsRequestSchema, type AllowedIPs } from '../../shared/api/guard.ts';
import { requireAdmin, requireSession } from './auth.ts';
import { readJson } from './factors.ts';

function present(userId: string, l: AllowList | undefined): AllowedIPs {
  return {
    userId,
    cidrs: l?.cidrs ?? [],
    updatedAt: l ? new Date(l.updatedAt).toISOString() : null,
    updatedBy: l?.updatedBy ?? null,
  };
}

function userIdParam(ctx: GatewayContext & { params: Record<string, string | undefined> }): string {
  const id = canonicalGuid(ctx.params.id);
  if (!id) throw new HttpError(400, 'invalid_user_id', 'A user id is 32 hexadecimal characters (dashes allowed).');
  return id;
}

/**
 * Per-user IP allowlists: managed by admins, visible to the user (shared/api/guard.ts). A change takes
 * effect at the next login; sessions already open are not cut.
 */
export function mountAllowedIpRoutes(router: Router<GatewayState>, services: Services): void {
  const admin = requireAdmin(services);
  const auth = requireSession(services);
  const { guard } = services;

  router.get('/Users/:id/AllowedIPs', admin, (ctx) => {
    const userId = userIdParam(ctx);
    ctx.body = present(userId, guard.allowedIps(userId));
  });

  router.put('/Users/:id/AllowedIPs', admin, async (ctx) => {
    const userId = userIdParam(ctx);
    const input = await readJson(ctx, SetAllowedIPsRequestSchema);
    let cidrs: string[];
    try {
      cidrs = parseAllowList(input.cidrs);
    } catch (e) {
      throw new HttpError(400, 'invalid_cidr', `cidrs: ${(e as Error).message}`);
    }
    // Learn the user's name, so the list is checked before a login's password is forwarded.
    const known = await services.users.get(userId);
    let name = known?.name;
    if (!name) {
      const fresh = await services.jellyfin.getUser(userId).catch(() => undefined);
      name = stringField(fresh, 'Name');
      if (fresh !== undefined && name) {
        await services.users.upsert({ id: userId, name, isAdmin: field(field(fresh, 'Policy'), 'IsAdministrator') === true });
      }
    }
    const by = ctx.state.session!.userId;
    const saved = await guard.setAllowedIps(userId, cidrs, by, name);
    services.audit.record({
      type: 'guard.allowlist.changed',
      outcome: 'success',
      userId,
      userName: name ?? null,
      ip: ctx.state.client.ip,
      detail: { by, cidrs },
    });
    ctx.body = present(userId, saved);
  });

  router.get('/Me/AllowedIPs', auth, (ctx) => {
    const userId = ctx.state.session!.userId;
    ctx.body = present(userId, guard.allowedIps(userId));
  });
}
