import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext, GatewayMiddleware } from '../context.ts';
import type { AuditSink } from '../audit/index.ts';
import type { UserDirectory } from '../gate/users.ts';
import { keyedHash } from '../crypto.ts';
import { canonicalGuid, field, tryParseJson } from '../jellyfin/json.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import { readSmallBody, parseLoginJson } from '../login/body.ts';
import { jellyfinQueryPairs } from '../login/query.ts';
import { badRequest } from '../errors.ts';
import { stepUpLabel, type StepUpAction } from '../../shared/api/stepup.ts';
import { ADMIN_ACTION_RULES, MAX_ADMIN_BODY_BYTES, findAdminRoute, isAdminAction, type AdminRequest } from './admin-actions.ts';
import { STEP_UP_HEADER, type StepUp } from './index.ts';

export interface AdminGateDeps {
  config: Pick<Config, 'StepUpLevel' | 'StepUpWindowSeconds'>;
  clock: Clock;
  hmacKey: Buffer;
  stepUp: StepUp;
  users: Pick<UserDirectory, 'get'>;
  /** Reads at Jellyfin with the gateway's API key, or with the caller's own token when there is none. */
  jellyfin: Pick<JellyfinClient, 'getJson'>;
  audit: AuditSink;
}

/**
 * Every value of a query parameter any reading of the query gives it (fail closed: a row takes a value
 * that is not the caller's own as another user's): names case-insensitive, values as sent and decoded
 * once more, and the pairs of a whole query encoded as one key (UrlDecodeQueryFeature, jellyfinQueryPairs).
 */
function queryValues(querystring: string, name: string): string[] {
  const want = name.toLowerCase();
  const out: string[] = [];
  const plain = [...new URLSearchParams(querystring)];
  const split = jellyfinQueryPairs(querystring);
  for (const [k, v] of split === plain || sameKeys(split, plain) ? plain : [...plain, ...split]) {
    let key = k;
    try {
      key = decodeURIComponent(k);
    } catch {
      /* kept as decoded once */
    }
    if (key.toLowerCase() !== want) continue;
    let value = v;
    try {
      value = decodeURIComponent(v);
    } catch {
      /* kept as decoded once */
    }
    out.push(value);
  }
  return out;
}

function sameKeys(a: Array<[string, string]>, b: Array<[string, string]>): boolean {
  return a.length === b.length && a.every(([k, v], i) => k === b[i]![0] && v === b[i]![1]);
}

/**
 * Step-up for administrator actions through Jellyfin's own API (the table: admin-actions.ts). It stands
 * after the token gate, so every token in the request is verified:
 *
 * - a verified session of an administrator (or of a user whose admin-ness cannot be read: fail closed)
 *   needs a proof for this session, action and target (header X-Jellyguard-StepUp). Without one: 401
 *   StepUpRequired naming the action, what a person reads, the target and the methods, and NOTHING is
 *   forwarded. With one, the header is taken off and the request forwarded once.
 * - a session of a user Jellyfin knows is not an administrator passes: Jellyfin refuses it (403) itself.
 * - a Jellyfin API key passes and is audited (`stepup.apikey`): automation (Sonarr, scripts) cannot step
 *   up, and an API key is already an administrator's secret, which the gateway cannot tell from a thief's.
 * - a request with no token passes: Jellyfin answers 401 (its only exception, POST /System/Restart from
 *   the LAN, is refused earlier: server/gate/credential-required.ts).
 *
 * A row that must read the body (a user's policy, a password, a new user's name, a backup's file name)
 * buffers it — at most MAX_ADMIN_BODY_BYTES, else 413 — and the same bytes are forwarded.
 *
 * One proof covers a dashboard "Create user": the session that just created a user may set that user's
 * first policy without asking again, unless that policy makes an administrator.
 */
export class AdminStepUp {
  /** Names of users, plugins and API keys, by the target the 401 named (for the phone's approval text). */
  private readonly subjects = new LRUCache<string, string>({ max: 10_000 });
  /** Users a session created, whose first policy needs no second proof: `${tokenHash}:${userId}` → until. */
  private readonly created = new LRUCache<string, number>({ max: 10_000 });

