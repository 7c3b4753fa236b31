/// <reference lib="webworker" />
/**
 * `notificationclick`: open the approval page. An open window of the app is reused (told to show the
 * page, then focused); otherwise a new one is opened. Only URLs inside the app's scope are ever opened,
 * whatever the notification's data says.
 */
import { isInScope } from '../lib/routes.ts';

export async function onNotificationClick(self: ServiceWorkerGlobalScope, event: NotificationEvent): Promise<void> {
  event.notification.close();
  const scope = self.registration.scope;
  const data = (event.notification.data ?? {}) as { url?: unknown };
  const url = typeof data.url === 'string' && isInScope(data.url, scope) ? new URL(data.url, scope).href : scope;

  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((c) => isInScope(c.url, scope));
  if (open) {
    // Same document, another fragment: the page routes itself (no reload, no lost state).
    open.postMessage({ type: 'OPEN_URL', url });
    await open.focus().catch(() => undefined);
    return;
  }
  await self.clients.openWindow(url);
}
