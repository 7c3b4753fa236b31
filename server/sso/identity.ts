import type { ProviderConfig } from './providers.ts';

/** What the gateway uses of a provider's ID token and userinfo. */
export interface SsoIdentity {
  issuer: string;
  subject: string;
  /** The UsernameClaim's value (a Jellyfin user name), if any. */
  username: string | undefined;
  email: string | undefined;
  /** Only a literal `true` from the provider counts (OpenID Connect Core §5.1). */
  emailVerified: boolean;
  groups: string[];
  amr: string[];
  acr: string | undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

/**
 * Merge the ID token's claims with userinfo (which must be about the same subject: openid-client checks
 * it). Userinfo wins for profile claims; how the user signed in (amr, acr) comes from the ID token only.
 */
export function readIdentity(p: ProviderConfig, issuer: string, idToken: Record<string, unknown>, userinfo: Record<string, unknown>): SsoIdentity {
  const claim = (name: string) => (userinfo[name] !== undefined ? userinfo[name] : idToken[name]);
  const groupsRaw = claim(p.GroupsClaim);
  const groups = Array.isArray(groupsRaw) ? groupsRaw.filter((g): g is string => typeof g === 'string') : typeof groupsRaw === 'string' ? [groupsRaw] : [];
  const amr = Array.isArray(idToken.amr) ? idToken.amr.filter((a): a is string => typeof a === 'string') : [];
  return {
    issuer,
    subject: String(idToken.sub),
    username: str(claim(p.UsernameClaim)),
    email: str(claim('email'))?.toLowerCase(),
    emailVerified: claim('email_verified') === true,
    groups,
    amr,
    acr: str(idToken.acr),
  };
}

/** RFC 8176 methods that are a factor besides a password. */
const SECOND_FACTORS = new Set(['otp', 'hwk', 'swk', 'sms', 'tel', 'face', 'fpt', 'iris', 'retina', 'vbm', 'sc', 'pop', 'pin', 'user']);

/**
 * Did the provider's sign-in use more than one factor? `amr` says "mfa", or names a password and another
 * factor, or `acr` names a multi-factor level (the PAPE URI, or a value containing "mfa"/"multi-factor").
 */
export function signedInWithMfa(id: Pick<SsoIdentity, 'amr' | 'acr'>): boolean {
  if (id.amr.includes('mfa')) return true;
  const others = id.amr.filter((a) => SECOND_FACTORS.has(a));
  if (others.length > 0 && (id.amr.includes('pwd') || others.length > 1 || others.some((a) => a === 'hwk' || a === 'sc'))) return true;
  const acr = id.acr?.toLowerCase() ?? '';
  return acr.includes('multi-factor') || /(^|[^a-z])mfa([^a-z]|$)/.test(acr);
}

export function inAnyGroup(groups: readonly string[], wanted: readonly string[]): boolean {
  return wanted.some((w) => groups.includes(w));
}
