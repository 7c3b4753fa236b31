/**
 * Passkeys in both front-ends, with @simplewebauthn/browser: creating one (user verification required;
 * on the app, this phone's platform authenticator) and signing a server's challenge with one. The server
 * checks everything that matters (challenge, origin, UV flag, that the credential is the user's); this
 * file checks the server's options, asks the browser and turns its errors into a PasskeyError (the
 * browser's own error is its `cause`, for the login page's more detailed wording).
 */
import { z } from 'zod';
import {
  WebAuthnError,
  browserSupportsWebAuthn,
  browserSupportsWebAuthnAutofill,
  platformAuthenticatorIsAvailable,
  startAuthentication,
  startRegistration,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  type AuthenticationExtensionsClientInputs,
} from '@simplewebauthn/browser';
import { browserLabel } from '../../shared/user-agent.ts';
import { ApiError } from './errors.ts';

export type { AuthenticationResponseJSON, RegistrationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON };

export class PasskeyError extends Error {
  constructor(
    readonly reason: 'cancelled' | 'unsupported' | 'already_registered' | 'no_user_verification' | 'failed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PasskeyError';
  }
}

export function passkeysSupported(): boolean {
  return browserSupportsWebAuthn();
}

/** Whether this device has a built-in authenticator (fingerprint, face, screen lock). */
export async function hasPlatformAuthenticator(): Promise<boolean> {
  return browserSupportsWebAuthn() && (await platformAuthenticatorIsAvailable().catch(() => false));
}

