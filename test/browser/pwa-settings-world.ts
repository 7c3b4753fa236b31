import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createGateway } from '../../server/app.ts';
import { loadConfig } from '../../server/config/index.ts';
import { silentLogger } from '../../server/log.ts';
import type { Clock } from '../../server/clock.ts';
import { startEmulator } from '../jellyfin/emulator.ts';
import { tempDir } from '../helpers/gateway.ts';
import { startPushService } from '../push/push-service.ts';
import { USERS, type World } from './pwa-helpers.ts';

/**
 * The world of the settings console's browser test: like pwa-helpers' startWorld, but the gateway starts
 * the way `jellyguard start` does — loadConfig reads a YAML file the admin wrote (comments and all) from
 * the data directory, and the environment sets some keys (which the console must show read-only).
 */
export interface SettingsWorld extends World {
  /** The YAML file the gateway was started from (and writes changes to). */
  configFile: string;
  /** The Jellyfin API key in that file: a secret the console must never show. */
  apiKey: string;
}

export async function startSettingsWorld(opts: { file: string; env?: Record<string, string>; clock?: Clock }): Promise<SettingsWorld> {
  const emu = await startEmulator({ users: USERS });
  const apiKey = await emu.createApiKey('jellyguard');
  const push = await startPushService();
  const dataDir = tempDir('jellyguard-settings-');
  const configFile = path.join(dataDir, 'config.yaml');
  // What every Authenticator test needs (the API key, the local push service, the test's proxy), after the admin's own lines.
  writeFileSync(
    configFile,
    `${opts.file.trimEnd()}\n\n# For the tests\nJellyfinApiKey: ${apiKey}\nPushAllowHttpLoopback: true\nTrustedProxyCIDRs:\n  - 127.0.0.1/32\n`,
  );
  const { config, origin } = loadConfig({ JELLYGUARD_DATA_DIR: dataDir, JELLYFIN_URL: emu.url, ...opts.env });
  const keys = { encryptionKey: randomBytes(32), hmacKey: randomBytes(32) };
  const gateway = await createGateway({ config, dataDir, keys, clock: opts.clock, log: silentLogger, configOrigin: origin });
  const { port } = await gateway.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const stop = () => gateway.close();
  const gw = {
    url,
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
  const worldOrigin = url.replace('127.0.0.1', 'localhost');
  return {
    emu,
    gw,
    push,
    origin: worldOrigin,
    appUrl: `${worldOrigin}/JellyfinSecurity/app/`,
    configFile,
    apiKey,
    async close() {
      await gw.close();
      await push.close();
      await emu.close();
    },
  };
}
