import { loadConfig, ConfigError } from '../config/index.ts';
import { runChecks, type Finding, type Status } from './checks.ts';

export { runChecks, type Finding, type Status } from './checks.ts';

const MARK: Record<Status, string> = { ok: '  ok ', warn: ' warn', fail: ' FAIL', skip: ' skip' };

/** The findings for people: one line each, the fix indented below. */
export function formatFindings(findings: Finding[]): string {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`[${MARK[f.status]}] ${f.title}: ${f.detail}`);
    if (f.fix && (f.status === 'fail' || f.status === 'warn')) lines.push(`         fix: ${f.fix}`);
  }
  const count = (s: Status) => findings.filter((f) => f.status === s).length;
  lines.push('');
  lines.push(
    count('fail') > 0
      ? `${count('fail')} unsafe or broken, ${count('warn')} to look at.`
      : count('warn') > 0
        ? `Nothing unsafe; ${count('warn')} to look at.`
        : 'All checks passed.',
  );
  return lines.join('\n') + '\n';
}

/** `jellyguard doctor [--json]`: exit 1 when any finding is unsafe or broken, 78 for invalid configuration. */
export async function doctorCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stdout.write(`[ FAIL] Configuration: ${e.message}\n`);
      return 78;
    }
    throw e;
  }
  const findings = await runChecks({ config: loaded.config, dataDir: loaded.dataDir, now: () => Date.now(), timeoutMs: 10_000 });
  if (args.includes('--json')) process.stdout.write(JSON.stringify({ findings }, null, 2) + '\n');
  else process.stdout.write(`Jellyguard doctor: ${loaded.config.JellyfinUrl}${loaded.config.BaseUrl}, data in ${loaded.dataDir}\n\n${formatFindings(findings)}`);
  return findings.some((f) => f.status === 'fail') ? 1 : 0;
}
