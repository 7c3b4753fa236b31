/**
 * Whether the app can reach the server: the browser's own idea (navigator.onLine) and what the last
 * request found (a phone on a captive Wi-Fi says it is online but reaches nothing). The offline banner.
 */
class Online {
  browser = $state(typeof navigator === 'undefined' ? true : navigator.onLine);
  /** The last request to the server got an answer (any HTTP status). */
  reachable = $state(true);

  constructor() {
    addEventListener('online', () => (this.browser = true));
    addEventListener('offline', () => (this.browser = false));
  }

  get value(): boolean {
    return this.browser && this.reachable;
  }
}

export const online = new Online();
