import { describe, expect, it } from 'vitest';
import { describeProblem } from '../../pwa/login/messages.ts';
import { ApiError } from '../../pwa/common/errors.ts';
import { API_ERRORS } from '../../shared/api/errors.ts';

/** The login page's words for what a household meets: each says what to do next, the same at every step. */
describe('login page messages when something goes wrong at home', () => {
  it('an incomplete code says what to type and keeps the step (it was not a try)', () => {
    const p = describeProblem(new ApiError(400, 'incomplete_code', 'Enter all 6 digits of the code your authenticator app shows.'));
    expect(p).toEqual({ message: 'Enter all 6 digits of the code your authenticator app shows.', restart: false, locked: false });
  });

  it('a challenge ended by wrong codes says to sign in again, in the catalogue’s words', () => {
    const p = describeProblem(new ApiError(401, 'challenge_failed', ''));
    expect(p).toEqual({ message: API_ERRORS.challenge_failed.message, restart: true, locked: false });
    expect(p.message).toBe('Too many wrong codes for this sign-in. Sign in again to get new tries.');
  });

  it("a ban keeps the server's words (how long, what to do next); the catalogue's say the same", () => {
    const server =
      'Too many failed sign-in attempts from your network. Devices that are already signed in keep working. To sign in now, wait 15 minutes, use another network (such as mobile data), or ask an administrator to lift the ban (Admin → Bans).';
    expect(describeProblem(new ApiError(429, 'address_banned', server))).toEqual({ message: server, restart: false, locked: true });
    expect(API_ERRORS.address_banned.message).toMatch(/Devices that are already signed in keep working\. .*Admin → Bans/);
  });
});
