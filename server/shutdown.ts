import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { closeWebSocket } from './jellyfin/proxy-upgrade.ts';

/**
 * A graceful stop for the HTTP server, as `docker stop` and `systemctl stop` ask for it with SIGTERM:
 * stop accepting connections, let requests and streams in flight finish within a grace period (below
 * Docker's 10 s before SIGKILL), then close WebSockets with 1001 "going away" and cut what is left.
 *
 * Nothing is added per request (the proxied path stays as it is): the server's own connection count,
 * less the upgraded sockets, tells how many HTTP connections are still busy once idle ones are closed.
 */
export interface Drain {
  /** Resolves when no HTTP connection is busy any more, or after `graceMs`; returns how many still were. */
  drain(graceMs: number): Promise<{ unfinished: number }>;
  /** Close every proxied WebSocket (1001 when `graceful`, else cut). */
  closeWebSockets(graceful: boolean): void;
}

export function drainable(server: http.Server): Drain {
  const sockets = new Set<Duplex>();
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  /**
   * Close the connections that are idle AND have nothing left to send. Node's own closeIdleConnections
   * destroys a connection as soon as its response has ended, even while the end of a download still sits
   * in the socket's buffer for a slow client — which cut downloads short by their last chunks.
   */
  const closeIdle = () => {
    for (const c of connections) {
      if (sockets.has(c)) continue;
      const inFlight = (c as Socket & { _httpMessage?: unknown })._httpMessage;
      if (!inFlight && c.writableLength === 0) c.destroy();
    }
  };
  const busyConnections = (): Promise<number> =>
    new Promise((resolve) => server.getConnections((err, n) => resolve(err ? 0 : Math.max(0, n - sockets.size))));
  return {
    async drain(graceMs) {
      if (server.listening) server.close();
      const deadline = Date.now() + graceMs;
      // Kept-alive connections between requests are idle: closing them is safe; busy ones finish first.
      closeIdle();
      let busy = await busyConnections();
      while (busy > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        closeIdle();
        busy = await busyConnections();
      }
      return { unfinished: busy };
    },
    closeWebSockets(graceful) {
      for (const s of sockets) {
        if (graceful) closeWebSocket(s, 1001, 'Jellyguard is restarting');
        else s.destroy();
      }
    },
  };
}
