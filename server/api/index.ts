import path from 'node:path';
import Router from '@koa/router';
import type { GatewayState } from '../context.ts';
import { apiError, type HttpError } from '../errors.ts';
import { lastPasswordCheck } from '../guard/breach.ts';
import { ChallengeService } from '../login/challenges.ts';
import { PACKAGE_ROOT } from '../root.ts';
import type { Services } from '../services.ts';
import { adminUserHandlers } from './admin-users.ts';
import { allowedIpHandlers } from './allowed-ips.ts';
import { approvalHandlers } from './approvals.ts';
import { auditHandlers } from './audit.ts';
import { banHandlers } from './bans.ts';
import { configurationHandlers } from './configuration.ts';
import { deviceHandlers } from './devices.ts';
import { changeRecorder } from './factor-change.ts';
import { loginChallengeHandlers } from './login-challenge.ts';
import { loginPageHandlers } from './login-page.ts';
import { meHandlers } from './me.ts';
import { operationsHandlers } from './operations.ts';
import { pairingHandlers } from './pairing.ts';
import { authenticatorAppHandlers } from './pwa.ts';
import { mountRoutes, type Feature } from './route.ts';
import { routeTable, type RouteHandlers } from './routes.ts';
import { stepUpGiven, stepUpHandlers } from './stepup.ts';
import { ssoHandlers } from './sso.ts';
import { passkeySignInHandlers } from './passkey-signin.ts';
import { PasskeySignIn } from '../login/passkey-signin.ts';
import { phoneSignInHandlers } from './phone-signin.ts';
import { PhoneSignIn } from '../approvals/signin.ts';

export const PWA_DIST = path.join(PACKAGE_ROOT, 'dist', 'pwa');

/**
 * Everything of ours lives under `/JellyfinSecurity/`, under Jellyfin's BaseUrl when it has one
 * (DESIGN: the gateway's own API). The route table (routes.ts) says which route has which guard; here each
 * group of handlers is given the parts of the gateway it uses, and nothing else.
 */
export function gatewayRouter(services: Services) {
  const s = services;
  const { config, factors, users, stepUp } = s;
  const router = new Router<GatewayState>({ prefix: `${config.BaseUrl}/JellyfinSecurity`, sensitive: false });

  const challenge = new ChallengeService({ config, factors, challenges: s.challenges });
  const changed = changeRecorder({ stepUp, factorChanges: s.factorChanges, users });
  const phoneSignIn = new PhoneSignIn({
    engine: s.approvals, users, minter: s.minter, key: s.keys.encryptionKey, clock: s.clock, config,
    allowedIps: (userId) => s.guard.allowedIps(userId), audit: (e) => s.approvals.audit(e),
  });

  const handlers: RouteHandlers = {
    operations: operationsHandlers({ config, health: s.health, metrics: s.metrics }),
    challenge: loginChallengeHandlers({ config, factors, challenge, challenges: s.challenges, users }),
    me: meHandlers({ config, factors, users, stepUp, changed }),
    adminUsers: adminUserHandlers({ config, proxy: s.proxy, jellyfin: s.jellyfin, users, factors, notifiers: s.guard }),
    bans: banHandlers({ guard: s.guard }),
    allowedIps: allowedIpHandlers({ guard: s.guard, users, jellyfin: s.jellyfin, audit: s.audit }),
    configuration: configurationHandlers({ settings: s.settings, users }),
    audit: auditHandlers({ audit: s.audit, clock: s.clock, passwordCheck: (userId) => lastPasswordCheck(s.store.db, userId) }),
    pairing: pairingHandlers({ config, pairing: s.pairing, guard: s.guard, users, jellyfin: s.jellyfin }),
    stepUp: stepUpHandlers({ config, clock: s.clock, stepUp }),
    approvals: approvalHandlers({ config, clock: s.clock, approvals: s.approvals, factors, users, challenge, factorChanges: s.factorChanges, changed }),
    devices: deviceHandlers({
      approvals: s.approvals,
      factors,
      pairedDevices: s.pairing.devices,
      tokens: s.tokens,
      challenges: s.challenges,
      jellyfin: s.jellyfin,
      log: s.log,
    }),
    loginPage: loginPageHandlers(config.BaseUrl, (m) => s.log.warn(m)),
    app: authenticatorAppHandlers(config.BaseUrl, PWA_DIST),
    sso: ssoHandlers({ config, sso: s.sso, secondFactor: s.secondFactor, jellyfin: s.jellyfin }),
    passkeySignIn: passkeySignInHandlers({ config, signIn: new PasskeySignIn({ passkeys: factors.passkeys, guard: s.guard, minter: s.minter, audit: s.audit }) }),
    phoneSignIn: phoneSignInHandlers({ signIn: phoneSignIn, approvals: s.approvals }),
  };

  const off: Record<Feature, () => HttpError | undefined> = {
    totp: () => (config.TOTPEnabled ? undefined : apiError('method_unavailable', 'TOTP is turned off.')),
    passkeys: () => (config.PasskeysEnabled ? undefined : apiError('method_unavailable', 'Passkeys are turned off.')),
    email: () => (factors.email.enabled ? undefined : apiError('method_unavailable', 'E-mail codes are turned off.')),
    recoveryCodes: () => (config.RecoveryCodesEnabled ? undefined : apiError('method_unavailable', 'Recovery codes are turned off.')),
    pairing: () => (s.pairing.enabled ? undefined : apiError('pairing_disabled')),
    metrics: () => (s.metrics ? undefined : apiError('not_found', 'Metrics are off (MetricsEnabled)')),
  };

  mountRoutes(router, routeTable(handlers), {
    gate: s.gate,
    users,
    jellyfin: s.jellyfin,
    featureOff: (f) => off[f](),
    stepUpGiven: (ctx, action, target) => stepUpGiven(stepUp, ctx, action, target),
  });
  return router;
}
