// The server's release build: TypeScript → JavaScript in dist/server and dist/shared (tsconfig.build.json),
// the files the server reads at run time beside it, and a stamp that `jellyguard start` compares with the
// sources to tell a stale build. The PWA is built by `vite build` into dist/pwa before this runs.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(path.join(root, 'dist', 'server'), { recursive: true, force: true });
rmSync(path.join(root, 'dist', 'shared'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
// The pairing page's script and stylesheet are served as files (no build step of their own).
cpSync(path.join(root, 'server', 'pairing', 'page'), path.join(root, 'dist', 'server', 'pairing', 'page'), { recursive: true });
writeFileSync(path.join(root, 'dist', 'BUILD'), `${new Date().toISOString()}\n`);
