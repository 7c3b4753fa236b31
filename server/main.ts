import { loadConfig, ConfigError } from './config/index.ts';
import { createGateway } from './app.ts';
import { consoleLogger as log } from './log.ts';

/** Start-up: configuration (invalid → stop with a message naming the key), storage, then listen. */
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
  const { config, dataDir, file } = loaded;
  const gateway = await createGateway({ config, dataDir, log });
  const { url } = await gateway.listen();
  log.info(`Jellyguard listening on ${url} in front of ${config.JellyfinUrl}${config.BaseUrl}`);
  log.info(`data directory ${dataDir}${file ? `, configuration ${file}` : ', no configuration file (defaults)'}`);
  const stop = async (signal: string) => {
    log.info(`${signal}: shutting down`);
    await gateway.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((e) => {
  log.error('start-up failed', e);
  process.exit(1);
});
