import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The Authenticator PWA, served by the gateway at /JellyfinSecurity/app/ (under Jellyfin's BaseUrl when
// it has one, so asset URLs are relative).
export default defineConfig({
  root: 'pwa',
  base: './',
  publicDir: '../public',
  plugins: [svelte()],
  build: { outDir: '../dist/pwa', emptyOutDir: true },
});
