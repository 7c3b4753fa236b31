/** http_ece@1.2.1 ships no types: the part the local push service uses (RFC 8188 / RFC 8291 aes128gcm). */
declare module 'http_ece' {
  import type { ECDH } from 'node:crypto';
  export interface EceParams {
    version?: 'aes128gcm' | 'aesgcm' | 'aesgcm128';
    privateKey?: ECDH;
    authSecret?: Buffer | string;
    dh?: Buffer | string;
    key?: Buffer | string;
    keyid?: string;
    salt?: Buffer | string;
    rs?: number;
  }
  export function decrypt(buffer: Buffer, params: EceParams, keyLookupCallback?: unknown): Buffer;
  export function encrypt(buffer: Buffer, params: EceParams, keyLookupCallback?: unknown): Buffer;
  const ece: { decrypt: typeof decrypt; encrypt: typeof encrypt };
  export default ece;
}
