/**
 * `npm run bench`: the proxy side by side with going direct and with nginx, in ONE run (the machine is noisy
 * and shared: compare within a run, as ratios — TESTING.md, PERFORMANCE.md).
 *
 *   (a) direct to the upstream  (b) the gateway  (c) nginx as a proxy with a two-`map` token check
 *   plus (b') the same gateway started without GLIBC_TUNABLES, for the memory/stream comparison.
 *
 * Upstream: nginx serving static files (a small JSON file, a sparse 1 GiB file), or a node static server.
 * Load: wrk when installed, else autocannon; a paced open-loop client for the fixed 1,000 req/s; streams with
 * curl, else a discarding node client. Every phase runs in rounds that alternate the targets, and the table
 * shows medians, so that a burst of load from elsewhere on the machine hits every target alike.
 * CPU per request / per GiB is the target process's own user+system time (/proc), which load elsewhere
 * disturbs less than throughput does.
 *
 * `npm run bench -- --quick`: one round of 3 s, without the no-GLIBC_TUNABLES gateway — a first look.
 *
 * Environment: BENCH_SECONDS (per measurement, default 5), BENCH_ROUNDS (default 3),
 * BENCH_GATEWAY = auto | lead | harness, BENCH_PROFILE=1 (profile the gateway under the small-request load,
 * print where time goes; BENCH_PROFILE=stream profiles 1 GiB streams instead), BENCH_BASELINE=<dir> (also
 * run the gateway of another checkout, e.g. `git worktree add /tmp/base main`, as "baseline": before and
 * after in one run).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cannon,
  cpuSeconds,
  cpuTimes,
  hasCurl,
  hasWrk,
  paced,
  PeakRss,
  familyRssMb,
  settledRssMb,
  holdConnections,
  startNodeChild,
  stream,
  wrk,
  type RateResult,
} from './load.ts';
import { hasNginx, proxyConfig, startNginx, upstreamConfig } from './nginx.ts';
import { summarize } from './profile-summary.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUICK = process.argv.includes('--quick');
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 3 : 5));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const BASELINE = process.env.BENCH_BASELINE;
/** Idle keep-alive connections held open to measure the memory each costs (reported per 1,000). */
const OPEN_CONNECTIONS = 3000;
const RATES = [1000, 2000];
const PROFILE = process.env.BENCH_PROFILE;
const TUNABLES = 'glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=67108864:glibc.malloc.mmap_threshold=4194304';
const GIB = 1024 * 1024 * 1024;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

interface Target {
  key: 'direct' | 'gateway' | 'baseline' | 'plain' | 'nginx';
  url: string;
  /** The process whose CPU is this target's cost (the upstream for "direct"). */
  pid: number;
  /** Gateways: peak RSS is tracked. */
  gateway: boolean;
}

/** Per target, every round's value of every measure. */
class Samples {
  private readonly data = new Map<string, number[]>();
  add(target: string, measure: string, value: number): void {
    const k = `${target}/${measure}`;
    const list = this.data.get(k) ?? [];
    list.push(value);
    this.data.set(k, list);
  }
  median(target: string, measure: string): number | undefined {
    const list = this.data.get(`${target}/${measure}`);
    if (!list || list.length === 0) return undefined;
    const sorted = [...list].sort((a, b) => a - b);
    return sorted[sorted.length >> 1];
  }
  max(target: string, measure: string): number | undefined {
    const list = this.data.get(`${target}/${measure}`);
    return list && list.length > 0 ? Math.max(...list) : undefined;
  }
  sum(target: string, measure: string): number {
    return (this.data.get(`${target}/${measure}`) ?? []).reduce((a, b) => a + b, 0);
  }
  spread(target: string, measure: string): string {
    const list = this.data.get(`${target}/${measure}`) ?? [];
    return list.map((v) => v.toFixed(0)).join('/');
  }
}

