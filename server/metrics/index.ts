import diagnostics from 'node:diagnostics_channel';
import type http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent } from '../audit/index.ts';
import type { Ban } from '../guard/index.ts';
import type { PathNormalizer } from '../jellyfin/paths.ts';
import { isGatewayRoute, matchRoute } from '../jellyfin/paths.ts';
import { rawPathOf } from '../jellyfin/middleware.ts';
import type { SendOutcome } from '../push/index.ts';
import { APPROVAL_KINDS } from '../../shared/api/approvals.ts';

/**
 * Prometheus metrics (prom-client), off unless `MetricsEnabled`. Every label value comes from a fixed set
 * the code chooses — a status code, a route class, an event outcome — never from the request: no user
 * name, token, address, device or path ends up in a series.
 *
 * Nothing here sits in the request pipeline: requests are counted by a listener on the HTTP server,
 * upstream latency comes from undici's diagnostics channels, sign-ins, challenges and approvals from the
 * audit log's events, push results from the push service.
 */
export interface MetricsDeps {
  paths: PathNormalizer;
  /** Jellyfin's origin: only undici requests to it count as upstream latency. */
  upstreamOrigin: string;
  /** Bans in force (read at scrape time). */
  bans: () => Promise<Ban[]>;
}

/** What a request was for, from its normalized path (a small fixed set). */
export type RouteClass = 'gateway' | 'login' | 'quickconnect' | 'media' | 'images' | 'web' | 'socket' | 'api' | 'invalid';

export function routeClass(route: string | null): RouteClass {
  if (route === null) return 'invalid';
  if (isGatewayRoute(route)) return 'gateway';
  if (route === '/users/authenticatebyname' || route === '/users/authenticatewithquickconnect' || matchRoute(route, '/users/{id}/authenticate')) {
    return 'login';
  }
  if (route.startsWith('/quickconnect/')) return 'quickconnect';
  if (route === '/web' || route.startsWith('/web/')) return 'web';
  if (route === '/socket') return 'socket';
  if (route.includes('/images/') || route.endsWith('/images')) return 'images';
  if (
    route.startsWith('/videos/') ||
    route.startsWith('/audio/') ||
    route.includes('/hls') ||
    route.endsWith('/download') ||
    route.startsWith('/livetv/livestreamfiles/')
  ) {
    return 'media';
  }
  return 'api';
}

