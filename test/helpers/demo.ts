/**
 * The demo's set-up (`npm run demo` prints it; test/browser/demo.test.ts walks it): the Jellyfin emulator
 * with demo accounts — one of them with an authenticator app already set up — and the gateway in front.
 */
import { rmSync } from 'node:fs';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { tempDir } from './gateway.ts';
import { loadConfig } from '../../server/config/index.ts';
import { createGateway, type Gateway } from '../../server/app.ts';
import { silentLogger, type Logger } from '../../server/log.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';

export const DEMO_USERS = [
  { name: 'admin', password: 'demo-admin', isAdministrator: true },
  { name: 'alice', password: 'demo-alice' },
  { name: 'bob', password: 'demo-bob', totp: true },
  { name: 'tv', password: 'demo-tv' },
] as const;

export interface Demo {
  url: string;
  jellyfin: Emulator;
  gateway: Gateway;
  apiKey: string;
  dataDir: string;
  /** bob's authenticator-app secret (base32), so the demo can be signed in with any TOTP app. */
  totpSecret: string;
  /** What `npm run demo` prints. */
  banner: string;
  close(): Promise<void>;
}

export async function startDemo(opts: { env?: NodeJS.ProcessEnv; log?: Logger; jellyfinPort?: number } = {}): Promise<Demo> {
  const env = opts.env ?? {};
  const jellyfin = await startEmulator({
    users: DEMO_USERS.map((u) => ({ name: u.name, password: u.password, isAdministrator: 'isAdministrator' in u && u.isAdministrator })),
    host: '127.0.0.1',
    port: opts.jellyfinPort ?? 0,
    standInWebClient: true,
  });
  const apiKey = jellyfin.createApiKey('Jellyguard demo');
  const ownDataDir = !env.JELLYGUARD_DATA_DIR;
  const dataDir = env.JELLYGUARD_DATA_DIR ?? tempDir('jellyguard-demo-');
  const { config } = loadConfig({
    ...env,
    JELLYFIN_URL: jellyfin.url,
    JELLYFIN_API_KEY: apiKey,
    JELLYGUARD_DATA_DIR: dataDir,
    JELLYGUARD_PORT: env.JELLYGUARD_PORT ?? '0',
    JELLYGUARD_HOST: env.JELLYGUARD_HOST ?? '127.0.0.1',
  });
  const gateway = await createGateway({ config, dataDir, log: opts.log ?? silentLogger });
  const { port } = await gateway.listen();
  const url = `http://localhost:${port}`;

  // bob has an authenticator app set up, as if he had scanned the QR code (the secret is printed).
  const bob = jellyfin.user('bob');
  const totp = gateway.services.factors.totp;
  const { secret } = await totp.beginEnrollment(bob.id, 'bob');
  if (!(await totp.confirmEnrollment(bob.id, await totpCodeAt(secret, Date.now() - 30_000)))) {
    throw new Error('demo: could not set up bob\'s authenticator app');
  }

  const account = (u: (typeof DEMO_USERS)[number]): string => {
    const note = 'isAdministrator' in u ? 'administrator' : 'totp' in u ? 'authenticator app set up (secret below)' : '';
    return `  ${u.name.padEnd(8)} ${u.password.padEnd(12)} ${note}`.trimEnd();
  };
  const banner = `
Jellyguard demo — open these in a browser:
  Jellyfin, through the gateway   ${url}/web/
      (a stand-in page: the emulator has no jellyfin-web; it shows who is signed in)
  Sign-in page                    ${url}/JellyfinSecurity/login
  The Authenticator (phone app)   ${url}/JellyfinSecurity/app/
  Sign in a TV (the TV's page)    ${url}/JellyfinSecurity/pair
  Admin area (sign in as admin)   ${url}/JellyfinSecurity/app/#/admin/users
  Health                          ${url}/JellyfinSecurity/Health

Demo accounts (user, password):
${DEMO_USERS.map(account).join('\n')}
  bob's authenticator secret: ${secret}
      (add it to any authenticator app, or: otpauth://totp/Jellyfin:bob?secret=${secret}&issuer=Jellyfin)

Behind the gateway (for comparison only — clients never go here):
  Jellyfin emulator   ${jellyfin.url}
  Jellyfin API key    ${apiKey}
  data directory      ${dataDir}

Try: curl -s -X POST ${url}/Users/AuthenticateByName -H 'Content-Type: application/json' \\
       -H 'Authorization: MediaBrowser Client="curl", Device="shell", DeviceId="demo-1", Version="1"' \\
       -d '{"Username":"alice","Pw":"demo-alice"}'
Passkeys and push need https or localhost: use the localhost addresses above.
Press Ctrl+C to stop.
`;
  return {
    url,
    jellyfin,
    gateway,
    apiKey,
    dataDir,
    totpSecret: secret,
    banner,
    async close() {
      await gateway.close();
      await jellyfin.close();
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
