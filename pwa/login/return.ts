/**
 * Where the login page lives and where it may send the browser afterwards.
 *
 * The page is served at `{BaseUrl}/JellyfinSecurity/login/`, so the BaseUrl is what comes before
 * `/JellyfinSecurity/` in its own path. After signing in it goes to `?return=` — only a path on this
 * origin that is jellyfin-web (`…/web…`) or the Authenticator (`{BaseUrl}/JellyfinSecurity/app/…`);
 * anything else (another origin, `//host`, `/\host`, a scheme, the login page itself) is replaced by
 * jellyfin-web's home, `{BaseUrl}/web/`. The browser is never sent off-origin by this parameter.
 */

/** The BaseUrl ('' or like '/jellyfin') from the login page's own path. */
export function baseUrlOf(pathname: string): string {
  const i = pathname.toLowerCase().lastIndexOf('/jellyfinsecurity/');
  return i <= 0 ? '' : pathname.slice(0, i);
}

/** jellyfin-web's home under a BaseUrl. */
export function homeOf(base: string): string {
  return `${base}/web/`;
}

const WEB_CLIENT = /^(?:\/[^/]+)*\/web(?:\/|$)/i;

/**
 * The same-origin path to open after signing in: `raw` when it is safe (see above), else jellyfin-web's
 * home. `origin` is the page's own origin.
 */
export function safeReturnPath(raw: string | null | undefined, base: string, origin: string): string {
  const home = homeOf(base);
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return home;
  // A path, not a protocol-relative URL or a backslash trick browsers read as one; no control characters.
  if (raw[0] !== '/' || raw[1] === '/' || raw[1] === '\\' || raw.includes('\\') || /[\u0000-\u001f\u007f]/.test(raw)) return home;
  let url: URL;
  try {
    url = new URL(raw, origin);
  } catch {
    return home;
  }
  if (url.origin !== origin) return home;
  const path = url.pathname;
  const app = `${base}/jellyfinsecurity/app`.toLowerCase();
  const lower = path.toLowerCase();
  const isApp = lower === app || lower.startsWith(app + '/');
  if (lower.includes('/jellyfinsecurity/') && !isApp) return home;
  if (!isApp && !WEB_CLIENT.test(path)) return home;
  return path + url.search + url.hash;
}

/**
 * The address jellyfin-web uses for this server when opened at `returnPath`: the page URL before its
 * last "/web", as jellyfin-web's own serverAddress() computes it. jellyfin-web matches saved servers by
 * this address, so the credentials must carry exactly it.
 */
export function webClientAddress(origin: string, returnPath: string, base: string): string {
  const q = returnPath.search(/[?#]/);
  const path = q === -1 ? returnPath : returnPath.slice(0, q);
  const i = path.toLowerCase().lastIndexOf('/web');
  return origin + (i === -1 || !WEB_CLIENT.test(path) ? base : path.slice(0, i));
}
