import { loadConfig, ConfigError } from './config/index.ts';
import { createGateway } from './app.ts';
import { consoleLogger as log } from './log.ts';
import { checkDataDir, DataDirError } from './store/data-dir.ts';

/**
 * Start-up: configuration (invalid → stop with a message naming the key), the data directory (not writable
 * → stop naming the path and the operating system's error), storage, then listen. SIGTERM (docker stop,
 * systemctl stop) stops accepting, lets requests and streams finish for ShutdownGraceSeconds, closes
 * WebSockets with 1001 and exits.
 */
async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`jellyguard: ${e.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  const { config, dataDir, file, origin } = loaded;
  try {
    checkDataDir(dataDir);
  } catch (e) {
    if (e instanceof DataDirError) {
      log.error(e.message);
      process.exit(73); // EX_CANTCREAT
    }
    throw e;
  }
  const gateway = await createGateway({ config, dataDir, log, configOrigin: origin });
  const { url } = await gateway.listen();
  log.info(`Jellyguard listening on ${url} in front of ${config.JellyfinUrl}${config.BaseUrl}`);
  log.info(`data directory ${dataDir}${file ? `, configuration ${file}` : ', no configuration file (defaults)'}`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const graceMs = config.ShutdownGraceSeconds * 1000;
    log.info(`${signal}: shutting down (requests in flight get up to ${config.ShutdownGraceSeconds} s)`);
    await gateway.close({ graceMs });
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((e) => {
  log.error('start-up failed', e);
  process.exit(1);
});
