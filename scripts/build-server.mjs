// The server's release build: server/cli.ts and everything it imports, bundled by esbuild into
// dist/server (one file, plus a chunk for each command loaded on demand: doctor, backup, metrics).
// One bundle loads in well under half the CPU time of a few hundred separate modules, which is what
// makes `jellyguard start` listen in under a second. better-sqlite3 stays a package: it is native code.
// Types are checked by `npm run typecheck` (tsc), not here. A stamp lets `jellyguard` tell a stale build.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'server');
rmSync(out, { recursive: true, force: true });
rmSync(path.join(root, 'dist', 'shared'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['server/cli.ts'],
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Native code, and an optional peer prom-client asks for inside a try.
  external: ['better-sqlite3', '@opentelemetry/api'],
  // CommonJS packages in an ES module bundle still `require` Node's built-ins.
  banner: { js: "import { createRequire as __jellyguardRequire } from 'node:module'; const require = __jellyguardRequire(import.meta.url);" },
  // Beside the entry: the package root is found from any file's folder (server/root.ts).
  chunkNames: '[name]-[hash]',
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
writeFileSync(path.join(root, 'dist', 'BUILD'), `${new Date().toISOString()}\n`);
