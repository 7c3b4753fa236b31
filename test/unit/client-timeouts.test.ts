import { describe, expect, it } from 'vitest';
import { CLIENT_LOGIN_TIMEOUTS, HOLD_MARGIN_SECONDS, UNKNOWN_CLIENT_HOLD_SECONDS, clientLoginTimeout, holdSecondsFor } from '../../server/approvals/client-timeouts.ts';

describe('holds fit each client', () => {
  it('ends every known client\'s hold before the client gives up', () => {
    for (const t of CLIENT_LOGIN_TIMEOUTS) {
      const name = t.client.replace(/\*$/, ' something');
      const hold = holdSecondsFor(name, 120);
      if (t.seconds === null) expect(hold, t.client).toBe(120);
      else expect(hold, t.client).toBe(t.seconds - HOLD_MARGIN_SECONDS);
    }
  });

  it('never holds longer than HoldSeconds, and 0 stays 0', () => {
    expect(holdSecondsFor('Jellyfin Roku', 25)).toBe(25);
    expect(holdSecondsFor('Kodi', 5)).toBe(5);
    expect(holdSecondsFor('Kodi', 0)).toBe(0);
  });

  it('reads the Client field as Jellyfin does: URL-encoded, any case, with a platform suffix', () => {
    expect(clientLoginTimeout('Jellyfin%20Android%20TV')?.seconds).toBe(30);
    expect(clientLoginTimeout('KODI')?.seconds).toBe(10);
    expect(clientLoginTimeout('Swiftfin iPadOS')?.seconds).toBe(20);
    expect(clientLoginTimeout('Findroid Debug')?.seconds).toBe(10);
    expect(clientLoginTimeout('%E0%A4%A')).toBeUndefined(); // not decodable: unknown, never a throw
  });

  it('gives an unknown client the shortest known wait', () => {
    expect(holdSecondsFor('Infuse-Direct', 25)).toBe(UNKNOWN_CLIENT_HOLD_SECONDS);
    expect(holdSecondsFor(undefined, 25)).toBe(UNKNOWN_CLIENT_HOLD_SECONDS);
    const shortest = Math.min(...CLIENT_LOGIN_TIMEOUTS.flatMap((t) => (t.seconds === null ? [] : [t.seconds])));
    expect(UNKNOWN_CLIENT_HOLD_SECONDS).toBeLessThanOrEqual(shortest - HOLD_MARGIN_SECONDS);
  });
});
