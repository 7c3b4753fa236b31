import type { GatewayContext } from '../context.ts';
import type { BufferedResponse } from '../jellyfin/proxy.ts';
import type { FactorSummary, LoginMethod, Requirement } from '../factors/index.ts';
import type { AuthenticationResult } from './result.ts';

/** A password login as the gateway sees it before Jellyfin answers. */
export interface PasswordAttempt {
  /** `Username` from the body (any case, as Jellyfin binds it); undefined for /Users/{id}/Authenticate. */
  username: string | undefined;
  /** The `{id}` of /Users/{id}/Authenticate, as written in the path. */
  pathUserId: string | undefined;
  /** The password as sent (`Pw` in the body or `pw` in the query). Used in memory only; never logged or stored. */
  password: string | undefined;
  /** The parsed JSON body, if any. */
  body: Record<string, unknown> | undefined;
  /**
   * What to send Jellyfin instead of the request as it came (set by a `before` check that changes the
   * password, e.g. TOTP in the password); undefined forwards the request unchanged.
   */
  forward?: { url: string; body: Buffer | undefined };
  /** A TOTP code found valid in the password: the `decide` step may spend it once Jellyfin accepts. */
  totp?: { userId: string; step: number };
}

/** Who signed in, as the audit and the phone show it: Jellyfin's answer first, else the request's credential. */
export function loginPeople(ctx: GatewayContext, result: AuthenticationResult) {
  return {
    userId: result.userId,
    userName: result.userName,
    ip: ctx.state.client.ip,
    deviceId: result.deviceId ?? ctx.state.credential.deviceId ?? null,
    deviceName: result.deviceName ?? ctx.state.credential.device ?? null,
    client: result.client ?? ctx.state.credential.client ?? null,
  };
}

/** What the second-factor policy decides once Jellyfin accepted a password. */
export type LoginDecision =
  /** Release the token as verified; `method` says why it needed nothing more (e.g. "password"). */
  | { kind: 'release'; method: string }
  /** The policy answered the client itself (a challenge) and recorded the token as pending. */
  | { kind: 'handled' };

/** What the `decide` steps know about a login Jellyfin accepted. */
export interface LoginFacts {
  ctx: GatewayContext;
  attempt: PasswordAttempt;
  result: AuthenticationResult;
  /** Jellyfin's 200 answer (released verbatim, now or after the challenge). */
  upstream: BufferedResponse;
  summary: FactorSummary;
  requirement: Requirement;
}

export type StepOutcome = { kind: 'release'; method: string } | { kind: 'respond'; response: BufferedResponse };

/** A named check of the login policy (the name is what server/login/policy.ts's order test reads). */
interface Named<F> {
  name: string;
  run: F;
}

/** Before Jellyfin sees the password: throw an HttpError to refuse, or return a response to send instead. */
export type BeforeCheck = Named<(ctx: GatewayContext, attempt: PasswordAttempt) => Promise<BufferedResponse | void>>;
/** Jellyfin refused the password. */
export type FailedCheck = Named<(ctx: GatewayContext, attempt: PasswordAttempt, res: BufferedResponse) => Promise<void>>;
/** Jellyfin accepted the password: throw an HttpError to refuse it all the same (the check revokes the token). */
export type AcceptedCheck = Named<(ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult) => Promise<void>>;
/** A step of the decision: release the login, answer the client, or pass (undefined) to the next. */
export type LoginStep = Named<(facts: LoginFacts) => Promise<StepOutcome | undefined>>;
/** More ways to answer a challenge than the user's own factors (e.g. "phone"). */
export type ChallengeMethods = Named<(facts: LoginFacts) => Promise<LoginMethod[]>>;
/** The login's token was released. */
export type ReleasedCheck = Named<(ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult, method: string) => Promise<void>>;

/**
 * Every check of a password login, by the point where it runs, each list in order. Built in one place,
 * server/login/policy.ts; the modules that own a check export it and never add it themselves.
 */
export interface LoginHooks {
  readonly before: readonly BeforeCheck[];
  readonly failed: readonly FailedCheck[];
  readonly accepted: readonly AcceptedCheck[];
  /** After the accepted checks: the first step that settles the login wins; if none does, a challenge. */
  readonly decide: readonly LoginStep[];
  /** Methods offered in a challenge besides the user's own factors, in order. */
  readonly challengeMethods: readonly ChallengeMethods[];
  readonly released: readonly ReleasedCheck[];
}
