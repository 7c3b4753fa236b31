import { createHash, createPublicKey, createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/**
 * A software WebAuthn authenticator (ES256, "none" attestation) that builds the exact bytes a browser
 * and a platform authenticator would: clientDataJSON, authenticator data with the UP/UV/AT flags and a
 * signature counter, the CBOR attestation object and the DER ECDSA signature over
 * authenticatorData ‖ SHA-256(clientDataJSON). The server side (@simplewebauthn/server) is real.
 * Browser tests use Chromium's CDP virtual authenticator instead (TESTING.md).
 */
export interface SoftCredential {
  id: Buffer;
  privateKey: KeyObject;
  publicKeyCose: Uint8Array;
  rpId: string;
  userHandle: string | undefined;
  counter: number;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

function flags(opts: { up: boolean; uv: boolean; at: boolean }): number {
  return (opts.up ? 0x01 : 0) | (opts.uv ? 0x04 : 0) | (opts.at ? 0x40 : 0);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];
  /** Whether the "user" passes verification (PIN / biometrics); false sends UV = 0. */
  userVerified = true;
  /** The counter step per assertion; 0 = an authenticator without a counter (always sends 0). */
  counterStep = 1;

  constructor(readonly origin: string) {}

  /** A registration; `reuse` re-registers an existing credential (same id and key) — a misbehaving authenticator. */
  create(options: PublicKeyCredentialCreationOptionsJSON, reuse?: SoftCredential): RegistrationResponseJSON {
    const { privateKey, publicKey } = reuse
      ? { privateKey: reuse.privateKey, publicKey: createPublicKey(reuse.privateKey) }
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
      ]),
    );
    const id = reuse?.id ?? randomBytes(32);
    const rpId = options.rp.id ?? new URL(this.origin).hostname;
    const cred: SoftCredential = { id, privateKey, publicKeyCose: cose, rpId, userHandle: options.user.id, counter: 0 };
    const credIdLen = Buffer.alloc(2);
    credIdLen.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([flags({ up: true, uv: this.userVerified, at: true })]),
      u32(0),
      Buffer.alloc(16), // AAGUID
      credIdLen,
      id,
      Buffer.from(cose),
    ]);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: this.origin, crossOrigin: false }));
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([
      ['fmt', 'none'],
      ['attStmt', new Map()],
      ['authData', new Uint8Array(authData)],
    ]) as never);
    if (!reuse) this.credentials.push(cred);
    return {
      id: id.toString('base64url'),
      rawId: id.toString('base64url'),
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: Buffer.from(attestationObject).toString('base64url'),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** Sign a request with the first allowed credential (or the given one). */
  get(options: PublicKeyCredentialRequestOptionsJSON, pick?: SoftCredential): AuthenticationResponseJSON {
    const allowed = new Set((options.allowCredentials ?? []).map((c) => c.id));
    const cred = pick ?? this.credentials.find((c) => allowed.size === 0 || allowed.has(c.id.toString('base64url')));
    if (!cred) throw new Error('NotAllowedError: no credential for this request');
    cred.counter += this.counterStep;
    return this.assert(cred, options.challenge, cred.counter, options.rpId ?? cred.rpId);
  }

  /** An assertion with an explicit counter (to test regressions). */
  assert(cred: SoftCredential, challenge: string, counter: number, rpId = cred.rpId): AuthenticationResponseJSON {
    const authData = Buffer.concat([sha256(rpId), Buffer.from([flags({ up: true, uv: this.userVerified, at: false })]), u32(counter)]);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin: this.origin, crossOrigin: false }));
    const signature = createSign('sha256').update(Buffer.concat([authData, sha256(clientDataJSON)])).sign(cred.privateKey); // DER
    return {
      id: cred.id.toString('base64url'),
      rawId: cred.id.toString('base64url'),
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(cred.userHandle ? { userHandle: cred.userHandle } : {}),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
