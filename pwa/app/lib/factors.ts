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
} from '../../../shared/api/factors.ts';
import { del, get, patch, post, put } from './api.ts';
import { createPasskey } from '../../common/passkey.ts';
import type { PublicKeyCredentialCreationOptionsJSON } from '../../common/passkey.ts';
import { session } from './session.svelte.ts';
import { withStepUp } from './stepup.svelte.ts';

export type { MeResponse };

/** The signed-in user and their factors; refreshes the session's name and admin flag. */
export async function loadMe(): Promise<MeResponse> {
  const me = await get('Me', { schema: MeResponseSchema });
  session.refresh({ userName: me.userName, isAdmin: me.isAdmin });
  return me;
}

// Every change below is a step-up action (shared/api/stepup.ts): each asks for a fresh proof first
// (withStepUp shows the dialog), a two-step addition at its first step.
export const beginTotp = () => withStepUp((headers) => post('Me/TOTP', {}, { schema: TotpEnrollmentSchema, headers }));
/** Confirm the authenticator app with its first code; the first factor of an account comes with recovery codes. */
export const confirmTotp = (code: string) => post('Me/TOTP/Confirm', { code }, { schema: RecoveryCodesResponseSchema });
export const removeTotp = () => withStepUp((headers) => del('Me/TOTP', { headers }));


const RegisteredPasskeySchema = PasskeyInfoSchema.extend({ recoveryCodes: z.array(z.string()).default([]) });

/** Register a passkey on this device (or a security key): the server's options, the browser's ceremony, the server's check. */
export async function addPasskey(name: string, opts: { platform?: boolean } = {}) {
  const options = (await withStepUp((headers) => post('Me/Passkeys/Options', {}, { headers }))) as PublicKeyCredentialCreationOptionsJSON;
  const response = await createPasskey(options, opts);
  return post('Me/Passkeys', { response, name }, { schema: RegisteredPasskeySchema });
}
export const renamePasskey = (id: string, name: string) => patch(`Me/Passkeys/${encodeURIComponent(id)}`, { name }, { schema: PasskeyInfoSchema });
export const removePasskey = (id: string) => withStepUp((headers) => del(`Me/Passkeys/${encodeURIComponent(id)}`, { headers }));

export const setEmail = (email: string) => withStepUp((headers) => put('Me/Email', { email }, { headers }));
export const confirmEmail = (code: string) => post('Me/Email/Confirm', { code });
export const removeEmail = () => withStepUp((headers) => del('Me/Email', { headers }));

export const listTrustedBrowsers = () => get('Me/TrustedBrowsers', { schema: z.array(TrustedBrowserSchema) });
export const revokeTrustedBrowser = (id: string) => del(`Me/TrustedBrowsers/${encodeURIComponent(id)}`);
