import { Readable } from 'node:stream';
import type Router from '@koa/router';
import type { GatewayContext, GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Services } from '../services.ts';
import type { AuditFilter } from '../audit/log.ts';
import { chainForExport, csvHeader, csvLine, exportItem, presentRow, EXPORT_FORMAT } from '../audit/export.ts';
import {
  AuditQuerySchema,
  type AuditLogResponse,
  type AuditQuery,
  type AuditVerifyResponse,
  type PasswordCheckResponse,
} from '../../shared/api/guard.ts';
import { requireAdmin, requireSession } from './auth.ts';

function parseQuery(ctx: GatewayContext, allowed?: ReadonlyArray<keyof AuditQuery>): AuditQuery {
  const raw = { ...ctx.query };
  if (allowed) {
    const extra = Object.keys(raw).filter((k) => !(allowed as readonly string[]).includes(k));
    if (extra.length) throw new HttpError(400, 'invalid_request', `${extra[0]}: not a filter here`);
  }
  const parsed = AuditQuerySchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first?.path.length ? `${first.path.join('.')}: ` : '';
    throw new HttpError(400, 'invalid_request', `${where}${first?.message ?? 'invalid query'}`);
  }
  const q = parsed.data;
  if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw new HttpError(400, 'invalid_request', 'from: must not be after to');
  return q;
}

function filterOf(q: AuditQuery): AuditFilter {
  const f: AuditFilter = {};
  if (q.type?.length) f.types = q.type;
  if (q.userId) f.userId = q.userId.replace(/-/g, '').toLowerCase();
  if (q.user) f.userName = q.user;
  if (q.ip) f.ip = q.ip;
  if (q.outcome) f.outcome = q.outcome;
  if (q.from !== undefined) f.from = q.from;
  if (q.to !== undefined) f.to = q.to;
  return f;
}

/**
 * The audit log over HTTP (shared/api/guard.ts): query with filters and paging, CSV/JSON export
 * (streamed, memory flat, audited), chain verification; and each user's own events.
 */
export function mountAuditRoutes(router: Router<GatewayState>, services: Services): void {
  const admin = requireAdmin(services);
  const auth = requireSession(services);
  const { audit } = services;

  router.get('/AuditLog', admin, async (ctx) => {
    const q = parseQuery(ctx);
    if (q.format) throw new HttpError(400, 'invalid_request', 'format: use AuditLog/Export for a file');
    const { items, total } = await audit.query(filterOf(q), { limit: q.limit, offset: q.offset });
    const body: AuditLogResponse = { items: items.map(presentRow), total, offset: q.offset, limit: q.limit };
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  });

  router.get('/AuditLog/Export', admin, async (ctx) => {
    const q = parseQuery(ctx);
    const format = q.format ?? 'json';
    const filter = filterOf(q);
    const complete = Object.keys(filter).length === 0;
    const chain = await audit.storedChain();
    const maxId = chain?.head_id ?? 0;
    const by = ctx.state.session!.userId;
    const ip = ctx.state.client.ip;
    const exportedAt = new Date(services.clock.now());
    async function* body(): AsyncGenerator<string> {
      let rows = 0;
      let finished = false;
      try {
        if (format === 'csv') {
          yield csvHeader();
          for await (const r of audit.rows(filter, { maxId })) {
            rows++;
            yield csvLine(r);
          }
        } else {
          const head = { format: EXPORT_FORMAT, exportedAt: exportedAt.toISOString(), complete, ...(complete && chain ? { chain: chainForExport(chain) } : {}) };
          yield JSON.stringify(head).slice(0, -1) + ',"items":[';
          for await (const r of audit.rows(filter, { maxId })) {
            yield (rows++ ? ',\n' : '\n') + JSON.stringify(exportItem(r));
          }
          yield '\n]}\n';
        }
        finished = true;
      } finally {
        audit.record({ type: 'audit.exported', outcome: finished ? 'success' : 'failure', ip, detail: { by, format, rows, complete, filter: { ...q, limit: undefined, offset: undefined } } });
      }
    }
    const stamp = exportedAt.toISOString().replace(/[:.]/g, '-');
    ctx.set('cache-control', 'no-store');
    ctx.set('content-disposition', `attachment; filename="jellyguard-audit-${stamp}.${format}"`);
    ctx.type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8';
    ctx.body = Readable.from(body());
  });

  router.get('/AuditLog/Verify', admin, async (ctx) => {
    const body: AuditVerifyResponse = await audit.verify();
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  });

  router.get('/Me/AuditLog', auth, async (ctx) => {
    const q = parseQuery(ctx, ['type', 'limit', 'offset', 'from', 'to']);
    const filter: AuditFilter = { ...filterOf(q), userId: ctx.state.session!.userId };
    const { items, total } = await audit.query(filter, { limit: q.limit, offset: q.offset });
    const body: AuditLogResponse = { items: items.map(presentRow), total, offset: q.offset, limit: q.limit };
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  });

  router.get('/Me/PasswordCheck', auth, async (ctx) => {
    const r = await services.store.db.selectFrom('password_checks').selectAll().where('user_id', '=', ctx.state.session!.userId).executeTakeFirst();
    const body: PasswordCheckResponse = r
      ? { result: r.result, count: r.count, checkedAt: new Date(r.checked_at).toISOString() }
      : { result: null, count: 0, checkedAt: null };
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  });
}
