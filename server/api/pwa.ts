import type { GatewayContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { sendStatic } from './static.ts';

/**
 * The Authenticator PWA (pwa/, built by Vite into dist/pwa), under `{BaseUrl}/JellyfinSecurity/`:
 *
 *   GET app                → 302 to `app/` (query kept), so the app's relative URLs resolve
 *   GET app/               → index.html (every page of the app: routes live in the URL's fragment)
 *   GET app/sw.js          → the service worker: `Cache-Control: no-cache` (a new version is seen at the
 *                            next update check) and `Service-Worker-Allowed` naming the app's scope
 *   GET app/assets/…       → hashed build files, cached for a year
 *   GET app/icons/…, app/manifest.webmanifest
 *   GET app/<anything else without a file extension> → index.html; a missing file → 404
 *
 * The app handles passwords, passkeys and recovery codes: its document may not be framed, loads only our
 * own scripts, talks only to its own origin (a Content-Security-Policy says so), and sends no Referer.
 */
export const APP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Svelte sets style attributes; index.html carries the small boot style.
  "style-src 'self' 'unsafe-inline'",
  // TOTP QR codes are data: URLs.
  "img-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function sendDocument(ctx: GatewayContext, dist: string): void {
  if (!sendStatic(ctx, dist, 'index.html')) {
    ctx.status = 503;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.set('cache-control', 'no-store');
    ctx.body = 'The Jellyguard Authenticator is not built. Run "npm run build" (npm start does it) and reload.';
    return;
  }
  ctx.set('content-security-policy', APP_CSP);
  ctx.set('x-frame-options', 'DENY');
  ctx.set('referrer-policy', 'no-referrer');
}

export function authenticatorAppHandlers(baseUrl: string, dist: string) {
  const scope = `${baseUrl}/JellyfinSecurity/app/`;

  // `/app` also matches `/app/` (the router is not strict about a trailing slash).
  const app = (ctx: GatewayContext) => {
    if (!ctx.path.endsWith('/')) {
      ctx.set('cache-control', 'no-cache');
      ctx.redirect(`${scope}${ctx.search}`);
      return;
    }
    sendDocument(ctx, dist);
  };

  const files = (ctx: GatewayContext & { params: Record<string, string> }) => {
    const rest = String((ctx.params as Record<string, string>).rest ?? '');
    if (rest === 'sw.js') {
      if (sendStatic(ctx, dist, 'sw.js')) ctx.set('service-worker-allowed', scope);
      return;
    }
    if (rest === 'index.html') return sendDocument(ctx, dist);
    const top = rest.split('/')[0]?.toLowerCase();
    if (sendStatic(ctx, dist, rest, { immutable: top === 'assets' })) return;
    // A page of the app (a bookmarked or shared link): the document; a missing file: 404.
    if (!/\.[A-Za-z0-9]+$/.test(rest)) return sendDocument(ctx, dist);
    throw apiError('not_found', 'No such file');
  };

  return { app, files };
}
