import type { GatewayContext } from '../context.ts';
import type { BufferedResponse } from '../jellyfin/proxy.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import { Factors, type LoginMethod } from '../factors/index.ts';
import { readTrustedDeviceCookie } from '../factors/trusted-browser.ts';
import type { SecondFactorRequired } from '../../shared/api/factors.ts';
import type { LoginChallenges } from './challenge-store.ts';
import type { LoginDecision, LoginFacts, LoginHooks, LoginStep, PasswordAttempt, StepOutcome } from './hooks.ts';
import type { AuthenticationResult } from './result.ts';

export interface PolicyDeps {
  factors: Factors;
  challenges: LoginChallenges;
  tokens: TokenRegistry;
  users: UserDirectory;
}

export function jsonResponse(status: number, body: unknown): BufferedResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: Buffer.from(JSON.stringify(body)),
  };
}

function contentTypeOf(res: BufferedResponse): string | undefined {
  const t = res.headers['content-type'];
  return Array.isArray(t) ? t[0] : t;
}

/** The browser as the login request presents it: Jellyfin DeviceId, User-Agent, address. */
export function loginBinding(ctx: GatewayContext, result: AuthenticationResult) {
  return {
    deviceId: result.deviceId ?? ctx.state.credential.deviceId ?? '',
    userAgent: ctx.get('user-agent'),
    ip: ctx.state.client.ip,
  };
}

/** The user has no factor and policy requires none: the password is all it takes. */
export const noSecondFactorNeeded: LoginStep = {
  name: 'noSecondFactorNeeded',
  run: async (f) => (f.requirement.required ? undefined : { kind: 'release', method: 'password' }),
};

/** A valid trusted-browser cookie for this user, browser and network: this browser proved a factor recently. */
export function trustedBrowser(factors: Factors): LoginStep {
  return {
    name: 'trustedBrowser',
    async run(f) {
      if (!factors.trustedBrowsers.enabled) return undefined;
      const cookie = readTrustedDeviceCookie(f.ctx.get('cookie') || undefined);
      if (!cookie) return undefined;
      const binding = loginBinding(f.ctx, f.result);
      if (!binding.deviceId) return undefined;
      const id = await factors.trustedBrowsers.check(cookie, f.result.userId, binding);
      if (!id) return undefined;
      factors.audit({
        type: 'login.trusted_browser',
        outcome: 'success',
        userId: f.result.userId,
        userName: f.result.userName,
        ip: binding.ip,
        deviceId: binding.deviceId,
        deviceName: f.result.deviceName,
        client: f.result.client,
        detail: { trustedBrowserId: id },
      });
      return { kind: 'release', method: 'trusted_browser' };
    },
  };
}

/**
 * What a correct password still needs (DESIGN: a password login). The `decide` steps of the policy
 * (server/login/policy.ts) run in order; each may release the login or answer the client itself, the
 * first that does wins, and a login no step settled is held behind a challenge: the token is kept
 * (pending) and the client gets 401 with the challenge JSON.
 *
 * A user with no factor whom policy requires to have one gets a challenge whose only method is
 * "enroll": the gateway's login page enrolls TOTP or a passkey inside it, then completes the login.
 * If no method can be enrolled (both disabled), the login is refused and the token revoked.
 */
export class SecondFactorPolicy {
  /** The steps, in order (the policy table's `decide`). */
  readonly steps: readonly LoginStep[];
  /**
   * More ways to satisfy a challenge than the user's own factors (e.g. "phone", server/approvals): asked
   * only for a user who has a factor; their methods come first in the challenge's list.
   */
  private readonly extraMethods: LoginHooks['challengeMethods'];

  constructor(
    private readonly deps: PolicyDeps,
    policy: Pick<LoginHooks, 'decide' | 'challengeMethods'>,
  ) {
    this.steps = policy.decide;
    this.extraMethods = policy.challengeMethods;
  }

  /** Decide; the caller releases or sends `response`. */
  async evaluate(ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult, upstream: BufferedResponse): Promise<StepOutcome> {
    const { factors, users } = this.deps;
    // Remember the user (name, admin flag) even when the login is held: the admin list, SendEmailOTP by
    // name and TOTP-in-password find users here.
    await users.upsert({ id: result.userId, name: result.userName, isAdmin: result.isAdmin });
    const summary = await factors.summary(result.userId);
    const requirement = await factors.requirement(result.userId, result.isAdmin, summary);
    const facts: LoginFacts = { ctx, attempt, result, upstream, summary, requirement };
    for (const step of this.steps) {
      const outcome = await step.run(facts);
      if (!outcome) continue;
      if (outcome.kind === 'release') {
        await this.deps.challenges.supersede(result.userId, result.deviceId ?? ctx.state.credential.deviceId ?? null, this.deps.tokens.hash(result.accessToken));
      }
      return outcome;
    }
    return this.challenge(facts);
  }

