import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { AllowedIPs } from '../../shared/api/guard.ts';
import type { AuditLog } from '../audit/index.ts';
import { apiError } from '../errors.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { Guard } from '../guard/index.ts';
import { parseAllowList, type AllowList } from '../guard/network.ts';
import { field, stringField } from '../jellyfin/json.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { RouteContext } from './route.ts';

/**
 * Per-user IP allowlists: managed by admins, visible to the user (shared/api/guard.ts). A change takes
 * effect at the next login; sessions already open are not cut.
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

function present(userId: string, l: AllowList | undefined): AllowedIPs {
  return {
    userId,
    cidrs: l?.cidrs ?? [],
    updatedAt: l ? new Date(l.updatedAt).toISOString() : null,
    updatedBy: l?.updatedBy ?? null,
  };
}

export interface AllowedIpDeps {
  guard: Pick<Guard, 'allowedIps' | 'setAllowedIps'>;
  users: UserDirectory;
  jellyfin: JellyfinClient;
  audit: AuditLog;
}

export function allowedIpHandlers({ guard, users, jellyfin, audit }: AllowedIpDeps) {
  return {
    get(ctx: Ctx<'UserAllowedIPs'>) {
      ctx.body = present(ctx.params.id, guard.allowedIps(ctx.params.id));
    },

    async set(ctx: Ctx<'UserAllowedIPsSet'>) {
      const userId = ctx.params.id;
      let cidrs: string[];
      try {
        cidrs = parseAllowList(ctx.input.cidrs);
      } catch (e) {
        throw apiError('invalid_cidr', `cidrs: ${(e as Error).message}`);
      }
      // Learn the user's name, so the list is checked before a login's password is forwarded.
      const known = await users.get(userId);
      let name = known?.name;
      if (!name) {
        const fresh = await jellyfin.getUser(userId).catch(() => undefined);
        name = stringField(fresh, 'Name');
        if (fresh !== undefined && name) {
          await users.upsert({ id: userId, name, isAdmin: field(field(fresh, 'Policy'), 'IsAdministrator') === true });
        }
      }
      const by = ctx.state.session!.userId;
      const saved = await guard.setAllowedIps(userId, cidrs, by, name);
      audit.record({ type: 'guard.allowlist.changed', outcome: 'success', userId, userName: name ?? null, ip: ctx.state.client.ip, detail: { by, cidrs } });
      ctx.body = present(userId, saved);
    },

    mine(ctx: Ctx<'MeAllowedIPs'>) {
      const userId = ctx.state.session!.userId;
      ctx.body = present(userId, guard.allowedIps(userId));
    },
  };
}
