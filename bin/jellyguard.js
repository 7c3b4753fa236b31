#!/usr/bin/env node
// The `jellyguard` command: runs the release build in dist/ (`jellyguard --help` lists the commands).
// In a source checkout it first builds when dist/ is missing or older than the sources; that needs the
// dev dependencies (`npm install`). An installed package has no sources and never builds.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'server', 'cli.js');
const stamp = join(root, 'dist', 'BUILD');
const SOURCES = ['server', 'shared', 'pwa', 'public', 'scripts', 'package.json', 'package-lock.json', 'vite.config.ts'];

function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

if (existsSync(join(root, 'server', 'main.ts'))) {
  const built = existsSync(entry) && existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  if (built === 0 || Math.max(...SOURCES.map((s) => newest(join(root, s)))) > built) {
    process.stderr.write(built ? 'jellyguard: the sources changed since the last build; building…\n' : 'jellyguard: no build yet; building…\n');
    const npm = process.env.npm_execpath;
    const run = npm
      ? spawnSync(process.execPath, [npm, 'run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 2, 2] })
      : spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 2, 2] });
    if (run.status !== 0) {
      process.stderr.write('jellyguard: the build failed (it needs the dev dependencies: run `npm install` first)\n');
      process.exit(1);
    }
  }
}

await import(pathToFileURL(entry).href);
