/**
 * "Enroll this phone": notifications first (a tap: iOS only asks from a tap), then the passkey (another
 * tap, with the server's options fetched before it so the browser sees the tap), then done.
 */
import type { PushSubscriptionInput, TestPushResponse } from '../../../shared/api/approvals.ts';
import { ApiError } from './api.ts';
import { deviceName } from '../../common/device.ts';
import { messageOf } from './handle-error.ts';
import { enrollThisPhone, phoneOptions, testPush, type EnrolledPhone } from './phone.svelte.ts';
import type { PublicKeyCredentialCreationOptionsJSON } from '../../common/passkey.ts';
import { askNotificationPermission, getPushConfig, notificationPermission, pushSupported, PushUnavailable, subscribe } from './push.ts';
import { serviceWorker } from './sw-register.svelte.ts';
import { StepUpCancelled } from './stepup.svelte.ts';

export type EnrollStep = 'intro' | 'notifications' | 'passkey' | 'done';

export class EnrollFlow {
  step = $state<EnrollStep>('intro');
  busy = $state(false);
  error = $state<string | null>(null);
  /** Notifications could not be turned on; the user may go on without them. */
  pushProblem = $state<string | null>(null);
  subscription = $state<PushSubscriptionInput | null>(null);
  name = $state(deviceName());
  phone = $state<EnrolledPhone | null>(null);
  /** The push service's answer to the test notification, as the server worded it. */
  testResult = $state<TestPushResponse | null>(null);
  #options: PublicKeyCredentialCreationOptionsJSON | null = null;

  get pushSupported(): boolean {
    return pushSupported();
  }

  start(): void {
    this.error = null;
    // The notifications step shows while the browser signs up (a spinner), even when no question is asked.
    this.step = 'notifications';
    if (notificationPermission() === 'granted') void this.turnOnNotifications();
  }

  /** From the tap on "Allow notifications". */
  async turnOnNotifications(): Promise<void> {
    this.busy = true;
    this.error = null;
    this.pushProblem = null;
    try {
      const permission = await askNotificationPermission();
      if (permission !== 'granted') throw new PushUnavailable('denied', 'Notifications are blocked for this app. You can allow them later in the browser’s site settings.');
      const [registration, config] = await Promise.all([serviceWorker.ready(), getPushConfig()]);
      this.subscription = await subscribe(registration, config);
    } catch (err) {
      this.pushProblem = err instanceof PushUnavailable ? err.message : messageOf(err);
      this.step = 'notifications';
      this.busy = false;
      return;
    }
    try {
      await this.#toPasskey();
    } catch (err) {
      this.#stopped(err);
    } finally {
      this.busy = false;
    }
  }

  /** The way to the passkey step failed: the user closed the "Confirm it's you" dialog, or an error. */
  #stopped(err: unknown): void {
    if (err instanceof StepUpCancelled) {
      this.step = 'intro';
      return;
    }
    this.error = messageOf(err);
  }

  /** Go on without notifications: the phone can still approve from the app's list. */
  async skipNotifications(): Promise<void> {
    this.subscription = null;
    this.busy = true;
    try {
      await this.#toPasskey();
    } catch (err) {
      this.#stopped(err);
    } finally {
      this.busy = false;
    }
  }

  /** Setting up a second phone is a change to the account: it asks for a fresh proof first (step-up). */
  async #toPasskey(): Promise<void> {
    this.#options = await phoneOptions();
    this.step = 'passkey';
  }

  /** From the tap on "Create passkey". */
  async createPasskey(): Promise<void> {
    this.busy = true;
    this.error = null;
    try {
      // Options are single-use and short-lived: fetch new ones if the tap came late or a try failed.
      const options = this.#options ?? (await phoneOptions());
      this.#options = null;
      this.phone = await enrollThisPhone(this.name.trim() || deviceName(), options, this.subscription);
      this.step = 'done';
    } catch (err) {
      this.error = err instanceof ApiError && err.code === 'unknown_ceremony' ? 'That took too long. Tap the button again.' : messageOf(err);
      this.#options = await phoneOptions().catch(() => null);
    } finally {
      this.busy = false;
    }
  }

  async sendTest(): Promise<void> {
    if (!this.phone) return;
    this.busy = true;
    try {
      this.testResult = await testPush(this.phone.id);
    } catch (err) {
      this.error = messageOf(err);
    } finally {
      this.busy = false;
    }
  }
}
