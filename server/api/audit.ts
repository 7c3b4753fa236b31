import { Readable } from 'node:stream';
import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { AuditLogResponse, AuditQuery, AuditVerifyResponse, PasswordCheckResponse } from '../../shared/api/guard.ts';
import type { AuditLog } from '../audit/index.ts';
import type { AuditFilter } from '../audit/log.ts';
import { chainForExport, csvHeader, csvLine, exportItem, presentRow, EXPORT_FORMAT } from '../audit/export.ts';
import type { Clock } from '../clock.ts';
import { apiError } from '../errors.ts';
import type { lastPasswordCheck } from '../guard/breach.ts';
import type { RouteContext } from './route.ts';

/**
 * The audit log over HTTP (shared/api/guard.ts): query with filters and paging, CSV/JSON export
 * (streamed, memory flat, audited), chain verification; and each user's own events and password check.
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

function filterOf(q: Partial<AuditQuery>): AuditFilter {
  if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw apiError('invalid_request', 'from: must not be after to');
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

export interface AuditRouteDeps {
  audit: AuditLog;
  clock: Clock;
  /** The breach check's last word on a user's password (server/guard/breach.ts). */
  passwordCheck: (userId: string) => ReturnType<typeof lastPasswordCheck>;
}

export function auditHandlers({ audit, clock, passwordCheck }: AuditRouteDeps) {
  return {
    async query(ctx: Ctx<'AuditLog'>) {
      const q = ctx.input;
      const filter = filterOf(q);
      if (q.format) throw apiError('invalid_request', 'format: use AuditLog/Export for a file');
      const { items, total } = await audit.query(filter, { limit: q.limit, offset: q.offset });
      const body: AuditLogResponse = { items: items.map(presentRow), total, offset: q.offset, limit: q.limit };
      ctx.set('cache-control', 'no-store');
      ctx.body = body;
    },

    async export(ctx: Ctx<'AuditLogExport'>) {
      const q = ctx.input;
      const format = q.format ?? 'json';
      const filter = filterOf(q);
      const complete = Object.keys(filter).length === 0;
      const chain = await audit.storedChain();
      const maxId = chain?.head_id ?? 0;
      const by = ctx.state.session!.userId;
      const ip = ctx.state.client.ip;
      const exportedAt = new Date(clock.now());
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
    },

    async verify(ctx: Ctx<'AuditLogVerify'>) {
      const body: AuditVerifyResponse = await audit.verify();
      ctx.set('cache-control', 'no-store');
      ctx.body = body;
    },

    async mine(ctx: Ctx<'MeAuditLog'>) {
      const q = ctx.input;
      const filter: AuditFilter = { ...filterOf(q), userId: ctx.state.session!.userId };
      const { items, total } = await audit.query(filter, { limit: q.limit, offset: q.offset });
      const body: AuditLogResponse = { items: items.map(presentRow), total, offset: q.offset, limit: q.limit };
      ctx.set('cache-control', 'no-store');
      ctx.body = body;
    },

    async passwordCheck(ctx: Ctx<'MePasswordCheck'>) {
      const r = await passwordCheck(ctx.state.session!.userId);
      const body: PasswordCheckResponse = r
        ? { result: r.result, count: r.count, checkedAt: new Date(r.checkedAt).toISOString() }
        : { result: null, count: 0, checkedAt: null };
      ctx.set('cache-control', 'no-store');
      ctx.body = body;
    },
  };
}
