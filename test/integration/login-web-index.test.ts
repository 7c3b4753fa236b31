import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { LOGIN_PAGE_CSP } from '../../server/api/login-page.ts';

/**
 * jellyfin-web's index.html gets the Jellyguard script whatever the client asked for (compressed,
 * conditional, HEAD, any path variant, under a BaseUrl), and the gateway serves the login page and the
 * script from under /JellyfinSecurity/ — real HTTP through the real gateway to the Jellyfin emulator.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TAG = '<script src="/JellyfinSecurity/inject.js" defer></script>';
const TAG_JF = '<script src="/jellyfin/JellyfinSecurity/inject.js" defer></script>';

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request with exactly these headers; the body as sent, never decompressed. */
function raw(base: string, method: string, target: string, headers: Record<string, string> = {}): Promise<Raw> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: target, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function decodeBody(r: Raw): string {
  const enc = r.headers['content-encoding'];
  if (enc === 'br') return brotliDecompressSync(r.body).toString('utf8');
  if (enc === 'gzip') return gunzipSync(r.body).toString('utf8');
  return r.body.toString('utf8');
}

function expectInjected(r: Raw, tag = TAG): string {
  expect(r.status).toBe(200);
  expect(r.headers['content-encoding'] ?? 'identity').toBe('identity');
  expect(r.headers['content-type']).toMatch(/^text\/html/);
  expect(Number(r.headers['content-length'])).toBe(r.body.length);
  expect(r.headers.etag).toBeUndefined();
  expect(r.headers['last-modified']).toBeUndefined();
  expect(r.headers['cache-control']).toBe('no-cache');
  const html = r.body.toString('utf8');
  expect(html).toContain(`${tag}</head>`);
  expect(html.split(tag)).toHaveLength(2); // exactly once
  expect(html).toContain('main.jellyfin.bundle.js'); // the rest of jellyfin-web's page is intact
  return html;
}

