/**
 * Passkey ceremonies of the login page (@simplewebauthn/browser). The server sets
 * `userVerification: "required"` in both option sets and checks the UV flag itself, so a browser or
 * authenticator that cannot verify the person fails here or is refused there.
 */
import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/browser';
import { browserLabel } from '../../shared/user-agent.ts';

export function passkeysSupported(): boolean {
  return browserSupportsWebAuthn();
}

export function signWithPasskey(options: unknown): Promise<AuthenticationResponseJSON> {
  return startAuthentication({ optionsJSON: options as PublicKeyCredentialRequestOptionsJSON });
}

export function createPasskey(options: unknown): Promise<RegistrationResponseJSON> {
  return startRegistration({ optionsJSON: options as PublicKeyCredentialCreationOptionsJSON });
}

/** A name for a passkey created here, for the user's list of passkeys: "Chrome on Android". */
export function passkeyName(ua: string): string {
  return browserLabel(ua);
}
