import path from 'node:path';
import Router from '@koa/router';
import type { GatewayState } from '../context.ts';
import type { Services } from '../services.ts';
import { mountFactorRoutes } from './factors.ts';
import { mountMeRoutes } from './me.ts';
import { mountAdminUserRoutes } from './admin-users.ts';
import { mountBanRoutes } from './bans.ts';
import { mountAllowedIpRoutes } from './allowed-ips.ts';
import { mountAuditRoutes } from './audit.ts';
import { mountAuthenticatorApp } from './pwa.ts';
import { mountPairingRoutes } from './pairing.ts';
import { mountStepUpRoutes } from './stepup.ts';
import { mountLoginPage } from './login-page.ts';
import { mountApprovalRoutes } from './approvals.ts';
import { mountDeviceRoutes } from './devices.ts';
import { mountOperationsRoutes } from './operations.ts';
import { mountSsoRoutes } from './sso.ts';
import { PACKAGE_ROOT } from '../root.ts';

export const PWA_DIST = path.join(PACKAGE_ROOT, 'dist', 'pwa');

/**
 * Everything of ours lives under `/JellyfinSecurity/`, under Jellyfin's BaseUrl when it has one
 * (DESIGN: the gateway's own API). One file per area is mounted here.
 */
export function gatewayRouter(services: Services) {
  const baseUrl = services.config.BaseUrl;
  const router = new Router<GatewayState>({ prefix: `${baseUrl}/JellyfinSecurity`, sensitive: false });

  // Health (liveness, readiness) and Prometheus metrics, for monitors.
  mountOperationsRoutes(router, services);

  // Second factors: the login challenge (public), self-service (/Me…), admin (/Users…).
  mountFactorRoutes(router, services);
  mountMeRoutes(router, services);
  mountAdminUserRoutes(router, services);

  // The guard (admin: Bans, Users/{id}/AllowedIPs; self: Me/AllowedIPs) and the audit log (AuditLog…, Me/AuditLog).
  mountBanRoutes(router, services);
  mountAllowedIpRoutes(router, services);
  mountAuditRoutes(router, services);

  // TV pairing (the big-screen page, phone approval of codes, PairDevice).
  mountPairingRoutes(router, services);
  // Step-up: a fresh proof from a factor the account already has, as a single-use grant of one session.
  mountStepUpRoutes(router, services);

  // Push approval: the phone's approval page, the login page's "approve on my phone", Me/Phones, Me/Approvals;
  // my devices (Me/Devices, Me/Sessions). Activity is Me/AuditLog (above).
  mountApprovalRoutes(router, services);
  mountDeviceRoutes(router, services);

  // Single sign-on with OpenID Connect providers (OIDC/Providers, Authorize, Callback, Session).
  mountSsoRoutes(router, services);

  // The web login page (and the script injected into jellyfin-web that leads there).
  mountLoginPage(router, services);

  // The Authenticator PWA (server/api/pwa.ts: the app, its service worker and assets).
  mountAuthenticatorApp(router, services, PWA_DIST);
  return router;
}
