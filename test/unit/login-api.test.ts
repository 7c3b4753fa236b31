import { describe, expect, it } from 'vitest';
import { LoginApi } from '../../pwa/login/api.ts';
import { ApiError } from '../../pwa/common/errors.ts';
import { ENDPOINTS, pathOf } from '../../shared/api/endpoints.ts';

/**
 * The web login's client (pwa/login/api.ts) against a fake fetch: it calls the paths shared/api/endpoints.ts
 * declares, under the BaseUrl, and checks every answer with the shared schemas, so an answer of the wrong
 * shape is a `bad_response` ApiError instead of a surprise on the page.
 */
type Call = { url: string; init: RequestInit };

function fakeFetch(answer: (call: Call) => Response): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const f = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const call = { url: String(input), init };
    calls.push(call);
    return answer(call);
  };
  return { fetch: f as typeof fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const CHALLENGE_ID = 'AAAAAAAAAAAAAAAAAAAAAA';
const OPTIONS = {
  totp: true,
  passkeys: true,
  email: false,
  recoveryCodes: true,
  totpInPassword: false,
  trustedDeviceDays: 30,
  showBuiltIn2FAButton: true,
  showBuiltInPasskeyButton: true,
};

async function failureOf(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe('LoginApi', () => {
  it('asks the declared endpoint under the BaseUrl and returns the checked answer', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, OPTIONS));
    const api = new LoginApi('/jellyfin', fetch);
    expect(await api.loginOptions()).toEqual(OPTIONS);
    expect(calls[0]!.url).toBe(`/jellyfin/JellyfinSecurity${pathOf(ENDPOINTS.LoginOptions)}`);
  });

  it('fills the path parameters of an endpoint', async () => {
    const info = {
      challengeId: CHALLENGE_ID,
      userName: 'alice',
      state: 'pending',
      methods: ['totp', 'a-method-from-a-newer-server'],
      enrollMethods: [],
      expiresAt: '2026-12-05T11:00:00.000Z',
      attemptsLeft: 5,
      trustedDeviceDays: 30,
      emailCodeSent: false,
      emailHint: null,
    };
    const { fetch, calls } = fakeFetch(() => json(200, info));
    const got = await new LoginApi('', fetch).challenge(CHALLENGE_ID);
    expect(calls[0]!.url).toBe(`/JellyfinSecurity/Challenge/${CHALLENGE_ID}`);
    // A method this version does not know is kept as text (and simply not offered), not a failure.
    expect(got.methods).toEqual(['totp', 'a-method-from-a-newer-server']);
  });

  it('refuses an answer of the wrong shape', async () => {
    const { fetch } = fakeFetch(() => json(200, { ...OPTIONS, trustedDeviceDays: 'thirty' }));
    const err = await failureOf(new LoginApi('', fetch).loginOptions());
    expect(err.code).toBe('bad_response');
  });

  it('refuses passkey options that the browser could not use', async () => {
    const { fetch } = fakeFetch(() => json(200, { allowCredentials: [] }));
    expect((await failureOf(new LoginApi('', fetch).passkeyOptions(CHALLENGE_ID))).code).toBe('bad_response');
    const good = fakeFetch(() => json(200, { challenge: 'abc', rpId: 'example.org', userVerification: 'required', allowCredentials: [{ id: 'x', type: 'public-key' }] }));
    expect(await new LoginApi('', good.fetch).passkeyOptions(CHALLENGE_ID)).toMatchObject({ challenge: 'abc', userVerification: 'required' });
  });

  it('reads the password answer: the challenge, a wrong password, the gateway’s own errors', async () => {
    const challenge = {
      error: 'second_factor_required',
      message: 'A second factor is needed.',
      challengeId: CHALLENGE_ID,
      methods: ['phone', 'totp'],
      enrollMethods: [],
      expiresAt: '2026-12-05T11:00:00.000Z',
    };
    const ask = (res: () => Response) => new LoginApi('', fakeFetch(res).fetch).authenticate('alice', 'pw', 'MediaBrowser Client="x"');
    expect(await ask(() => json(401, challenge))).toEqual({ kind: 'challenge', challenge });
    expect((await failureOf(ask(() => new Response('Invalid username or password', { status: 401 })))).code).toBe('wrong_password');
    expect((await failureOf(ask(() => new Response('Forbidden', { status: 403 })))).code).toBe('not_allowed');
    const banned = await failureOf(ask(() => json(403, { error: 'address_banned', message: 'Try again in 15 minutes.' }, { 'retry-after': '900' })));
    expect(banned).toMatchObject({ status: 403, code: 'address_banned', message: 'Try again in 15 minutes.', retryAfterSeconds: 900 });
  });

  it('keeps the extra fields of an error body (tries left)', async () => {
    const { fetch } = fakeFetch(() => json(401, { error: 'invalid_code', message: 'That code is not right.', attemptsLeft: 3 }));
    const err = await failureOf(new LoginApi('', fetch).verifyCode('totp', CHALLENGE_ID, '123456', false));
    expect(err).toMatchObject({ code: 'invalid_code', attemptsLeft: 3 });
  });

  it('tells a pending phone approval from a signed-in one', async () => {
    const pending = { status: 'pending', number: '42', expiresAt: '2026-12-05T11:00:00.000Z' };
    const signal = new AbortController().signal;
    const wait = fakeFetch(() => json(202, pending));
    expect(await new LoginApi('', wait.fetch).phoneApprovalStatus(CHALLENGE_ID, 25, false, signal)).toEqual({ kind: 'pending', pending });
    expect(wait.calls[0]!.url).toBe(`/JellyfinSecurity${pathOf(ENDPOINTS.ApprovalsLoginStatus)}`);
    const done = fakeFetch(() => json(200, { AccessToken: 't', User: { Id: 'u' } }));
    expect(await new LoginApi('', done.fetch).phoneApprovalStatus(CHALLENGE_ID, 25, true, signal)).toEqual({ kind: 'signed_in', result: { AccessToken: 't', User: { Id: 'u' } } });
    const bad = fakeFetch(() => json(202, { status: 'pending', number: 'forty-two' }));
    expect((await failureOf(new LoginApi('', bad.fetch).phoneApprovalStatus(CHALLENGE_ID, 25, false, signal))).code).toBe('bad_response');
  });

  it('says "network" when the server cannot be reached', async () => {
    const api = new LoginApi('', (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch);
    expect((await failureOf(api.publicInfo())).code).toBe('network');
  });
});
