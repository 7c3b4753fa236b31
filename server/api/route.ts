import type Router from '@koa/router';
import type { z } from 'zod';
import type { Endpoint, PathParams } from '../../shared/api/endpoints.ts';
import type { StepUpAction } from '../../shared/api/stepup.ts';
import type { GatewayContext, GatewayMiddleware, GatewayState } from '../context.ts';
import { apiError, type HttpError } from '../errors.ts';
import { readSmallBody } from '../login/body.ts';
import { tryParseJson } from '../jellyfin/json.ts';
import { requireAdmin, requireSession, type AuthDeps } from './auth.ts';

/**
 * How a row of the route table (routes.ts) becomes a Koa route: its guards in the order listed, its path
 * parameters checked, its request validated into `ctx.input`, then the handler. A step-up route's
 * handler has two halves, `check` and `run`: the fresh proof is asked for between them, so a request
 * that would fail anyway (nothing to remove, a factor that must stay) is answered before anyone is asked
 * to confirm.
 */

export const MAX_API_BODY_BYTES = 64 * 1024;

/** Features that can be switched off; their routes then refuse (or, for pairing and metrics, do not exist). */
export type Feature = 'totp' | 'passkeys' | 'email' | 'recoveryCodes' | 'pairing' | 'metrics';

export type Guard =
  /** Anyone: the route's own bearer (a challenge id, an approval id) or nothing at all. */
  | { kind: 'public' }
  /** A verified Jellyfin session through the gateway (any credential form); sets ctx.state.session. */
  | { kind: 'session' }
  /** A session whose user is a Jellyfin administrator right now. */
  | { kind: 'admin' }
  /** A fresh proof for this action (and target) at its StepUpLevel; needs a session guard before it. */
  | { kind: 'stepUp'; action: StepUpAction; target?: (ctx: GatewayContext) => string | null }
  | { kind: 'feature'; feature: Feature };

export const PUBLIC: Guard = { kind: 'public' };
export const SESSION: Guard = { kind: 'session' };
export const ADMIN: Guard = { kind: 'admin' };
export const stepUp = (action: StepUpAction, target?: (ctx: GatewayContext) => string | null): Guard => ({ kind: 'stepUp', action, target });
export const feature = (f: Feature): Guard => ({ kind: 'feature', feature: f });

/** A path parameter's check: its value as the handler should see it, or a thrown 4xx. */
export type ParamRule = (raw: string) => string;

type InputOf<E extends Endpoint> = E['body'] extends z.ZodType
  ? z.output<E['body']>
  : E['query'] extends z.ZodType
    ? z.output<E['query']>
    : undefined;

/** What a handler sees: the checked path parameters and the validated request. */
export type RouteContext<E extends Endpoint> = GatewayContext & {
  params: { [K in PathParams<E['path']>]: string };
  input: InputOf<E>;
};

export type PlainHandler<E extends Endpoint> = (ctx: RouteContext<E>) => unknown;
/** `check` answers the errors that need no proof and hands what it found to `run`. */
export interface StepUpHandler<E extends Endpoint, C> {
  check?: (ctx: RouteContext<E>) => Promise<C> | C;
  run: (ctx: RouteContext<E>, checked: C) => unknown;
}
export type Handler<E extends Endpoint> = PlainHandler<E> | StepUpHandler<E, never>;

export interface Route {
  endpoint: Endpoint;
  guards: readonly Guard[];
  params: Record<string, ParamRule>;
  handler: PlainHandler<Endpoint> | StepUpHandler<Endpoint, unknown>;
}

export function route<E extends Endpoint, C = void>(
  endpoint: E,
  guards: Guard | readonly Guard[],
  handler: PlainHandler<E> | StepUpHandler<E, C>,
  params: { [K in PathParams<E['path']>]?: ParamRule } = {},
): Route {
  return {
    endpoint,
    guards: Array.isArray(guards) ? guards : [guards as Guard],
    params: params as Record<string, ParamRule>,
    handler: handler as Route['handler'],
  };
}

