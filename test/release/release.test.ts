import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { tempDir } from '../helpers/gateway.ts';
import { jellyfinClient, sdkLogin, getSystemApi } from '../helpers/sdk.ts';

/**
 * The release as the container image makes it, from a clean folder: deploy/image-build.sh builds the
 * sources, packs them, installs the tarball without dev dependencies, and starts it; then health and a
 * sign-in through the Jellyfin emulator. The slow part is the production install (better-sqlite3 is
 * compiled again): a few minutes, once.
 */
const REPO = path.resolve(import.meta.dirname, '..', '..');
let work: string;
let src: string;
let app: string;
let jf: Emulator;
let apiKey: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  work = tempDir('jellyguard-release-');
  src = path.join(work, 'src');
  app = path.join(work, 'app');
  // The sources as a fresh clone has them (tracked and new files, nothing ignored: no dist/, no data/).
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: REPO, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && existsSync(path.join(REPO, f)));
  for (const f of files) {
    mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    cpSync(path.join(REPO, f), path.join(src, f));
  }
  // The build stage's own `npm ci` is the ordinary one; reuse this checkout's dev install for it.
  symlinkSync(path.join(REPO, 'node_modules'), path.join(src, 'node_modules'), 'dir');
  jf = await startEmulator({ users: [{ name: 'alice', password: 'alice-pw' }] });
  apiKey = jf.createApiKey('jellyguard');
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await jf?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

function startRelease(env: Record<string, string>): Promise<{ child: ChildProcess; port: number; ms: number; output: () => string }> {
  const started = performance.now();
  const child = spawn('bash', [path.join(app, 'deploy', 'image-build.sh'), 'start', app], {
    cwd: app,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', JELLYGUARD_HOST: '127.0.0.1', JELLYGUARD_PORT: '0', ...env },
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      output += c;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) resolve({ child, port: Number(m[1]), ms: performance.now() - started, output: () => output });
    });
    child.stderr!.on('data', (c: Buffer) => (output += c));
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
}

