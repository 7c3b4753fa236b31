import type { Factors } from './index.ts';

/**
 * A factor was just enrolled (inside a login challenge or self-service): audit it, and hand out a fresh
 * set of recovery codes with TOTP — or with a passkey that is the user's first factor.
 */
export async function afterEnrollment(
  factors: Factors,
  recoveryCodesEnabled: boolean,
  who: { userId: string; userName: string; ip: string },
  kind: 'totp' | 'passkey',
): Promise<string[]> {
  const { userId, userName, ip } = who;
  factors.audit({ type: kind === 'totp' ? 'factor.totp.enrolled' : 'factor.passkey.registered', outcome: 'success', userId, userName, ip });
  if (!recoveryCodesEnabled) return [];
  // Recovery codes are made once, with the first factor: a later factor never replaces a set the user
  // saved (only POST Me/RecoveryCodes does, when asked, with a warning that the old set stops working).
  if ((await factors.recovery.remaining(userId)) > 0) return [];
  const codes = await factors.recovery.generate(userId);
  factors.audit({ type: 'factor.recovery.generated', outcome: 'success', userId, userName, ip });
  return codes;
}
