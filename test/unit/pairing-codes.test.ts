import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PAIRING_CODE, PAIRING_CODE_ALPHABET, QUICK_CONNECT_CODE, compactCode, pairPageUrl, parsePairCode } from '../../shared/api/pairing.ts';
import { deviceTokenHash, isDeviceTokenShape, newDeviceToken, newPairingCode, pairingCodeHash } from '../../server/pairing/codes.ts';
import { isGrantShape } from '../../server/stepup/grants.ts';

describe('pairing codes', () => {
  it('are 8 symbols of a 32-symbol alphabet without look-alikes, shown as AB23-CD45', () => {
    expect(PAIRING_CODE_ALPHABET).toHaveLength(32);
    expect(new Set(PAIRING_CODE_ALPHABET).size).toBe(32);
    expect(PAIRING_CODE_ALPHABET).not.toMatch(/[IO01]/);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const c = newPairingCode();
      expect(c).toMatch(PAIRING_CODE);
      seen.add(c);
    }
    expect(seen.size).toBe(2000); // 40 bits: no repeats in a small sample
  });

  it('are read the way people type them', () => {
    expect(parsePairCode('ab23-cd45')).toEqual({ kind: 'device', code: 'AB23-CD45' });
    expect(parsePairCode(' AB23 CD45 ')).toEqual({ kind: 'device', code: 'AB23-CD45' });
    expect(parsePairCode('AB23CD45')).toEqual({ kind: 'device', code: 'AB23-CD45' });
    expect(parsePairCode('123 456')).toEqual({ kind: 'quickconnect', code: '123456' });
    expect(parsePairCode('123-456')).toEqual({ kind: 'quickconnect', code: '123456' });
    for (const bad of ['', '12345', '1234567', 'AB2-CD45', 'AB23-CD4O', 'IIII-1111', '12345a', '<script>']) expect(parsePairCode(bad)).toBeUndefined();
    expect(compactCode(' 12 34-56 ')).toBe('123456');
    expect(QUICK_CONNECT_CODE.test('123456')).toBe(true);
  });

  it('never parse anything that is not a canonical code', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (s) => {
        const p = parsePairCode(s);
        if (p) expect(p.kind === 'device' ? PAIRING_CODE.test(p.code) : QUICK_CONNECT_CODE.test(p.code)).toBe(true);
      }),
    );
  });

  it('are hashed under the gateway key, and the hash depends on the key', () => {
    const k1 = Buffer.alloc(32, 1);
    const k2 = Buffer.alloc(32, 2);
    expect(pairingCodeHash(k1, 'AB23-CD45')).toBe(pairingCodeHash(k1, 'AB23-CD45'));
    expect(pairingCodeHash(k1, 'AB23-CD45')).not.toBe(pairingCodeHash(k2, 'AB23-CD45'));
    expect(pairingCodeHash(k1, 'AB23-CD45')).not.toContain('AB23');
  });
});

describe('device tokens and step-up grants', () => {
  it('are 256 random bits, base64url, stored only as a keyed hash', () => {
    const t = newDeviceToken();
    expect(isDeviceTokenShape(t)).toBe(true);
    expect(Buffer.from(t, 'base64url')).toHaveLength(32);
    expect(newDeviceToken()).not.toBe(t);
    const k = Buffer.alloc(32, 3);
    expect(deviceTokenHash(k, t)).not.toBe(t);
    expect(deviceTokenHash(k, t)).toBe(deviceTokenHash(k, t));
    // Domain-separated from the pairing-code hash.
    expect(deviceTokenHash(k, 'x')).not.toBe(pairingCodeHash(k, 'x'));
    expect(isDeviceTokenShape('short')).toBe(false);
    expect(isGrantShape(t)).toBe(true);
    expect(isGrantShape('123456')).toBe(false);
  });
});

describe('the phone’s approval page URL', () => {
  it('is the PWA route #/pair?code= under the BaseUrl', () => {
    expect(pairPageUrl('https://media.example.org', '', '123456')).toBe('https://media.example.org/JellyfinSecurity/app/#/pair?code=123456');
    expect(pairPageUrl('https://media.example.org/', '/jellyfin', 'AB23-CD45')).toBe('https://media.example.org/jellyfin/JellyfinSecurity/app/#/pair?code=AB23-CD45');
  });
});
