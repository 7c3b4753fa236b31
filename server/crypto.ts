import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Every cryptographic helper of the gateway, and the only place that builds an HMAC: keyed hashes of
 * tokens, codes and ids (stored instead of the values), the audit chain's MACs, and sealed secrets.
 *
 * Secrets at rest (DESIGN principle 6): AES-256-GCM with a fresh 96-bit IV per message and the OWNER's
 * id as associated data, so a sealed value copied onto another row (another user, another challenge)
 * fails to open instead of silently working for the wrong owner.
 *
 * Format: "v1." + base64url(iv ‖ ciphertext ‖ tag).
 */
const VERSION = 'v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function seal(key: Buffer, owner: string, plaintext: string | Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(owner, 'utf8'));
  const ct = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
  return VERSION + Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64url');
}

/** Open a sealed value; throws when the key, owner or bytes are not the ones it was sealed with. */
export function open(key: Buffer, owner: string, sealed: string): Buffer {
  if (!sealed.startsWith(VERSION)) throw new Error('unknown sealed format');
  const raw = Buffer.from(sealed.slice(VERSION.length), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value too short');
  const iv = raw.subarray(0, IV_BYTES);
  const tag = raw.subarray(raw.length - TAG_BYTES);
  const ct = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(owner, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]);
}

export function openString(key: Buffer, owner: string, sealed: string): string {
  return open(key, owner, sealed).toString('utf8');
}

/** Constant-time equality of two strings (different lengths compare unequal without early exit on content). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  // Compare equal-length digests so the length difference does not short-circuit the content comparison.
  const ha = createHmac('sha256', 'jellyguard-compare').update(ab).digest();
  const hb = createHmac('sha256', 'jellyguard-compare').update(bb).digest();
  return timingSafeEqual(ha, hb) && ab.length === bb.length;
}

/**
 * A keyed hash for lookups (codes, tokens, ids stored instead of the values): HMAC-SHA256 under the
 * gateway's key over `domain`, then each part after a NUL, so that a hash made for one purpose never
 * matches one made for another. Stored hashes depend on this exact layout: never change it.
 */
export function keyedHash(key: Buffer, domain: string, ...parts: string[]): string {
  const h = createHmac('sha256', key).update(domain);
  for (const p of parts) h.update('\0').update(p);
  return h.digest('base64url');
}

/**
 * The hash of a Jellyfin access token as the gate stores it: HMAC-SHA256 of the bare token, with no
 * domain (the rows already stored are keyed so; a domain now would sign every session out).
 */
export function tokenHash(key: Buffer, token: string): string {
  return createHmac('sha256', key).update(token).digest('base64url');
}

/** A key for one purpose, derived from the gateway's HMAC key (HMAC-SHA256 of the label). */
export function deriveKey(key: Buffer, label: string): Buffer {
  return createHmac('sha256', key).update(label).digest();
}

/** The MAC of a message under a purpose's own key (from `deriveKey`), base64url. */
export function mac(key: Buffer, message: string): string {
  return createHmac('sha256', key).update(message).digest('base64url');
}

/** 128 random bits, base64url: ids of challenges, trusted browsers, WebAuthn ceremonies. */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

/** A uniformly random decimal code of `digits` digits (rejection sampling, no modulo bias). */
export function randomDigits(digits: number): string {
  let out = '';
  while (out.length < digits) {
    for (const b of randomBytes(digits * 2)) {
      if (b < 250 && out.length < digits) out += String(b % 10);
    }
  }
  return out;
}

/**
 * Slow salted hashes for recovery codes: scrypt (RFC 7914) with N=2^14, r=8, p=1 — the scrypt paper's
 * interactive-login setting, 16 MiB and tens of milliseconds per hash. A recovery code carries 50
 * random bits (unlike a password), so this cost puts an offline search of one code at centuries of
 * CPU, while checking a user's ten codes stays well under a second on a small server. The parameters
 * are stored with each hash, so they can be raised later without invalidating old codes.
 */
export const SCRYPT_PARAMS = { N: 1 << 14, r: 8, p: 1 } as const;
const SCRYPT_KEYLEN = 32;

function scrypt(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, SCRYPT_KEYLEN, { ...opts, maxmem: 256 * opts.N! * opts.r! }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function slowHash(secret: string, params: { N: number; r: number; p: number } = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function slowVerify(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return false;
  const expected = Buffer.from(parts[5]!, 'base64url');
  const key = await scrypt(secret, Buffer.from(parts[4]!, 'base64url'), { N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
