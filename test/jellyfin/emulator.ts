/**
 * A Jellyfin server emulator for tests: the endpoints, credential forms, routing quirks and
 * responses of /work/shared/JELLYFIN.md, for 10.10, 10.11 and 12.0. It is the reference the gateway
 * is tested against, so it is deliberately as strict AND as lenient as the real server: every
 * spelling Jellyfin accepts is accepted here too.
 *
 * The request pipeline follows Jellyfin.Server/Startup.cs in order:
 *   Kestrel (decode path, dot segments) → BaseUrlRedirectionMiddleware → Map(BaseUrl) →
 *   ForwardedHeaders → ExceptionMiddleware → ResponseCompression → LegacyEmbyRouteRewrite (10.x) →
 *   static /web → UseAuthentication → UseQueryStringDecoding → UseRouting → UseAuthorization →
 *   WebSocketHandler → endpoints.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { readCredentials, type CredentialRules, type JellyfinVersion } from './credentials.ts';
import { authenticationResultDto, networkConfigurationDto, serverConfigurationDto, type NetworkConfigurationDto } from './dto.ts';
import {
  decodePathPercent,
  equalsIgnoreCase,
  headerBag,
  normalizeTarget,
  parseQuery,
  startsWithIgnoreCase,
  startsWithSegments,
  urlDecodeQueryFeature,
  type HeaderBag,
  type QueryBag,
} from './kestrel.ts';
import { webIndexHtml } from './media.ts';
import { matchRoute, type AdminState, type Policy, type RequestContext } from './routes.ts';
import { JellyfinState, lockoutFromPolicy, newGuidN, type EmulatorUser, type Principal } from './state.ts';
import { DotnetException, emptyReply, exceptionReply, jsonProfile, writeReply, type Reply } from './wire.ts';

export type { JellyfinVersion } from './credentials.ts';
export type { EmulatorUser } from './state.ts';
export type { AdminState } from './routes.ts';
export { expectedMedia, mediaByte } from './media.ts';

export interface EmulatorOptions {
  /** Default '10.11'. */
  version?: JellyfinVersion;
  /** e.g. '/jellyfin'; normalized like NetworkConfiguration.BaseUrl (leading '/', no trailing '/'). */
  baseUrl?: string;
  /** Default true for 10.10/10.11, false for 12.0. 10.10 has no switch: legacy forms always work. */
  enableLegacyAuthorization?: boolean;
  /** Default: admin/admin (administrator) and alice/alice. */
  users?: Array<{ name: string; password: string; isAdministrator?: boolean }>;
  /** Default true. */
  quickConnectEnabled?: boolean;
  /**
   * The users' UserPolicy.LoginAttemptsBeforeLockout, mapped as UserManager.UpdatePolicyAsync does
   * (-1 never, 0 → 3). Default -1: Jellyfin's CreateUser leaves it null, which never locks out.
   */
  loginAttemptsBeforeLockout?: number;
  /** Bytes of the fake video, default 10 MiB. */
  mediaSize?: number;
  port?: number;
  host?: string;
  /** NetworkConfiguration.KnownProxies: X-Forwarded-For is believed only from these peers. */
  knownProxies?: string[];
  /** The rest of NetworkConfiguration (`GET /System/Configuration/network`); KnownProxies comes from `knownProxies`. */
  network?: Partial<Omit<NetworkConfigurationDto, 'KnownProxies' | 'BaseUrl'>>;
  /** Injected clock (ms since epoch) for Quick Connect expiry and dates. */
  now?: () => number;
  serverName?: string;
  /** BrandingOptions; default: only SplashscreenEnabled=false (null fields are omitted). */
  branding?: { LoginDisclaimer?: string; CustomCss?: string; SplashscreenEnabled?: boolean };
  /** /web/ says it stands in for jellyfin-web and shows who is signed in (the demo); default false. */
  standInWebClient?: boolean;
}