  constructor(private readonly deps: AdminGateDeps) {
    deps.stepUp.describe = (action, target) => this.describe(action, target);
  }

  /** The label of an action and its target, with the target's name when the gateway knows it. */
  async describe(action: StepUpAction, target: string | null, token?: string): Promise<string> {
    if (!isAdminAction(action) || target === null) return stepUpLabel(action, target);
    const subject = ADMIN_ACTION_RULES[action].subject;
    if (!subject) return stepUpLabel(action, target);
    const key = `${subject}\0${target}`;
    let name = this.subjects.get(key);
    if (name === undefined) {
      name = (await this.lookUp(subject, target, token).catch(() => undefined)) ?? undefined;
      if (name) this.subjects.set(key, name);
    }
    return stepUpLabel(action, target, name ?? (subject === 'user' || subject === 'plugin' ? target : null));
  }

  private async lookUp(subject: 'user' | 'plugin' | 'apiKey', target: string, token?: string): Promise<string | undefined> {
    if (subject === 'user') {
      const known = await this.deps.users.get(target);
      if (known) return known.name;
      const u = await this.deps.jellyfin.getJson(`/Users/${target}`, token);
      const n = field(u, 'Name');
      return typeof n === 'string' ? n : undefined;
    }
    if (subject === 'plugin') {
      const list = await this.deps.jellyfin.getJson('/Plugins', token);
      if (!Array.isArray(list)) return undefined;
      const p = list.find((x) => canonicalGuid(String(field(x, 'Id') ?? '')) === canonicalGuid(target));
      const n = field(p, 'Name');
      return typeof n === 'string' ? n : undefined;
    }
    const keys = field(await this.deps.jellyfin.getJson('/Auth/Keys', token), 'Items');
    if (!Array.isArray(keys)) return undefined;
    const k = keys.find((x) => typeof field(x, 'AccessToken') === 'string' && this.fingerprint(field(x, 'AccessToken') as string) === target);
    const n = field(k, 'AppName');
    return typeof n === 'string' ? n : undefined;
  }

  /** An API key is never a target in the clear (targets are audited and shown): its fingerprint is. */
  fingerprint(key: string): string {
    return keyedHash(this.deps.hmacKey, 'stepup-apikey', key.toLowerCase()).slice(0, 16);
  }

  /** The user's policy at Jellyfin now, or undefined. */
  private async userState(userId: string, token?: string) {
    const u = await this.deps.jellyfin.getJson(`/Users/${userId}`, token).catch(() => undefined);
    const policy = field(u, 'Policy');
    if (!policy || typeof policy !== 'object') return undefined;
    const n = field(u, 'Name');
    if (typeof n === 'string') this.subjects.set(`user\0${userId}`, n);
    return { isAdministrator: field(policy, 'IsAdministrator') === true, isDisabled: field(policy, 'IsDisabled') === true };
  }

  /** Whether the session's user is an administrator: Jellyfin's answer, else what the gateway knows; unknown → true. */
  private async isAdministrator(userId: string, token?: string): Promise<boolean> {
    const state = await this.userState(userId, token);
    if (state) return state.isAdministrator;
    const known = await this.deps.users.get(userId);
    return known ? known.isAdmin : true;
  }

  private audit(ctx: GatewayContext, type: 'stepup.apikey' | 'stepup.used', detail: Record<string, unknown>): void {
    const s = ctx.state.session;
    try {
      this.deps.audit.record({
        type,
        outcome: type === 'stepup.used' ? 'success' : 'info',
        userId: s?.userId ?? null,
        ip: ctx.state.client.ip,
        deviceId: s?.deviceId ?? ctx.state.credential.deviceId ?? null,
        deviceName: s?.deviceName ?? ctx.state.credential.device ?? null,
        client: s?.client ?? ctx.state.credential.client ?? null,
        detail,
      });
    } catch {
      /* auditing never fails a request */
    }
  }

