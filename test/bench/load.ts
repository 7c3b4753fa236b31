/**
 * Load generators and process meters for the bench: wrk (or autocannon) for request rates and latency,
 * autocannon at a fixed rate, curl (or a discarding node client) for long streams, /proc for CPU and RSS.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { Pool } from 'undici';

export const WRK = '/usr/bin/wrk';
export const CURL = '/usr/bin/curl';
export const hasWrk = () => existsSync(WRK);
export const hasCurl = () => existsSync(CURL);

export interface RateResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

/** Closed-loop load with wrk: `connections` connections, one thread (the other core is the target's). */
export async function wrk(url: string, headers: Record<string, string>, connections: number, seconds: number): Promise<RateResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const out = await run(WRK, args);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50Ms: p50, p99Ms: p99, requests, errors };
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: AutocannonResult) => void) => unknown;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** autocannon: closed loop (`rate` undefined) or open at a fixed overall rate (requests/s). */
export function cannon(url: string, headers: Record<string, string>, connections: number, seconds: number, rate?: number): Promise<RateResult> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, headers, connections, duration: seconds, ...(rate ? { overallRate: rate } : {}) },
      (err, res) => {
        if (err) return reject(err);
        resolve({
          rps: res.requests.average,
          p50Ms: res.latency.p50,
          p99Ms: res.latency.p99,
          requests: res.requests.total,
          errors: res.non2xx + res.errors + res.timeouts,
        });
      },
    );
  });
}

/**
 * Open-loop load at a fixed rate (wrk2 is not packaged): one request every 1/rate s on a keep-alive pool,
 * each timed from the moment it is sent to the end of its body. Paced by a 1 ms timer that sends whatever is
 * due. When this process itself was descheduled (a tick more than 5 ms late, which happens on a shared
 * machine) the requests sent late are left out of the percentiles and counted in `late`: they would measure
 * this client's stall, not the target. The client costs about 3% of a core at 1,000 req/s.
 */
