import type { GatewayMiddleware } from '../context.ts';
import { HttpError, errorBody } from '../errors.ts';
import type { Logger } from '../log.ts';
import { isStorageUnavailable } from '../store/data-dir.ts';

/**
 * The one place errors become responses: typed errors give their status and stable code (the catalogue,
 * shared/api/errors.ts) as `{"error", "message"}`; anything else is a generic 500 and is logged, never shown.
 */
export function errorHandler(log: Logger): GatewayMiddleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (ctx.headerSent || !ctx.writable) {
        ctx.req.socket.destroy();
        return;
      }
      ctx.respond = true;
      if (err instanceof HttpError) {
        ctx.status = err.status;
        for (const [k, v] of Object.entries(err.headers)) ctx.set(k, v);
        ctx.body = { error: err.code, message: err.expose ? err.message : 'Internal error', ...(err.expose && err.detail ? { detail: err.detail } : {}) };
        if (err.status >= 500) log.warn(`${ctx.method} ${ctx.path}: ${err.code}: ${err.message}`);
        return;
      }
      // Koa's own errors (e.g. a request body parser's 413) carry `status` and `expose`.
      const e = err as { status?: number; expose?: boolean; message?: string };
      if (typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose) {
        ctx.status = e.status;
        ctx.body = errorBody('bad_request', e.message ?? 'Bad request');
        return;
      }
      if (isStorageUnavailable(err)) {
        // Disk full, read-only mount, I/O error: say so, rather than "Internal error".
        log.error(`${ctx.method} ${ctx.path}: the database cannot be written`, err);
        ctx.status = 503;
        ctx.body = errorBody('storage_unavailable', 'The server cannot save changes right now (its storage is full or read-only). Try again later.');
        return;
      }
      log.error(`${ctx.method} ${ctx.path} failed`, err);
      ctx.status = 500;
      ctx.body = errorBody('internal_error', 'Internal error');
    }
  };
}
