import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { Settings } from '../config/settings.ts';
import type { UserDirectory } from '../gate/users.ts';
import { noStore } from './http.ts';
import type { RouteContext } from './route.ts';

/**
 * GET/POST Configuration: the gateway's own settings for administrators (shared/api/configuration.ts).
 * The route table asks for a fresh proof (ChangeGatewaySettings) between `check` and `run`, so an update
 * that would be refused anyway is answered before anyone confirms it.
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export interface ConfigurationDeps {
  settings: Settings;
  users: UserDirectory;
}

export function configurationHandlers({ settings, users }: ConfigurationDeps) {
  return {
    get(ctx: Ctx<'Configuration'>) {
      noStore(ctx);
      ctx.body = settings.view();
    },

    /** The step-up target of an update: the keys it changes (a proof covers exactly those). */
    changedKeys: (ctx: Ctx<'ConfigurationUpdate'>) => settings.changedKeys(ctx.input.values),

    update: {
      check: (ctx: Ctx<'ConfigurationUpdate'>) => settings.check(ctx.input.values),
      async run(ctx: Ctx<'ConfigurationUpdate'>) {
        const userId = ctx.state.session!.userId;
        const saved = await settings.update(ctx.input.values, { userId, userName: (await users.get(userId))?.name ?? null, ip: ctx.state.client.ip });
        noStore(ctx);
        ctx.body = saved;
      },
    },
  };
}
