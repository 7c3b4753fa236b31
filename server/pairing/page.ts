import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import QRCode from 'qrcode';
import type { GatewayContext } from '../context.ts';
import { pairPageUrl } from '../../shared/api/pairing.ts';
import { PACKAGE_ROOT } from '../root.ts';

/**
 * The big-screen pairing page: server-rendered HTML, one small script and one stylesheet (pwa/pair/, no build step,
 * nothing inline, so a strict Content-Security-Policy holds), and the QR codes that open the phone's
 * approval page (shared/api/pairing.ts `pairPageUrl`).
 */
const DIR = path.join(PACKAGE_ROOT, 'pwa', 'pair');

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(file: string, type: string): Asset {
  const body = readFileSync(path.join(DIR, file));
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

export const PAIR_SCRIPT = asset('pair.js', 'text/javascript; charset=utf-8');
export const PAIR_STYLES = asset('pair.css', 'text/css; charset=utf-8');

export const PAIR_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Whether a phone could never open links to `origin`: it names this machine itself (localhost, 127.x, ::1). */
export function isLoopbackOrigin(origin: string): boolean {
  if (!origin) return false;
  const host = new URL(origin).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1';
}

/**
 * The page itself. `baseUrl` is Jellyfin's BaseUrl ('' or '/jellyfin'); `qrOrigin` the origin the QR
 * code's link uses — on a loopback host (no PublicUrl) the page says a phone cannot open it.
 */
export function pairPageHtml(baseUrl: string, opts: { qrOrigin?: string } = {}): string {
  const b = escapeHtml(baseUrl);
  const loopbackWarning = isLoopbackOrigin(opts.qrOrigin ?? '')
    ? `\n    <p class="qr-warning" data-testid="qr-warning">A phone cannot open this code: it points to ${escapeHtml(new URL(opts.qrOrigin!).host)}, this machine itself. Type the code in the app instead, or ask whoever runs the server to set <b>PublicUrl</b> to the address phones use.</p>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>Sign in this screen · Jellyfin</title>
<link rel="stylesheet" href="${b}/JellyfinSecurity/pair.css">
<script src="${b}/JellyfinSecurity/pair.js" defer></script>
</head>
<body data-base-url="${b}">
<main class="pair">
  <section class="code-side">
    <p class="brand">Jellyfin <span id="server-name"></span></p>
    <h1>Sign in this screen with your phone</h1>
    <p class="lead">Scan the code with your phone’s camera, or open the <b>Jellyguard Authenticator</b>, choose <b>Sign in a TV</b> and enter:</p>
    <div class="code" id="code" aria-live="polite"></div>
    <p class="status" id="status" role="status">Getting a code…</p>
    <p class="expiry" id="expiry"></p>
    <noscript><p class="status error">This page needs JavaScript.</p></noscript>
  </section>
  <section class="qr-side">
    <img id="qr" alt="QR code: scan it with your phone to approve this screen" hidden>
    <p class="qr-hint">Approve on your phone with a tap.</p>${loopbackWarning}
  </section>
</main>
</body>
</html>
`;
}

/** The origin links are built for: PublicUrl when configured, else the one the request reached. */
export function publicOrigin(ctx: GatewayContext, publicUrl: string | undefined): string {
  if (publicUrl) return new URL(publicUrl).origin;
  const proto = ctx.state.client.proto ?? ('encrypted' in ctx.req.socket ? 'https' : 'http');
  const host = ctx.state.client.host ?? ctx.get('host');
  // A Host that is not a plain host[:port] never makes it into a link.
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return '';
  return `${proto}://${host}`;
}

/** The QR code (SVG) of the phone's approval page for a code. */
export function pairQrSvg(origin: string, baseUrl: string, code: string): Promise<string> {
  return QRCode.toString(pairPageUrl(origin, baseUrl, code), { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/** The same as a PNG (for devices that show an image URL). */
export function pairQrPng(origin: string, baseUrl: string, code: string): Promise<Buffer> {
  return QRCode.toBuffer(pairPageUrl(origin, baseUrl, code), { type: 'png', errorCorrectionLevel: 'M', margin: 2, width: 480 });
}

/** Send a static asset with revalidation by ETag. */
export function sendAsset(ctx: GatewayContext, a: Asset): void {
  ctx.set('cache-control', 'no-cache');
  ctx.set('etag', a.etag);
  ctx.set('x-content-type-options', 'nosniff');
  if (ctx.get('if-none-match') === a.etag) {
    ctx.status = 304;
    return;
  }
  ctx.status = 200;
  ctx.type = a.type;
  ctx.body = a.body;
}
