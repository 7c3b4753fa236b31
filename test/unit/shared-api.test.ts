import { describe, expect, it } from 'vitest';
import { ENDPOINTS, pathOf, gatewayPath } from '../../shared/api/endpoints.ts';
import { API_ERRORS, ApiErrorBodySchema, errorMessage, isApiErrorCode } from '../../shared/api/errors.ts';

describe('shared endpoint declarations', () => {
  it('declare each method and path once', () => {
    const seen = new Map<string, string>();
    for (const [name, e] of Object.entries(ENDPOINTS)) {
      const key = `${e.method} ${e.path.toLowerCase()}`;
      expect(seen.get(key), `${name} repeats ${seen.get(key)}`).toBeUndefined();
      seen.set(key, name);
      expect(e.path.startsWith('/')).toBe(true);
      // A JSON body is only for methods that carry one.
      if (e.method === 'GET' || e.method === 'DELETE') expect(e.body, name).toBeUndefined();
    }
  });

  it('fill path parameters, encoded', () => {
    expect(pathOf(ENDPOINTS.MePhoneRename, { phoneId: 'a/b c' })).toBe('/Me/Phones/a%2Fb%20c');
    expect(pathOf(ENDPOINTS.Challenge, { challengeId: 'x' })).toBe('/Challenge/x');
    expect(pathOf(ENDPOINTS.LoginOptions)).toBe('/LoginOptions');
    expect(gatewayPath('/jf', pathOf(ENDPOINTS.LoginOptions))).toBe('/jf/JellyfinSecurity/LoginOptions');
    expect(() => pathOf(ENDPOINTS.User, {} as { id: string })).toThrow(/id is missing/);
  });

  it('check request bodies with the shared schemas', () => {
    expect(ENDPOINTS.VerifyTOTP.body.safeParse({ challengeId: 'A'.repeat(22), code: '123456' }).success).toBe(true);
    expect(ENDPOINTS.VerifyTOTP.body.safeParse({ challengeId: 'short', code: '123456' }).success).toBe(false);
  });
});

describe('the error catalogue', () => {
  it('gives every code an error status and a sentence', () => {
    for (const [code, e] of Object.entries(API_ERRORS)) {
      expect(code).toMatch(/^[a-z_]+$/);
      for (const s of [e.status, ...('also' in e ? e.also : [])]) expect(s >= 400 && s < 600, code).toBe(true);
      expect(e.message, code).toMatch(/^[A-Z].*[.:]$/);
    }
  });

  it('answers a known code with its words and an unknown one with the fallback', () => {
    expect(isApiErrorCode('invalid_code')).toBe(true);
    expect(isApiErrorCode('toString')).toBe(false);
    expect(errorMessage('unknown_phone')).toBe('No such phone.');
    expect(errorMessage('something_new', 'Fallback.')).toBe('Fallback.');
    expect(ApiErrorBodySchema.safeParse({ error: 'invalid_code', message: 'x', attemptsLeft: 2 }).success).toBe(true);
  });
});