/** Audit events that are sign-ins, challenges or approvals, and the labels they count under. */
const SIGN_INS: Record<string, { method: string; outcome: string }> = {
  'login.password.success': { method: 'password', outcome: 'success' },
  'login.password.failure': { method: 'password', outcome: 'failure' },
  'login.quickconnect.success': { method: 'quickconnect', outcome: 'success' },
  'login.quickconnect.refused': { method: 'quickconnect', outcome: 'refused' },
  'guard.login.locked': { method: 'password', outcome: 'locked' },
  'guard.login.busy': { method: 'password', outcome: 'busy' },
  'guard.allowlist.refused': { method: 'password', outcome: 'refused' },
};
const CHALLENGES: Record<string, string> = {
  'login.challenge.issued': 'issued',
  'login.challenge.passed': 'passed',
  'login.challenge.failure': 'wrong_code',
  'login.challenge.ended': 'ended',
  'login.challenge.expired': 'expired',
};
const APPROVALS: Record<string, string> = {
  'approval.requested': 'requested',
  'approval.approved': 'approved',
  'approval.denied': 'denied',
  'approval.reported': 'reported',
  'approval.expired': 'expired',
  'approval.failure': 'failed_assertion',
};
const APPROVAL_KIND_SET: ReadonlySet<string> = new Set(APPROVAL_KINDS);

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'status' | 'route_class'>;
  private readonly duration: Histogram<'route_class'>;
  private readonly upstream: Histogram<'outcome'>;
  private readonly signIns: Counter<'method' | 'outcome'>;
  private readonly challenges: Counter<'outcome'>;
  private readonly approvals: Counter<'kind' | 'outcome'>;
  private readonly audit: Counter<'type' | 'outcome'>;
  private readonly pushes: Counter<'result'>;
  private readonly started = new WeakMap<object, number>();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'jellyguard_http_requests_total',
      help: 'HTTP requests answered, by status code and route class.',
      labelNames: ['status', 'route_class'],
      registers,
    });
    this.duration = new Histogram({
      name: 'jellyguard_http_request_duration_seconds',
      help: 'Time from request to the end of the response (streams included), by route class.',
      labelNames: ['route_class'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers,
    });
    this.upstream = new Histogram({
      name: 'jellyguard_upstream_response_seconds',
      help: "Time until Jellyfin's response headers arrived (proxied requests and the gateway's own calls).",
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.signIns = new Counter({
      name: 'jellyguard_signins_total',
      help: 'Sign-in attempts by method and outcome (from the audit events).',
      labelNames: ['method', 'outcome'],
      registers,
    });
    this.challenges = new Counter({
      name: 'jellyguard_challenges_total',
      help: 'Second-factor challenges by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.approvals = new Counter({
      name: 'jellyguard_approvals_total',
      help: 'Phone approvals by kind and outcome.',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.audit = new Counter({
      name: 'jellyguard_audit_events_total',
      help: 'Every audit event by type and outcome (types: shared/audit-events.ts).',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.pushes = new Counter({
      name: 'jellyguard_push_sends_total',
      help: 'Web Push messages handed to push services, by result (sent, gone = subscription expired, failed).',
      labelNames: ['result'],
      registers,
    });
    const bans = this.deps.bans;
    new Gauge({
      name: 'jellyguard_active_bans',
      help: 'Bans and locks in force, by scope.',
      labelNames: ['scope'],
      registers,
      async collect() {
        this.reset();
        for (const b of await bans()) this.inc({ scope: b.scope });
      },
    });
    // Process metrics, event-loop delay (nodejs_eventloop_lag_*) among them.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
  }

  /** Count every response of `server` (and its duration), from outside the pipeline. */
  attach(server: http.Server): void {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const start = performance.now();
      res.once('close', () => {
        const cls = routeClass(this.deps.paths.normalize(rawPathOf(req.url ?? '/')));
        // A response cut before its headers went out is counted as 499 (nginx's "client closed request").
        const status = res.headersSent ? String(res.statusCode) : '499';
        this.requests.inc({ status, route_class: cls });
        this.duration.observe({ route_class: cls }, (performance.now() - start) / 1000);
      });
    };
    server.on('request', onRequest);
    this.unsubscribe.push(() => server.off('request', onRequest));
  }

  /** Upstream latency from undici's diagnostics channels (no cost when nothing subscribes). */
  start(): void {
    const origin = this.deps.upstreamOrigin;
    const created = (message: unknown): void => {
      const request = (message as { request: { origin?: unknown } }).request;
      if (String(request.origin) === origin) this.started.set(request, performance.now());
    };
    const headers = (message: unknown): void => {
      const { request, response } = message as { request: object; response: { statusCode: number } };
      const t = this.started.get(request);
      if (t === undefined) return;
      this.started.delete(request);
      this.upstream.observe({ outcome: response.statusCode >= 500 ? 'error_status' : 'ok' }, (performance.now() - t) / 1000);
    };
    const failed = (message: unknown): void => {
      const { request } = message as { request: object };
      const t = this.started.get(request);
      if (t === undefined) return;
      this.started.delete(request);
      this.upstream.observe({ outcome: 'unreachable' }, (performance.now() - t) / 1000);
    };
    for (const [name, fn] of [
      ['undici:request:create', created],
      ['undici:request:headers', headers],
      ['undici:request:error', failed],
    ] as const) {
      diagnostics.subscribe(name, fn);
      this.unsubscribe.push(() => diagnostics.unsubscribe(name, fn));
    }
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.registry.clear();
  }

  /** An audit event happened (whether or not the audit log keeps its type). Only type and outcome are read. */
  observeAudit(event: Pick<AuditEvent, 'type' | 'outcome' | 'detail'>): void {
    this.audit.inc({ type: event.type, outcome: event.outcome });
    const signIn = SIGN_INS[event.type];
    if (signIn) this.signIns.inc(signIn);
    const challenge = CHALLENGES[event.type];
    if (challenge) this.challenges.inc({ outcome: challenge });
    const approval = APPROVALS[event.type];
    if (approval) {
      const kind = event.detail?.['kind'];
      this.approvals.inc({ kind: typeof kind === 'string' && APPROVAL_KIND_SET.has(kind) ? kind : 'other', outcome: approval });
    }
  }

  observePush(outcome: SendOutcome): void {
    this.pushes.inc({ result: outcome.kind });
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
