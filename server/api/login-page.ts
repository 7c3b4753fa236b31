import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GatewayContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { sendStatic } from './static.ts';
import { PACKAGE_ROOT } from '../root.ts';

/**
 * The browser side of a password login, under `{BaseUrl}/JellyfinSecurity/`:
 *
 *   GET login              → 302 to `login/` (query kept), so the page's relative asset URLs resolve
 *   GET login/             → the web login page (dist/pwa/login.html, built by Vite from pwa/login.html)
 *   GET login/assets/…, login/icons/…  → its built files (shared with the Authenticator's build)
 *   GET inject.js          → the script injected into jellyfin-web's index.html (pwa/login/inject.js, no build)
 *   GET stepup.js          → its "Confirm it's you" dialog, loaded on first need (pwa/login/stepup.js, no build)
 *
 * The page is a document of ours that handles passwords: it may not be framed, loads only our own
 * scripts and talks only to its own origin (a Content-Security-Policy says so), and sends no Referer.
 */

const DEFAULT_DIST = path.join(PACKAGE_ROOT, 'dist', 'pwa');
const DEFAULT_INJECT = path.join(PACKAGE_ROOT, 'pwa', 'login', 'inject.js');
const DEFAULT_STEP_UP_DIALOG = path.join(PACKAGE_ROOT, 'pwa', 'login', 'stepup.js');

export const LOGIN_PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Svelte sets a few style attributes; no inline <style> of anyone else can get in without a script.
  "style-src 'self' 'unsafe-inline'",
  // The TOTP QR code is a data: URL.
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function documentHeaders(ctx: GatewayContext): void {
  ctx.set('content-security-policy', LOGIN_PAGE_CSP);
  ctx.set('x-frame-options', 'DENY');
  ctx.set('referrer-policy', 'no-referrer');
  ctx.set('x-content-type-options', 'nosniff');
  ctx.set('cache-control', 'no-cache');
}

export interface LoginPageOptions {
  /** The Vite build output (default dist/pwa). */
  distDir?: string;
  /** The injected script (default pwa/login/inject.js). */
  injectFile?: string;
  /** Its step-up dialog (default pwa/login/stepup.js). */
  stepUpDialogFile?: string;
}

/** A script, read once; a gateway without it still starts and says what jellyfin-web does `without` it. */
function loadScript(file: string, warn: (m: string) => void, without: string): { body: Buffer; etag: string } | undefined {
  try {
    const body = readFileSync(file);
    return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
  } catch (e) {
    warn(`the jellyfin-web script ${file} cannot be read (${(e as Error).message}): ${without}`);
    return undefined;
  }
}

export function loginPageHandlers(baseUrl: string, warn: (m: string) => void, opts: LoginPageOptions = {}) {
  const dist = opts.distDir ?? DEFAULT_DIST;
  const scriptHandler = (script: ReturnType<typeof loadScript>) => (ctx: GatewayContext) => {
    if (!script) throw apiError('not_found', 'The jellyfin-web script is missing from this installation.');
    ctx.status = 200;
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('cache-control', 'no-cache');
    ctx.set('x-content-type-options', 'nosniff');
    ctx.etag = script.etag;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = script.body;
  };
  const inject = scriptHandler(loadScript(opts.injectFile ?? DEFAULT_INJECT, warn, 'jellyfin-web will show its own sign-in form'));
  const stepUpDialog = scriptHandler(
    loadScript(opts.stepUpDialogFile ?? DEFAULT_STEP_UP_DIALOG, warn, "jellyfin-web will show its own error where it should ask \"Confirm it's you\""),
  );

  // `/login` also matches `/login/` (the router is not strict about a trailing slash).
  const page = (ctx: GatewayContext) => {
    if (!ctx.path.endsWith('/')) {
      ctx.set('cache-control', 'no-cache');
      ctx.redirect(`${baseUrl}/JellyfinSecurity/login/${ctx.search}`);
      return;
    }
    if (!sendStatic(ctx, dist, 'login.html')) {
      ctx.status = 503;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.set('cache-control', 'no-store');
      ctx.body = 'The Jellyguard login page is not built. Run "npm run build" (npm start does it) and reload.';
      return;
    }
    documentHeaders(ctx);
  };

  const files = (ctx: GatewayContext & { params: Record<string, string> }) => {
    const rest = String((ctx.params as Record<string, string>).rest ?? '');
    const top = rest.split('/')[0]?.toLowerCase();
    if ((top === 'assets' || top === 'icons') && sendStatic(ctx, dist, rest, { immutable: top === 'assets' })) return;
    throw apiError('not_found', 'No such file');
  };

  return { inject, stepUpDialog, page, files };
}
