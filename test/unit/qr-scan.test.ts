import QRCode from 'qrcode';
import { describe, expect, it } from 'vitest';
import { decodeQrPixels, pairCodeFromPayload } from '../../pwa/app/lib/qr-scan.ts';
import { pairPageUrl } from '../../shared/api/pairing.ts';

/**
 * The Authenticator's QR scanner (pwa/app/lib/qr-scan.ts): which payloads are this Authenticator's own TV
 * codes, and the jsQR fallback reading a real QR code rendered by the `qrcode` package.
 */

const ORIGIN = 'https://media.example.org';

/** A QR code of `text` as RGBA pixels: 4 px per module, a 4-module quiet zone. */
function qrPixels(text: string, scale = 4, quiet = 4): { data: Uint8ClampedArray; width: number; height: number } {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const size = (modules.size + 2 * quiet) * scale;
  const data = new Uint8ClampedArray(size * size * 4).fill(255);
  for (let r = 0; r < modules.size; r++) {
    for (let c = 0; c < modules.size; c++) {
      if (!modules.get(r, c)) continue;
      for (let y = 0; y < scale; y++) {
        for (let x = 0; x < scale; x++) {
          const i = (((r + quiet) * scale + y) * size + (c + quiet) * scale + x) * 4;
          data[i] = data[i + 1] = data[i + 2] = 0;
        }
      }
    }
  }
  return { data, width: size, height: size };
}

describe('pairCodeFromPayload', () => {
  it('accepts this Authenticator\'s own pair links, with or without a BaseUrl', () => {
    expect(pairCodeFromPayload(pairPageUrl(ORIGIN, '', '123456'), ORIGIN)).toBe('123456');
    expect(pairCodeFromPayload(pairPageUrl(ORIGIN, '/jellyfin', 'AB23-CD45'), ORIGIN)).toBe('AB23-CD45');
    expect(pairCodeFromPayload(`${ORIGIN}/JellyfinSecurity/app/#/pair?code=ab23cd45`, ORIGIN)).toBe('AB23-CD45');
    expect(pairCodeFromPayload(`  ${ORIGIN}:443/JellyfinSecurity/app/#/pair?code=123456\n`, ORIGIN)).toBe('123456');
  });

  it('refuses links to other origins, paths and fragments', () => {
    const refused = [
      'https://evil.example.com/JellyfinSecurity/app/#/pair?code=123456',
      'http://media.example.org/JellyfinSecurity/app/#/pair?code=123456',
      'https://media.example.org:8443/JellyfinSecurity/app/#/pair?code=123456',
      'https://media.example.org.evil.com/JellyfinSecurity/app/#/pair?code=123456',
      'https://user@media.example.org/JellyfinSecurity/app/#/pair?code=123456',
      'https://media.example.org/JellyfinSecurity/pair#/pair?code=123456',
      'https://media.example.org/JellyfinSecurity/app/index.html#/pair?code=123456',
      'https://media.example.org/JellyfinSecurity/app#/pair?code=123456',
      'https://media.example.org/JellyfinSecurity/app/?next=x#/pair?code=123456',
      'https://media.example.org/JellyfinSecurity/app/#/approve?code=123456',
      'https://media.example.org/JellyfinSecurity/app/#/pair?code=123456&then=x',
      'https://media.example.org/JellyfinSecurity/app/#/pair?code=12345',
      'https://media.example.org/JellyfinSecurity/app/#/pair?code=AB12-CD34',
      'https://media.example.org/JellyfinSecurity/app/#/pair',
      'javascript:alert(1)//JellyfinSecurity/app/#/pair?code=123456',
    ];
    for (const payload of refused) expect(pairCodeFromPayload(payload, ORIGIN), payload).toBeUndefined();
  });

  it('accepts bare codes and refuses junk', () => {
    expect(pairCodeFromPayload('123456', ORIGIN)).toBe('123456');
    expect(pairCodeFromPayload('AB23-CD45', ORIGIN)).toBe('AB23-CD45');
    expect(pairCodeFromPayload('ab23cd45', ORIGIN)).toBe('AB23-CD45');
    for (const junk of ['', '   ', '12345', '1234567', 'AB12-CD34', 'ABCD-EFGH-JKLM', 'hello world', 'WIFI:S:home;T:WPA;P:secret;;', 'otpauth://totp/x?secret=ABC', '123 456 and more']) {
      expect(pairCodeFromPayload(junk, ORIGIN), junk).toBeUndefined();
    }
  });
});

describe('decodeQrPixels (the jsQR fallback)', () => {
  it('reads a real QR code of a pair link, and the payload is accepted', () => {
    const link = pairPageUrl(ORIGIN, '/jellyfin', '482913');
    const { data, width, height } = qrPixels(link);
    const text = decodeQrPixels(data, width, height);
    expect(text).toBe(link);
    expect(pairCodeFromPayload(text!, ORIGIN)).toBe('482913');
  });

  it('reads an inverted (light on dark) code too, and finds nothing in a blank frame', () => {
    const { data, width, height } = qrPixels('AB23-CD45');
    for (let i = 0; i < data.length; i += 4) data[i] = data[i + 1] = data[i + 2] = 255 - data[i]!;
    expect(decodeQrPixels(data, width, height)).toBe('AB23-CD45');
    expect(decodeQrPixels(new Uint8ClampedArray(200 * 200 * 4).fill(255), 200, 200)).toBeNull();
  });
});
