import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Config, ConfigOrigin } from './config/index.ts';
import { Settings } from './config/settings.ts';
import { systemClock, type Clock } from './clock.ts';
import type { GatewayMiddleware, GatewayState } from './context.ts';
import { consoleLogger, type Logger } from './log.ts';
import { loadKeys, type Keys } from './store/keys.ts';
import { openStore, type Store } from './store/index.ts';
import { CidrList } from './net/cidr.ts';
import { clientAddress } from './net/middleware.ts';
import { createPathNormalizer, isGatewayRoute } from './jellyfin/paths.ts';
import { JellyfinProxy } from './jellyfin/proxy.ts';
import { JellyfinClient } from './jellyfin/upstream.ts';
import { credential, normalizeRoute, proxyToJellyfin } from './jellyfin/middleware.ts';
import { intercept, type InterceptTable } from './jellyfin/intercept.ts';
import { systemInfoAddresses } from './jellyfin/system-info.ts';
import { ApiKeyCache, TokenGate, TokenRegistry, UserDirectory, revokeSession } from './gate/index.ts';
import { tokenGate } from './gate/middleware.ts';
import { handleUpgrade } from './upgrade.ts';
import { fastPath } from './fast-path.ts';
import { apiKeyChanges } from './gate/api-key-changes.ts';
import { LAN_TRUSTED_ROUTES, administratorRequired } from './gate/credential-required.ts';
import { drainable } from './shutdown.ts';
import { Health } from './health/index.ts';
import { passwordLogin } from './login/password.ts';
import { createSecondFactor } from './login/challenge-setup.ts';
import { SecondFactorPolicy } from './login/challenge.ts';
import { loginPolicy } from './login/policy.ts';
import { QuickConnectInterceptor, QuickConnectRequests } from './login/quick-connect.ts';
import { logout } from './login/logout.ts';
import { passwordChange } from './login/password-change.ts';
import { webIndex } from './login/web-index.ts';
import { errorHandler } from './api/errors.ts';
import { errorBody } from './errors.ts';
import { gatewayRouter } from './api/index.ts';
import type { Services } from './services.ts';
import { AuditLog } from './audit/index.ts';
import { Guard } from './guard/index.ts';
import { guardAddress } from './guard/middleware.ts';
import { StepUp } from './stepup/index.ts';
import { FactorChanges } from './stepup/changes.ts';
import { AdminStepUp } from './stepup/admin-gate.ts';
import { isAdminRoute } from './stepup/admin-actions.ts';
import { Pairing } from './pairing/index.ts';
import { Approvals } from './approvals/index.ts';
import { MaxMindLocator } from './guard/travel.ts';
import { SsoLinks } from './sso/accounts.ts';
import { SingleSignOn } from './sso/index.ts';
import { SessionMinter } from './login/mint.ts';
import { refusePasswordForSsoUsers } from './sso/password-policy.ts';

export interface GatewayOptions {
  config: Config;
  dataDir: string;
  clock?: Clock;
  log?: Logger;
  /** Given by tests; otherwise read or created in the data directory. */
  keys?: Keys;
  store?: Store;
  /** Where the configuration came from (loadConfig), for GET/POST Configuration. Without it (a gateway
   *  built in code) the first change writes $dataDir/config.yaml. */
  configOrigin?: ConfigOrigin;
}

