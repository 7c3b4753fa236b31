/**
 * The gateway under test, in its own process (so its CPU and RSS are its own, and GLIBC_TUNABLES or
 * --cpu-prof apply to it alone). Started by test/bench/proxy.ts; prints `READY <url> <kind>` when it listens.
 *
 * Environment: BENCH_UPSTREAM (Jellyfin stand-in URL), BENCH_TOKENS (file, one token a line, all verified),
 * BENCH_DATA_DIR, BENCH_GATEWAY = auto | lead | harness (auto: the lead's startGatewayForBench when it loads,
 * else the minimal Koa harness).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createInterface } from 'node:readline';
import { startKoaHarness, type BenchGateway } from './koa-harness.ts';

const upstreamUrl = process.env.BENCH_UPSTREAM ?? 'http://127.0.0.1:8096';
const tokens = readFileSync(process.env.BENCH_TOKENS ?? '/dev/null', 'utf8').split('\n').filter(Boolean);
const dataDir = process.env.BENCH_DATA_DIR ?? '/tmp';
const want = process.env.BENCH_GATEWAY ?? 'auto';

async function start(): Promise<{ gateway: BenchGateway; kind: string }> {
  if (want !== 'harness') {
    try {
      const mod = (await import('../helpers/gateway.ts')) as {
        startGatewayForBench(opts: { upstreamUrl: string; dataDir: string; port: number }): Promise<BenchGateway>;
      };
      return { gateway: await mod.startGatewayForBench({ upstreamUrl, dataDir, port: 0 }), kind: 'gateway (server/app.ts)' };
    } catch (err) {
      if (want === 'lead') throw err;
      process.stderr.write(`bench: the lead's gateway did not start (${(err as Error).message.split('\n')[0]}); using the Koa harness\n`);
    }
  }
  return { gateway: await startKoaHarness({ upstreamUrl, port: 0 }), kind: 'Koa harness (test/bench/koa-harness.ts)' };
}

const { gateway, kind } = await start();
for (const t of tokens) await gateway.markVerified(t);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await gateway.close().catch(() => {});
  process.exit(0); // also flushes --cpu-prof
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// Profiling on request over stdin (`start`, `stop <file>`): the profile then covers the load alone, not
// start-up (module loading, marking 10,000 tokens verified).
process.stdout.write(`READY ${gateway.url} ${kind}\n`);
if (process.env.BENCH_PROFILE_STDIN === '1') {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'start') {
      await session.post('Profiler.start');
      process.stdout.write('PROFILING\n');
    } else if (line.startsWith('stop ')) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(line.slice(5), JSON.stringify(profile));
      process.stdout.write('PROFILED\n');
    }
  }
}
