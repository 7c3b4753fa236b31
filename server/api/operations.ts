import { timingSafeEqual, createHash } from 'node:crypto';
import type Router from '@koa/router';
import type { GatewayContext, GatewayState } from '../context.ts';
import { CidrList } from '../net/cidr.ts';
import type { Services } from '../services.ts';

/**
 * For the people who run the gateway, under `{BaseUrl}/JellyfinSecurity/`:
 *
 *   GET Health, Health/Live → 200 `{"status":"pass"}` while the process answers (Docker HEALTHCHECK)
 *   GET Health/Ready        → 200 or 503 with each check: database writable, Jellyfin reachable, API key valid
 *   GET Metrics             → Prometheus text, when MetricsEnabled (404 otherwise); see `mayScrape`
 *
 * None needs a Jellyfin session: monitors have none. Nothing in them names a user or holds a secret.
 */
export function mountOperationsRoutes(router: Router<GatewayState>, services: Services): void {
  const live = (ctx: GatewayContext) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = { status: 'pass' };
  };
  router.get('/Health', live);
  router.get('/Health/Live', live);
  router.get('/Health/Ready', async (ctx) => {
    const readiness = await services.health.ready();
    ctx.set('cache-control', 'no-store');
    ctx.status = readiness.status === 'fail' ? 503 : 200;
    ctx.body = readiness;
  });

  const { config } = services;
  const allowed = new CidrList(config.MetricsAllowedCIDRs);
  const token = config.MetricsToken ? createHash('sha256').update(config.MetricsToken).digest() : undefined;
  router.get('/Metrics', async (ctx) => {
    const metrics = services.metrics;
    if (!metrics) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', message: 'Metrics are off (MetricsEnabled)' };
      return;
    }
    const may = mayScrape(ctx, allowed, token);
    if (may !== 'yes') {
      ctx.status = may === 'token' ? 401 : 403;
      if (may === 'token') ctx.set('www-authenticate', 'Bearer realm="jellyguard-metrics"');
      ctx.body = { error: may === 'token' ? 'unauthorized' : 'forbidden', message: 'Not allowed to read metrics (MetricsToken, MetricsAllowedCIDRs)' };
      return;
    }
    ctx.set('content-type', metrics.contentType);
    ctx.set('cache-control', 'no-store');
    ctx.body = await metrics.scrape();
  });
}

/**
 * A scraper may read metrics with the bearer token (when one is set), or without it from an address in
 * MetricsAllowedCIDRs that came straight to the gateway: not through a reverse proxy (a forwarding header)
 * and not from one (an address in TrustedProxyCIDRs), since a public proxy in front would otherwise make
 * every visitor look local.
 */
function mayScrape(ctx: GatewayContext, allowed: CidrList, token: Buffer | undefined): 'yes' | 'token' | 'no' {
  const auth = ctx.get('authorization');
  if (token && auth.toLowerCase().startsWith('bearer ')) {
    const given = createHash('sha256').update(auth.slice(7).trim()).digest();
    if (timingSafeEqual(given, token)) return 'yes';
    return 'token';
  }
  // A trusted proxy's own address is a proxy, not a local scraper, even when it sent no forwarding header.
  const { client } = ctx.state;
  const forwarded = ctx.get('x-forwarded-for') !== '' || ctx.get('forwarded') !== '' || client.viaTrustedProxy || client.proxyWithoutForwarding;
  if (!forwarded && allowed.contains(client.ip)) return 'yes';
  return token ? 'token' : 'no';
}
