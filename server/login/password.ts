import type { GatewayContext, GatewayMiddleware } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { BufferedResponse, JellyfinProxy } from '../jellyfin/proxy.ts';
import { forwardInfo, headersForUpstream } from '../jellyfin/forwarding.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import { readSmallBody, parseLoginJson } from './body.ts';
import { parseAuthenticationResult, type AuthenticationResult } from './result.ts';
import type { LoginDecision, LoginHooks, PasswordAttempt } from './hooks.ts';
import { matchRoute } from '../jellyfin/paths.ts';
import { stringField } from '../jellyfin/json.ts';
import { queryParam } from './query.ts';
import { relay } from './relay.ts';
import { isStorageUnavailable } from '../store/data-dir.ts';
import { mediaBrowserHeader } from '../jellyfin/upstream.ts';

export interface LoginDeps {
  proxy: JellyfinProxy;
  tokens: TokenRegistry;
  users: UserDirectory;
  maxBodyBytes: number;
  log: (msg: string) => void;
  /** Jellyfin's BaseUrl, for the gateway's own calls (default none). */
  baseUrl?: string;
}

/**
 * Forward a login the gateway must see the answer of (a small JSON request), asking for an uncompressed
 * answer. Returns the buffered upstream response.
 */
export async function forwardBuffered(ctx: GatewayContext, deps: LoginDeps, body: Buffer | undefined, path = ctx.url) {
  const info = forwardInfo(ctx.state.client, ctx.req.socket && 'encrypted' in ctx.req.socket, ctx.get('host') || undefined);
  return deps.proxy.request({
    method: ctx.method,
    path,
    headers: headersForUpstream(ctx.req.headers, info),
    body,
    maxResponseBytes: 1024 * 1024,
  });
}

/** Record a login's token as verified and remember its user. */
export async function recordVerifiedLogin(
  ctx: GatewayContext,
  deps: Pick<LoginDeps, 'tokens' | 'users'>,
  result: AuthenticationResult,
  method: string,
): Promise<void> {
  await deps.users.upsert({ id: result.userId, name: result.userName, isAdmin: result.isAdmin });
  await deps.tokens.record(result.accessToken, {
    userId: result.userId,
    deviceId: result.deviceId ?? ctx.state.credential.deviceId ?? null,
    deviceName: result.deviceName ?? ctx.state.credential.device ?? null,
    client: result.client ?? ctx.state.credential.client ?? null,
    appVersion: result.appVersion ?? ctx.state.credential.version ?? null,
    ip: ctx.state.client.ip,
    method,
  });
}

/**
 * Record a released login's token; when storage refuses the write (disk full, read-only), log the token
 * out at Jellyfin instead and answer 503 (see `cannotRecord`).
 */
export async function recordOrRevoke(ctx: GatewayContext, deps: LoginDeps, result: AuthenticationResult, method: string): Promise<void> {
  try {
    await recordVerifiedLogin(ctx, deps, result, method);
  } catch (e) {
    if (!isStorageUnavailable(e)) throw e;
    throw await cannotRecord(deps, result.accessToken, e);
  }
}

/** The attempt's user name, user id and password, wherever the client put them. */
export function readAttempt(ctx: GatewayContext, body: Record<string, unknown> | undefined): PasswordAttempt {
  const m = matchRoute(ctx.state.route, '/users/{id}/authenticate');
  const pwBody = stringField(body, 'Pw');
  return {
    username: stringField(body, 'Username'),
    pathUserId: m ? m.id : undefined,
    password: pwBody ?? queryParam(ctx.querystring, 'pw'),
    body,
  };
}

/** Decides what a password Jellyfin accepted still needs (server/login/challenge.ts). */
export type Decide = (ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult, upstream: BufferedResponse) => Promise<LoginDecision>;

/**
 * Password logins: `/Users/AuthenticateByName` and the hidden `/Users/{id}/Authenticate?pw=`, in every
 * path variant (matched on the normalized path). The checks of the policy table (server/login/policy.ts)
 * run at their points: `before` may refuse before Jellyfin sees the password; Jellyfin's answer is read,
 * and its token is released only as `decide` says. With no second factors configured, `decide` releases
 * every accepted password.
 */
export function passwordLogin(deps: LoginDeps, hooks: LoginHooks, decide: Decide = releaseAll): GatewayMiddleware {
  return async (ctx) => {
    const raw = await readSmallBody(ctx, deps.maxBodyBytes, 'sign-in requests');
    const attempt = readAttempt(ctx, parseLoginJson(raw)); // malformed JSON never reaches Jellyfin
    for (const before of hooks.before) {
      const answer = await before.run(ctx, attempt);
      if (answer) return relay(ctx, answer);
    }
    const res = attempt.forward ? await forwardBuffered(ctx, deps, attempt.forward.body, attempt.forward.url) : await forwardBuffered(ctx, deps, raw);
    if (res.status !== 200) {
      for (const failed of hooks.failed) await failed.run(ctx, attempt, res);
      return relay(ctx, res);
    }
    const result = parseAuthenticationResult(res.body);
    if (!result) {
      deps.log('a successful login answer could not be read; refusing to release it');
      throw new HttpError(502, 'unreadable_login_response', 'Jellyfin answered the login in a form the gateway cannot read');
    }
    try {
      for (const accepted of hooks.accepted) await accepted.run(ctx, attempt, result);
      const decision = await decide(ctx, attempt, result, res);
      if (decision.kind === 'handled') return;
      await recordVerifiedLogin(ctx, deps, result, decision.method);
      for (const released of hooks.released) await released.run(ctx, attempt, result, decision.method);
    } catch (e) {
      if (!isStorageUnavailable(e)) throw e;
      throw await cannotRecord(deps, result.accessToken, e);
    }
    relay(ctx, res);
  };
}

const releaseAll: Decide = async () => ({ kind: 'release', method: 'password' });

/**
 * A token the gateway could not record (disk full, read-only mount) must not stay alive at Jellyfin, where
 * nobody could revoke it: log it out there, and tell the person plainly.
 */
async function cannotRecord(deps: LoginDeps, token: string, cause: unknown): Promise<HttpError> {
  let revoked = false;
  try {
    const res = await deps.proxy.request({
      method: 'POST',
      path: `${deps.baseUrl ?? ''}/Sessions/Logout`,
      headers: { authorization: mediaBrowserHeader(token) },
      timeoutMs: 10_000,
    });
    revoked = res.status === 204 || res.status === 200;
  } catch {
    revoked = false;
  }
  const code = (cause as { code?: string }).code ?? 'error';
  deps.log(`a sign-in could not be saved (${code}): ${revoked ? 'its session was logged out at Jellyfin' : 'logging its session out at Jellyfin FAILED'}`);
  return new HttpError(
    503,
    'cannot_save_signin',
    'The server cannot save sign-ins right now (its storage is full or read-only), so you were not signed in. Please try again later and tell the server\'s administrator.',
    { 'retry-after': '60' },
    true,
  );
}