  /**
   * Hold a session the gateway minted itself (single sign-on whose provider proved no second factor)
   * behind the same challenge a password login gets: the user's factors (and the phone), or enrollment
   * when policy requires a factor the user lacks. The answer is the challenge's 401 JSON, or a 403 when
   * no method can be used (the token is then revoked by the challenge's end).
   */
  async hold(ctx: GatewayContext, result: AuthenticationResult, upstream: BufferedResponse): Promise<BufferedResponse> {
    const { factors, users } = this.deps;
    await users.upsert({ id: result.userId, name: result.userName, isAdmin: result.isAdmin });
    const summary = await factors.summary(result.userId);
    const requirement = await factors.requirement(result.userId, result.isAdmin, summary);
    const attempt: PasswordAttempt = { username: result.userName, pathUserId: undefined, password: undefined, body: undefined };
    const outcome = await this.challenge({ ctx, attempt, result, upstream, summary, requirement });
    if (outcome.kind !== 'respond') throw new Error('a challenge always answers');
    return outcome.response;
  }

  /** What the password login (server/login/password.ts) does with a login Jellyfin accepted. */
  readonly decide = async (
    ctx: GatewayContext,
    attempt: PasswordAttempt,
    result: AuthenticationResult,
    upstream?: BufferedResponse,
  ): Promise<LoginDecision> => {
    if (!upstream) throw new Error('the second-factor policy needs Jellyfin’s answer to hold a login');
    const outcome = await this.evaluate(ctx, attempt, result, upstream);
    if (outcome.kind === 'release') return outcome;
    respond(ctx, outcome.response);
    return { kind: 'handled' };
  };

  private async challenge(f: LoginFacts): Promise<StepOutcome> {
    const { factors, challenges } = this.deps;
    const { ctx, result } = f;
    const enrollMethods = f.requirement.hasFactor ? [] : factors.enrollMethods();
    const methods: LoginMethod[] = f.requirement.hasFactor ? Factors.methods(f.summary) : enrollMethods.length ? ['enroll'] : [];
    if (f.requirement.hasFactor) {
      for (const extra of this.extraMethods) for (const m of (await extra.run(f)).reverse()) if (!methods.includes(m)) methods.unshift(m);
    }
    const deviceId = result.deviceId ?? ctx.state.credential.deviceId ?? null;
    const row = await challenges.create({
      result,
      body: f.upstream.body,
      contentType: contentTypeOf(f.upstream),
      methods,
      ip: ctx.state.client.ip,
      deviceId,
      deviceName: result.deviceName ?? ctx.state.credential.device ?? null,
      client: result.client ?? ctx.state.credential.client ?? null,
      appVersion: result.appVersion ?? ctx.state.credential.version ?? null,
    });
    await challenges.supersede(result.userId, deviceId, row.token_hash);
    const who = {
      userId: result.userId,
      userName: result.userName,
      ip: ctx.state.client.ip,
      deviceId,
      deviceName: row.device_name,
      client: row.client,
    };
    if (methods.length === 0) {
      // Required, and nothing usable (nothing enrollable, or only factors of disabled methods): fail closed.
      await challenges.end(row, 'failed', { reason: 'no_method_available' });
      return {
        kind: 'respond',
        response: jsonResponse(403, {
          error: 'second_factor_unavailable',
          message: 'A second factor is required, but no method is available for this account. Ask the administrator.',
        }),
      };
    }
    factors.audit({ type: 'login.challenge.issued', outcome: 'info', ...who, detail: { methods } });
    const body: SecondFactorRequired = {
      error: 'second_factor_required',
      message: methods[0] === 'enroll' ? 'Set up a second factor to finish signing in.' : 'A second factor is needed to finish signing in.',
      challengeId: row.id,
      methods,
      enrollMethods,
      expiresAt: new Date(row.expires_at).toISOString(),
    };
    return { kind: 'respond', response: jsonResponse(401, body) };
  }
}

/** Send a BufferedResponse through Koa. */
export function respond(ctx: GatewayContext, res: BufferedResponse): void {
  ctx.status = res.status;
  for (const [k, v] of Object.entries(res.headers)) ctx.set(k, v);
  ctx.body = res.body;
  const type = contentTypeOf(res);
  if (type) ctx.set('content-type', type);
}
