/**
 * Messages from the service worker to an open app: a notification was tapped (show its page here
 * instead of opening another window), or a new approval arrived (refresh the list).
 */
import { isInScope, parseHash } from './routes.ts';
import { router } from './router.svelte.ts';
import { appScope } from './urls.ts';

type Listener = (approvalId: string) => void;
const pushedListeners = new Set<Listener>();

/** Call `fn` when a push for an approval arrives while the app is open; returns the unsubscribe. */
export function onApprovalPushed(fn: Listener): () => void {
  pushedListeners.add(fn);
  return () => pushedListeners.delete(fn);
}

export function listenToServiceWorker(): void {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (event: MessageEvent) => {
    const data = event.data as { type?: unknown; url?: unknown; approvalId?: unknown } | null;
    if (data?.type === 'OPEN_URL' && typeof data.url === 'string' && isInScope(data.url, appScope())) {
      router.navigate(parseHash(new URL(data.url).hash));
    } else if (data?.type === 'APPROVAL_PUSHED' && typeof data.approvalId === 'string') {
      for (const fn of pushedListeners) fn(data.approvalId);
    }
  });
}