async function smallLoad(t: Target, headers: Record<string, string>, seconds: number): Promise<{ r: RateResult; cpuUs: number; systemUs: number }> {
  const before = cpuTimes(t.pid);
  const url = `${t.url}/small.json`;
  const r = hasWrk() ? await wrk(url, headers, 50, seconds) : await cannon(url, headers, 50, seconds);
  const after = cpuTimes(t.pid);
  if (r.errors > 0) log(`${t.key}: ${r.errors} errors / non-2xx during the small-request load`);
  const per = (s: number) => (s / Math.max(1, r.requests)) * 1e6;
  return { r, cpuUs: per(after.user + after.system - before.user - before.system), systemUs: per(after.system - before.system) };
}

const fmt = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !b ? '—' : (a / b).toFixed(2));

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'jellyguard-bench-'));
  const www = path.join(dir, 'www');
  mkdirSync(www);
  // A small JSON answer shaped like /System/Info/Public (~600 bytes), and a sparse 1 GiB "movie".
  writeFileSync(
    path.join(www, 'small.json'),
    JSON.stringify({
      LocalAddress: 'http://192.168.1.10:8096', ServerName: 'bench', Version: '10.11.0', ProductName: 'Jellyfin Server',
      OperatingSystem: '', Id: 'f'.repeat(32), StartupWizardCompleted: true,
      Items: Array.from({ length: 4 }, (_, i) => ({ Name: `Item ${i}`, Id: `${i}`.repeat(32), Type: 'Movie' })),
    }),
  );
  const fd = openSync(path.join(www, 'big.bin'), 'w');
  ftruncateSync(fd, GIB);
  closeSync(fd);

  const tokens = Array.from({ length: 10_000 }, () => randomBytes(16).toString('hex'));
  const tokenFile = path.join(dir, 'tokens.txt');
  writeFileSync(tokenFile, tokens.join('\n'));
  const token = tokens[1234] as string;
  const headers = { Authorization: `MediaBrowser Client="bench", Device="b", DeviceId="b1", Version="1", Token="${token}"` };

  const stops: (() => Promise<void>)[] = [];
  try {
    // ---- upstream ----
    let upstream: { url: string; pid: number; kind: string };
    if (hasNginx()) {
      const port = await freePort();
      const prefix = path.join(dir, 'nginx-up');
      const n = await startNginx(prefix, upstreamConfig(prefix, www, port), port);
      stops.push(n.stop);
      upstream = { url: n.url, pid: n.pid, kind: 'nginx static (1 worker, sendfile)' };
    } else {
      const c = await startNodeChild(path.join(here, 'static-child.ts'), { BENCH_ROOT: www });
      stops.push(c.stop);
      upstream = { url: c.url, pid: c.pid, kind: 'node static server' };
    }

    // ---- gateways: with GLIBC_TUNABLES (the recommended start), and without ----
    const gatewayEnv = (tunables: boolean) => ({
      BENCH_UPSTREAM: upstream.url,
      BENCH_TOKENS: tokenFile,
      BENCH_DATA_DIR: mkdtempSync(path.join(dir, 'data-')),
      GLIBC_TUNABLES: tunables ? TUNABLES : undefined,
      NODE_ENV: 'production',
      BENCH_PROFILE_STDIN: PROFILE ? '1' : undefined,
    });
    const gw = await startNodeChild(path.join(here, 'gateway-child.ts'), gatewayEnv(true));
    stops.push(gw.stop);
    const targets: Target[] = [
      { key: 'direct', url: upstream.url, pid: upstream.pid, gateway: false },
      { key: 'gateway', url: gw.url, pid: gw.pid, gateway: true },
    ];
    if (BASELINE && !PROFILE) {
      const base = await startNodeChild(path.join(BASELINE, 'test/bench/gateway-child.ts'), gatewayEnv(true));
      stops.push(base.stop);
      targets.push({ key: 'baseline', url: base.url, pid: base.pid, gateway: true });
    }
    let plainKind = '';
    if (!PROFILE && !QUICK) {
      const plain = await startNodeChild(path.join(here, 'gateway-child.ts'), gatewayEnv(false));
      stops.push(plain.stop);
      plainKind = plain.kind;
      targets.push({ key: 'plain', url: plain.url, pid: plain.pid, gateway: true });
    }
    if (hasNginx() && !PROFILE) {
      const port = await freePort();
      const prefix = path.join(dir, 'nginx-proxy');
      const n = await startNginx(prefix, proxyConfig(prefix, Number(new URL(upstream.url).port), port, tokens), port);
      stops.push(n.stop);
      targets.push({ key: 'nginx', url: n.url, pid: n.pid, gateway: false });
    }
    const idleRss = new Map(targets.filter((t) => t.gateway).map((t) => [t.key, familyRssMb(t.pid)]));

    // sanity: the token passes, an unknown one does not (every proxy checks)
    for (const t of targets.filter((x) => x.key !== 'direct')) {
      const ok = await fetch(`${t.url}/small.json`, { headers });
      const bad = await fetch(`${t.url}/small.json`, { headers: { Authorization: headers.Authorization.replace(token, 'f'.repeat(32)) } });
      await ok.arrayBuffer();
      await bad.arrayBuffer();
      if (ok.status !== 200 || bad.status === 200) throw new Error(`${t.key}: token check not working (known ${ok.status}, unknown ${bad.status})`);
    }
    const load = hasWrk() ? 'wrk -t1 -c50' : 'autocannon -c50';
    log(`upstream: ${upstream.kind}; gateway: ${gw.kind}; load: ${load}; streams: ${hasCurl() ? 'curl' : 'node client'}`);

    if (PROFILE) {
      const g = targets[1] as Target;
      const keep = path.join(tmpdir(), `jellyguard-gateway-${Date.now()}.cpuprofile`);
      let profiledRequests: number | undefined;
      if (PROFILE === 'stream') {
        log('profile: 1 GiB streams through the gateway (one warm-up, then four at once, profiled)');
        await stream(`${g.url}/big.bin`, headers, 1);
        await gw.command('start', 'PROFILING');
        const before = cpuSeconds(g.pid);
        const r = await stream(`${g.url}/big.bin`, headers, 4);
        await gw.command(`stop ${keep}`, 'PROFILED');
        log(`gateway under profile: ${fmt(r.mbPerS)} MB/s, ${fmt((cpuSeconds(g.pid) - before) / (r.bytes / GIB), 2)} CPU s/GiB`);
      } else {
        log(`profile: warm-up, then ${SECONDS * 2}s of small requests on the gateway, profiled`);
        await smallLoad(g, headers, 3);
        await gw.command('start', 'PROFILING');
        const { r, cpuUs, systemUs } = await smallLoad(g, headers, SECONDS * 2);
        await gw.command(`stop ${keep}`, 'PROFILED');
        log(`gateway under profile: ${fmt(r.rps)} req/s, ${fmt(cpuUs)} µs CPU/request (${fmt(systemUs)} µs in the kernel)`);
        profiledRequests = r.requests;
      }
      process.stdout.write(`profile: ${keep}\n${summarize(keep, 40, profiledRequests)}\n`);
      return;
    }

    const s = new Samples();
    log('warm-up (every target, small requests and one stream)');
    for (const t of targets) {
      await smallLoad(t, headers, 2);
      await stream(`${t.url}/big.bin`, headers, 1);
    }

    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round}/${ROUNDS}: small JSON at 50 connections, ${SECONDS}s per target`);
      for (const t of targets) {
        const peak = t.gateway ? new PeakRss(t.pid) : undefined;
        const { r, cpuUs, systemUs } = await smallLoad(t, headers, SECONDS);
        if (peak) s.add(t.key, 'rssSmall', peak.stop());
        s.add(t.key, 'rps', r.rps);
        s.add(t.key, 'p50', r.p50Ms);
        s.add(t.key, 'p99', r.p99Ms);
        s.add(t.key, 'cpuUs', cpuUs);
        s.add(t.key, 'systemUs', systemUs);
      }
      for (const rate of RATES) {
        log(`round ${round}/${ROUNDS}: fixed ${rate.toLocaleString('en')} req/s, ${SECONDS}s per target`);
        for (const t of targets) {
          const r = await paced(`${t.url}/small.json`, headers, rate, SECONDS);
          if (r.errors > 0) log(`${t.key}: ${r.errors} errors at ${rate} req/s`);
          s.add(t.key, 'late', r.late);
          s.add(t.key, `fixedP50@${rate}`, r.p50Ms);
          s.add(t.key, `fixedP99@${rate}`, r.p99Ms);
        }
      }
      log(`round ${round}/${ROUNDS}: 1 GiB streams, one then four at once`);
      for (const t of targets) {
        const peak = t.gateway ? new PeakRss(t.pid) : undefined;
        const cpu0 = cpuSeconds(t.pid);
        const one = await stream(`${t.url}/big.bin`, headers, 1);
        const four = await stream(`${t.url}/big.bin`, headers, 4);
        const cpu = cpuSeconds(t.pid) - cpu0;
        if (peak) s.add(t.key, 'rssStream', peak.stop());
        s.add(t.key, 'one', one.mbPerS);
        s.add(t.key, 'four', four.mbPerS);
        s.add(t.key, 'cpuPerGiB', cpu / ((one.bytes + four.bytes) / GIB));
      }
    }

    log(`memory: ${OPEN_CONNECTIONS} idle keep-alive connections to each target`);
    for (const t of targets) {
      const before = await settledRssMb(t.pid);
      const held = await holdConnections(`${t.url}/small.json`, headers, OPEN_CONNECTIONS);
      const during = await settledRssMb(t.pid);
      await held.close();
      s.add(t.key, 'mbPer1000', ((during - before) * 1000) / OPEN_CONNECTIONS);
      if (held.failed > 0) log(`${t.key}: ${held.failed} of ${OPEN_CONNECTIONS} connections failed`);
    }

    // ---- report ----
    const has = (k: string) => targets.some((t) => t.key === k);
    const out: string[] = [];
    out.push(`Jellyguard proxy bench — ${new Date().toISOString()}, Node ${process.version}, ${ROUNDS} rounds × ${SECONDS}s, medians`);
    out.push(`upstream: ${upstream.kind}; gateway: ${gw.kind}; load: ${load}; fixed rate: paced open-loop client; streams: ${hasCurl() ? 'curl' : 'node client'}; MB = 10^6 bytes`);
    out.push('');
    const shown = targets.filter((t) => t.key !== 'plain');
    out.push(`| measure | ${shown.map((t) => (t.key === 'nginx' ? 'nginx proxy' : t.key)).join(' | ')} | gateway/direct |${has('baseline') ? ' gateway/baseline |' : ''} gateway/nginx |`);
    out.push(`|---|${shown.map(() => '---:|').join('')}---:|${has('baseline') ? '---:|' : ''}---:|`);
    const line = (label: string, m: string, digits = 0) => {
      const g = s.median('gateway', m);
      const ratios = [ratio(g, s.median('direct', m))];
      if (has('baseline')) ratios.push(ratio(g, s.median('baseline', m)));
      ratios.push(has('nginx') ? ratio(g, s.median('nginx', m)) : '—');
      out.push(`| ${label} | ${shown.map((t) => fmt(s.median(t.key, m), digits)).join(' | ')} | ${ratios.join(' | ')} |`);
    };
    line('small JSON req/s, 50 connections', 'rps');
    line('  p50 latency ms', 'p50', 2);
    line('  p99 latency ms', 'p99', 2);
    line('  CPU µs per request (that process)', 'cpuUs', 1);
    line('    of which in the kernel (system time)', 'systemUs', 1);
    for (const rate of RATES) {
      line(`p50 ms at a fixed ${rate.toLocaleString('en')} req/s`, `fixedP50@${rate}`, 3);
      line(`p99 ms at a fixed ${rate.toLocaleString('en')} req/s`, `fixedP99@${rate}`, 3);
    }
    line('1 GiB stream MB/s, one', 'one');
    line('1 GiB stream MB/s, four at once (sum)', 'four');
    line('  CPU s per GiB streamed (that process)', 'cpuPerGiB', 2);
    line(`RSS MB per 1,000 open keep-alive connections`, 'mbPer1000', 1);
    out.push('');
    const added = (k: string, rate: number) => {
      const v = s.median(k, `fixedP99@${rate}`);
      const d = s.median('direct', `fixedP99@${rate}`);
      return v === undefined || d === undefined ? undefined : (v - d) * 1000;
    };
    for (const rate of RATES) {
      out.push(`added p99 at a fixed ${rate.toLocaleString('en')} req/s over direct: ${shown.filter((t) => t.key !== 'direct').map((t) => `${t.key} ${fmt(added(t.key, rate))} µs`).join(', ')}`);
    }
    out.push(`requests left out of the fixed-rate percentiles because this client was descheduled (sum over rounds): ${targets.map((t) => `${t.key} ${fmt(s.sum(t.key, 'late'))}`).join(', ')}`);
    out.push(`per-round req/s — ${targets.map((t) => `${t.key} ${s.spread(t.key, 'rps')}`).join(', ')}`);
    out.push(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (2 cores, shared: compare ratios within this run)`);
    out.push('');
    if (has('nginx')) {
      // The issue's table: the gateway against nginx, and the goal of each row.
      out.push('| goal | gateway | nginx proxy | gateway/nginx | goal | met |');
      out.push('|---|---:|---:|---:|---:|:-:|');
      const m = (k: string, measure: string) => s.median(k, measure);
      const over = (g: number | undefined, n: number | undefined) => (g === undefined || n === undefined || !n ? undefined : g / n);
      const goal = (label: string, g: number | undefined, n: number | undefined, digits: number, target: string, met?: (g: number, r: number) => boolean) => {
        const r = over(g, n);
        const ok = met === undefined || g === undefined || r === undefined ? '—' : met(g, r) ? 'yes' : 'no';
        out.push(`| ${label} | ${fmt(g, digits)} | ${fmt(n, digits)} | ${ratio(g, n)} | ${target} | ${ok} |`);
      };
      goal('small JSON req/s, 50 connections', m('gateway', 'rps'), m('nginx', 'rps'), 0, '≥ 0.40', (_, r) => r >= 0.4);
      goal('CPU µs per request', m('gateway', 'cpuUs'), m('nginx', 'cpuUs'), 1, '≤ 60 µs (≤ 3.5×)', (_, r) => r <= 3.5);
      goal('added p99 µs at a fixed 1,000 req/s', added('gateway', 1000), added('nginx', 1000), 0, '≤ 2,000 µs', (g) => g <= 2000);
      goal('added p99 µs at a fixed 2,000 req/s', added('gateway', 2000), added('nginx', 2000), 0, '');
      goal('1 GiB stream MB/s, one', m('gateway', 'one'), m('nginx', 'one'), 0, '≥ 0.80', (_, r) => r >= 0.8);
      goal('1 GiB stream MB/s, four at once', m('gateway', 'four'), m('nginx', 'four'), 0, '≥ 0.75', (_, r) => r >= 0.75);
      goal('CPU s per GiB streamed', m('gateway', 'cpuPerGiB'), m('nginx', 'cpuPerGiB'), 2, '≤ 1.3×', (_, r) => r <= 1.3);
      goal('RSS MB per 1,000 open connections', m('gateway', 'mbPer1000'), m('nginx', 'mbPer1000'), 1, '');
      out.push('');
    }
    if (QUICK) {
      process.stdout.write(out.join('\n') + '\n');
      return;
    }
    out.push(`| gateway process (${gw.kind === plainKind ? gw.kind : 'see above'}) | with GLIBC_TUNABLES | without | with/without |`);
    out.push('|---|---:|---:|---:|');
    const tun = (label: string, g: number | undefined, p: number | undefined, digits = 0) =>
      out.push(`| ${label} | ${fmt(g, digits)} | ${fmt(p, digits)} | ${ratio(g, p)} |`);
    tun('RSS idle MB', idleRss.get('gateway'), idleRss.get('plain'));
    tun('peak RSS under small requests MB', s.max('gateway', 'rssSmall'), s.max('plain', 'rssSmall'));
    tun('peak RSS while streaming MB', s.max('gateway', 'rssStream'), s.max('plain', 'rssStream'));
    tun('small JSON req/s', s.median('gateway', 'rps'), s.median('plain', 'rps'));
    tun('CPU µs per request', s.median('gateway', 'cpuUs'), s.median('plain', 'cpuUs'), 1);
    tun('1 GiB stream MB/s, one', s.median('gateway', 'one'), s.median('plain', 'one'));
    tun('1 GiB stream MB/s, four', s.median('gateway', 'four'), s.median('plain', 'four'));
    tun('CPU s per GiB streamed', s.median('gateway', 'cpuPerGiB'), s.median('plain', 'cpuPerGiB'), 2);
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
