/**
 * Copies three of the browser tests' phone screenshots (test-output/screenshots/, made by
 * test/browser/pwa-*.test.ts) into docs/ for the README, scaled down to 60 % with Chromium so they stay
 * small. Run the browser tests first, then:  node --import tsx pwa/tools/docs-screenshots.ts
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FROM = path.join(ROOT, 'test-output', 'screenshots');
const TO = path.join(ROOT, 'docs');

const PICKS: Array<[from: string, to: string]> = [
  ['pwa-page-home-new.png', 'authenticator-home.png'],
  ['pwa-approve-tv.png', 'authenticator-approve.png'],
  ['pwa-approved.png', 'authenticator-approved.png'],
];
const SCALE = 0.6;
const [W, H] = [390, 844];

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: Math.round(W * SCALE), height: Math.round(H * SCALE) }, deviceScaleFactor: 1 });
  for (const [from, to] of PICKS) {
    const b64 = readFileSync(path.join(FROM, from)).toString('base64');
    await page.setContent(`<html><body style="margin:0;background:#101010"><img style="display:block;width:100%;height:100%" src="data:image/png;base64,${b64}"></body></html>`);
    await page.locator('img').evaluate((img: HTMLImageElement) => img.decode());
    await page.screenshot({ path: path.join(TO, to) });
    console.log(`docs/${to}`);
  }
} finally {
  await browser.close();
}
