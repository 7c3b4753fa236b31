/// <reference lib="webworker" />
/**
 * Messages from the pages. SKIP_WAITING: the user tapped "Update" on the update prompt, so the waiting
 * version takes over (never on its own: a page mid-approval is not pulled from under the user).
 */
export async function onMessage(self: ServiceWorkerGlobalScope, event: ExtendableMessageEvent): Promise<void> {
  const data = event.data as { type?: unknown } | null;
  if (data?.type === 'SKIP_WAITING') await self.skipWaiting();
}
