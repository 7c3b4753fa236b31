/**
 * The `jellyguard` command (package.json "bin"): start the gateway, or one of the operator's commands.
 * Each command loads the same configuration as the gateway (environment, then the YAML file).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from './root.ts';

const HELP = `Usage: jellyguard [command] [options]

A security gateway in front of Jellyfin: second factors, phone approval, TV pairing, brute-force bans.

Commands:
  start (default)     run the gateway
  doctor [--json]     check the deployment (Jellyfin, API key, Known proxies, lockout, URLs, push,
                      e-mail, GeoIP, clock); prints each finding with its fix; exits 1 when unsafe
  backup [DIR]        consistent copy of the database and keys, while the gateway runs
                      (default DIR: $JELLYGUARD_DATA_DIR/backups/<time>)
  health [--ready]    ask the running gateway on this machine: liveness (default) or readiness;
                      exits 0 when healthy (for Docker's HEALTHCHECK)
  audit-verify [--data-dir DIR | --file EXPORT] [--json]
                      check the audit log's HMAC chain (exit 0 intact, 1 tampered)
  --help, -h          this text
  --version, -v       the version

Environment:
  JELLYFIN_URL              the upstream Jellyfin, origin only (default http://127.0.0.1:8096)
  JELLYFIN_API_KEY          an admin API key the gateway uses for its own calls (Dashboard → API Keys)
  JELLYGUARD_PORT           port to listen on (default 8097)
  JELLYGUARD_HOST           address to listen on (default 0.0.0.0)
  JELLYGUARD_DATA_DIR       database, keys, backups (default ./data)
  JELLYGUARD_CONFIG         the YAML configuration file (default $JELLYGUARD_DATA_DIR/config.yaml if present)
  JELLYGUARD_PUBLIC_URL     the public https origin (passkeys, links in pushes and e-mails)
  JELLYGUARD_ENCRYPTION_KEY 32 bytes (64 hex or base64) for secrets at rest (default: made in keys.json)
  JELLYGUARD_HMAC_KEY       32 bytes (64 hex or base64) for token hashes and the audit chain (idem)
  JELLYGUARD_LOG_FORMAT     json for one JSON object a line; anything else: lines for people
  JELLYGUARD_LOG_LEVEL      debug | info (default) | warn | error

Every other setting is a key of the YAML file (README: Configuration). Exit codes: 78 invalid
configuration, 73 data directory not writable, 1 other failures (doctor: something unsafe).
`;

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function run(argv: string[]): Promise<number | undefined> {
  const [command = 'start', ...rest] = argv;
  switch (command) {
    case 'start':
      await import('./main.ts');
      return undefined; // keeps running
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case '--version':
    case '-v':
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'doctor': {
      const { doctorCommand } = await import('./doctor/index.ts');
      return doctorCommand(rest, process.env);
    }
    case 'backup': {
      const { backupCommand } = await import('./store/backup.ts');
      return backupCommand(rest, process.env);
    }
    case 'audit-verify': {
      const { verifyCommand } = await import('./audit/verify-cli.ts');
      return verifyCommand(rest, process.env, (line) => process.stdout.write(`${line}\n`));
    }
    case 'health': {
      const { healthCommand } = await import('./health/command.ts');
      return healthCommand(rest, process.env);
    }
    default:
      process.stderr.write(`jellyguard: unknown command "${command}"\n\n${HELP}`);
      return 64; // EX_USAGE
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`jellyguard: ${(e as Error).message ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
