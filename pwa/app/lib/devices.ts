/** "My devices" (shared/api/approvals.ts): everything that can sign in as me, and revoking any of it. */
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import type { MyDevices, SessionInfo } from '../../../shared/api/approvals.ts';
import { call } from './api.ts';

export type { MyDevices, SessionInfo };

export const myDevices = () => call(ENDPOINTS.MeDevices);
export const revokeSession = (id: string) => call(ENDPOINTS.MeSessionRevoke, { params: { sessionId: id } });
export const revokePairedDevice = (id: string) => call(ENDPOINTS.MePairedDeviceRevoke, { params: { id } });

/** How a session signed in, in words. */
export function methodWords(method: string): string {
  const m: Record<string, string> = {
    password: 'password only',
    passkey: 'passkey',
    totp: 'authenticator app',
    email: 'e-mail code',
    recovery: 'recovery code',
    phone: 'approved on a phone',
    phone_retry: 'approved on a phone',
    trusted_browser: 'trusted browser',
    totp_in_password: 'code in password',
    quick_connect: 'Quick Connect',
    quickconnect: 'Quick Connect',
    lan: 'home network',
    adopted: 'signed in before Jellyguard',
  };
  return m[method] ?? method.replace(/_/g, ' ');
}
