import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import type { GatewayState } from '../context.ts';
import { sendStatic } from './static.ts';
import type { Services } from '../services.ts';
import { mountFactorRoutes } from './factors.ts';
import { mountMeRoutes } from './me.ts';
import { mountAdminUserRoutes } from './admin-users.ts';
import { mountBanRoutes } from './bans.ts';
import { mountAllowedIpRoutes } from './allowed-ips.ts';
import { mountAuditRoutes } from './audit.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PWA_DIST = path.join(PROJECT_ROOT, 'dist', 'pwa');


/**
 * Everything of ours lives under `/JellyfinSecurity/`, under Jellyfin's BaseUrl when it has one
 * (DESIGN: the gateway's own API). One file per area is mounted here.
 */
export function gatewayRouter(services: Services) {
  const baseUrl = services.config.BaseUrl;
  const router = new Router<GatewayState>({ prefix: `${baseUrl}/JellyfinSecurity`, sensitive: false });

  router.get('/Health', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  // Second factors: the login challenge (public), self-service (/Me…), admin (/Users…).
  mountFactorRoutes(router, services);
  mountMeRoutes(router, services);
  mountAdminUserRoutes(router, services);

  // The guard (admin: Bans, Users/{id}/AllowedIPs; self: Me/AllowedIPs) and the audit log (AuditLog…, Me/AuditLog).
  mountBanRoutes(router, services);
  mountAllowedIpRoutes(router, services);
  mountAuditRoutes(router, services);

  // The Authenticator PWA.
  router.get('/app', (ctx) => {
    ctx.redirect(`${baseUrl}/JellyfinSecurity/app/`);
  });
  router.get(/^.*\/app\/(.*)$/i, (ctx) => {
    const rel = (ctx.params as Record<string, string>)[0] || 'index.html';
    if (!sendStatic(ctx, PWA_DIST, rel, { immutable: rel.startsWith('assets/') })) {
      sendStatic(ctx, PWA_DIST, 'index.html');
    }
  });
  return router;
}
