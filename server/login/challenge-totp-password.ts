import type { GatewayContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { BufferedResponse, JellyfinProxy } from '../jellyfin/proxy.ts';
import { forwardInfo, headersForUpstream } from '../jellyfin/forwarding.ts';
import { canonicalGuid } from '../jellyfin/json.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { Factors } from '../factors/index.ts';
import { recordVerifiedLogin } from './password.ts';
import { parseAuthenticationResult } from './result.ts';
import type { LoginHooks, PasswordAttempt } from './hooks.ts';
import type { SecondFactorPolicy } from './challenge.ts';
import type { LoginChallenges } from './challenge-store.ts';

/**
 * TOTP in the password (opt-in `AllowTOTPInPassword`), for native clients that cannot show a prompt:
 * the user types their password immediately followed by the current 6-digit code.
 *
 * What is forwarded matters, because every wrong password counts towards Jellyfin's own lockout (which
 * disables the account). So the split form is tried ONLY when the user is known to have TOTP and the
 * last 6 characters are a currently valid, unused code for them — then Jellyfin sees the password
 * without the code, once. In every other case this hook does nothing and the login is forwarded as
 * sent. There is never a second try: if Jellyfin refuses the split password, that is the answer (a
 * password that itself ends in a valid current code is a one-in-a-million coincidence).
 *
 * When Jellyfin accepts, the code's time step is consumed (atomically; a replay or a race loses) and
 * the login is released as "password+totp". If the step was consumed meanwhile, the login goes
 * through the normal policy (a challenge) instead.
 *
 * This hook answers the login itself, so it must run after every other `before` hook (the guard's
 * bans come first) and it calls the `failed` and `released` hooks as the normal path would.
 */
export interface TotpInPasswordDeps {
  factors: Factors;
  policy: SecondFactorPolicy;
  challenges: LoginChallenges;
  hooks: LoginHooks;
  proxy: JellyfinProxy;
  tokens: TokenRegistry;
  users: UserDirectory;
  enabled: () => boolean;
}

const TRAILING_CODE = /^([\s\S]+?)(\d{6})$/;

/** The request with its password replaced: in the JSON body (every `Pw` key, any case) and/or the `pw` query. */
export function rewritePassword(url: string, body: Record<string, unknown> | undefined, from: string, to: string): { url: string; body: Buffer | undefined } {
  let newBody: Buffer | undefined;
  if (body) {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) copy[k] = k.toLowerCase() === 'pw' && v === from ? to : v;
    newBody = Buffer.from(JSON.stringify(copy));
  }
  const q = url.indexOf('?');
  if (q === -1) return { url, body: newBody };
  const params = new URLSearchParams(url.slice(q + 1));
  let changed = false;
  const out = new URLSearchParams();
  for (const [k, v] of params) {
    if (k.toLowerCase() === 'pw' && v === from) {
      out.append(k, to);
      changed = true;
    } else out.append(k, v);
  }
  return { url: changed ? `${url.slice(0, q)}?${out.toString()}` : url, body: newBody };
}

export function totpInPassword(deps: TotpInPasswordDeps) {
  return async (ctx: GatewayContext, attempt: PasswordAttempt): Promise<BufferedResponse | void> => {
    if (!deps.enabled()) return;
    const m = attempt.password ? TRAILING_CODE.exec(attempt.password) : null;
    if (!m) return;
    const user = attempt.pathUserId
      ? await deps.users.get(canonicalGuid(attempt.pathUserId) ?? '')
      : attempt.username
        ? await deps.users.byName(attempt.username)
        : undefined;
    if (!user) return;
    const check = await deps.factors.totp.check(user.id, m[2]!);
    if (!check.valid) return; // forward as sent

    const rewritten = rewritePassword(ctx.url, attempt.body, attempt.password!, m[1]!);
    const info = forwardInfo(ctx.state.client, ctx.req.socket && 'encrypted' in ctx.req.socket, ctx.get('host') || undefined);
    const res = await deps.proxy.request({
      method: ctx.method,
      path: rewritten.url,
      headers: headersForUpstream(ctx.req.headers, info),
      body: rewritten.body,
      maxResponseBytes: 1024 * 1024,
    });
    if (res.status !== 200) {
      for (const failed of deps.hooks.failed) await failed(ctx, attempt, res);
      return res;
    }
    const result = parseAuthenticationResult(res.body);
    if (!result) throw new HttpError(502, 'unreadable_login_response', 'Jellyfin answered the login in a form the gateway cannot read');

    for (const accepted of deps.hooks.accepted) await accepted(ctx, attempt, result);
    let method: string | undefined;
    if (result.userId === user.id && (await deps.factors.totp.consume(user.id, check.step))) {
      method = 'password+totp';
      await deps.users.upsert({ id: result.userId, name: result.userName, isAdmin: result.isAdmin });
      await deps.challenges.supersede(result.userId, result.deviceId ?? ctx.state.credential.deviceId ?? null, deps.tokens.hash(result.accessToken));
      deps.factors.audit({
        type: 'login.totp_in_password',
        outcome: 'success',
        userId: result.userId,
        userName: result.userName,
        ip: ctx.state.client.ip,
        deviceId: result.deviceId,
        deviceName: result.deviceName,
        client: result.client,
      });
    } else {
      const outcome = await deps.policy.evaluate(ctx, attempt, result, res);
      if (outcome.kind === 'respond') return outcome.response;
      method = outcome.method;
    }
    await recordVerifiedLogin(ctx, deps, result, method);
    for (const released of deps.hooks.released) await released(ctx, attempt, result, method);
    return res;
  };
}
