/**
 * This phone as the account's authenticator (shared/api/approvals.ts "Phones"): enrolling it (a platform
 * passkey with user verification + a push subscription), remembering which enrolled phone it is, and
 * re-subscribing to push at every start of the app (a dead subscription is replaced, and the gateway
 * always has the newest endpoint: Safari answers 200 for dead ones).
 */
import type { EnrolledPhone, PhoneInfo, PushSubscriptionInput } from '../../../shared/api/approvals.ts';
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import { ApiError, call } from './api.ts';
import { createPasskey, creationOptionsOf, type PublicKeyCredentialCreationOptionsJSON } from '../../common/passkey.ts';
import { getPushConfig, notificationPermission, pushSupported, subscribe } from './push.ts';
import { session } from './session.svelte.ts';
import { withStepUp } from './stepup.svelte.ts';
import { saveWorkerPhone } from './worker-store.ts';

export type { EnrolledPhone, PhoneInfo };

const KEY = 'jellyguard.phone';

interface StoredPhone {
  phoneId: string;
  userId: string;
}

function load(): StoredPhone | null {
  try {
    const p = JSON.parse(localStorage.getItem(KEY) ?? 'null') as StoredPhone | null;
    return p && typeof p.phoneId === 'string' && typeof p.userId === 'string' ? p : null;
  } catch {
    return null;
  }
}

class ThisPhone {
  stored = $state<StoredPhone | null>(load());

  /** The id of this phone among the signed-in user's enrolled phones, if it is one. */
  get id(): string | null {
    const p = this.stored;
    return p && p.userId === session.current?.userId ? p.phoneId : null;
  }

  get enrolled(): boolean {
    return this.id !== null;
  }

  remember(phoneId: string, userId: string): void {
    const p = { phoneId, userId };
    this.stored = p;
    localStorage.setItem(KEY, JSON.stringify(p));
    // The plain object: IndexedDB cannot store the reactive proxy.
    void saveWorkerPhone(p);
  }

  forget(): void {
    this.stored = null;
    localStorage.removeItem(KEY);
    void saveWorkerPhone(null);
  }
}

export const thisPhone = new ThisPhone();

/**
 * The server's passkey options for a phone (platform authenticator, UV required). Fetch before the tap.
 * Setting up a phone is a step-up action: an account that already has a factor confirms with it first.
 */
export const phoneOptions = async (): Promise<PublicKeyCredentialCreationOptionsJSON> =>
  creationOptionsOf(await withStepUp((headers) => call(ENDPOINTS.MePhonesOptions, { headers })));

/** Create this phone's passkey (call from the tap) and enroll it with its push subscription (or none). */
export async function enrollThisPhone(
  name: string,
  options: PublicKeyCredentialCreationOptionsJSON,
  subscription: PushSubscriptionInput | null,
): Promise<EnrolledPhone> {
  const response = await createPasskey(options, { platform: true });
  const phone = await call(ENDPOINTS.MePhonesEnroll, { body: { name, response, subscription } });
  thisPhone.remember(phone.id, session.current!.userId);
  return phone;
}

export const listPhones = () => call(ENDPOINTS.MePhones);
export const renamePhone = (id: string, name: string) => call(ENDPOINTS.MePhoneRename, { params: { phoneId: id }, body: { name } });
export const testPush = (id: string) => call(ENDPOINTS.MePhoneTest, { params: { phoneId: id } });

export async function removePhone(id: string): Promise<void> {
  await withStepUp((headers) => call(ENDPOINTS.MePhoneRemove, { params: { phoneId: id }, headers }));
  if (id === thisPhone.id) thisPhone.forget();
}

export const putSubscription = (phoneId: string, subscription: PushSubscriptionInput) =>
  call(ENDPOINTS.MePhoneSubscription, { params: { phoneId }, body: { subscription } });

/**
 * At every start: if this is an enrolled phone that may show notifications, subscribe again (the same
 * subscription when it is still good) and send it. Quiet: a failure is retried at the next start.
 */
export async function resubscribeAtStart(registration: ServiceWorkerRegistration | null): Promise<'sent' | 'skipped' | 'failed'> {
  const phoneId = thisPhone.id;
  if (!phoneId || !session.signedIn || !registration || !pushSupported() || notificationPermission() !== 'granted') return 'skipped';
  try {
    const config = await getPushConfig();
    if (!config.enabled) return 'skipped';
    const sub = await subscribe(registration, config);
    await putSubscription(phoneId, sub);
    return 'sent';
  } catch (err) {
    // The phone was removed (here or from another device): it is no longer this account's authenticator.
    if (err instanceof ApiError && err.status === 404) thisPhone.forget();
    else console.warn('re-subscribing to push failed', err);
    return 'failed';
  }
}
