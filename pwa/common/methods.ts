import type { IconName } from './LineIcon.svelte';

/** How each way of confirming a sign-in is named and drawn. */
export type FactorMethod = 'phone' | 'totp' | 'passkey' | 'email' | 'recovery';

export const METHOD_LABEL: Record<FactorMethod, { title: string; icon: IconName; detail: (emailHint: string | null) => string }> = {
  phone: { title: 'Approve on your phone', icon: 'phone', detail: () => 'A notification to the Jellyguard app' },
  passkey: { title: 'Passkey', icon: 'passkey', detail: () => 'This device, a security key or your phone' },
  totp: { title: 'Authenticator app', icon: 'app', detail: () => 'A 6-digit code from your app' },
  email: { title: 'E-mail code', icon: 'mail', detail: (hint) => (hint ? `A code sent to ${hint}` : 'A code sent to your e-mail address') },
  recovery: { title: 'Recovery code', icon: 'recovery', detail: () => 'One of the codes you saved' },
};

export function isFactorMethod(m: string): m is FactorMethod {
  return m === 'phone' || m === 'totp' || m === 'passkey' || m === 'email' || m === 'recovery';
}

/**
 * The method shown first: approving on the phone (nothing to type, works on a TV too); then a passkey
 * when the browser can use one and the server shows the passkey button (one tap); then the
 * authenticator app, e-mail, and recovery codes last (they are for emergencies).
 */
export function preferredMethod(methods: readonly string[], opts: { passkeyUsable: boolean; preferPasskey: boolean }): FactorMethod | undefined {
  const usable = methods.filter(isFactorMethod).filter((m) => m !== 'passkey' || opts.passkeyUsable);
  const order: FactorMethod[] = opts.preferPasskey ? ['phone', 'passkey', 'totp', 'email', 'recovery'] : ['phone', 'totp', 'passkey', 'email', 'recovery'];
  return order.find((m) => usable.includes(m)) ?? methods.filter(isFactorMethod)[0];
}