export interface Gateway {
  app: Koa<GatewayState>;
  server: http.Server;
  config: Config;
  store: Store;
  services: Services;
  tokens: TokenRegistry;
  users: UserDirectory;
  quickConnect: QuickConnectInterceptor;
  listen(port?: number, host?: string): Promise<{ port: number; url: string }>;
  /**
   * Stop. With `graceMs`, first stop accepting and let requests and streams finish for up to that long,
   * then close WebSockets with 1001 (SIGTERM); without, cut everything at once.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

/** Build the gateway: the pipeline below reads top to bottom in the order DESIGN.md gives. */
export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config, dataDir } = opts;
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? consoleLogger;
  const keys = opts.keys ?? loadKeys(dataDir);
  const store = opts.store ?? (await openStore(dataDir));

  // The parts.
  const trustedProxies = new CidrList(config.TrustedProxyCIDRs);
  const forwardedHeader = config.ForwardedHeader === 'Forwarded' ? 'forwarded' : 'x-forwarded-for';
  const paths = createPathNormalizer({ baseUrl: config.BaseUrl });
  const proxy = new JellyfinProxy({ url: config.JellyfinUrl, headersTimeoutMs: config.UpstreamTimeoutSeconds * 1000 });
  const jellyfin = new JellyfinClient(proxy, config.BaseUrl, config.JellyfinApiKey);
  const tokens = new TokenRegistry(store.db, keys.hmacKey, clock);
  await tokens.load();
  const users = new UserDirectory(store.db, clock);
  const apiKeys = new ApiKeyCache(jellyfin, keys.hmacKey, clock, config.JellyfinApiKey, (m) => log.warn(m));
  const audit = new AuditLog(store.db, clock, keys.hmacKey, {
    maxAgeMs: config.AuditLogMaxAge * 86_400_000,
    maxRows: config.AuditLogMaxSize,
    excluded: config.AuditLogExcludedEvents,
  }, log);
  await audit.open();
  const gate = new TokenGate(tokens, apiKeys, jellyfin, users, clock, {
    apiKeyBypass: config.APIKeyBypassEnabled,
    adoptUntil: config.AdoptExistingSessionsUntil ? Date.parse(config.AdoptExistingSessionsUntil) : undefined,
    apiKeyMissRefreshMs: 10_000,
    audit,
  }, (m) => log.info(m));
  const loginDeps = { proxy, tokens, users, maxBodyBytes: config.MaxLoginBodyBytes, log: (m: string) => log.warn(m), baseUrl: config.BaseUrl };
  const quickConnect = new QuickConnectInterceptor({
    ...loginDeps, requests: new QuickConnectRequests(store.db, clock, keys.hmacKey), clock, client: jellyfin, audit,
  });
  // One offline GeoIP database (when configured) for impossible travel and the place an approval shows.
  const geo = config.GeoIPDatabasePath ? await MaxMindLocator.open(config.GeoIPDatabasePath) : undefined;
  const guard = await Guard.create({
    config, clock, log, db: store.db, hmacKey: keys.hmacKey, audit, geo,
    revoke: async (token) => {
      await tokens.forget(token);
      await jellyfin.logout(token).catch(() => false);
    },
    isApiKey: (token) => apiKeys.has(token),
    isVerifiedToken: (token) => tokens.isVerified(token),
    hasVerifiedDevice: (userId, deviceId) => tokens.forUser(userId).some((t) => t.state === 'verified' && t.deviceId === deviceId),
    findUser: (name) => users.byName(name),
  });
  // Second factors, step-up (fresh proofs bound to one session, spent once), TV pairing and push approval
  // (the Authenticator's phones): each exports its checks of the password login for the table below.
  const secondFactor = createSecondFactor({
    db: store.db, clock, keys, config, log, tokens, users, jellyfin,
    audit, failures: () => services.factorFailures,
  });
  const stepUp = new StepUp({
    db: store.db, clock, hmacKey: keys.hmacKey, config, factors: secondFactor.factors, users, guard, jellyfin,
    revokeSession: (tokenHash) => revokeSession(tokens, jellyfin, tokenHash), audit,
  });
  const pairing = new Pairing({ db: store.db, clock, keys, config, log, guard, jellyfin, stepUp, quickConnect: quickConnect.requests, audit });
  const approvals = await Approvals.create({
    db: store.db, clock, config, log, keys, challenges: secondFactor.challenges, guard, audit, geo,
  });
  // The password login's checks, in the order they run: server/login/policy.ts.
  const loginHooks = loginPolicy({
    guard: guard.loginChecks,
    pairing: pairing.loginChecks,
    totpInPassword: secondFactor.loginChecks.totpInPassword,
    trustedBrowser: secondFactor.loginChecks.trustedBrowser,
    phone: approvals.login,
    ssoOnly: config.DisablePasswordLoginForSSOUsers
      ? refusePasswordForSsoUsers(new SsoLinks(store.db, clock), (t) => jellyfin.logout(t).catch(() => false), audit)
      : undefined,
  });
  const secondFactorPolicy = new SecondFactorPolicy({ factors: secondFactor.factors, challenges: secondFactor.challenges, tokens, users }, loginHooks);
  // The guard's notices also reach the phones.
  guard.addNotifier(approvals.notifier());
  // TV pairing approved on the phone (the "Pair a TV" page, and the phone method of every step-up).
  pairing.attachApprovals(approvals, { users, factors: secondFactor.factors });
  // Every change to an account's factors is told to its owner; "This wasn't me" undoes it.
  const factorChanges = new FactorChanges({
    db: store.db, clock, log, factors: secondFactor.factors, tokens, jellyfin, engine: approvals, email: guard,
  });
  // Sessions the gateway starts itself (single sign-on; passwordless sign-in) are minted through Quick Connect.
  const minter = new SessionMinter({ proxy, jellyfin, tokens, users, baseUrl: config.BaseUrl, log: (m) => log.warn(m), audit });
  const sso = new SingleSignOn({
    config, db: store.db, clock, keys, proxy, jellyfin, tokens, users, factors: secondFactor.factors, minter, audit, log: (m) => log.warn(m),
  });
  if (config.OIDCProviders.length > 0 && !config.JellyfinApiKey) {
    log.warn('OIDCProviders are configured but JELLYFIN_API_KEY is not set: single sign-on cannot sign anyone in');
  }
  const services: Services = {
    config, clock, log, keys, store, paths, proxy, jellyfin, tokens, users, apiKeys, gate, quickConnect, loginHooks, audit, guard, minter, sso,
    factors: secondFactor.factors, challenges: secondFactor.challenges, secondFactor: secondFactorPolicy,
    factorFailures: guard,
    stepUp, factorChanges, pairing, approvals,
    settings: new Settings({ config, origin: opts.configOrigin, dataDir, audit }),
    health: new Health({ dataDir, sqlite: store.sqlite, proxy, jellyfin, baseUrl: config.BaseUrl, apiKey: config.JellyfinApiKey, clock }),
    // prom-client is loaded only when metrics are on (it costs start-up time otherwise).
    metrics: config.MetricsEnabled
      ? new (await import('./metrics/index.ts')).Metrics({ paths, upstreamOrigin: proxy.origin, bans: () => guard.listBans() })
      : undefined,
  };
  // Metrics listen to the audit log and the push service; they never sit in the pipeline.
  const metrics = services.metrics;
  if (metrics) {
    audit.observers.push((e) => metrics.observeAudit(e));
    approvals.push.onSent = (r) => metrics.observePush(r.outcome);
  }
  const router = gatewayRouter(services);
  const changePassword = passwordChange({ ...loginDeps, guard, stepUp, jellyfin, audit });
  const keyChanges = apiKeyChanges({ ...loginDeps, apiKeys });

  // The interceptors, by where they stand in the pipeline (the short path below consults the same tables).
  const webIndexPage = webIndex({ proxy, baseUrl: config.BaseUrl, log: (m) => log.warn(m) });
  const serverAddresses = systemInfoAddresses({ proxy, publicUrl: config.PublicUrl, baseUrl: config.BaseUrl });
  const beforeTheGate: InterceptTable = [
    // anonymous login exchanges: the gateway reads their answers before releasing any token
    ['/users/authenticatebyname', passwordLogin(loginDeps, loginHooks, secondFactorPolicy.decide)],
    ['/users/{id}/authenticate', passwordLogin(loginDeps, loginHooks, secondFactorPolicy.decide)],
    ['/users/authenticatewithquickconnect', quickConnect.exchange],
    ['/quickconnect/initiate', quickConnect.initiate],
  ];
  const administratorOnly = administratorRequired({ gate, users, jellyfin });
  // Jellyfin's administrator actions need a fresh proof of the session (server/stepup/admin-actions.ts).
  const adminStepUp = new AdminStepUp({ config, clock, hmacKey: keys.hmacKey, stepUp, users, jellyfin, audit });
  const afterTheGate: InterceptTable = [
    // interceptors that act for a verified session
    // Jellyfin trusts its LAN here — and behind the gateway everyone looks like the LAN: an administrator only
    ...LAN_TRUSTED_ROUTES.map((r) => [r, administratorOnly] as const),
    ['/quickconnect/authorize', pairing.authorizeInterceptor(quickConnect.authorize)], // a step-up action
    ['/sessions/logout', logout({ ...loginDeps, audit })],
    // a password change checks the current password: counted like a sign-in; other sessions signed out
    ['/users/password', changePassword],
    ['/users/{id}/password', changePassword],
    // a key created or deleted here takes effect at once (the gateway's key list is read again)
    ['/auth/keys', keyChanges],
    ['/auth/keys/{key}', keyChanges],
    // the server's own address in these answers is the gateway's, so no client learns a way around it
    ['/system/info', serverAddresses],
    ['/system/info/public', serverAddresses],
    // jellyfin-web's page gets the script that leads to the gateway's login page
    ['/web/index.html', webIndexPage],
    ['/web', webIndexPage],
  ];

  // The pipeline.
  const app = new Koa<GatewayState>({ proxy: false });
  // Errors after a response began (a client gone, a request body timed out) go to the log, not stderr.
  app.on('error', (e: Error) => log.debug?.(`connection: ${e.message}`));
  app.use(errorHandler(log));
  app.use(clientAddress(trustedProxies, forwardedHeader)); //   the real client address
  app.use(guardAddress(guard, paths, config.BaseUrl)); //      …and a banned address is refused before anything else
  app.use(normalizeRoute(paths)); //                           the one path normalizer
  app.use(credential()); //                                    the one credential reader, all five forms
  app.use(ours(router.routes() as GatewayMiddleware, notOurs)); // the gateway's own routes, never forwarded
  app.use(intercept(beforeTheGate)); //                        anonymous login exchanges
  app.use(tokenGate(gate)); //                                 the token gate
  app.use(adminStepUp.middleware()); //                        administrator actions: a fresh proof of this session
  app.use(intercept(afterTheGate)); //                         interceptors that act for a verified session
  app.use(proxyToJellyfin(proxy)); //                          everything else, streamed

  // Most requests need nothing from the gateway but the gate. They take a short path (server/fast-path.ts):
  // the client address, the path normalizer, the credential reader and the token gate as the same
  // functions, the checks "ours?" and "intercepted?" on the tables above, then the proxy — with no Koa
  // context. Any other request (banned, unreadable path, ours, intercepted, a token memory cannot vouch
  // for) goes through the pipeline above, which runs every step from the start.
  const handle = fastPath(
    { trustedProxies, forwardedHeader, guard, paths, intercepted: [beforeTheGate, afterTheGate], adminAction: isAdminRoute, gate, proxy },
    app.callback(),
  );
  // requestTimeout bounds receiving a whole request (headers and body), so a slow body cannot hold a
  // connection for ever; responses (streams) are not limited by it.
  const requestTimeout = config.RequestTimeoutSeconds * 1000;
  const server = http.createServer(
    {
      requestTimeout,
      headersTimeout: Math.min(60_000, requestTimeout),
      // How often Node looks for requests past their timeout (its default, 30 s, is longer than short limits).
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, requestTimeout / 4)),
      keepAliveTimeout: 65_000,
    },
    handle,
  );
  const drain = drainable(server);
  if (metrics) {
    metrics.attach(server);
    metrics.start();
  }
  // WebSocket and any other upgrade: the same address, path, credential and gate steps, then piped.
  server.on('upgrade', handleUpgrade({ trustedProxies, forwardedHeader, paths, gate, proxy, log, guard }));

  apiKeys.start(config.APIKeyRefreshSeconds * 1000);
  secondFactor.start(); // expire held logins and revoke their tokens, now and every 15 s
  guard.start(); // forget old ban histories hourly
  audit.start(); // audit retention (AuditLogMaxAge, AuditLogMaxSize), now and hourly
  pairing.start(); // expire pending pairings and step-up grants, now and every 15 s
  approvals.start(); // approval deadlines every second, expiry every 5 s
  if (!config.JellyfinApiKey) log.warn('JELLYFIN_API_KEY is not set: Jellyfin API keys (Sonarr, Radarr…) will be refused');
  const flush = setInterval(() => void tokens.flushLastSeen().catch((e) => log.error('flushing last-seen', e)), 30_000);
  flush.unref();

  return {
    app,
    server,
    config,
    store,
    services,
    tokens,
    users,
    quickConnect,
    listen(port = config.Port, host = config.Host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const a = server.address() as AddressInfo;
          const h = a.family === 'IPv6' ? `[${a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
          resolve({ port: a.port, url: `http://${h}:${a.port}` });
        });
      });
    },
    async close(closeOpts = {}) {
      const graceMs = closeOpts.graceMs ?? 0;
      const closed = server.listening ? new Promise<void>((resolve) => server.once('close', () => resolve())) : Promise.resolve();
      if (server.listening) server.close(); // stop accepting
      clearInterval(flush);
      apiKeys.stop();
      await secondFactor.stop();
      await pairing.stop();
      await approvals.stop(); // held logins are answered before the server closes
      const { unfinished } = await drain.drain(graceMs);
      if (graceMs > 0 && unfinished > 0) log.warn(`${unfinished} connection(s) still busy after ${graceMs} ms: cut`);
      drain.closeWebSockets(graceMs > 0);
      server.closeAllConnections();
      await closed;
      metrics?.stop();
      await tokens.flushLastSeen().catch(() => {});
      await guard.close();
      await audit.close();
      await proxy.close();
      if (!opts.store) await store.close();
    },
  };
}

/**
 * Requests under /JellyfinSecurity (in any path variant) go to our router and never further; others
 * skip the router entirely, which keeps route matching off the proxy's hot path.
 */
function ours(routes: GatewayMiddleware, fallback: GatewayMiddleware): GatewayMiddleware {
  return (ctx, next) => (isGatewayRoute(ctx.state.route) ? routes(ctx, () => fallback(ctx, next)) : next());
}

/** A path under /JellyfinSecurity that no route of ours answered. */
const notOurs: GatewayMiddleware = (ctx) => {
  ctx.status = 404;
  ctx.body = errorBody('not_found', 'No such Jellyguard endpoint');
};
