import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GatewayContext } from '../context.ts';
import { PACKAGE_ROOT } from '../root.ts';

/**
 * The pages a person sees at the end of single sign-on: server-rendered, one small script (no build step,
 * nothing inline, so a strict Content-Security-Policy holds), no Referer sent onwards (the callback URL
 * carries the provider's code).
 */
const SCRIPT_BODY = readFileSync(path.join(PACKAGE_ROOT, 'pwa', 'sso', 'complete.js'));
export const COMPLETE_SCRIPT = {
  body: SCRIPT_BODY,
  etag: `"${createHash('sha256').update(SCRIPT_BODY).digest('base64url').slice(0, 22)}"`,
};

export const SSO_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;background:#101010;color:#eee}a{color:#00a4dc}';

function page(ctx: GatewayContext, status: number, title: string, inner: string, bodyAttrs = ''): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('content-security-policy', SSO_PAGE_CSP);
  ctx.set('x-frame-options', 'DENY');
  ctx.set('referrer-policy', 'no-referrer');
  ctx.set('x-content-type-options', 'nosniff');
  ctx.set('cache-control', 'no-store');
  ctx.body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body${bodyAttrs}>
${inner}
</body></html>`;
}

/** A refusal, in words: what happened and what the person can do. `reason` is for support and tests. */
export function errorPage(ctx: GatewayContext, baseUrl: string, status: number, reason: string, message: string): void {
  page(
    ctx,
    status,
    'Sign-in did not work',
    `<h1>Sign-in did not work</h1>
<p id="message" data-reason="${esc(reason)}">${esc(message)}</p>
<p><a href="${esc(baseUrl)}/JellyfinSecurity/login/">Back to the sign-in page</a></p>`,
  );
}

/** Checked: the script collects this browser's Jellyfin session and opens jellyfin-web. */
export function completePage(ctx: GatewayContext, baseUrl: string, returnPath: string, userName: string): void {
  page(
    ctx,
    200,
    'Signing in…',
    `<h1>Signing in as ${esc(userName)}</h1>
<p id="status">Signing in to Jellyfin…</p>
<p id="again" hidden><a href="${esc(baseUrl)}/JellyfinSecurity/login/">Back to the sign-in page</a></p>
<script src="${esc(baseUrl)}/JellyfinSecurity/OIDC/complete.js"></script>`,
    ` data-base="${esc(baseUrl)}" data-return="${esc(returnPath)}"`,
  );
}

/** The provider's sign-in stands, but this account also needs the gateway's own second factor. */
export function secondFactorPage(ctx: GatewayContext, baseUrl: string, userName: string, providerName: string): void {
  page(
    ctx,
    403,
    'A second step is needed',
    `<h1>A second step is needed</h1>
<p id="message" data-reason="second_factor_required">${esc(userName)}, your account on this server is protected by a second factor, and your sign-in at ${esc(providerName)} did not include one this server accepts in its place. Please sign in on the sign-in page with your password and second factor.</p>
<p><a href="${esc(baseUrl)}/JellyfinSecurity/login/">Go to the sign-in page</a></p>`,
  );
}
