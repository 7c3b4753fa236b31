import { timingSafeEqual, createHash } from 'node:crypto';
import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext } from '../context.ts';
import { apiError } from '../errors.ts';
import type { Health } from '../health/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { CidrList } from '../net/cidr.ts';
import type { RouteContext } from './route.ts';

/**
 * For the people who run the gateway, under `{BaseUrl}/JellyfinSecurity/`:
 *
 *   GET Health, Health/Live → 200 `{"status":"pass"}` while the process answers (Docker HEALTHCHECK)
 *   GET Health/Ready        → 200 or 503 with each check: database writable, Jellyfin reachable, API key valid
 *   GET Metrics             → Prometheus text, when MetricsEnabled (404 otherwise); see `mayScrape`
 *
 * None needs a Jellyfin session: monitors have none. Nothing in them names a user or holds a secret.
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export interface OperationsDeps {
  config: Pick<Config, 'MetricsAllowedCIDRs' | 'MetricsToken'>;
  health: Health;
  /** Undefined when MetricsEnabled is off (the route table's feature guard answers 404 then). */
  metrics: Metrics | undefined;
}

export function operationsHandlers({ config, health, metrics }: OperationsDeps) {
  const allowed = new CidrList(config.MetricsAllowedCIDRs);
  const token = config.MetricsToken ? createHash('sha256').update(config.MetricsToken).digest() : undefined;
  return {
    live(ctx: Ctx<'Health'> | Ctx<'HealthLive'>) {
      ctx.set('cache-control', 'no-store');
      ctx.body = { status: 'pass' };
    },

    async ready(ctx: Ctx<'HealthReady'>) {
      const readiness = await health.ready();
      ctx.set('cache-control', 'no-store');
      ctx.status = readiness.status === 'fail' ? 503 : 200;
      ctx.body = readiness;
    },

    async metrics(ctx: Ctx<'Metrics'>) {
      const may = mayScrape(ctx, allowed, token);
      if (may !== 'yes') {
        const message = 'Not allowed to read metrics (MetricsToken, MetricsAllowedCIDRs)';
        if (may === 'token') throw apiError('unauthorized', { message, headers: { 'www-authenticate': 'Bearer realm="jellyguard-metrics"' } });
        throw apiError('forbidden', message);
      }
      ctx.set('content-type', metrics!.contentType);
      ctx.set('cache-control', 'no-store');
      ctx.body = await metrics!.scrape();
    },
  };
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
