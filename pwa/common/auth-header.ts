/**
 * The `Authorization: MediaBrowser …` header (JELLYFIN.md §1) the app and its service worker send:
 * client, device, DeviceId, version and, once signed in, the token. No DOM here (the worker uses it).
 */
export const CLIENT_NAME = 'Jellyguard Authenticator';
export const CLIENT_VERSION = '0.1.0';

/** A header value may not carry quotes, commas or line breaks. */
function headerSafe(s: string, fallback: string): string {
  return s.replace(/["\\,\r\n]/g, ' ').trim().slice(0, 64) || fallback;
}

export function mediaBrowserHeader(device: { deviceId: string; deviceName: string }, token?: string | null): string {
  const parts = [
    `Client="${CLIENT_NAME}"`,
    `Device="${headerSafe(device.deviceName, 'Phone')}"`,
    `DeviceId="${headerSafe(device.deviceId, 'unknown')}"`,
    `Version="${CLIENT_VERSION}"`,
  ];
  if (token) parts.push(`Token="${headerSafe(token, '')}"`);
  return `MediaBrowser ${parts.join(', ')}`;
}
