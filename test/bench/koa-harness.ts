/**
 * A minimal gateway for benchmarking the proxy on its own: Koa, a token check like PERFORMANCE.md's (parse
 * `Token="…"` from the MediaBrowser header, one SHA-256, one Map lookup among 10,000 tokens), then
 * `ctx.respond = false; await proxy.forward(...)`. It has the same shape as the lead's
 * `startGatewayForBench` so the bench can run either.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { JellyfinProxy, refuseUpgrade, type ForwardInfo } from '../../server/jellyfin/proxy.ts';

export interface BenchGateway {
  url: string;
  markVerified(token: string): void | Promise<void>;
  close(): Promise<void>;
}

/** The token from `Authorization: MediaBrowser …, Token="…"` (bench only: the product has its own reader). */
export function tokenOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const at = header.indexOf('Token="');
  if (at === -1) return undefined;
  const end = header.indexOf('"', at + 7);
  return end === -1 ? undefined : header.slice(at + 7, end);
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64');

export async function startKoaHarness(opts: { upstreamUrl: string; port: number }): Promise<BenchGateway> {
  const verified = new Set<string>();
  const proxy = new JellyfinProxy({ url: opts.upstreamUrl });
  const app = new Koa();

  app.use(async (ctx, next) => {
    const token = tokenOf(ctx.req.headers.authorization);
    if (token !== undefined && !verified.has(hashOf(token))) {
      ctx.status = 401;
      ctx.body = { error: 'token_not_verified', message: 'This session was not approved.' };
      return;
    }
    await next();
  });

  app.use(async (ctx) => {
    ctx.respond = false;
    const info: ForwardInfo = { clientIp: ctx.req.socket.remoteAddress ?? '', proto: 'http', host: ctx.req.headers.host };
    await proxy.forward(ctx.req, ctx.res, info);
  });

  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, app.callback());
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
    const token = tokenOf(req.headers.authorization);
    if (token !== undefined && !verified.has(hashOf(token))) return refuseUpgrade(socket, 403, 'Error processing request.');
    proxy.upgrade(req, socket, head, { clientIp: req.socket.remoteAddress ?? '', proto: 'http', host: req.headers.host });
  });
  await new Promise<void>((resolve) => server.listen(opts.port, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    markVerified(token: string) {
      verified.add(hashOf(token));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
    },
  };
}
