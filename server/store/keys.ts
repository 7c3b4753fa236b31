import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The gateway's own secrets: an AES-256-GCM key for secrets at rest and an HMAC key for token hashes,
 * signed cookies and the audit chain. Generated on first start into keys.json (mode 0600) unless given
 * by the environment (JELLYGUARD_ENCRYPTION_KEY / JELLYGUARD_HMAC_KEY, 32 bytes as base64 or hex).
 */
export interface Keys {
  encryptionKey: Buffer;
  hmacKey: Buffer;
}

function decodeKey(name: string, value: string): Buffer {
  const buf = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (buf.length !== 32) throw new Error(`${name} must be 32 bytes, given as 64 hex characters or base64`);
  return buf;
}

export function loadKeys(dataDir: string, env: NodeJS.ProcessEnv = process.env): Keys {
  const file = path.join(dataDir, 'keys.json');
  let stored: { encryptionKey?: string; hmacKey?: string } = {};
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) chmodSync(file, 0o600); // never leave keys readable by others
    stored = JSON.parse(readFileSync(file, 'utf8')) as typeof stored;
  }
  const fromEnvEnc = env.JELLYGUARD_ENCRYPTION_KEY;
  const fromEnvHmac = env.JELLYGUARD_HMAC_KEY;
  if ((!fromEnvEnc && !stored.encryptionKey) || (!fromEnvHmac && !stored.hmacKey)) {
    stored.encryptionKey ??= randomBytes(32).toString('base64');
    stored.hmacKey ??= randomBytes(32).toString('base64');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return {
    encryptionKey: decodeKey('JELLYGUARD_ENCRYPTION_KEY', fromEnvEnc ?? stored.encryptionKey!),
    hmacKey: decodeKey('JELLYGUARD_HMAC_KEY', fromEnvHmac ?? stored.hmacKey!),
  };
}
