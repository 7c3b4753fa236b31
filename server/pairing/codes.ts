import { randomBytes, randomInt } from 'node:crypto';
import { HttpError } from '../errors.ts';
import { PAIRING_CODE_ALPHABET } from '../../shared/api/pairing.ts';
import { keyedHash } from '../crypto.ts';

/**
 * PairDevice codes: 8 symbols from a 32-symbol alphabet without look-alikes (no I, O, 0, 1), 40 bits,
 * shown as "AB23-CD45". Stored only as an HMAC under the gateway's key; looked up by that HMAC, so the
 * comparison never touches the code itself. Device tokens: 256 random bits, stored as an HMAC.
 */
export function newPairingCode(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += PAIRING_CODE_ALPHABET[randomInt(PAIRING_CODE_ALPHABET.length)];
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

export function pairingCodeHash(hmacKey: Buffer, canonicalCode: string): string {
  return keyedHash(hmacKey, 'pairing-code', canonicalCode);
}

export function newDeviceToken(): string {
  return randomBytes(32).toString('base64url');
}

const DEVICE_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function isDeviceTokenShape(s: string): boolean {
  return DEVICE_TOKEN_SHAPE.test(s);
}

export function deviceTokenHash(hmacKey: Buffer, token: string): string {
  return keyedHash(hmacKey, 'device-token', token);
}

export function newId(): string {
  return randomBytes(16).toString('base64url');
}

/** Wrong, expired and used codes are one answer: nothing tells a guesser which. */
export function unknownCode(): HttpError {
  return new HttpError(404, 'unknown_code', 'Nothing is waiting with this code. Check the code on the screen; it may have expired.');
}