describe('the script in jellyfin-web’s index.html', () => {
  let jf: Emulator;
  let gw: TestGateway;

  beforeAll(async () => {
    jf = await startEmulator();
    gw = await startGateway({ upstreamUrl: jf.url });
  });
  afterAll(async () => {
    await gw?.close();
    await jf?.close();
  });

  it('is injected into a compressed request, answered uncompressed with a correct length', async () => {
    // Jellyfin itself would compress this page (br before gzip): the gateway must not pass that on unread.
    const direct = await raw(jf.url, 'GET', '/web/index.html', { 'accept-encoding': 'gzip, br' });
    expect(direct.headers['content-encoding']).toBe('br');
    expect(decodeBody(direct)).not.toContain('inject.js');

    const seen = jf.requests.length;
    for (const enc of ['gzip, br', 'br', 'gzip', 'deflate', 'identity', '*']) {
      expectInjected(await raw(gw.url, 'GET', '/web/index.html', { 'accept-encoding': enc }));
    }
    // The gateway asked Jellyfin for identity every time.
    const asked = jf.requests.slice(seen).filter((r) => r.url === '/web/index.html');
    expect(asked).toHaveLength(6);
    for (const r of asked) expect(r.headers['accept-encoding']).toBe('identity');
  });

  it('is injected in every path variant Jellyfin serves the page at', async () => {
    for (const target of ['/web/', '/web/index.html', '/WEB/Index.HTML', '/Web/', '/emby/web/index.html', '/mediabrowser/web/', '//web//index.html', '/web/./index.html', '/web/%69ndex.html', '/web/index.html?v=1']) {
      const r = await raw(gw.url, 'GET', target, { 'accept-encoding': 'gzip, br' });
      // Jellyfin's file names are case-sensitive: /WEB/Index.HTML is not its page (404), passed on as such.
      if (r.status === 404) {
        const direct = await raw(jf.url, 'GET', target);
        expect(direct.status, target).toBe(404);
        continue;
      }
      expectInjected(r);
    }
  });

  it('passes /web on as Jellyfin answers it (its redirect to /web/)', async () => {
    const r = await raw(gw.url, 'GET', '/web', { 'accept-encoding': 'gzip' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('/web/');
  });

  it('is never answered from a validator: conditional and range requests get the whole injected page', async () => {
    const etag = (await raw(jf.url, 'GET', '/web/index.html')).headers.etag!;
    expect(etag).toBeTruthy();
    const r = await raw(gw.url, 'GET', '/web/index.html', {
      'if-none-match': etag,
      'if-modified-since': new Date().toUTCString(),
      range: 'bytes=0-10',
    });
    expectInjected(r);
    const upstream = jf.requests.filter((q) => q.url === '/web/index.html').at(-1)!;
    expect(upstream.headers['if-none-match']).toBeUndefined();
    expect(upstream.headers['if-modified-since']).toBeUndefined();
    expect(upstream.headers.range).toBeUndefined();
  });

  it('answers HEAD with the injected length and no body', async () => {
    const get = await raw(gw.url, 'GET', '/web/index.html');
    const head = await raw(gw.url, 'HEAD', '/web/index.html', { 'accept-encoding': 'gzip, br' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBe(get.body.length);
    expect(head.headers.etag).toBeUndefined();
  });

  it('leaves other methods and other files alone', async () => {
    const post = await raw(gw.url, 'POST', '/web/index.html', { 'content-length': '0' });
    const postDirect = await raw(jf.url, 'POST', '/web/index.html', { 'content-length': '0' });
    expect(post.status).toBe(postDirect.status);
    expect(post.body.toString()).not.toContain('inject.js');
    const bundle = await raw(gw.url, 'GET', '/web/main.jellyfin.bundle.js');
    expect(bundle.status).toBe((await raw(jf.url, 'GET', '/web/main.jellyfin.bundle.js')).status);
    expect(bundle.body.toString()).not.toContain('inject.js');
  });

  it('serves the script itself, revalidated, with an ETag', async () => {
    const r = await raw(gw.url, 'GET', '/JellyfinSecurity/inject.js');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.body.toString()).toBe(readFileSync(path.join(ROOT, 'pwa', 'login', 'inject.js'), 'utf8'));
    const again = await raw(gw.url, 'GET', '/jellyfinsecurity/INJECT.JS', { 'if-none-match': r.headers.etag! });
    expect(again.status).toBe(304);
  });

  it('answers 502 when Jellyfin is down, instead of an uninjected page', async () => {
    const down = await startGateway({ upstreamUrl: 'http://127.0.0.1:9' });
    try {
      const r = await raw(down.url, 'GET', '/web/');
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body.toString())).toMatchObject({ error: 'upstream_unavailable' });
    } finally {
      await down.close();
    }
  });
});

describe('the login page', () => {
  let jf: Emulator;
  let gw: TestGateway;

  beforeAll(async () => {
    if (!existsSync(path.join(ROOT, 'dist', 'pwa', 'login.html'))) throw new Error('dist/pwa/login.html is missing: run "npm run build" first');
    jf = await startEmulator({ baseUrl: '/jellyfin' });
    gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, config: { BaseUrl: '/jellyfin' } });
  });
  afterAll(async () => {
    await gw?.close();
    await jf?.close();
  });

  it('injects the script under the BaseUrl', async () => {
    expectInjected(await raw(gw.url, 'GET', '/jellyfin/web/', { 'accept-encoding': 'gzip, br' }), TAG_JF);
    expectInjected(await raw(gw.url, 'GET', '/JELLYFIN/web/index.html', { 'accept-encoding': 'br' }), TAG_JF);
    expect((await raw(gw.url, 'GET', '/jellyfin/JellyfinSecurity/inject.js')).status).toBe(200);
  });

  it('sends /login to /login/ (relative assets resolve there), keeping the query', async () => {
    const r = await raw(gw.url, 'GET', '/jellyfin/JellyfinSecurity/login?return=%2Fjellyfin%2Fweb%2F');
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('/jellyfin/JellyfinSecurity/login/?return=%2Fjellyfin%2Fweb%2F');
  });

  it('serves the page with a strict Content-Security-Policy, not framable, and its assets', async () => {
    const r = await raw(gw.url, 'GET', '/jellyfin/JellyfinSecurity/login/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['content-security-policy']).toBe(LOGIN_PAGE_CSP);
    expect(LOGIN_PAGE_CSP).toContain("script-src 'self'");
    expect(LOGIN_PAGE_CSP).toContain("frame-ancestors 'none'");
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['referrer-policy']).toBe('no-referrer');
    expect(r.headers['cache-control']).toBe('no-cache');
    const html = r.body.toString();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script: CSP would refuse it
    expect(html).not.toContain('rel="manifest"'); // not the Authenticator's installable app
    const assets = [...html.matchAll(/(?:src|href)="\.\/((?:assets|icons)\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const a of assets) {
      const asset = await raw(gw.url, 'GET', `/jellyfin/JellyfinSecurity/login/${a}`);
      expect(asset.status, a).toBe(200);
      if (a.startsWith('assets/')) expect(asset.headers['cache-control'], a).toContain('immutable');
    }
  });

  it('serves nothing else from under login/', async () => {
    for (const target of [
      '/jellyfin/JellyfinSecurity/login/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/jellyfin/JellyfinSecurity/login/assets/..%2f..%2f..%2f..%2fpackage.json',
      '/jellyfin/JellyfinSecurity/login/sw.js',
      '/jellyfin/JellyfinSecurity/login/login.html/x',
      '/jellyfin/JellyfinSecurity/login/icons/../../../../server/app.ts',
    ]) {
      const r = await raw(gw.url, 'GET', target);
      expect(r.status, target).not.toBe(200);
      expect(r.body.toString(), target).not.toContain('"name": "jellyguard"');
    }
  });
});