export async function paced(url: string, headers: Record<string, string>, rate: number, seconds: number): Promise<RateResult & { late: number }> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 256, pipelining: 1 });
  const path = u.pathname + u.search;
  const total = Math.round(rate * seconds);
  const latencies = new Float64Array(total).fill(Number.NaN);
  const intervalNs = 1e9 / rate;
  let sent = 0;
  let done = 0;
  let errors = 0;
  let late = 0;
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const fire = (i: number, onTime: boolean) => {
      const t0 = process.hrtime.bigint();
      pool
        .request({ path, method: 'GET', headers })
        .then(async (r) => {
          await r.body.dump();
          if (r.statusCode !== 200) errors++;
          if (onTime) latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
        })
        .catch(() => errors++)
        .finally(() => {
          if (++done === total) resolve();
        });
    };
    const tick = () => {
      const elapsed = Number(process.hrtime.bigint() - start);
      const due = Math.min(total, Math.floor(elapsed / intervalNs) + 1);
      while (sent < due) {
        const onTime = elapsed - sent * intervalNs < 5e6;
        if (!onTime) late++;
        fire(sent, onTime);
        sent++;
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  await pool.close();
  const ok = Array.from(latencies).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const at = (q: number) => ok[Math.min(ok.length - 1, Math.floor(q * ok.length))] ?? Number.NaN;
  return { rps: total / wall, p50Ms: at(0.5), p99Ms: at(0.99), requests: total, errors, late };
}

export interface StreamResult {
  bytes: number;
  seconds: number;
  mbPerS: number;
}

function curlOnce(url: string, headers: Record<string, string>): Promise<number> {
  const args = ['-s', '-o', '/dev/null', '-w', '%{size_download} %{http_code}'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return run(CURL, args).then((out) => {
    const [size, code] = out.trim().split(' ');
    if (code !== '200') throw new Error(`curl ${url}: HTTP ${code}`);
    return Number(size);
  });
}

function nodeOnce(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}`));
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
    }).on('error', reject);
  });
}

/** Download `url` `parallel` times at once, discarding the bytes; aggregate MB/s (MB = 10^6 bytes). */
export async function stream(url: string, headers: Record<string, string>, parallel: number): Promise<StreamResult> {
  const once = hasCurl() ? curlOnce : nodeOnce;
  const started = process.hrtime.bigint();
  const sizes = await Promise.all(Array.from({ length: parallel }, () => once(url, headers)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const bytes = sizes.reduce((a, b) => a + b, 0);
  return { bytes, seconds, mbPerS: bytes / seconds / 1e6 };
}

// ---- /proc meters ----------------------------------------------------------------------------------------

const CLK_TCK = 100; // Linux USER_HZ on every architecture Node runs on here

/** The process and its direct children (nginx: master + worker). */
function family(pid: number): number[] {
  const pids = [pid];
  try {
    for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)) if (c) pids.push(Number(c));
  } catch {
    /* gone or not Linux */
  }
  return pids;
}

/** CPU seconds used so far by a process and its children, in user space and in the kernel. */
export function cpuTimes(pid: number): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const p of family(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(fields[11]);
      system += Number(fields[12]);
    } catch {
      /* exited */
    }
  }
  return { user: user / CLK_TCK, system: system / CLK_TCK };
}

/** CPU seconds (user + system) used so far by a process and its children. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

function statusKb(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export const rssMb = (pid: number) => statusKb(pid, 'VmRSS') / 1024;

/** Peak RSS in a window: VmHWM reset through clear_refs at the start, plus sampling as a fallback. */
export class PeakRss {
  private peakKb = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly hwmReset: boolean;

  constructor(private readonly pid: number) {
    let reset = false;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      reset = true;
    } catch {
      /* not permitted: sampling only */
    }
    this.hwmReset = reset;
    this.timer = setInterval(() => {
      this.peakKb = Math.max(this.peakKb, statusKb(pid, 'VmRSS') || 0);
    }, 50);
  }

  stop(): number {
    clearInterval(this.timer);
    const hwm = this.hwmReset ? statusKb(this.pid, 'VmHWM') : 0;
    return Math.max(this.peakKb, hwm || 0) / 1024;
  }
}

/** Start `node --import tsx <script>` and wait for its `READY <url> <kind>` line. */
export function startNodeChild(
  script: string,
  env: Record<string, string | undefined>,
  nodeArgs: string[] = [],
): Promise<{ url: string; kind: string; pid: number; stop(): Promise<void>; command(line: string, reply: string): Promise<void> }> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+) (.*)\n/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({
        url: m[1] as string,
        kind: m[2] as string,
        pid: child.pid ?? 0,
        stop: () =>
          new Promise<void>((res) => {
            if (child.exitCode !== null) return res();
            child.once('exit', () => res());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }),
        /** Send a line on the child's stdin and wait for `reply` on its stdout. */
        command: (line: string, reply: string) =>
          new Promise<void>((res) => {
            const onData = (d: Buffer) => {
              if (!d.toString().includes(reply)) return;
              child.stdout?.off('data', onData);
              res();
            };
            child.stdout?.on('data', onData);
            child.stdin?.write(`${line}\n`);
          }),
      });
    });
  });
}

/** The median of a few RSS samples over a second: a garbage collection in between moves one sample only. */
export async function settledRssMb(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 7; i++) {
    samples.push(familyRssMb(pid));
    await new Promise((r) => setTimeout(r, 150));
  }
  return samples.sort((a, b) => a - b)[samples.length >> 1] as number;
}

/** RSS of a process and its direct children (nginx: master + worker), MB. */
export const familyRssMb = (pid: number) => family(pid).reduce((sum, p) => sum + (statusKb(p, 'VmRSS') || 0), 0) / 1024;

/**
 * Open `n` keep-alive connections at once (one request each, all in flight together so each gets its own
 * connection) and keep them open, idle, until `close()`.
 */
export async function holdConnections(url: string, headers: Record<string, string>, n: number): Promise<{ failed: number; close(): Promise<void> }> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: n, pipelining: 1, keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000 });
  let failed = 0;
  await Promise.all(
    Array.from({ length: n }, () =>
      pool
        .request({ path: u.pathname, method: 'GET', headers })
        .then((r) => r.body.dump())
        .catch(() => void failed++),
    ),
  );
  await new Promise((r) => setTimeout(r, 1000)); // let the target settle (buffers freed, timers armed)
  return { failed, close: () => pool.destroy() };
}
