/** Times and places as people read them. */
const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "2 minutes ago", "in 30 seconds", "yesterday". */
export function relativeTime(iso: string | number, now = Date.now()): string {
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  if (Number.isNaN(t)) return '';
  let s = Math.round((t - now) / 1000);
  // A past event a little "in the future" is the two clocks disagreeing: it just happened.
  if (s > 0 && s < 300) s = 0;
  const abs = Math.abs(s);
  if (abs < 45) return s <= 0 ? 'just now' : `in ${abs} seconds`;
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86_400) return rtf.format(Math.round(s / 3600), 'hour');
  if (abs < 30 * 86_400) return rtf.format(Math.round(s / 86_400), 'day');
  return dateTime(t);
}

/** "27 Nov 2026, 09:48". */
export function dateTime(iso: string | number): string {
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  if (Number.isNaN(t)) return '';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(t);
}

/** "09:48:12". */
export function clockTime(iso: string | number): string {
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  return Number.isNaN(t) ? '' : new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' }).format(t);
}

/** Seconds left until `iso` (never negative). */
export function secondsLeft(iso: string, now = Date.now()): number {
  return Math.max(0, Math.floor((Date.parse(iso) - now) / 1000));
}

/** "1:05". */
export function countdown(seconds: number): string {
  // A notice open for a day reads "23 h 59 min", not "1439:12".
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** "Australia" for "AU" (the GeoIP database gives ISO 3166 codes); other text is kept. */
export function countryName(code: string): string {
  if (!/^[A-Z]{2}$/.test(code)) return code;
  try {
    return new Intl.DisplayNames(undefined, { type: 'region' }).of(code) ?? code;
  } catch {
    return code;
  }
}

/** Loopback, private (RFC 1918, RFC 4193) and link-local addresses: the request came from the local network. */
export function isLocalAddress(ip: string): boolean {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.\d+\.\d+$/i.exec(ip);
  if (v4) {
    const a = Number(v4[1]);
    const b = Number(v4[2]);
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  const x = ip.toLowerCase();
  return x === '::1' || /^f[cd][0-9a-f]{2}:/.test(x) || /^fe[89ab][0-9a-f]:/.test(x);
}
