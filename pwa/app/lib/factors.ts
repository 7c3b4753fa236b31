/**
 * The user's own second factors (shared/api/factors.ts, "Self-service"): what the Security page shows
 * and changes.
 */
import { z } from 'zod';
import { ENDPOINTS, pathOf } from '../../../shared/api/endpoints.ts';
import { PasskeyInfoSchema, type MeResponse } from '../../../shared/api/factors.ts';
import { call, post, put } from './api.ts';
import { createPasskey, creationOptionsOf } from '../../common/passkey.ts';
import { session } from './session.svelte.ts';
import { withStepUp } from './stepup.svelte.ts';

export type { MeResponse };

/** The signed-in user and their factors; refreshes the session's name and admin flag. */
export async function loadMe(): Promise<MeResponse> {
  const me = await call(ENDPOINTS.Me);
  session.refresh({ userName: me.userName, isAdmin: me.isAdmin });
  return me;
}

// Every change below is a step-up action (shared/api/stepup.ts): each asks for a fresh proof first
// (withStepUp shows the dialog), a two-step addition at its first step.
export const beginTotp = () => withStepUp((headers) => call(ENDPOINTS.MeTOTP, { headers }));
/** Confirm the authenticator app with its first code; the first factor of an account comes with recovery codes. */
export const confirmTotp = (code: string) => call(ENDPOINTS.MeTOTPConfirm, { body: { code } });
export const removeTotp = () => withStepUp((headers) => call(ENDPOINTS.MeTOTPRemove, { headers }));


const RegisteredPasskeySchema = PasskeyInfoSchema.extend({ recoveryCodes: z.array(z.string()).default([]) });

/** Register a passkey on this device (or a security key): the server's options, the browser's ceremony, the server's check. */
export async function addPasskey(name: string, opts: { platform?: boolean } = {}) {
  const options = creationOptionsOf(await withStepUp((headers) => call(ENDPOINTS.MePasskeysOptions, { headers })));
  const response = await createPasskey(options, opts);
  return post(pathOf(ENDPOINTS.MePasskeysRegister), { response, name }, { schema: RegisteredPasskeySchema });
}
export const renamePasskey = (id: string, name: string) => call(ENDPOINTS.MePasskeyRename, { params: { id }, body: { name } });
export const removePasskey = (id: string) => withStepUp((headers) => call(ENDPOINTS.MePasskeyRemove, { params: { id }, headers }));

export const setEmail = (email: string) => withStepUp((headers) => put(pathOf(ENDPOINTS.MeEmailSet), { email }, { headers }));
export const confirmEmail = (code: string) => post(pathOf(ENDPOINTS.MeEmailConfirm), { code });
export const removeEmail = () => withStepUp((headers) => call(ENDPOINTS.MeEmailRemove, { headers }));

export const listTrustedBrowsers = () => call(ENDPOINTS.MeTrustedBrowsers);
export const revokeTrustedBrowser = (id: string) => call(ENDPOINTS.MeTrustedBrowserRevoke, { params: { id } });
