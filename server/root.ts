import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's own folder (where package.json, dist/ and pwa/ are), the same whether the server runs from
 * its TypeScript source (server/) or from the release build (dist/server/).
 */
function packageRoot(): string {
  const parent = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return basename(parent) === 'dist' ? resolve(parent, '..') : parent;
}

export const PACKAGE_ROOT = packageRoot();