export interface GuardDeps extends AuthDeps {
  /** The error a switched-off feature answers, or undefined while it is on. */
  featureOff: (f: Feature) => HttpError | undefined;
  /** Spend the request's step-up proof, or answer 401 StepUpRequired and say false. */
  stepUpGiven: (ctx: GatewayContext, action: StepUpAction, target: string | null) => Promise<boolean>;
}

/** Read and validate the JSON body; the catalogue's 400 naming what is wrong, nothing changed. */
export async function readJson<S extends z.ZodType>(ctx: GatewayContext, schema: S): Promise<z.output<S>> {
  const raw = await readSmallBody(ctx, MAX_API_BODY_BYTES, `requests to ${ctx.path.slice(0, 200)}`);
  const json = raw.length ? tryParseJson(raw.toString('utf8')) : {};
  if (json === undefined) throw apiError('malformed_body');
  return parse(schema, json);
}

/** Validate a value with a schema: the catalogue's 400 `invalid_request`, naming the first problem. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  const where = first?.path.length ? `${first.path.join('.')}: ` : '';
  throw apiError('invalid_request', `${where}${first?.message ?? 'invalid request'}`);
}

/** The validate step: the body (or, for a GET, the query string) parsed with the endpoint's schema into ctx.input. */
function validate(e: Endpoint): GatewayMiddleware {
  return async (ctx, next) => {
    const c = ctx as GatewayContext & { input?: unknown };
    if (e.body) c.input = await readJson(ctx, e.body);
    else if (e.query) c.input = parse(e.query, { ...ctx.query });
    return next();
  };
}

function checkParams(rules: Record<string, ParamRule>): GatewayMiddleware {
  return (ctx, next) => {
    const params = (ctx as GatewayContext & { params: Record<string, string | undefined> }).params;
    for (const [name, rule] of Object.entries(rules)) params[name] = rule(params[name] ?? '');
    return next();
  };
}

function guardMiddleware(g: Guard, deps: GuardDeps): GatewayMiddleware | undefined {
  switch (g.kind) {
    case 'public':
      return undefined;
    case 'session':
      return requireSession(deps);
    case 'admin':
      return requireAdmin(deps);
    case 'feature':
      return (_ctx, next) => {
        const off = deps.featureOff(g.feature);
        if (off) throw off;
        return next();
      };
    case 'stepUp':
      return undefined; // asked between the handler's check and run
  }
}

/** Mount every row on the router. A table that could let a request through unchecked stops the start. */
export function mountRoutes(router: Router<GatewayState>, routes: readonly Route[], deps: GuardDeps): void {
  for (const r of routes) {
    const { method, path } = r.endpoint;
    const kinds = r.guards.map((g) => g.kind);
    const up = r.guards.find((g): g is Extract<Guard, { kind: 'stepUp' }> => g.kind === 'stepUp');
    if (up && kinds.indexOf('session') < 0 && kinds.indexOf('admin') < 0) throw new Error(`${method} ${path}: a step-up route needs a session guard`);
    if (!up && typeof r.handler !== 'function') throw new Error(`${method} ${path}: a check/run handler is for step-up routes`);
    if (kinds.length === 0) throw new Error(`${method} ${path}: no guard (say PUBLIC)`);

    const chain: GatewayMiddleware[] = r.guards.flatMap((g) => guardMiddleware(g, deps) ?? []);
    if (Object.keys(r.params).length) chain.push(checkParams(r.params));
    if (r.endpoint.body || r.endpoint.query) chain.push(validate(r.endpoint));
    const h = r.handler;
    chain.push(async (ctx) => {
      const c = ctx as RouteContext<Endpoint>;
      if (typeof h === 'function') {
        // A plain handler has nothing to check first: the proof is asked before it runs.
        if (up && !(await deps.stepUpGiven(ctx, up.action, up.target ? up.target(ctx) : null))) return;
        return void (await h(c));
      }
      const checked = h.check ? await h.check(c) : undefined;
      if (up && !(await deps.stepUpGiven(ctx, up.action, up.target ? up.target(ctx) : null))) return;
      await h.run(c, checked);
    });
    router.register(path, [method], chain as never);
  }
}