export interface Emulator {
  /** http://host:port + BaseUrl. */
  url: string;
  port: number;
  serverId: string;
  version: JellyfinVersion;
  /** The one media item: GET /Videos/{itemId}/stream serves the fake video, any other id is 404. */
  itemId: string;
  /** ServerConfiguration.QuickConnectAvailable, switchable at run time. */
  quickConnectEnabled: boolean;
  close(): Promise<void>;
  user(name: string): EmulatorUser;
  addUser(name: string, password: string, isAdministrator?: boolean): EmulatorUser;
  createApiKey(appName: string): string;
  /** Log in directly at the emulator (behind the gateway's back); returns the AccessToken. */
  loginDirect(name: string, password: string, deviceId?: string): string;
  /** Authorize a Quick Connect code directly (behind the gateway's back). */
  authorizeQuickConnectDirect(code: string, userId: string): void;
  isTokenValid(token: string): boolean;
  /** Every request the emulator received (WebSocket upgrades included). */
  requests: Array<{ method: string; url: string; headers: Record<string, string | string[] | undefined> }>;
  /** POST System/Restart requests Jellyfin carried out. */
  readonly restarts: number;
  /** Hits on the password-login endpoints (AuthenticateByName and /Users/{id}/Authenticate), any outcome. */
  loginAttempts: number;
  /** The network configuration, changeable at run time (as the dashboard would). */
  network: NetworkConfigurationDto;
  /** Server configuration, plugins, packages, libraries and backups, as the admin routes change them. */
  admin: AdminState;
  /**
   * How many requests reached the action of this route (`'POST Users/New'`, the template as in routes.ts),
   * authorized or not: a test that something was NOT forwarded, or forwarded once, counts here.
   */
  reached(route: string): number;
}

const VERSION_STRING: Record<JellyfinVersion, string> = { '10.10': '10.10.7', '10.11': '10.11.11', '12.0': '12.0.0' };
const DEFAULT_USERS = [
  { name: 'admin', password: 'admin', isAdministrator: true },
  { name: 'alice', password: 'alice', isAdministrator: false },
];
const MAX_BODY = 30_000_000; // Kestrel MaxRequestBodySize

/** NetworkConfiguration.BaseUrl setter. */
function normalizeBaseUrl(v: string | undefined): string {
  if (v === undefined || v.trim() === '') return '';
  let s = v.startsWith('/') ? v : '/' + v;
  if (s.endsWith('/')) s = s.slice(0, -1);
  return s;
}

function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

