/**
 * How long a held login may wait for the phone, per client. A native client that cannot show a challenge
 * is held open while the phone is asked (server/approvals/login.ts); past its own login timeout the client
 * gives up with its own "invalid user name or password" / "server unavailable" before anyone looked at the
 * phone. So each hold ends, with the gateway's clear 401, safely before its client would give up; the
 * approval stays open and the device's next attempt succeeds (approve-then-retry).
 *
 * Timeouts read from each client's source (the login request, POST /Users/AuthenticateByName). `null`: the
 * app sets none (the browser's or the OS's own limit, minutes); the configured HoldSeconds then applies.
 */
export interface ClientLoginTimeout {
  /** The X-Emby-Authorization `Client` field, URL-decoded and lower-case: exact, or a prefix ending in '*'. */
  client: string;
  /** Seconds the client waits for the login answer; null = no limit set by the app. */
  seconds: number | null;
  /** Where it was read. */
  source: string;
}

export const CLIENT_LOGIN_TIMEOUTS: readonly ClientLoginTimeout[] = [
  { client: 'kodi', seconds: 10, source: 'jellyfin-kodi jellyfin/api.py login(): requests timeout=10 (connect and per read)' },
  { client: 'jellyfin for kodi', seconds: 10, source: 'jellyfin-kodi jellyfin/http.py (name when app.name is unset)' },
  { client: 'findroid*', seconds: 10, source: 'findroid settings Constants.kt: 10 s socket (read) timeout, 30 s call timeout' },
  { client: 'swiftfin*', seconds: 20, source: 'Swiftfin URLSessionConfiguration.swift: timeoutIntervalForRequest 20 s' },
  { client: 'jellyfin android tv', seconds: 30, source: 'jellyfin-sdk-kotlin HttpClientOptions: 30 s request timeout (v0.19)' },
  { client: 'jellyfin for android tv', seconds: 30, source: 'jellyfin-sdk-kotlin HttpClientOptions: 30 s request timeout' },
  { client: 'jellyfin roku', seconds: 30, source: 'jellyfin-roku source/api/baserequest.bs postJson: wait(30000, port)' },
  { client: 'jellyfin web', seconds: null, source: 'jellyfin-apiclient: a POST is a plain fetch() with no timeout' },
  { client: 'jellyfin for android', seconds: null, source: 'jellyfin-android: jellyfin-web in a WebView' },
  { client: 'jellyfin android', seconds: null, source: 'jellyfin-android before 2.7: jellyfin-web in a WebView' },
  { client: 'jellyfin media player', seconds: null, source: 'jellyfin-media-player: jellyfin-web in Qt WebEngine' },
  { client: 'jellyfin desktop', seconds: null, source: 'jellyfin-desktop 2.0: jellyfin-web in Qt WebEngine' },
  { client: 'finamp', seconds: null, source: 'finamp jellyfin_api.dart: Chopper client with no timeout' },
  { client: 'streamyfin', seconds: null, source: '@jellyfin/sdk on axios with timeout 0 (React Native XHR)' },
];

/** A hold ends this long before the client's own timeout: the 401 must reach it in time. */
export const HOLD_MARGIN_SECONDS = 2;
/** Clients not in the table (Infuse, new apps): the shortest known timeout (Kodi, Findroid) applies. */
export const UNKNOWN_CLIENT_HOLD_SECONDS = 8;

function normalizeClient(client: string): string {
  let c = client.trim();
  try {
    c = decodeURIComponent(c);
  } catch {
    // not URL-encoded after all
  }
  return c.trim().toLowerCase();
}

/** The table's row for a client, or undefined for a client it does not know. */
export function clientLoginTimeout(client: string | null | undefined): ClientLoginTimeout | undefined {
  if (!client) return undefined;
  const c = normalizeClient(client);
  return CLIENT_LOGIN_TIMEOUTS.find((t) => (t.client.endsWith('*') ? c.startsWith(t.client.slice(0, -1)) : c === t.client));
}

/** Seconds to hold this client's login for the phone: never past its own timeout, never past HoldSeconds. */
export function holdSecondsFor(client: string | null | undefined, configured: number): number {
  const known = clientLoginTimeout(client);
  const limit = known === undefined ? UNKNOWN_CLIENT_HOLD_SECONDS : known.seconds === null ? configured : known.seconds - HOLD_MARGIN_SECONDS;
  return Math.max(0, Math.min(configured, limit));
}
