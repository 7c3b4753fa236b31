/**
 * Registers the service worker (pwa/app/sw.ts, built to sw.js beside index.html) and tracks updates: a new
 * version waits until the user taps "Update" (UpdatePrompt), which posts SKIP_WAITING; the page reloads
 * once the new worker controls it (Elk; workbox-window).
 */
import { Workbox } from 'workbox-window';

class ServiceWorkerState {
  /** A new version is installed and waiting for the user's go-ahead. */
  updateWaiting = $state(false);
  registration = $state<ServiceWorkerRegistration | null>(null);
  #wb: Workbox | null = null;

  async register(): Promise<ServiceWorkerRegistration | null> {
    if (!('serviceWorker' in navigator)) return null;
    const wb = new Workbox('sw.js', { scope: './' });
    this.#wb = wb;
    wb.addEventListener('waiting', () => {
      this.updateWaiting = true;
    });
    try {
      this.registration = (await wb.register()) ?? null;
    } catch (err) {
      console.warn('service worker registration failed', err);
      return null;
    }
    // Look for a new version when the app comes back to the foreground, at most every 10 minutes.
    let last = Date.now();
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && Date.now() - last > 600_000) {
        last = Date.now();
        void wb.update();
      }
    });
    return this.registration;
  }

  /** Check for a new version now. */
  async checkForUpdate(): Promise<void> {
    await this.#wb?.update();
  }

  /** The user tapped "Update": let the waiting worker take over, then load the new version of the page. */
  applyUpdate(): void {
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    this.#wb?.messageSkipWaiting();
  }

  /** The registration once the worker is active (push needs an active worker). */
  async ready(): Promise<ServiceWorkerRegistration> {
    return navigator.serviceWorker.ready;
  }
}

export const serviceWorker = new ServiceWorkerState();
