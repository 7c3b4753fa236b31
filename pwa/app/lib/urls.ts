/**
 * Where things are, relative to the app (`{BaseUrl}/JellyfinSecurity/app/`), so that a Jellyfin BaseUrl
 * needs no configuration here.
 */
function appBase(): URL {
  // The app's own directory, whatever the document's file name (index.html or none).
  return new URL('./', location.href.split('#')[0]);
}

/** `{BaseUrl}/JellyfinSecurity/<path>`: the gateway's own API. */
export function gatewayUrl(path: string): string {
  return new URL(`../${path.replace(/^\//, '')}`, appBase()).href;
}

/** `{BaseUrl}/<path>`: Jellyfin's API through the gateway. */
export function jellyfinUrl(path: string): string {
  return new URL(`../../${path.replace(/^\//, '')}`, appBase()).href;
}

/** The app's scope (where the service worker is registered). */
export function appScope(): string {
  return appBase().href;
}
