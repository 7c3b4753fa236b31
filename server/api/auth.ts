import type { GatewayContext, GatewayMiddleware } from '../context.ts';
import { apiError } from '../errors.ts';
import type { TokenGate } from '../gate/index.ts';
import type { TokenEntry } from '../gate/tokens.ts';
import type { UserDirectory, KnownUser } from '../gate/users.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import { field } from '../jellyfin/json.ts';

export interface AuthDeps {
  gate: TokenGate;
  users: UserDirectory;
  jellyfin: JellyfinClient;
}

/** The verified session behind a request to our own API, from its Jellyfin token in any credential form. */
export async function sessionOf(ctx: GatewayContext, deps: AuthDeps): Promise<TokenEntry | undefined> {
  const { candidates } = ctx.state.credential;
  if (candidates.length === 0) return undefined;
  const d = deps.gate.checkFast(candidates) ?? (await deps.gate.check(candidates));
  return d.pass ? d.session : undefined;
}

/** 401 unless the request carries a verified user token; sets ctx.state.session. */
export function requireSession(deps: AuthDeps): GatewayMiddleware {
  return async (ctx, next) => {
    const session = await sessionOf(ctx, deps);
    if (!session) throw apiError('unauthenticated');
    ctx.state.session = session;
    return next();
  };
}

/**
 * Whether a user is an administrator right now: Jellyfin's policy, asked with the gateway's API key
 * when it has one (so a demotion takes effect at once), else as last reported at login.
 */
export async function isAdministrator(deps: AuthDeps, userId: string): Promise<boolean> {
  const fresh = await deps.jellyfin.getUser(userId).catch(() => undefined);
  if (fresh !== undefined) return field(field(fresh, 'Policy'), 'IsAdministrator') === true;
  const known: KnownUser | undefined = await deps.users.get(userId);
  return known?.isAdmin === true;
}

/** 401 without a verified token, 403 for a user whose Jellyfin policy is not IsAdministrator. */
export function requireAdmin(deps: AuthDeps): GatewayMiddleware {
  const session = requireSession(deps);
  return (ctx, next) =>
    session(ctx, async () => {
      if (!(await isAdministrator(deps, ctx.state.session!.userId))) {
        throw apiError('forbidden');
      }
      return next();
    });
}
