/**
 * `npm run bench:attack` (not part of `npm test`): a credential-stuffing flood against the real gateway
 * while a legitimate user signs in every second.
 *
 *   flood       ATTACK_ADDRESSES (1000) distinct client addresses from 127.1.0.0/16 (Linux routes all of
 *               127.0.0.0/8 to loopback: each is a real TCP source address, bound with `localAddress`),
 *               ATTACK_CONCURRENCY (256) requests in flight, for ATTACK_SECONDS (30): usernames from a
 *               list that includes the legitimate user's, random passwords.
 *   legitimate  one user, from 127.0.0.1, on a device that signed in before the flood, the right
 *               password, once a second.
 *   upstream    the Jellyfin emulator (test/jellyfin/) in this process: it counts every password that
 *               reaches it, and by which client address (the gateway's X-Forwarded-For).
 *   gateway     server/app.ts in its own process (this file, run with --gateway), so that its RSS is its own.
 *
 * ATTACK_PROFILE=1 runs the gateway with --cpu-prof and prints where its time went.
 *
 * A baseline phase first (ATTACK_BASELINE_SECONDS, 8: the legitimate user alone, four logins a second)
 * gives the same user's latency without the flood, in the same run, for comparison.
 *
 * Reported: flood requests/s absorbed, the share of flood requests that reached the upstream (and the
 * most from any one address), the legitimate user's success rate and p99 latency, and the gateway's RSS
 * over time (peak, and start vs end of the flood). Goals: 100% legitimate success, p99 under 250 ms,
 * at most MaxFailedAttempts per address upstream, memory flat. The machine is shared and noisy
 * (TESTING.md): latency and rates are reported, only the correctness goals set the exit status.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeakRss, cpuSeconds, rssMb, startNodeChild } from './load.ts';

const here = fileURLToPath(import.meta.url);
const SECONDS = Number(process.env.ATTACK_SECONDS ?? 30);
const ADDRESSES = Number(process.env.ATTACK_ADDRESSES ?? 1000);
const CONCURRENCY = Number(process.env.ATTACK_CONCURRENCY ?? 256);
const MAX_FAILED = 5;
const PROFILE = process.env.ATTACK_PROFILE === '1';
const BASELINE_SECONDS = Number(process.env.ATTACK_BASELINE_SECONDS ?? 8);
const LEGIT = { name: 'alice', password: 'correct horse battery staple', deviceId: 'alice-living-room-tv' };
const log = (msg: string) => process.stderr.write(`bench:attack: ${msg}\n`);

// ---- the gateway, in its own process ----------------------------------------------------------------------

async function gatewayChild(): Promise<void> {
  const { startGateway } = await import('../helpers/gateway.ts');
  const dataDir = process.env.ATTACK_DATA_DIR!;
  const gw = await startGateway({
    upstreamUrl: process.env.ATTACK_UPSTREAM!,
    dataDir,
    config: { MaxFailedAttempts: MAX_FAILED, LockoutDuration: 900, FailureWindowSeconds: 900 },
  });
  // The gateway's own event-loop delay: tells a gateway that blocks from a machine that is busy elsewhere.
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const eld = monitorEventLoopDelay({ resolution: 10 });
  process.on('SIGUSR2', () => {
    eld.reset();
    eld.enable();
  });
  const stop = async () => {
    eld.disable();
    if (eld.count > 0) {
      const ms = (ns: number) => (ns / 1e6).toFixed(1);
      process.stderr.write(`bench:attack: gateway event-loop delay during the flood: p50 ${ms(eld.percentile(50))} ms, p99 ${ms(eld.percentile(99))} ms, max ${ms(eld.max)} ms\n`);
    }
    await gw.stop().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdout.write(`READY ${gw.url} gateway (server/app.ts)\n`);
}

// ---- the load ---------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  ms: number;
  body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 }); // pools are per localAddress

function loginRequest(base: URL, username: string, password: string, deviceId: string, localAddress: string): Promise<Answer> {
  const body = JSON.stringify({ Username: username, Pw: password });
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path: '/Users/AuthenticateByName',
        method: 'POST',
        agent,
        localAddress,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `MediaBrowser Client="Bench", Device="Bench", DeviceId="${deviceId}", Version="1.0.0"`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', () => resolve({ status: -1, ms: performance.now() - started, body: '' }));
      },
    );
    req.on('error', () => resolve({ status: -1, ms: performance.now() - started, body: '' }));
    req.end(body);
  });
}

function floodAddress(i: number): string {
  const n = (i % ADDRESSES) + 1;
  return `127.1.${(n >> 8) & 255}.${n & 255}`;
}

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function main(): Promise<void> {
  const { startEmulator } = await import('../jellyfin/emulator.ts');
  const jf = await startEmulator({
    users: [
      { name: 'root', password: 'root-' + randomBytes(8).toString('hex'), isAdministrator: true },
      { name: LEGIT.name, password: LEGIT.password },
      { name: 'bob', password: 'bob-' + randomBytes(8).toString('hex') },
    ],
  });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'jellyguard-attack-'));
  const profileDir = PROFILE ? mkdtempSync(path.join(tmpdir(), 'jellyguard-attack-prof-')) : undefined;
  const child = await startNodeChild(
    here,
    { ATTACK_ROLE: 'gateway', ATTACK_UPSTREAM: jf.url, ATTACK_DATA_DIR: dataDir },
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  );
  const base = new URL(child.url);
  log(`gateway pid ${child.pid} at ${child.url}, emulator at ${jf.url}; ${ADDRESSES} addresses, ${CONCURRENCY} in flight, ${SECONDS} s`);

  // The legitimate user's device signs in once before the flood: from now on it is a known device.
  const first = await loginRequest(base, LEGIT.name, LEGIT.password, LEGIT.deviceId, '127.0.0.1');
  if (first.status !== 200) throw new Error(`the legitimate user could not sign in before the flood: ${first.status} ${first.body}`);

  // Warm-up (not measured): a few seconds of ordinary traffic, so that the gateway's code is compiled
  // and the wrong-password timing it imitates for locked names is a warm one.
  const warmEnd = performance.now() + 3000;
  let w = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < warmEnd) {
        const k = w++;
        if (k % 4 === 0) await loginRequest(base, LEGIT.name, LEGIT.password, LEGIT.deviceId, '127.0.0.1');
        else await loginRequest(base, `warm-${k % 50}`, 'x', `warm-${k}`, `127.2.${(k >> 8) & 255}.${(k & 255) | 1}`);
      }
    }),
  );
  log(`warmed up with ${w} logins`);

  // Baseline (side by side in the same run, as TESTING.md asks): the legitimate user alone.
  const baseline: Answer[] = [];
  const baseEnd = performance.now() + BASELINE_SECONDS * 1000;
  while (performance.now() < baseEnd) {
    const started = performance.now();
    baseline.push(await loginRequest(base, LEGIT.name, LEGIT.password, LEGIT.deviceId, '127.0.0.1'));
    const wait = started + 250 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  const names = [LEGIT.name, 'admin', 'root', 'bob', 'administrator', 'jellyfin', 'user', 'test', 'guest', 'media', 'plex', 'kodi', 'family', 'kids', 'tv'];
  const statuses = new Map<number, number>();
  let flood = 0;
  let floodLatencySum = 0;
  const legit: Answer[] = [];
  const rssSamples: Array<{ t: number; mb: number }> = [];

  const upstreamBefore = jf.loginAttempts;
  const requestsBefore = jf.requests.length;
  const cpuBefore = cpuSeconds(child.pid);
  const ownCpuBefore = process.cpuUsage();
  const rssBefore = rssMb(child.pid);
  const peak = new PeakRss(child.pid);
  process.kill(child.pid, 'SIGUSR2'); // start the child's event-loop delay histogram
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  const sampler = setInterval(() => rssSamples.push({ t: (performance.now() - t0) / 1000, mb: rssMb(child.pid) }), 1000);

  let next = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const i = next++;
      const a = await loginRequest(base, names[i % names.length]!, randomBytes(6).toString('base64url'), `bot-${i % ADDRESSES}`, floodAddress(i));
      flood++;
      floodLatencySum += a.ms;
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    }
  };
  const legitLoop = async () => {
    for (let k = 1; performance.now() < deadline; k++) {
      legit.push(await loginRequest(base, LEGIT.name, LEGIT.password, LEGIT.deviceId, '127.0.0.1'));
      const wait = t0 + k * 1000 - performance.now();
      if (wait > 0 && performance.now() + wait < deadline) await new Promise((r) => setTimeout(r, wait));
      else if (wait > 0) break;
    }
  };
  await Promise.all([...Array.from({ length: CONCURRENCY }, worker), legitLoop()]);
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const peakMb = peak.stop();
  const cpu = cpuSeconds(child.pid) - cpuBefore;
  const own = process.cpuUsage(ownCpuBefore);
  const ownCpu = (own.user + own.system) / 1e6;

  // What reached the upstream, by client address (the gateway sets X-Forwarded-For for Jellyfin).
  const perAddress = new Map<string, number>();
  let floodUpstream = 0;
  for (const r of jf.requests.slice(requestsBefore)) {
    if (!/authenticatebyname/i.test(r.url)) continue;
    const ip = String(r.headers['x-forwarded-for'] ?? '');
    if (ip === '127.0.0.1') continue; // the legitimate user
    floodUpstream++;
    perAddress.set(ip, (perAddress.get(ip) ?? 0) + 1);
  }
  const maxPerAddress = Math.max(0, ...perAddress.values());
  const legitOk = legit.filter((a) => a.status === 200).length;
  const legitP99 = percentile(legit.map((a) => a.ms), 99);
  const legitP50 = percentile(legit.map((a) => a.ms), 50);
  const half = rssSamples.filter((s) => s.t >= SECONDS / 2);
  const firstHalf = rssSamples.filter((s) => s.t < SECONDS / 2 && s.t >= 2);
  const mean = (xs: Array<{ mb: number }>) => xs.reduce((a, s) => a + s.mb, 0) / Math.max(1, xs.length);
  const rssEnd = rssMb(child.pid);

  const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const lines = [
    '',
    `credential-stuffing flood, ${fmt(elapsed, 1)} s, ${ADDRESSES} source addresses, ${CONCURRENCY} in flight`,
    '',
    `flood requests            ${flood} (${fmt(flood / elapsed, 0)} req/s absorbed, mean ${fmt(floodLatencySum / Math.max(1, flood), 1)} ms)`,
    `  answers                 ${[...statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s === -1 ? 'error' : s}: ${n}`).join(', ')}`,
    `reached the upstream      ${floodUpstream} (${fmt((100 * floodUpstream) / Math.max(1, flood), 2)}% of the flood; ${jf.loginAttempts - upstreamBefore} password checks in all)`,
    `  most from one address   ${maxPerAddress} (MaxFailedAttempts ${MAX_FAILED}); addresses seen upstream ${perAddress.size}`,
    `legitimate user           ${legitOk}/${legit.length} signed in (${fmt((100 * legitOk) / Math.max(1, legit.length), 1)}%), p50 ${fmt(legitP50)} ms, p99 ${fmt(legitP99)} ms`,
    `  without the flood       ${baseline.filter((a) => a.status === 200).length}/${baseline.length} signed in, p50 ${fmt(percentile(baseline.map((a) => a.ms), 50))} ms, p99 ${fmt(percentile(baseline.map((a) => a.ms), 99))} ms (same run, before the flood: p99 ratio ${fmt(legitP99 / percentile(baseline.map((a) => a.ms), 99), 2)})`,
    `gateway RSS               before ${fmt(rssBefore)} MB, peak ${fmt(peakMb)} MB, end ${fmt(rssEnd)} MB; mean 2–${SECONDS / 2} s ${fmt(mean(firstHalf))} MB, ${SECONDS / 2}–${SECONDS} s ${fmt(mean(half))} MB`,
    `gateway CPU               ${fmt(cpu, 1)} s (${fmt((100 * cpu) / elapsed, 0)}% of one core); load generator + emulator ${fmt((100 * ownCpu) / elapsed, 0)}%`,
    '',
  ];
  const goals: Array<[string, boolean, boolean]> = [
    ['100% legitimate success', legitOk === legit.length && legit.length > 0, true],
    [`at most ${MAX_FAILED} passwords per address reach the upstream`, maxPerAddress <= MAX_FAILED, true],
    ['legitimate p99 under 250 ms', legitP99 < 250, false],
    ['memory flat (second half within 15% of the first)', mean(half) <= mean(firstHalf) * 1.15, false],
  ];
  for (const [name, ok, hard] of goals) lines.push(`${ok ? 'PASS' : hard ? 'FAIL' : 'MISS'}  ${name}${hard ? '' : ' (timing/memory: reported, noisy machine)'}`);
  process.stdout.write(lines.join('\n') + '\n');

  agent.destroy();
  await child.stop();
  if (profileDir) {
    const { summarize } = await import('./profile-summary.ts');
    for (const f of readdirSync(profileDir)) process.stdout.write(`\ngateway CPU profile (${path.join(profileDir, f)}):\n${summarize(path.join(profileDir, f), 25)}\n`);
  }
  await jf.close();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(goals.every(([, ok, hard]) => ok || !hard) ? 0 : 1);
}

if (process.env.ATTACK_ROLE === 'gateway') {
  await gatewayChild();
} else {
  await main();
}
