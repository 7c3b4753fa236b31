/**
 * `npm run demo`: a Jellyfin emulator with demo users and the gateway in front of it, so a newcomer with
 * no Jellyfin can try everything. Data lives in a temporary directory and is removed on exit.
 */
import { startDemo } from './helpers/demo.ts';
import { consoleLogger } from '../server/log.ts';

const demo = await startDemo({
  env: { ...process.env, JELLYGUARD_PORT: process.env.JELLYGUARD_PORT ?? '8097' },
  log: consoleLogger,
  jellyfinPort: Number(process.env.DEMO_JELLYFIN_PORT ?? 0),
});
console.log(demo.banner);

const stop = async () => {
  await demo.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
