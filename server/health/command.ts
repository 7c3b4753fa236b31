import { loadConfig } from '../config/index.ts';

/**
 * `jellyguard health [--ready]`: ask the gateway running on this machine (its configured port, on
 * loopback) for liveness or readiness. Exit 0 when healthy — what Docker's HEALTHCHECK and systemd want.
 */
export async function healthCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { config } = loadConfig(env);
  const which = args.includes('--ready') ? 'Ready' : 'Live';
  const host = config.Host === '::' || config.Host === '0.0.0.0' || config.Host === '' ? '127.0.0.1' : config.Host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.Port}${config.BaseUrl}/JellyfinSecurity/Health/${which}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    process.stdout.write(`${res.status} ${text}\n`);
    return res.ok ? 0 : 1;
  } catch (e) {
    process.stdout.write(`no answer from ${url}: ${(e as Error).message}\n`);
    return 1;
  }
}
