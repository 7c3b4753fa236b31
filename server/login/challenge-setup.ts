import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import { ConfigError } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/index.ts';
import type { Keys } from '../store/keys.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { AuditSink } from '../audit/index.ts';
import { Factors, type FailureRecorder } from '../factors/index.ts';
import { LoginChallenges } from './challenge-store.ts';
import { trustedBrowser } from './challenge.ts';
import { totpInPassword } from './totp-in-password.ts';

export interface SecondFactorSetupDeps {
  db: DB;
  clock: Clock;
  keys: Keys;
  config: Config;
  log: Logger;
  tokens: TokenRegistry;
  users: UserDirectory;
  jellyfin: JellyfinClient;
  audit: AuditSink;
  /** Read at call time (tests replace the recorder on the Services object). */
  failures: () => FailureRecorder;
}

/**
 * Build the second-factor parts for server/app.ts: the factors, the challenge store, and their checks of
 * the login policy (server/login/policy.ts): the trusted browser and TOTP in the password.
 */
export function createSecondFactor(deps: SecondFactorSetupDeps) {
  const { config, log } = deps;
  if (config.EmailOTPEnabled && !config.SMTP) {
    throw new ConfigError('invalid configuration:\n  EmailOTPEnabled: e-mail codes need SMTP (Host and From at least)');
  }
  if (config.PasskeysEnabled && !config.PublicUrl) {
    log.warn('PublicUrl is not set: passkeys use the Host of each request as their relying party (set JELLYGUARD_PUBLIC_URL)');
  }
  const factors = new Factors({
    db: deps.db,
    clock: deps.clock,
    keys: deps.keys,
    config,
    log,
    audit: deps.audit,
    failures: deps.failures,
  });
  const challenges = new LoginChallenges({
    db: deps.db,
    clock: deps.clock,
    encryptionKey: deps.keys.encryptionKey,
    tokens: deps.tokens,
    jellyfin: deps.jellyfin,
    challengeSeconds: config.ChallengeSeconds,
    log: (m) => log.warn(m),
    audit: (e) => factors.audit(e),
  });
  const loginChecks = {
    trustedBrowser: trustedBrowser(factors),
    totpInPassword: totpInPassword({ factors, users: deps.users, enabled: () => config.AllowTOTPInPassword && config.TOTPEnabled }),
  };
  let sweeping: NodeJS.Timeout | undefined;
  let inflight: Promise<void> = Promise.resolve();
  const sweepAll = () => {
    inflight = inflight
      .then(async () => {
        await challenges.sweep();
        await factors.sweep();
      })
      .catch((e) => log.error('second-factor sweep failed', e));
    return inflight;
  };
  return {
    factors,
    challenges,
    loginChecks,
    /** Sweep now (restart recovery: expire and revoke what is due) and every `intervalMs`. */
    start(intervalMs = 15_000) {
      void sweepAll();
      sweeping = setInterval(() => void sweepAll(), intervalMs);
      sweeping.unref();
    },
    /** One sweep, awaited (tests call it after moving the clock). */
    sweep: () => sweepAll(),
    async stop() {
      if (sweeping) clearInterval(sweeping);
      sweeping = undefined;
      await inflight;
      factors.close();
    },
  };
}