  middleware(): GatewayMiddleware {
    return async (ctx, next) => {
      if (this.deps.config.StepUpLevel === 'None') return next();
      const hit = findAdminRoute(ctx.method, ctx.state.route);
      if (hit === undefined) return next();
      const proof = ctx.get(STEP_UP_HEADER) || undefined;
      delete ctx.req.headers[STEP_UP_HEADER]; // the proof is ours: Jellyfin never sees it
      const session = ctx.state.session;
      if (!session) {
        if (ctx.state.apiKey) this.audit(ctx, 'stepup.apikey', { route: hit.row.route, action: hit.row.actions[0] });
        return next();
      }
      const token = ctx.state.credential.token ?? undefined;
      let body: Record<string, unknown> | undefined;
      if (hit.row.body) {
        const raw = await readSmallBody(ctx, MAX_ADMIN_BODY_BYTES, 'administrator requests');
        ctx.state.body = raw; // forwarded as these same bytes
        body = parseAdminJson(raw);
      }
      const req: AdminRequest = {
        params: hit.params,
        query: (name) => queryValues(ctx.querystring, name),
        body,
        callerId: session.userId,
        userState: (id) => this.userState(id, token),
        lastSegment: lastSegmentAsWritten(ctx.path, ctx.state.route),
      };
      const resolved = await hit.row.resolve(req);
      if (resolved === null) return next();
      const { action } = resolved;
      let target = resolved.target;
      if (action === 'RevokeApiKey' && target !== null) target = this.fingerprint(target);
      if (!this.deps.stepUp.applies(action)) return next();
      if (!(await this.isAdministrator(session.userId, token))) return next(); // Jellyfin answers 403 itself
      const actor = { session, ip: ctx.state.client.ip };

      const createdKey = target ? `${session.tokenHash}:${target}` : '';
      if ((action === 'ChangeUserPermissions' || action === 'DisableUser') && createdKey && (this.created.get(createdKey) ?? 0) > this.deps.clock.now()) {
        this.created.delete(createdKey);
        this.audit(ctx, 'stepup.used', { action, method: 'created_user', target });
      } else {
        const label = await this.describe(action, target, token);
        const proved = await this.deps.stepUp.check(actor, action, target, proof);
        if (!proved.ok) {
          ctx.status = 401;
          ctx.set('cache-control', 'no-store');
          ctx.body = { ...proved.required, label };
          return;
        }
      }
      await next();
      if (action === 'CreateUser' && ctx.status === 200) this.rememberCreated(ctx, session.tokenHash);
    };
  }

  /** The new user's id from Jellyfin's answer (a UserDto): that session may set its first policy with no second proof. */
  private rememberCreated(ctx: GatewayContext, tokenHash: string): void {
    const b = ctx.body;
    const text = Buffer.isBuffer(b) ? b.toString('utf8') : typeof b === 'string' ? b : '';
    const id = canonicalGuid(String(field(tryParseJson(text), 'Id') ?? ''));
    if (id) this.created.set(`${tokenHash}:${id}`, this.deps.clock.now() + this.deps.config.StepUpWindowSeconds * 1000);
  }
}

/** The raw path's last segment, decoded, when it is the normalized path's last segment in another case. */
function lastSegmentAsWritten(rawPath: string, route: string): string | undefined {
  const raw = rawPath.split(/[\\/]/).filter(Boolean).at(-1);
  const normalized = route.slice(route.lastIndexOf('/') + 1);
  if (raw === undefined) return undefined;
  let decoded = raw;
  for (let i = 0; i < 4 && decoded.includes('%'); i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      return undefined;
    }
  }
  return decoded.toLowerCase() === normalized ? decoded : undefined;
}

/** A body the gate must read: JSON (an object), or nothing; anything else is refused before Jellyfin sees it. */
function parseAdminJson(raw: Buffer): Record<string, unknown> | undefined {
  try {
    return parseLoginJson(raw);
  } catch {
    throw badRequest('malformed_body', 'The request body must be a JSON object.');
  }
}
