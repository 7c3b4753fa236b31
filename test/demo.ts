/**
 * `npm run demo`: a Jellyfin emulator with demo users and the gateway in front of it, so a newcomer with
 * no Jellyfin can try everything. Data lives in a temporary directory and is removed on exit.
 */
import { rmSync } from 'node:fs';
import { startEmulator } from './jellyfin/emulator.ts';
import { tempDir } from './helpers/gateway.ts';
import { loadConfig } from '../server/config/index.ts';
import { createGateway } from '../server/app.ts';
import { consoleLogger } from '../server/log.ts';

const users = [
  { name: 'admin', password: 'demo-admin', isAdministrator: true },
  { name: 'alice', password: 'demo-alice' },
  { name: 'tv', password: 'demo-tv' },
];

const jellyfin = await startEmulator({ users, host: '127.0.0.1', port: Number(process.env.DEMO_JELLYFIN_PORT ?? 0) });
const apiKey = jellyfin.createApiKey('Jellyguard demo');
const dataDir = process.env.JELLYGUARD_DATA_DIR ?? tempDir('jellyguard-demo-');
const { config } = loadConfig({
  ...process.env,
  JELLYFIN_URL: jellyfin.url,
  JELLYFIN_API_KEY: apiKey,
  JELLYGUARD_DATA_DIR: dataDir,
  JELLYGUARD_PORT: process.env.JELLYGUARD_PORT ?? '8097',
  JELLYGUARD_HOST: process.env.JELLYGUARD_HOST ?? '127.0.0.1',
});
const gateway = await createGateway({ config, dataDir, log: consoleLogger });
const { port } = await gateway.listen();
const url = `http://localhost:${port}`;

console.log(`
Jellyguard demo
  gateway (use this)      ${url}/web/
  the Authenticator app   ${url}/JellyfinSecurity/app/
  Jellyfin emulator       ${jellyfin.url}   (behind the gateway; direct access is only for comparison)
  Jellyfin API key        ${apiKey}
  data directory          ${dataDir}

Demo accounts (user / password):
${users.map((u) => `  ${u.name.padEnd(8)} ${u.password}${u.isAdministrator ? '   (administrator)' : ''}`).join('\n')}

Try: curl -s -X POST ${url}/Users/AuthenticateByName -H 'Content-Type: application/json' \\
       -H 'Authorization: MediaBrowser Client="curl", Device="shell", DeviceId="demo-1", Version="1"' \\
       -d '{"Username":"alice","Pw":"demo-alice"}'
Press Ctrl+C to stop.
`);

const stop = async () => {
  await gateway.close();
  await jellyfin.close();
  if (!process.env.JELLYGUARD_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
