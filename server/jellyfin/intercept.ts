import type { GatewayMiddleware } from '../context.ts';
import { matchRoute } from './paths.ts';

/** A route pattern on the normalized path (lower-case, `{id}` = any one segment) and its handler. */
export type InterceptTable = ReadonlyArray<readonly [pattern: string, handler: GatewayMiddleware]>;

/**
 * Run the first handler whose pattern matches the normalized path, whatever the method (fail closed:
 * a login route is intercepted for every method). No match: on down the pipeline.
 */
export function intercept(table: InterceptTable): GatewayMiddleware {
  return (ctx, next) => {
    for (const [pattern, handler] of table) {
      if (matchRoute(ctx.state.route, pattern)) return handler(ctx, next);
    }
    return next();
  };
}

/** True when any of these tables intercepts the normalized path (the same matching as `intercept`). */
export function isIntercepted(tables: readonly InterceptTable[], route: string): boolean {
  for (const table of tables) {
    for (const [pattern] of table) if (matchRoute(route, pattern) !== null) return true;
  }
  return false;
}
