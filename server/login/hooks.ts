import type { GatewayContext } from '../context.ts';
import type { BufferedResponse } from '../jellyfin/proxy.ts';
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
}

/** What the second-factor policy decides once Jellyfin accepted a password. */
export type LoginDecision =
  /** Release the token as verified; `method` says why it needed nothing more (e.g. "password"). */
  | { kind: 'release'; method: string }
  /** The policy answered the client itself (a challenge) and recorded the token as pending. */
  | { kind: 'handled' };

/**
 * The hook points of a password login, so each concern (guard, factors, approvals) plugs in without
 * rewriting the login: `before` may refuse before Jellyfin sees the password, `failed` hears of every
 * refusal, `accepted` may still refuse a correct password (allowlist, impossible travel, breached
 * password) whatever second factor follows, `decide` chooses what a correct password still needs,
 * `released` hears of every token released at once.
 */
export interface LoginHooks {
  /** Throw an HttpError to refuse, or return a response to send instead of asking Jellyfin. */
  before: Array<(ctx: GatewayContext, attempt: PasswordAttempt) => Promise<BufferedResponse | void>>;
  failed: Array<(ctx: GatewayContext, attempt: PasswordAttempt, res: BufferedResponse) => Promise<void>>;
  /** Jellyfin accepted the password. Throw an HttpError to refuse (the hook revokes the token). */
  accepted: Array<(ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult) => Promise<void>>;
  /** `upstream` is Jellyfin's 200 answer: a policy that holds the login keeps it to release later, verbatim. */
  decide: (ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult, upstream: BufferedResponse) => Promise<LoginDecision>;
  released: Array<(ctx: GatewayContext, attempt: PasswordAttempt, result: AuthenticationResult, method: string) => Promise<void>>;
}

/** With no second factors configured, a correct password is all a login needs. */
export function defaultLoginHooks(): LoginHooks {
  return { before: [], failed: [], accepted: [], decide: async () => ({ kind: 'release', method: 'password' }), released: [] };
}
