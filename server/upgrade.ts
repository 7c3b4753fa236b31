import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from './log.ts';
import type { CidrList } from './net/cidr.ts';
import { clientOf } from './net/middleware.ts';
import type { PathNormalizer } from './jellyfin/paths.ts';
import { isGatewayRoute } from './jellyfin/paths.ts';
import { credentialOf, forwardInfoOf, rawPathOf, routeOf } from './jellyfin/middleware.ts';
import { banOf } from './guard/middleware.ts';
import { refuseUpgrade, type JellyfinProxy } from './jellyfin/proxy.ts';
import type { TokenGate } from './gate/index.ts';
import type { Guard } from './guard/index.ts';

export interface UpgradeDeps {
  trustedProxies: CidrList;
  forwardedHeader: 'x-forwarded-for' | 'forwarded';
  paths: PathNormalizer;
  gate: TokenGate;
  proxy: JellyfinProxy;
  log: Logger;
  /** Refuses banned addresses first, as on HTTP. */
  guard?: Pick<Guard, 'refusal'>;
}

/** Jellyfin's own refusal of an upgrade (JELLYFIN.md §1). */
const REFUSED = 'Error processing request.';

/**
 * The pipeline for upgrades (the WebSocket on /socket, or any path): client address, path, credential,
 * token gate — the same steps as HTTP — then the sockets are piped both ways. Refused: 403, nothing
 * forwarded.
 */
export function handleUpgrade(deps: UpgradeDeps) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const url = req.url ?? '/';
    const client = clientOf(req, deps.trustedProxies, deps.forwardedHeader);
    if (deps.guard && banOf(deps.guard, client, req)) return refuseUpgrade(socket, 403, REFUSED);
    // Node hands every request with `Connection: Upgrade` here, whatever its method; Jellyfin runs any
    // that is not a WebSocket handshake as an ordinary request (WebSocketHandlerMiddleware → MVC). Piped,
    // a `DELETE /Users/{id}` or `POST /System/Restart` would skip every step after the gate: refused.
    if (!isWebSocketHandshake(req)) return refuseUpgrade(socket, 400, 'Only a WebSocket handshake (GET) can be upgraded.');
    const route = routeOf(deps.paths, req);
    if (route === null || isGatewayRoute(route)) return refuseUpgrade(socket, 403, REFUSED);
    const { candidates } = credentialOf(req);
    const forward = () => deps.proxy.upgrade(req, socket, head, forwardInfoOf(req, client));
    if (candidates.length === 0) return forward();
    const refuse = (reason: string) => {
      deps.gate.noteRefusal(client.ip, reason, { path: rawPathOf(url), upgrade: true });
      refuseUpgrade(socket, 403, REFUSED);
    };
    const fast = deps.gate.checkFast(candidates);
    if (fast) return fast.pass ? forward() : refuse(fast.reason);
    deps.gate.check(candidates).then(
      (d) => (d.pass ? forward() : refuse(d.reason)),
      (e) => {
        deps.log.error('upgrade gate check failed', e);
        refuseUpgrade(socket, 403, REFUSED);
      },
    );
  };
}

function headerTokens(v: string | string[] | undefined): string[] {
  return (Array.isArray(v) ? v.join(',') : (v ?? '')).split(',').map((t) => t.trim().toLowerCase());
}

/**
 * ASP.NET Core's `IsWebSocketRequest` (HandshakeHelpers): GET, `Connection: Upgrade`, `Upgrade: websocket`,
 * version 13 and a 16-byte key. Only then does Jellyfin open a socket instead of running the request.
 */
export function isWebSocketHandshake(req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key'];
  return (
    req.method === 'GET' &&
    headerTokens(req.headers.connection).includes('upgrade') &&
    headerTokens(req.headers.upgrade).includes('websocket') &&
    req.headers['sec-websocket-version'] === '13' &&
    typeof key === 'string' &&
    Buffer.from(key, 'base64').length === 16
  );
}
