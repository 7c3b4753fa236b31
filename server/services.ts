import type { Config } from './config/index.ts';
import type { Clock } from './clock.ts';
import type { Logger } from './log.ts';
import type { Keys } from './store/keys.ts';
import type { Store } from './store/index.ts';
import type { JellyfinProxy } from './jellyfin/proxy.ts';
import type { JellyfinClient } from './jellyfin/upstream.ts';
import type { PathNormalizer } from './jellyfin/paths.ts';
import type { ApiKeyCache, TokenGate, TokenRegistry, UserDirectory } from './gate/index.ts';
import type { QuickConnectInterceptor } from './login/quick-connect.ts';
import type { LoginHooks } from './login/hooks.ts';
import type { AuditLog } from './audit/index.ts';
import type { Guard } from './guard/index.ts';
import type { Factors, FailureRecorder } from './factors/index.ts';
import type { LoginChallenges } from './login/challenge-store.ts';
import type { SecondFactorPolicy } from './login/challenge.ts';
import type { Pairing } from './pairing/index.ts';
import type { StepUp } from './stepup/index.ts';
import type { FactorChanges } from './stepup/changes.ts';
import type { Approvals } from './approvals/index.ts';
import type { SessionMinter } from './login/mint.ts';
import type { SingleSignOn } from './sso/index.ts';
import type { Health } from './health/index.ts';
import type { Metrics } from './metrics/index.ts';
import type { Settings } from './config/settings.ts';

/**
 * The parts of the gateway, built once in server/app.ts. server/api/index.ts gives each group of routes
 * only the parts it uses; the interceptors take theirs in app.ts.
 */
export interface Services {
  config: Config;
  clock: Clock;
  log: Logger;
  keys: Keys;
  store: Store;
  paths: PathNormalizer;
  proxy: JellyfinProxy;
  jellyfin: JellyfinClient;
  tokens: TokenRegistry;
  users: UserDirectory;
  apiKeys: ApiKeyCache;
  gate: TokenGate;
  quickConnect: QuickConnectInterceptor;
  /** The password login's checks, in order (server/login/policy.ts). */
  loginHooks: LoginHooks;
  /** The audit log (server/audit): `record` never blocks; query, export, verify. */
  audit: AuditLog;
  /** Brute-force bans, network rules, impossible travel, breach check (server/guard). */
  guard: Guard;
  /** Second factors: TOTP, recovery codes, passkeys, e-mail codes, trusted browsers (server/factors). */
  factors: Factors;
  /** Logins held until a second factor (server/login/challenge-store.ts). */
  challenges: LoginChallenges;
  /** The login decision after a correct password: the policy table's `decide` steps, run in order. */
  secondFactor: SecondFactorPolicy;
  /** Where wrong second-factor codes are reported (the guard). */
  factorFailures: FailureRecorder;
  /** Fresh proofs for sensitive actions, bound to one session and spent once (server/stepup). */
  stepUp: StepUp;
  /** Changes to an account's factors: the owner's phones and e-mail are told, "This wasn't me" undoes (server/stepup/changes.ts). */
  factorChanges: FactorChanges;
  /** TV pairing: Quick Connect approved from the phone, PairDevice and device tokens (server/pairing). */
  pairing: Pairing;
  /** Sessions the gateway starts for a user it authenticated itself, through Quick Connect (server/login/mint.ts). */
  minter: SessionMinter;
  /** Single sign-on with OpenID Connect providers (server/sso). */
  sso: SingleSignOn;
  /** Push approval: approvals, enrolled phones, Web Push, login by phone (server/approvals, server/push). */
  approvals: Approvals;
  /** The gateway's own settings, read and changed by an administrator (server/config/settings.ts). */
  settings: Settings;
  /** Liveness and readiness checks (server/health). */
  health: Health;
  /** Prometheus metrics, when MetricsEnabled (server/metrics). */
  metrics: Metrics | undefined;
}
