/**
 * Fallback Jellyfin stand-in when nginx is not installed: a node static file server in its own process.
 * BENCH_ROOT = directory to serve. Prints `READY <url> node-static`.
 */
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

const root = process.env.BENCH_ROOT ?? '.';
const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const name = path.basename(new URL(req.url ?? '/', 'http://x').pathname);
  const file = path.join(root, name);
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    'content-type': name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    'content-length': size,
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file, { highWaterMark: 64 * 1024 }).pipe(res);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port} node-static\n`);
});
process.on('SIGTERM', () => process.exit(0));
