/**
 * Summarise a V8 `.cpuprofile` (from `node --cpu-prof`): self time by area (undici, Koa, node:http, the
 * proxy, native, GC…) and the top functions by self and by inclusive time.
 * CLI: `node --import tsx test/bench/profile-summary.ts <file.cpuprofile> [top] [requests]`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function area(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (V8/native glue)';
    return 'native (C++ bindings: socket writes, parser…)';
  }
  if (url.includes('/node_modules/undici/')) return 'undici';
  if (url.includes('/node_modules/koa') || url.includes('/node_modules/on-finished') || url.includes('/node_modules/koa-compose')) return 'koa';
  if (url.includes('/node_modules/tsx/') || url.includes('/node_modules/esbuild/')) return 'tsx loader';
  if (url.includes('/node_modules/')) return 'other packages';
  if (url.includes('/server/jellyfin/proxy')) return 'proxy (ours)';
  if (url.includes('/test/bench/') || url.includes('/server/')) return 'gateway middleware (ours)';
  if (url.startsWith('node:_http') || url.startsWith('node:http')) return 'node:http';
  if (url.startsWith('node:net') || url.startsWith('node:internal/stream_base') || url.startsWith('node:internal/streams') || url.startsWith('node:stream')) return 'node:net/streams';
  if (url.startsWith('node:')) return 'node: other internals';
  return 'other';
}

/**
 * `requests`: how many requests the profile covers; when given, times are also shown as µs per request
 * (main-thread time: it includes moments the thread was descheduled, so it runs above /proc CPU time).
 */
export function summarize(file: string, top = 25, requests?: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const key = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|server|test)\//, '$1/')}:${f.lineNumber + 1}`;
  const areas = new Map<string, number>();
  const selfByFn = new Map<string, number>();
  const inclByFn = new Map<string, number>();
  let busy = 0;
  // Samples taken inside the inspector session (starting/stopping this very profile) are not the gateway's.
  const measuring = (id: number) => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if ((byId.get(cur) as ProfileNode).callFrame.url === 'node:inspector') return true;
    }
    return false;
  };
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node || measuring(id)) continue;
    const a = area(node.callFrame);
    areas.set(a, (areas.get(a) ?? 0) + us);
    if (a === 'idle') continue;
    busy += us;
    selfByFn.set(key(node.callFrame), (selfByFn.get(key(node.callFrame)) ?? 0) + us);
    // inclusive: credit every distinct function on the stack once
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key((byId.get(cur) as ProfileNode).callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclByFn.set(k, (inclByFn.get(k) ?? 0) + us);
    }
  }
  const pct = (us: number) =>
    `${((100 * us) / busy).toFixed(1).padStart(5)}%${requests ? `  ${(us / requests).toFixed(2).padStart(6)} µs/req` : ''}`;
  const lines: string[] = [
    `busy time ${(busy / 1e6).toFixed(2)} s (idle ${(((areas.get('idle') ?? 0) / 1e6)).toFixed(2)} s)${requests ? `, ${requests} requests: ${(busy / requests).toFixed(1)} µs of main-thread time each` : ''}`,
    '',
    'self time by area:',
  ];
  for (const [a, us] of [...areas].filter(([a]) => a !== 'idle').sort((x, y) => y[1] - x[1])) lines.push(`  ${pct(us)}  ${a}`);
  lines.push('', `top ${top} functions by self time:`);
  for (const [k, us] of [...selfByFn].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${k}`);
  lines.push('', `top ${top} functions by inclusive time (excluding roots):`);
  for (const [k, us] of [...inclByFn].sort((x, y) => y[1] - x[1]).filter(([k]) => !k.startsWith('(root)')).slice(0, top)) lines.push(`  ${pct(us)}  ${k}`);
  lines.push('', 'the gateway\'s own functions by inclusive time (what each step costs with what it calls):');
  for (const [k, us] of [...inclByFn].filter(([k]) => k.includes(' server/')).sort((x, y) => y[1] - x[1]).slice(0, 20)) lines.push(`  ${pct(us)}  ${k}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: profile-summary.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(summarize(file, Number(process.argv[3] ?? 25), process.argv[4] ? Number(process.argv[4]) : undefined) + '\n');
}
