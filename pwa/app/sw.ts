/// <reference lib="webworker" />
/**
 * The Authenticator's service worker. This file only wires things up (Elk): precache the app shell,
 * answer navigations with it (offline too), and hand push, notification clicks, subscription changes and
 * messages to the small modules in ./sw/. Updates wait for the page's SKIP_WAITING (sw/messages.ts).
 */
import { clientsClaim } from 'workbox-core';
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute, type PrecacheEntry } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { onPush } from './sw/push.ts';
import { onNotificationClick } from './sw/notification-click.ts';
import { onPushSubscriptionChange, type SubscriptionChange } from './sw/subscription-change.ts';
import { onMessage } from './sw/messages.ts';
import { NAVIGATION_DENYLIST, keepAlive } from './sw/util.ts';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<PrecacheEntry | string> };

// The app shell (index.html, hashed assets, icons, manifest), injected at build time.
precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();

// Every page of the app is index.html (routes live in the fragment); API and login paths never are.
registerRoute(new NavigationRoute(createHandlerBoundToURL('index.html'), { denylist: NAVIGATION_DENYLIST }));

self.addEventListener('push', (event) => keepAlive(event, onPush(self, event)));
self.addEventListener('notificationclick', (event) => keepAlive(event, onNotificationClick(self, event)));
// (`pushsubscriptionchange` is not in TypeScript's WebWorker lib.)
self.addEventListener('pushsubscriptionchange' as 'push', (event) => keepAlive(event, onPushSubscriptionChange(self, event as unknown as SubscriptionChange)));
self.addEventListener('message', (event) => keepAlive(event, onMessage(self, event)));

// The first install takes the open app at once; later versions wait for the user (SKIP_WAITING).
clientsClaim();

