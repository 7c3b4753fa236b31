/**
 * The user's own second factors (shared/api/factors.ts, "Self-service"): what the Security page shows
 * and changes.
 */
import { z } from 'zod';
import {
  MeResponseSchema,
  PasskeyInfoSchema,
  RecoveryCodesResponseSchema,
  TotpEnrollmentSchema,
  TrustedBrowserSchema,
  type MeResponse,
} from '../../shared/api/factors.ts';
import { del, get, patch, post, put } from './api.ts';
import { createPasskey } from './passkey.ts';
import type { PublicKeyCredentialCreationOptionsJSON } from './passkey.ts';
import { session } from './session.svelte.ts';

export type { MeResponse };

/** The signed-in user and their factors; refreshes the session's name and admin flag. */
export async function loadMe(): Promise<MeResponse> {
  const me = await get('Me', { schema: MeResponseSchema });
  session.refresh({ userName: me.userName, isAdmin: me.isAdmin });
  return me;
}

export const beginTotp = () => post('Me/TOTP', {}, { schema: TotpEnrollmentSchema });
/** Confirm the authenticator app with its first code; the first factor of an account comes with recovery codes. */
export const confirmTotp = (code: string) => post('Me/TOTP/Confirm', { code }, { schema: RecoveryCodesResponseSchema });
export const removeTotp = () => del('Me/TOTP');


const RegisteredPasskeySchema = PasskeyInfoSchema.extend({ recoveryCodes: z.array(z.string()).default([]) });

/** Register a passkey on this device (or a security key): the server's options, the browser's ceremony, the server's check. */
export async function addPasskey(name: string, opts: { platform?: boolean } = {}) {
  const options = (await post('Me/Passkeys/Options', {})) as PublicKeyCredentialCreationOptionsJSON;
  const response = await createPasskey(options, opts);
  return post('Me/Passkeys', { response, name }, { schema: RegisteredPasskeySchema });
}
export const renamePasskey = (id: string, name: string) => patch(`Me/Passkeys/${encodeURIComponent(id)}`, { name }, { schema: PasskeyInfoSchema });
export const removePasskey = (id: string) => del(`Me/Passkeys/${encodeURIComponent(id)}`);

export const setEmail = (email: string) => put('Me/Email', { email });
export const confirmEmail = (code: string) => post('Me/Email/Confirm', { code });
export const removeEmail = () => del('Me/Email');

export const listTrustedBrowsers = () => get('Me/TrustedBrowsers', { schema: z.array(TrustedBrowserSchema) });
export const revokeTrustedBrowser = (id: string) => del(`Me/TrustedBrowsers/${encodeURIComponent(id)}`);