type Decision =
  | { kind: 'reply'; reply: Reply }
  | { kind: 'websocket'; principal: Principal; remoteIp: string };

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const version = opts.version ?? '10.11';
  const rules: CredentialRules = {
    version,
    enableLegacyAuthorization: opts.enableLegacyAuthorization ?? version !== '12.0',
  };
  const baseUrl = normalizeBaseUrl(opts.baseUrl);
  const now = opts.now ?? (() => Date.now());
  const lockout = lockoutFromPolicy(opts.loginAttemptsBeforeLockout ?? -1);
  const mediaSize = opts.mediaSize ?? 10 * 1024 * 1024;
  const network = networkConfigurationDto(baseUrl, { ...(opts.network ?? {}), KnownProxies: [...(opts.knownProxies ?? [])] });
  // ForwardedHeadersMiddleware reads the list as configured (changes apply at once here; Jellyfin reloads it too).
  const knownProxies = { has: (ip: string) => network.KnownProxies.map(normalizeIp).includes(ip) };
  const branding = { SplashscreenEnabled: false, ...(opts.branding ?? {}) };
  const itemId = newGuidN();
  const st = new JellyfinState({
    version,
    serverId: newGuidN(),
    serverName: opts.serverName ?? 'jellyfin-emulator',
    serverVersion: VERSION_STRING[version],
    quickConnectEnabled: opts.quickConnectEnabled ?? true,
    now,
  });
  for (const u of opts.users ?? DEFAULT_USERS) st.createUser(u.name, u.password, u.isAdministrator ?? false, lockout);

  const requests: Emulator['requests'] = [];
  const reached = new Map<string, number>();
  const admin: AdminState = {
    server: serverConfigurationDto(version, opts.serverName ?? 'jellyfin-emulator', rules.enableLegacyAuthorization),
    named: new Map<string, Record<string, unknown>>([
      ['branding', { LoginDisclaimer: '', CustomCss: '', SplashscreenEnabled: false }],
      ['encoding', { EncodingThreadCount: -1, TranscodingTempPath: '', EnableHardwareEncoding: true, HardwareAccelerationType: 'none', EncoderAppPath: '/usr/lib/jellyfin-ffmpeg/ffmpeg' }],
      ['metadata', { UseFileCreationTimeForDateAdded: true }],
    ]),
    plugins: [
      { Name: 'TMDb', Version: '10.11.11.0', Description: 'Get metadata for movies and other video content from TheMovieDb.', Id: 'b8715ed16c4745289ad3f72deb539cd4', CanUninstall: false, HasImage: false, Status: 'Active' },
    ],
    packages: new Map([['Playback Reporting', ['16.0.0.0', '17.0.0.0']]]),
    installed: [],
    libraries: [{ Name: 'Movies', CollectionType: 'movies', Locations: ['/media/movies'] }],
    backups: ['jellyfin-backup-20260101000000.zip'],
    restores: [],
    shutdowns: 0,
  };
  let loginAttempts = 0;
  let restarts = 0;
  let localAddress = '';

  /** ForwardedHeadersMiddleware: walk X-Forwarded-For from the right while the peer is a known proxy. */
  function remoteIpOf(req: IncomingMessage, headers: HeaderBag): string {
    let ip = normalizeIp(req.socket.remoteAddress);
    const xff = (headers.get('x-forwarded-for') ?? []).join(',').split(',').map((s) => s.trim()).filter(Boolean);
    while (knownProxies.has(ip) && xff.length > 0) ip = normalizeIp(xff.pop());
    return ip;
  }

  /** [Authorize] policies: no identity → 401 (challenge), identity without the role → 403 (forbid). */
  function authorize(policy: Policy, p: Principal, remoteIp: string): Reply | null {
    if (policy === 'anonymous') return null;
    // LocalAccessHandler: NetworkManager.IsInLocalNetwork(remote IP) — loopback and private ranges by default.
    if (policy === 'localAccessOrElevated' && isInLocalNetwork(remoteIp)) return null;
    if (p.kind !== 'authenticated') return emptyReply(401);
    if ((policy === 'elevated' || policy === 'localAccessOrElevated') && !p.isAdministrator) return emptyReply(403);
    return null;
  }

  /**
   * LegacyEmbyRouteRewriteMiddleware (10.10/10.11): a plain prefix test on "/emby" and
   * "/mediabrowser" (no segment boundary), and the remainder is assigned back through PathString's
   * implicit conversion, which percent-decodes it AGAIN (all but %2F) and throws for a remainder
   * that does not start with '/' (→ 400).
   */
  function stripLegacyPrefix(path: string): string {
    for (const prefix of ['/emby', '/mediabrowser']) {
      if (!startsWithIgnoreCase(path, prefix)) continue;
      const rest = path.slice(prefix.length);
      if (rest === '') return rest;
      if (!rest.startsWith('/')) throw new DotnetException('Argument', "The path in 'value' must start with '/'.");
      const again = decodePathPercent(rest, true);
      if (again === null) throw new DotnetException('InvalidOperation', 'The path contains null characters.');
      return again;
    }
    return path;
  }

  /** UseDefaultFiles + UseStaticFiles on /web (the prefix matches case-insensitively, file names do not). */
  function serveWeb(path: string, method: string, rawQuery: string): Reply | null {
    if (method !== 'GET' && method !== 'HEAD') return null;
    const rest = startsWithSegments(path, '/web');
    if (rest === null) return null;
    if (rest === '') {
      return emptyReply(301, { Location: `${baseUrl}${path}/${rawQuery ? '?' + rawQuery : ''}` });
    }
    if (rest !== '/' && rest !== '/index.html') return null;
    return {
      status: 200,
      headers: {
        'Content-Type': 'text/html',
        'Cache-Control': 'no-cache',
        'Accept-Ranges': 'bytes',
        'Last-Modified': new Date(0).toUTCString(),
        ETag: '"1d0a1b2c3d4e5f6"',
      },
      body: Buffer.from(webIndexHtml({ standIn: opts.standInWebClient === true })),
    };
  }

  function pipeline(req: IncomingMessage, body: Buffer, isUpgrade: boolean): Decision {
    const reply = (r: Reply): Decision => ({ kind: 'reply', reply: r });
    const method = (req.method ?? 'GET').toUpperCase();
    const target = normalizeTarget(req.url ?? '/');
    if (!target) return reply(emptyReply(400));
    let path = target.path;

    // BaseUrlRedirectionMiddleware: anything outside the BaseUrl (and the bare root) → web client.
    if (
      path === '' ||
      path === '/' ||
      (baseUrl !== '' && (equalsIgnoreCase(path, baseUrl) || equalsIgnoreCase(path, baseUrl + '/') || !startsWithIgnoreCase(path, baseUrl)))
    ) {
      return reply(emptyReply(302, { Location: `${baseUrl}/web/` }));
    }
    // app.Map(BaseUrl): segment-wise, case-insensitive.
    const inBase = startsWithSegments(path, baseUrl);
    if (inBase === null) return reply(emptyReply(404));
    path = inBase;

    const headers = headerBag(req.rawHeaders);
    const remoteIp = remoteIpOf(req, headers);
    try {
      if (version !== '12.0') path = stripLegacyPrefix(path);

      const web = serveWeb(path, method, target.rawQuery);
      if (web) return reply(web);

      // UseAuthentication: the identity is computed from the query as sent...
      const rawQuery = parseQuery(target.rawQuery);
      const principal = st.authenticate(st.getAuthorizationInfo(readCredentials(headers, rawQuery, rules)));
      // ...and only then UseQueryStringDecoding rewrites it for everything after.
      const query: QueryBag = urlDecodeQueryFeature(rawQuery);

      const match = matchRoute(path, method, version);
      if (match.kind === 'matched') {
        const key = `${method} ${match.route.template}`;
        reached.set(key, (reached.get(key) ?? 0) + 1);
        const denied = authorize(match.route.policy, principal, remoteIp);
        if (denied) return reply(denied);
      }

      // WebSocketHandlerMiddleware → WebSocketManager: any path; AuthService.Authenticate again
      // (with the decoded query); a missing/invalid token or a disabled user is a SecurityException.
      if (isUpgrade) {
        const wsPrincipal = st.authenticate(st.getAuthorizationInfo(readCredentials(headers, query, rules)));
        if (wsPrincipal.kind !== 'authenticated') throw new DotnetException('Security', 'Token is required');
        return { kind: 'websocket', principal, remoteIp };
      }

      if (match.kind === 'none') return reply(emptyReply(404));
      if (match.kind === 'methodNotAllowed') return reply(emptyReply(405, { Allow: match.allow.join(', ') }));

      const ctx: RequestContext = {
        st,
        version,
        method,
        params: match.params,
        query,
        headers,
        body,
        principal,
        remoteIp,
        profile: jsonProfile(headers.get('accept')?.join(',')),
        localAddress,
        mediaSize,
        itemId,
        branding,
        credentials: () => readCredentials(headers, query, rules),
        countLoginAttempt: () => {
          loginAttempts++;
        },
        restart: () => {
          restarts++;
        },
        namedConfiguration: (key) => (key.toLowerCase() === 'network' ? network : admin.named.get(key.toLowerCase())),
        admin,
      };
      return reply(match.route.handle(ctx));
    } catch (e) {
      // ExceptionMiddleware
      return reply(exceptionReply(e instanceof DotnetException ? e.status : 500));
    }
  }

  // Kestrel writes a Date header; it follows the emulator's clock (a test of clock skew moves it).
  const commonHeaders = (): Record<string, string> => ({ Date: new Date(now()).toUTCString(), Server: 'Kestrel', 'X-Response-Time-ms': '1' });

  function record(req: IncomingMessage): void {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    record(req);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (tooLarge) {
        writeReply(req, res, emptyReply(413), commonHeaders());
        return;
      }
      const decision = pipeline(req, Buffer.concat(chunks), false);
      const r = decision.kind === 'reply' ? decision.reply : exceptionReply(500);
      try {
        writeReply(req, res, r, commonHeaders());
      } catch {
        res.destroy();
      }
    });
    req.on('error', () => res.destroy());
  }

  /** A refused upgrade is an ordinary HTTP response written on the raw socket. */
  function writeRaw(socket: Socket, r: Reply): void {
    const body = r.body ?? Buffer.alloc(0);
    const headers = { ...commonHeaders(), ...(r.headers ?? {}), 'Content-Length': String(body.length), Connection: 'close' };
    const head = [`HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  }

  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();

  /**
   * SessionWebSocketListener: the session comes from HttpContext.User (the identity computed before
   * query decoding); only a user token finds one, and only then is ForceKeepAlive sent (Data = 60,
   * the lost-connection timeout). KeepAlive messages are answered with KeepAlive.
   */
  function onSocket(ws: WebSocket, principal: Principal, remoteIp: string): void {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    const send = (messageType: string, data?: unknown) =>
      ws.send(JSON.stringify({ MessageType: messageType, ...(data === undefined ? {} : { Data: data }), MessageId: newGuidN() }));
    if (principal.kind === 'authenticated' && principal.user && principal.info.deviceRecord) {
      const d = principal.info.deviceRecord;
      st.logSessionActivity(d.appName, d.appVersion, d.deviceId, d.deviceName, remoteIp, principal.user);
      send('ForceKeepAlive', 60);
    }
    ws.on('message', (raw) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(String(raw)) as Record<string, unknown>;
      } catch {
        return;
      }
      const type = msg['MessageType'] ?? msg['messageType'];
      if (type === 'KeepAlive') send('KeepAlive');
      else if (type === 'Echo') send('Echo', msg['Data'] ?? msg['data']); // test hook, not Jellyfin's
    });
  }

  const server = createServer(onRequest);
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    record(req);
    socket.on('error', () => socket.destroy());
    // WebSocketHandlerMiddleware hands anything but a WebSocket handshake (HttpContext.WebSockets
    // .IsWebSocketRequest: GET, Upgrade: websocket, version 13, a key) to the next middleware — MVC runs
    // it as an ordinary request, whatever its path and method (Jellyfin.Api/Middleware/
    // WebSocketHandlerMiddleware.cs). Kestrel refuses a body on an upgradable request, so it has none.
    const decision = pipeline(req, Buffer.alloc(0), isWebSocketRequest(req));
    if (decision.kind === 'reply') {
      writeRaw(socket, decision.reply);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, decision.principal, decision.remoteIp));
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  localAddress = origin + baseUrl;

  const toDto = (o: Parameters<typeof authenticationResultDto>[1]) => authenticationResultDto(st, o);

  const emulator: Emulator = {
    url: origin + baseUrl,
    port,
    serverId: st.cfg.serverId,
    version,
    itemId,
    get quickConnectEnabled() {
      return st.cfg.quickConnectEnabled;
    },
    set quickConnectEnabled(v: boolean) {
      st.cfg.quickConnectEnabled = v;
    },
    requests,
    network,
    admin,
    reached: (route) => reached.get(route) ?? 0,
    get restarts() {
      return restarts;
    },
    get loginAttempts() {
      return loginAttempts;
    },
    set loginAttempts(v: number) {
      loginAttempts = v;
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    user(name) {
      const u = [...st.users.values()].find((x) => x.name.toLowerCase() === name.toLowerCase());
      if (!u) throw new Error(`emulator: no user named ${name}`);
      return u;
    },
    addUser(name, password, isAdministrator = false) {
      return st.createUser(name, password, isAdministrator, lockout);
    },
    createApiKey(appName) {
      return st.createApiKey(appName).accessToken;
    },
    loginDirect(name, password, deviceId) {
      const o = st.authenticateNewSession(
        {
          app: 'Emulator Direct',
          appVersion: '1.0.0',
          deviceId: deviceId ?? newGuidN(),
          deviceName: 'Direct',
          username: name,
          password,
          remoteEndPoint: '127.0.0.1',
        },
        true,
      );
      return o.accessToken;
    },
    authorizeQuickConnectDirect(code, userId) {
      st.authorizeRequest(userId.replace(/-/g, '').toLowerCase(), code, toDto);
    },
    isTokenValid(token) {
      return st.isUserTokenLive(token);
    },
  };
  return emulator;
}

/** NetworkManager.IsInLocalNetwork with no LocalNetworkSubnets configured: loopback and the private ranges. */
function isInLocalNetwork(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (/^127\./.test(v4) || /^10\./.test(v4) || /^192\.168\./.test(v4) || /^172\.(1[6-9]|2\d|3[01])\./.test(v4)) return true;
  const l = ip.toLowerCase();
  return l === '::1' || /^f[cd][0-9a-f]{2}:/.test(l) || /^fe[89ab][0-9a-f]:/.test(l);
}

/** ASP.NET Core's HandshakeHelpers: what makes an upgrade a WebSocket request. */
function isWebSocketRequest(req: IncomingMessage): boolean {
  const tokens = (v: string | string[] | undefined) =>
    (Array.isArray(v) ? v.join(',') : (v ?? '')).split(',').map((t) => t.trim().toLowerCase());
  const key = req.headers['sec-websocket-key'];
  return (
    req.method === 'GET' &&
    tokens(req.headers.connection).includes('upgrade') &&
    tokens(req.headers.upgrade).includes('websocket') &&
    req.headers['sec-websocket-version'] === '13' &&
    typeof key === 'string' &&
    Buffer.from(key, 'base64').length === 16
  );
}
