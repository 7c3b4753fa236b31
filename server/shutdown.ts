import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { closeWebSocket } from './jellyfin/proxy-upgrade.ts';

/**
 * A graceful stop for the HTTP server, as `docker stop` and `systemctl stop` ask for it with SIGTERM:
 * stop accepting connections, let requests and streams in flight finish within a grace period (below
 * Docker's 10 s before SIGKILL), then close WebSockets with 1001 "going away" and cut what is left.
 */
export interface Drain {
  /** Requests whose response has not closed yet. */
  readonly active: number;
  /** Resolves when every request finished or `graceMs` passed; returns how many were still running. */
  drain(graceMs: number): Promise<{ unfinished: number }>;
  /** Close every proxied WebSocket (1001 when `graceful`, else cut). */
  closeWebSockets(graceful: boolean): void;
}

export function drainable(server: http.Server): Drain {
  let active = 0;
  let draining = false;
  const sockets = new Set<Duplex>();
  function onResponseClose(): void {
    active--;
  }
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    active++;
    // While draining, a kept-alive connection gets no further request after this one.
    if (draining && !res.headersSent) res.setHeader('connection', 'close');
    res.on('close', onResponseClose);
  });
  server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    get active() {
      return active;
    },
    async drain(graceMs) {
      draining = true;
      if (server.listening) server.close();
      const deadline = Date.now() + graceMs;
      while (active > 0 && Date.now() < deadline) {
        server.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 25));
      }
      server.closeIdleConnections();
      return { unfinished: active };
    },
    closeWebSockets(graceful) {
      for (const s of sockets) {
        if (graceful) closeWebSocket(s, 1001, 'Jellyguard is restarting');
        else s.destroy();
      }
    },
  };
}
