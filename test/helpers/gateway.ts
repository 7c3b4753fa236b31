import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseConfig, type Config } from '../../server/config/index.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { createGateway, type Gateway } from '../../server/app.ts';
import { silentLogger, type Logger } from '../../server/log.ts';
import type { Clock } from '../../server/clock.ts';
import type { Keys } from '../../server/store/keys.ts';

export interface TestGateway {
  url: string;
  port: number;
  gateway: Gateway;
  dataDir: string;
  config: Config;
  keys: Keys;
  /** Stop the gateway; keeps the data directory so a test can start again on it (restart). */
  stop(): Promise<void>;
  /** Stop and delete the data directory. */
  close(): Promise<void>;
}

/** Every directory tempDir made in this test file (test/helpers/cleanup.ts deletes them after the file). */
export const tempDirs: string[] = [];

export function tempDir(prefix = 'jellyguard-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Start a real gateway on 127.0.0.1 with a real SQLite file in a temp directory. */
export async function startGateway(opts: {
  upstreamUrl: string;
  config?: Partial<ConfigInput>;
  dataDir?: string;
  keys?: Keys;
  clock?: Clock;
  log?: Logger;
  port?: number;
}): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? tempDir();
  const keys = opts.keys ?? { encryptionKey: randomBytes(32), hmacKey: randomBytes(32) };
  const config = parseConfig({ JellyfinUrl: opts.upstreamUrl, Host: '127.0.0.1', Port: 0, ...opts.config });
  const gateway = await createGateway({ config, dataDir, keys, clock: opts.clock, log: opts.log ?? silentLogger });
  const { port } = await gateway.listen(opts.port ?? 0, '127.0.0.1');
  const stop = () => gateway.close();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    gateway,
    dataDir,
    config,
    keys,
    stop,
    async close() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** For test/bench: a gateway whose token gate knows `markVerified` tokens. */
export async function startGatewayForBench(opts: { upstreamUrl: string; dataDir: string; port: number }) {
  const g = await startGateway({ upstreamUrl: opts.upstreamUrl, dataDir: opts.dataDir, port: opts.port });
  return {
    url: g.url,
    async markVerified(token: string) {
      await g.gateway.tokens.record(token, { userId: 'b'.repeat(32), method: 'bench' });
    },
    close: g.close,
  };
}
