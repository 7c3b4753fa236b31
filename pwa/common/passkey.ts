/**
 * Passkeys in the app, with @simplewebauthn/browser: creating one (this phone's platform authenticator,
 * user verification required) and signing a server's challenge with one. The server checks everything
 * that matters (challenge, origin, UV flag, that the credential is the user's); this file only asks the
 * browser and turns its errors into sentences.
 */
import {
  WebAuthnError,
  browserSupportsWebAuthn,
  platformAuthenticatorIsAvailable,
  startAuthentication,
  startRegistration,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/browser';

export type { AuthenticationResponseJSON, RegistrationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON };

export class PasskeyError extends Error {
  constructor(
    readonly reason: 'cancelled' | 'unsupported' | 'already_registered' | 'no_user_verification' | 'failed',
    message: string,
  ) {
    super(message);
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
  if (code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED') {
    return new PasskeyError('already_registered', 'This phone already has a passkey for your account.');
  }
  if (code === 'ERROR_AUTHENTICATOR_MISSING_USER_VERIFICATION_SUPPORT') {
    return new PasskeyError('no_user_verification', 'Turn on a screen lock (PIN, fingerprint or face) on this phone first.');
  }
  if (name === 'NotAllowedError' || name === 'AbortError' || code === 'ERROR_CEREMONY_ABORTED') {
    return new PasskeyError('cancelled', 'The passkey request was cancelled or timed out. Try again.');
  }
  if (name === 'NotSupportedError' || name === 'SecurityError') {
    return new PasskeyError('unsupported', 'This browser cannot use passkeys here.');
  }
  return new PasskeyError('failed', 'The passkey did not work. Try again.');
}

/**
 * Create a passkey from the server's options. `platform` asks for this device's own authenticator
 * (enrolling the phone); user verification is always required (WebAuthn L3 §5.4.4).
 */
export async function createPasskey(
  options: PublicKeyCredentialCreationOptionsJSON,
  opts: { platform?: boolean } = {},
): Promise<RegistrationResponseJSON> {
  if (!browserSupportsWebAuthn()) throw new PasskeyError('unsupported', 'This browser cannot use passkeys.');
  const optionsJSON: PublicKeyCredentialCreationOptionsJSON = {
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

/** Sign the server's challenge with a passkey (user verification required). */
export async function signWithPasskey(options: PublicKeyCredentialRequestOptionsJSON): Promise<AuthenticationResponseJSON> {
  if (!browserSupportsWebAuthn()) throw new PasskeyError('unsupported', 'This browser cannot use passkeys.');
  try {
    return await startAuthentication({ optionsJSON: { ...options, userVerification: 'required' } });
  } catch (err) {
    throw passkeyErrorOf(err);
  }
}
