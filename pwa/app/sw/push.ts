/// <reference lib="webworker" />
/**
 * `push`: the gateway asks this phone to approve something, or tells it something. The payload
 * (shared/api/approvals.ts `PushPayload`, encrypted by web-push) is small: for an approval its id, a
 * title and a line of text. The notification uses the payload's tag (a newer push for the same approval
 * replaces it instead of stacking) and carries the approval page's URL, which a click opens (iOS shows no
 * action buttons, so there are none anywhere: the page works the same everywhere).
 */
import { approvalPageUrl } from '../lib/routes.ts';
import { parsePushPayload } from './payload.ts';

export async function onPush(self: ServiceWorkerGlobalScope, event: PushEvent): Promise<void> {
  const scope = self.registration.scope;
  const payload = parsePushPayload(readJson(event.data));
  const icon = new URL('icons/icon-192.png', scope).href;
  const badge = new URL('icons/favicon-32.png', scope).href;
  if (!payload) {
    // Every push must show something (Chrome requires it); say it plainly instead of the browser's text.
    await self.registration.showNotification('Jellyguard', {
      body: 'Open the app to see what needs your attention.',
      tag: 'jellyguard',
      icon,
      data: { url: scope },
    });
    return;
  }
  if (payload.type === 'notice') {
    await self.registration.showNotification(payload.title, { body: payload.body, tag: payload.tag, icon, badge, data: { url: scope } });
    return;
  }
  const url = approvalPageUrl(scope, payload.approvalId);
  const options: NotificationOptions & { timestamp?: number; renotify?: boolean } = {
    body: payload.body,
    tag: payload.tag,
    data: { url, approvalId: payload.approvalId, expiresAt: payload.expiresAt },
    icon,
    badge,
    // Stay until answered (where supported); ring again when a push replaces the same tag.
    requireInteraction: true,
    renotify: true,
  };
  await self.registration.showNotification(payload.title, options);
  // An open app shows the new request at once.
  for (const client of await self.clients.matchAll({ type: 'window', includeUncontrolled: true })) {
    client.postMessage({ type: 'APPROVAL_PUSHED', approvalId: payload.approvalId });
  }
}

function readJson(data: PushMessageData | null): unknown {
  if (!data) return undefined;
  try {
    return data.json();
  } catch {
    return undefined;
  }
}
