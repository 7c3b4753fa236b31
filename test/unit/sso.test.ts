import { describe, expect, it } from 'vitest';
import { parseConfig, ConfigError } from '../../server/config/index.ts';
import { inAnyGroup, readIdentity, signedInWithMfa } from '../../server/sso/identity.ts';
import { insecureAllowed } from '../../server/sso/providers.ts';

const base = { Name: 'IdP', Id: 'idp', ClientID: 'c', ClientSecret: 's', Authority: 'https://id.example.org' };
const provider = (extra: Record<string, unknown> = {}) => parseConfig({ OIDCProviders: [{ ...base, ...extra }] }).OIDCProviders[0]!;

describe('OIDCProviders configuration', () => {
  it('fills the defaults a household needs', () => {
    expect(provider()).toMatchObject({
      Scopes: ['profile', 'email', 'groups'], UsernameClaim: 'preferred_username', GroupsClaim: 'groups',
      AutoCreateUsers: false, LinkExistingUsers: false, AllowedGroups: [], AdminGroups: [], SyncGroupsEnabled: false,
      OIDCSatisfiesSecondFactor: false, AllowPrivateEndpoints: false,
    });
    expect(parseConfig({}).DisablePasswordLoginForSSOUsers).toBe(false);
  });

  it('refuses an http Authority unless AllowPrivateEndpoints, ids that are not URL-safe, and two providers with one id', () => {
    expect(() => provider({ Authority: 'http://10.0.0.5:9000' })).toThrow(/AllowPrivateEndpoints/);
    expect(provider({ Authority: 'http://10.0.0.5:9000', AllowPrivateEndpoints: true }).Authority).toBe('http://10.0.0.5:9000');
    expect(() => provider({ Id: 'a b' })).toThrow(ConfigError);
    expect(() => provider({ Id: '../x' })).toThrow(ConfigError);
    expect(() => parseConfig({ OIDCProviders: [base, { ...base, Id: 'IDP' }] })).toThrow(/its own Id/);
    expect(() => provider({ Unknown: 1 })).toThrow(/Unknown/);
  });

  it('allows plain http only to a loopback or private address the admin marked', () => {
    expect(insecureAllowed(provider())).toBe(false);
    expect(insecureAllowed(provider({ Authority: 'http://127.0.0.1:8080', AllowPrivateEndpoints: true }))).toBe(true);
    expect(insecureAllowed(provider({ Authority: 'http://192.168.1.10', AllowPrivateEndpoints: true }))).toBe(true);
    expect(insecureAllowed(provider({ Authority: 'http://[::1]:9000', AllowPrivateEndpoints: true }))).toBe(true);
    // A public address or a name (which could resolve anywhere) stays https-only.
    expect(insecureAllowed(provider({ Authority: 'http://203.0.113.9', AllowPrivateEndpoints: true }))).toBe(false);
    expect(insecureAllowed(provider({ Authority: 'http://auth.lan', AllowPrivateEndpoints: true }))).toBe(false);
  });
});

describe('reading an identity', () => {
  const p = provider({ UsernameClaim: 'nickname', GroupsClaim: 'roles' });

  it('prefers userinfo for profile claims, takes amr and acr from the ID token only, and trusts only email_verified === true', () => {
    const id = readIdentity(p, 'https://id.example.org', { sub: 's', amr: ['pwd', 'otp'], acr: 'x', nickname: 'old' }, {
      sub: 's', nickname: ' Ann ', email: 'Ann@Example.org', email_verified: 'true', roles: ['a', 2, 'b'], amr: ['mfa'],
    });
    expect(id).toEqual({
      issuer: 'https://id.example.org', subject: 's', username: 'Ann', email: 'ann@example.org', emailVerified: false,
      groups: ['a', 'b'], amr: ['pwd', 'otp'], acr: 'x',
    });
    expect(readIdentity(p, 'i', { sub: 's', roles: 'single' }, { sub: 's', email_verified: true }).groups).toEqual(['single']);
    expect(readIdentity(p, 'i', { sub: 's' }, { sub: 's', email_verified: true }).emailVerified).toBe(true);
  });

  it('counts as multi-factor: amr "mfa", a password and another factor, a hardware key, or an MFA acr; a password alone does not', () => {
    expect(signedInWithMfa({ amr: ['mfa'], acr: undefined })).toBe(true);
    expect(signedInWithMfa({ amr: ['pwd', 'otp'], acr: undefined })).toBe(true);
    expect(signedInWithMfa({ amr: ['hwk', 'user'], acr: undefined })).toBe(true);
    expect(signedInWithMfa({ amr: ['pwd'], acr: undefined })).toBe(false);
    expect(signedInWithMfa({ amr: [], acr: undefined })).toBe(false);
    expect(signedInWithMfa({ amr: ['pwd'], acr: 'http://schemas.openid.net/pape/policies/2007/06/multi-factor' })).toBe(true);
    expect(signedInWithMfa({ amr: [], acr: 'urn:example:mfa' })).toBe(true);
    expect(signedInWithMfa({ amr: [], acr: 'gold' })).toBe(false);
  });

  it('matches groups exactly', () => {
    expect(inAnyGroup(['Jellyfin'], ['jellyfin'])).toBe(false);
    expect(inAnyGroup(['a', 'jellyfin'], ['jellyfin'])).toBe(true);
  });
});
