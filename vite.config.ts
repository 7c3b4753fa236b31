import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'pwa');

/**
 * The pages built into dist/pwa, one entry each (multi-entry: add a line, don't replace the list). The
 * HTML entries stay at pwa/ so the built pages keep their names; their code is in pwa/app/, pwa/login/
 * and pwa/common/ (what both use).
 * - app: the Authenticator PWA (pwa/index.html), served by the gateway at {BaseUrl}/JellyfinSecurity/app/
 * - login: the web login page (pwa/login.html), when present
 */
const pages: Record<string, string> = {
  app: path.join(root, 'index.html'),
  ...(existsSync(path.join(root, 'login.html')) ? { login: path.join(root, 'login.html') } : {}),
};

// Asset URLs are relative, so the same build works under any Jellyfin BaseUrl.
export default defineConfig({
  root: 'pwa',
  base: './',
  publicDir: '../public',
  plugins: [
    svelte(),
    // The Authenticator's service worker (pwa/app/sw.ts): precache + push + notification click. The app
    // registers it itself (pwa/app/lib/sw-register.svelte.ts) and updates only when the user says so.
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'app',
      filename: 'sw.ts',
      injectRegister: false,
      manifestFilename: 'manifest.webmanifest',
      manifest: {
        id: './',
        name: 'Jellyguard Authenticator',
        short_name: 'Jellyguard',
        description: 'Approve sign-ins to your Jellyfin server with one tap.',
        lang: 'en',
        // Relative: the app lives at {BaseUrl}/JellyfinSecurity/app/ and the manifest beside it.
        start_url: './',
        scope: './',
        display: 'standalone',
        orientation: 'portrait',
        background_color: '#101010',
        theme_color: '#00a4dc',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: 'icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      injectManifest: {
        // The app shell: the Authenticator's page, its assets, icons and manifest. Other pages built
        // here (the login page) are not part of the offline app.
        // (the manifest and its icons are added by the plugin itself).
        globPatterns: ['index.html', 'assets/*.{js,css}', 'icons/*.png'],
        globIgnores: ['assets/login-*'],
      },
      includeManifestIcons: false,
      devOptions: { enabled: false },
    }),
    // The web login page is not part of the installable app: drop the manifest link the PWA plugin adds.
    {
      name: 'jellyguard:login-page-without-manifest',
      enforce: 'post',
      transformIndexHtml: {
        order: 'post',
        handler: (html, ctx) => (ctx.filename.endsWith('login.html') ? html.replace(/\s*<link rel="manifest"[^>]*>/, '') : html),
      },
    },
  ],
  build: {
    outDir: '../dist/pwa',
    emptyOutDir: true,
    rollupOptions: { input: pages },
  },
});
