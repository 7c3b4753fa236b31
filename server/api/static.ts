import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import type { GatewayContext } from '../context.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * Serve a file from `root` for the sub-path `rel` (already stripped of the route prefix). Anything
 * that would leave `root` is refused; returns false when there is no such file.
 */
export function sendStatic(ctx: GatewayContext, root: string, rel: string, opts: { immutable?: boolean } = {}): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    return false;
  }
  if (decoded.includes('\0')) return false;
  const file = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  if (file !== root && !file.startsWith(root + path.sep)) return false;
  let st;
  try {
    st = statSync(file);
  } catch {
    return false;
  }
  if (!st.isFile()) return false;
  ctx.status = 200;
  ctx.type = TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  ctx.length = st.size;
  // Hashed build assets never change; everything else is revalidated so updates show at once.
  ctx.set('cache-control', opts.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  ctx.set('x-content-type-options', 'nosniff');
  ctx.body = ctx.method === 'HEAD' ? null : createReadStream(file);
  return true;
}