describe('the release build', () => {
  it('builds, packs and installs without dev dependencies', () => {
    const run = spawnSync('bash', [path.join(src, 'deploy', 'image-build.sh'), 'build', src, app], {
      env: { ...process.env, JELLYGUARD_NPM_FLAGS: '--prefer-offline' },
      encoding: 'utf8',
      timeout: 15 * 60_000,
    });
    if (run.status !== 0) console.error(run.stdout, run.stderr);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/jellyguard 0\.\d+\.\d+ built into/);
    const modules = readdirSync(path.join(app, 'node_modules'));
    for (const dev of ['typescript', 'tsx', 'vite', 'vitest', 'svelte', 'playwright-core']) expect(modules).not.toContain(dev);
    for (const dep of ['better-sqlite3', 'koa', 'prom-client']) expect(modules).toContain(dep);
    expect(existsSync(path.join(app, 'dist', 'server', 'cli.js'))).toBe(true);
    expect(existsSync(path.join(app, 'dist', 'pwa', 'index.html'))).toBe(true);
    // No TypeScript sources (only the static files served without a build: pwa/login/inject.js and the
    // pairing page's pwa/pair/, the single sign-on page's pwa/sso/): nothing to build at start.
    expect(existsSync(path.join(app, 'server'))).toBe(false);
    expect(readdirSync(path.join(app, 'pwa'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts') || f.endsWith('.svelte'))).toEqual([]);
    expect(existsSync(path.join(app, 'pwa', 'pair', 'pair.js'))).toBe(true);
    expect(existsSync(path.join(app, 'pwa', 'login', 'inject.js'))).toBe(true);
    expect(existsSync(path.join(app, 'pwa', 'login', 'stepup.js'))).toBe(true);
    expect(existsSync(path.join(app, 'pwa', 'sso', 'complete.js'))).toBe(true);
  }, 16 * 60_000);

  it('lists its commands and environment variables', () => {
    const help = spawnSync(process.execPath, [path.join(app, 'bin', 'jellyguard.js'), '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const v of ['JELLYFIN_URL', 'JELLYFIN_API_KEY', 'JELLYGUARD_DATA_DIR', 'JELLYGUARD_PUBLIC_URL', 'JELLYGUARD_LOG_FORMAT', 'doctor', 'backup']) {
      expect(help.stdout).toContain(v);
    }
  });

  it('starts, is healthy, signs a person in through the emulator, and stops on SIGTERM', async () => {
    const dataDir = tempDir('jellyguard-release-data-');
    writeFileSync(path.join(dataDir, 'config.yaml'), 'MetricsEnabled: true\n');
    const gw = await startRelease({ JELLYFIN_URL: jf.url, JELLYFIN_API_KEY: apiKey, JELLYGUARD_DATA_DIR: dataDir });
    console.info(`release build: listening ${Math.round(gw.ms)} ms after the start command (machine load included)`);
    const base = `http://127.0.0.1:${gw.port}`;
    const ready = await fetch(`${base}/JellyfinSecurity/Health/Ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { status: string }).status).toBe('pass');
    const api = jellyfinClient(base, { deviceId: 'release' });
    const login = await sdkLogin(api, 'alice', 'alice-pw');
    expect(login.status).toBe(200);
    api.accessToken = login.token!;
    expect((await getSystemApi(api).getSystemInfo()).status).toBe(200);
    expect((await fetch(`${base}/JellyfinSecurity/app/`)).status).toBe(200); // the PWA from dist/pwa
    // The container's HEALTHCHECK command (asynchronously: the emulator it reaches runs in this process).
    const healthCmd = spawn(process.execPath, [path.join(app, 'bin', 'jellyguard.js'), 'health', '--ready'], {
      env: { PATH: process.env.PATH ?? '', JELLYGUARD_PORT: String(gw.port), JELLYGUARD_DATA_DIR: dataDir, JELLYFIN_URL: jf.url },
    });
    let healthOut = '';
    healthCmd.stdout.on('data', (c: Buffer) => (healthOut += c));
    expect(await new Promise((r) => healthCmd.once('exit', r))).toBe(0);
    expect(healthOut).toMatch(/^200 \{"status":"pass"/);
    // The parts loaded on demand: metrics (prom-client), backup, doctor.
    const metrics = await (await fetch(`${base}/JellyfinSecurity/Metrics`)).text();
    expect(metrics).toMatch(/^jellyguard_signins_total\{method="password",outcome="success"\} 1$/m);
    const command = async (...args: string[]) => {
      const child = spawn(process.execPath, [path.join(app, 'bin', 'jellyguard.js'), ...args], {
        env: { PATH: process.env.PATH ?? '', JELLYGUARD_DATA_DIR: dataDir, JELLYFIN_URL: jf.url, JELLYFIN_API_KEY: apiKey },
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      return { code, out };
    };
    const backup = await command('backup');
    expect(backup.code).toBe(0);
    expect(backup.out).toMatch(/backup written to .*jellyguard\.sqlite, keys\.json/);
    const doctor = await command('doctor');
    expect(doctor.out).toMatch(/\[  ok \] Jellyfin reachable: Jellyfin 10\.11\.11/);
    expect(doctor.code).toBe(1); // the emulator lists no Known proxies: unsafe
    const exited = new Promise<number | null>((r) => gw.child.once('exit', r));
    gw.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  it('in a checkout, `jellyguard` builds first only when the build is missing or older than the sources', () => {
    const bin = path.join(src, 'bin', 'jellyguard.js');
    const fresh = spawnSync(process.execPath, [bin, '--version'], { cwd: src, encoding: 'utf8', timeout: 5 * 60_000 });
    expect(fresh.status).toBe(0);
    expect(fresh.stderr).not.toMatch(/building/);
    const later = new Date(Date.now() + 5000);
    utimesSync(path.join(src, 'server', 'log.ts'), later, later);
    const stale = spawnSync(process.execPath, [bin, '--version'], { cwd: src, encoding: 'utf8', timeout: 5 * 60_000 });
    expect(stale.status).toBe(0);
    expect(stale.stderr).toMatch(/the sources changed since the last build; building/);
    expect(stale.stdout.trim()).toMatch(/^0\.\d+\.\d+$/);
  }, 6 * 60_000);
});
