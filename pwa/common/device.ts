/**
 * This phone as Jellyfin sees it: a stable DeviceId (kept in localStorage) and a readable device name,
 * sent in the MediaBrowser header of every request.
 */
import { mediaBrowserHeader } from './auth-header.ts';

const DEVICE_ID_KEY = 'jellyguard.deviceId';

export function deviceId(): string {
  let id = localStorage.getItem(DEVICE_ID_KEY);
  if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = 'jga-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    localStorage.setItem(DEVICE_ID_KEY, id);
  }
  return id;
}

/** "iPhone", "Android phone", "Chrome on Linux"… from the user agent, for lists of devices. */
export function deviceName(ua = navigator.userAgent): string {
  if (/iPhone/.test(ua)) return 'iPhone';
  if (/iPad/.test(ua)) return 'iPad';
  if (/Android/.test(ua)) return /Mobile/.test(ua) ? 'Android phone' : 'Android tablet';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /CrOS/.test(ua) ? 'ChromeOS' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

/**
 * The icon of a Jellyfin session: a TV (checked first: "Jellyfin Android TV" is a TV, not a phone), a
 * browser, a phone, or else a TV (most other Jellyfin clients are living-room apps).
 */
export function sessionIcon(client: string | null, deviceName: string | null = null): 'tv' | 'globe' | 'phone' {
  const both = `${client ?? ''} ${deviceName ?? ''}`;
  if (/\btv\b|roku|kodi|tizen|webos|web0s|fire ?tv|bravia|chromecast|shield|apple ?tv|infuse/i.test(both)) return 'tv';
  if (/web|chrome|firefox|safari|edge/i.test(client ?? '')) return 'globe';
  if (/android|ios|iphone|ipad|mobile|authenticator|findroid|streamyfin|swiftfin/i.test(client ?? '')) return 'phone';
  return 'tv';
}

/**
 * "<client> on <device>" without saying a thing twice: "Jellyfin Roku on Bedroom TV", but "Jellyfin
 * Android TV" when the device is just "Android TV" (one name inside the other: the longer says it all).
 */
export function clientOnDevice(client: string | null, deviceName: string | null): string | null {
  const c = client?.trim() || null;
  const d = deviceName?.trim() || null;
  if (!c || !d) return c ?? d;
  const lc = c.toLowerCase();
  const ld = d.toLowerCase();
  if (lc.includes(ld)) return c;
  if (ld.includes(lc)) return d;
  return `${c} on ${d}`;
}

/** The MediaBrowser authorization header, with the session's token when there is one. */
export function authorizationHeader(token?: string | null): string {
  return mediaBrowserHeader({ deviceId: deviceId(), deviceName: deviceName() }, token);
}
