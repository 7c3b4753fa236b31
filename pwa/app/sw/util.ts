/// <reference lib="webworker" />

/**
 * Navigations inside the app's scope that must reach the network, not the app shell: the gateway's API
 * and the login page built beside the app (login.html), and any file with an extension.
 */
export const NAVIGATION_DENYLIST: RegExp[] = [/\/JellyfinSecurity\/(?!app(\/|$))/i, /\/login(\.html)?(\?|$)/i, /\/[^/?]+\.[a-z0-9]+(\?|$)/i];

/**
 * Keep the worker alive until `work` settles. An event a test dispatches itself (isTrusted = false)
 * cannot be extended — `waitUntil` throws — and the work simply runs.
 */
export function keepAlive(event: ExtendableEvent, work: Promise<unknown>): void {
  const settled = work.catch((err) => console.error(`service worker: ${event.type} failed`, err));
  try {
    event.waitUntil(settled);
  } catch {
    /* untrusted event */
  }
}