function passkeyErrorOf(err: unknown): PasskeyError {
  const name = err instanceof Error ? err.name : '';
  const code = err instanceof WebAuthnError ? err.code : undefined;
  const because = (reason: PasskeyError['reason'], message: string) => new PasskeyError(reason, message, { cause: err });
  if (code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED') return because('already_registered', 'This phone already has a passkey for your account.');
  if (code === 'ERROR_AUTHENTICATOR_MISSING_USER_VERIFICATION_SUPPORT') {
    return because('no_user_verification', 'Turn on a screen lock (PIN, fingerprint or face) on this phone first.');
  }
  if (name === 'NotAllowedError' || name === 'AbortError' || code === 'ERROR_CEREMONY_ABORTED') {
    return because('cancelled', 'The passkey request was cancelled or timed out. Try again.');
  }
  if (name === 'NotSupportedError' || name === 'SecurityError') return because('unsupported', 'This browser cannot use passkeys here.');
  return because('failed', 'The passkey did not work. Try again.');
}

/**
 * How far the page follows the server's options. The app insists on user verification itself (WebAuthn
 * L3 §5.4.4) on top of the server's check; the web login passes the server's options as they are
 * (`asServerSays`): the server already asks for verification and refuses an assertion without it.
 */
export interface CeremonyOptions {
  /** Ask for this device's own authenticator (enrolling the phone). */
  platform?: boolean;
  /** Do not add `userVerification: "required"`: the server's options decide. */
  asServerSays?: boolean;
}

/** Create a passkey from the server's options. */
export async function createPasskey(options: PublicKeyCredentialCreationOptionsJSON, opts: CeremonyOptions = {}): Promise<RegistrationResponseJSON> {
  if (!browserSupportsWebAuthn()) throw new PasskeyError('unsupported', 'This browser cannot use passkeys.');
  const optionsJSON: PublicKeyCredentialCreationOptionsJSON = opts.asServerSays
    ? options
    : {
        ...options,
        authenticatorSelection: {
          ...options.authenticatorSelection,
          userVerification: 'required',
          ...(opts.platform ? { authenticatorAttachment: 'platform', residentKey: 'required', requireResidentKey: true } : {}),
        },
      };
  try {
    return await startRegistration({ optionsJSON });
  } catch (err) {
    throw passkeyErrorOf(err);
  }
}

/** Sign the server's challenge with a passkey. */
export async function signWithPasskey(options: PublicKeyCredentialRequestOptionsJSON, opts: CeremonyOptions = {}): Promise<AuthenticationResponseJSON> {
  if (!browserSupportsWebAuthn()) throw new PasskeyError('unsupported', 'This browser cannot use passkeys.');
  try {
    return await startAuthentication({ optionsJSON: opts.asServerSays ? options : { ...options, userVerification: 'required' } });
  } catch (err) {
    throw passkeyErrorOf(err);
  }
}

/** Whether the browser offers passkeys in the user-name field's autofill (WebAuthn conditional mediation). */
export async function passkeyAutofillSupported(): Promise<boolean> {
  return browserSupportsWebAuthn() && (await browserSupportsWebAuthnAutofill().catch(() => false));
}

/**
 * Sign in with a passkey alone (discoverable credential, no user name). `autofill` waits for the person to
 * pick a passkey in the user-name field's autofill (`mediation: "conditional"`; the field must carry
 * `autocomplete="… webauthn"`): it never shows a dialog, and is cancelled by any other ceremony.
 */
export async function signInWithPasskey(options: PublicKeyCredentialRequestOptionsJSON, opts: { autofill?: boolean } = {}): Promise<AuthenticationResponseJSON> {
  if (!browserSupportsWebAuthn()) throw new PasskeyError('unsupported', 'This browser cannot use passkeys.');
  try {
    return await startAuthentication({ optionsJSON: options, useBrowserAutofill: opts.autofill === true });
  } catch (err) {
    throw passkeyErrorOf(err);
  }
}

/** A name for a passkey created in a browser, for the user's list of passkeys: "Chrome on Android". */
export function passkeyName(ua: string): string {
  return browserLabel(ua);
}

// ── The server's options (shared/api/endpoints.ts answers them as a plain JSON object) ──
// Checked here field by field so the ceremony gets exactly the type the browser library takes.

const TransportSchema = z.enum(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);
const CredentialDescriptorSchema = z.object({ id: z.string(), type: z.literal('public-key'), transports: z.array(TransportSchema).optional() });
const UserVerificationSchema = z.enum(['required', 'preferred', 'discouraged']);
const HintsSchema = z.array(z.enum(['hybrid', 'security-key', 'client-device']));
const ExtensionsSchema = z.custom<AuthenticationExtensionsClientInputs>((v) => typeof v === 'object' && v !== null && !Array.isArray(v));

export const RequestOptionsSchema = z.looseObject({
  challenge: z.string(),
  timeout: z.number().optional(),
  rpId: z.string().optional(),
  allowCredentials: z.array(CredentialDescriptorSchema).optional(),
  userVerification: UserVerificationSchema.optional(),
  hints: HintsSchema.optional(),
  extensions: ExtensionsSchema.optional(),
});

export const CreationOptionsSchema = z.looseObject({
  rp: z.object({ name: z.string(), id: z.string().optional() }),
  user: z.object({ id: z.string(), name: z.string(), displayName: z.string() }),
  challenge: z.string(),
  pubKeyCredParams: z.array(z.object({ alg: z.number(), type: z.literal('public-key') })),
  timeout: z.number().optional(),
  excludeCredentials: z.array(CredentialDescriptorSchema).optional(),
  authenticatorSelection: z
    .object({
      authenticatorAttachment: z.enum(['cross-platform', 'platform']).optional(),
      requireResidentKey: z.boolean().optional(),
      residentKey: z.enum(['discouraged', 'preferred', 'required']).optional(),
      userVerification: UserVerificationSchema.optional(),
    })
    .optional(),
  hints: HintsSchema.optional(),
  attestation: z.enum(['direct', 'enterprise', 'indirect', 'none']).optional(),
  extensions: ExtensionsSchema.optional(),
});

const notOptions = () => new ApiError(200, 'bad_response', 'The server sent passkey options this page does not understand.');

/** The options to sign with; a `bad_response` ApiError when the server's answer is not a set of request options. */
export function requestOptionsOf(json: unknown): PublicKeyCredentialRequestOptionsJSON {
  const parsed = RequestOptionsSchema.safeParse(json);
  if (!parsed.success) throw notOptions();
  return parsed.data;
}

/** The options to create with; a `bad_response` ApiError when the server's answer is not a set of creation options. */
export function creationOptionsOf(json: unknown): PublicKeyCredentialCreationOptionsJSON {
  const parsed = CreationOptionsSchema.safeParse(json);
  if (!parsed.success) throw notOptions();
  return parsed.data;
}
