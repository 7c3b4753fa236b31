/**
 * Draws the Authenticator's icons (public/icons/*.png) by rendering an SVG in Debian's Chromium and
 * taking screenshots, so the PNGs are real raster images with antialiasing. Run it again after changing
 * the drawing:  node --import tsx pwa/tools/render-icons.ts
 *
 * - icon-192.png, icon-512.png: purpose "any" — a rounded dark tile with the shield.
 * - icon-maskable-512.png: purpose "maskable" — full-bleed background, the shield inside the 80 % safe
 *   circle (https://www.w3.org/TR/appmanifest/#icon-masks).
 * - apple-touch-icon.png (180): iOS ignores the manifest icons and rounds the corners itself.
 * - favicon-32.png.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public/icons');

/** The shield with a check mark, in a 100×100 box. */
const shield = `
  <defs>
    <linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#aa5cc3"/>
      <stop offset="1" stop-color="#00a4dc"/>
    </linearGradient>
  </defs>
  <path d="M50 8 L84 20 V46 C84 68 70 84 50 92 C30 84 16 68 16 46 V20 Z" fill="url(#g)"/>
  <path d="M34 50 L45 61 L67 38" fill="none" stroke="#fff" stroke-width="8" stroke-linecap="round" stroke-linejoin="round"/>`;

function svg(kind: 'any' | 'maskable' | 'apple'): string {
  // "any": transparent corners around a rounded tile; maskable/apple: full-bleed background.
  const bg =
    kind === 'any'
      ? '<rect x="2" y="2" width="96" height="96" rx="22" fill="#101010"/>'
      : '<rect width="100" height="100" fill="#101010"/>';
  // The maskable shield must fit in the safe circle (radius 40): scale it to 64 % around the centre.
  const scale = kind === 'maskable' ? 0.64 : kind === 'apple' ? 0.78 : 0.8;
  const t = `translate(${50 - 50 * scale} ${50 - 50 * scale}) scale(${scale})`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="100%" height="100%">${bg}<g transform="${t}">${shield}</g></svg>`;
}

const targets: Array<{ file: string; size: number; kind: 'any' | 'maskable' | 'apple' }> = [
  { file: 'icon-192.png', size: 192, kind: 'any' },
  { file: 'icon-512.png', size: 512, kind: 'any' },
  { file: 'icon-maskable-512.png', size: 512, kind: 'maskable' },
  { file: 'apple-touch-icon.png', size: 180, kind: 'apple' },
  { file: 'favicon-32.png', size: 32, kind: 'any' },
];

mkdirSync(OUT, { recursive: true });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  for (const t of targets) {
    const page = await browser.newPage({ viewport: { width: t.size, height: t.size }, deviceScaleFactor: 1 });
    await page.setContent(
      `<html><body style="margin:0;background:transparent">${svg(t.kind)}</body></html>`,
    );
    await page.screenshot({ path: path.join(OUT, t.file), omitBackground: true });
    await page.close();
    console.log(`${t.file} ${t.size}×${t.size}`);
  }
} finally {
  await browser.close();
}
