/** "My devices": everything that can sign in as this user, and revoking any of it (the page renders this). */
import { ask } from './confirm.svelte.ts';
import { revokeTrustedBrowser, removePasskey } from './factors.ts';
import { messageOf } from './handle-error.ts';
import { myDevices, revokePairedDevice, revokeSession, type MyDevices, type SessionInfo } from './devices.ts';
import { removePhone, renamePhone, testPush, thisPhone } from './phone.svelte.ts';
import { session } from './session.svelte.ts';
import { toasts } from './toast.svelte.ts';

export class DevicesPage {
  data = $state<MyDevices | null>(null);
  loadError = $state<string | null>(null);
  busy = $state<string | null>(null);

  async load(): Promise<void> {
    try {
      this.data = await myDevices();
      this.loadError = null;
    } catch (err) {
      this.loadError = messageOf(err);
    }
  }

  async #do(key: string, fn: () => Promise<unknown>, done: string): Promise<boolean> {
    this.busy = key;
    try {
      await fn();
      toasts.show(done);
      if (session.signedIn) await this.load();
      return true;
    } catch (err) {
      toasts.show(messageOf(err), 'error', 6000);
      return false;
    } finally {
      this.busy = null;
    }
  }

  isThisPhone(id: string): boolean {
    return thisPhone.id === id;
  }

  async removePhone(id: string, name: string): Promise<void> {
    const here = this.isThisPhone(id);
    const ok = await ask({
      title: `Remove “${name}”?`,
      body: here
        ? 'This phone will stop getting sign-in requests, and its passkey is removed.'
        : 'That phone will stop getting sign-in requests, and its passkey is removed. Do this if it was lost or sold.',
      confirm: 'Remove phone',
      danger: true,
    });
    if (ok) await this.#do(`phone:${id}`, () => removePhone(id), 'Phone removed.');
  }

  renamePhone(id: string, name: string): Promise<boolean> {
    return this.#do(`phone:${id}`, () => renamePhone(id, name.trim()), 'Phone renamed.');
  }

  /** The push service's real answer, said as it is (sent, or why not). */
  async testPush(id: string): Promise<boolean> {
    this.busy = `phone:${id}`;
    try {
      const r = await testPush(id);
      toasts.show(r.message, r.status === 'sent' ? undefined : 'error', r.status === 'sent' ? undefined : 8000);
      return r.status === 'sent';
    } catch (err) {
      toasts.show(messageOf(err), 'error', 6000);
      return false;
    } finally {
      this.busy = null;
    }
  }

  async signOutSession(s: SessionInfo): Promise<void> {
    const what = s.deviceName ?? s.client ?? 'this device';
    const ok = await ask({
      title: s.current ? 'Sign out this app?' : `Sign out “${what}”?`,
      body: s.current ? 'You will need to sign in again here.' : 'It will have to sign in again (and ask you first).',
      confirm: 'Sign out',
      danger: true,
    });
    if (!ok) return;
    await this.#do(`session:${s.id}`, async () => {
      await revokeSession(s.id);
      if (s.current) session.clear();
    }, s.current ? 'Signed out.' : `${what} signed out.`);
  }

  async removePasskey(id: string, name: string): Promise<void> {
    const ok = await ask({ title: `Remove the passkey “${name}”?`, body: 'It can no longer be used to sign in or approve.', confirm: 'Remove', danger: true });
    if (ok) await this.#do(`passkey:${id}`, () => removePasskey(id), 'Passkey removed.');
  }

  async forgetBrowser(id: string, label: string): Promise<void> {
    const ok = await ask({ title: `Stop trusting “${label}”?`, body: 'That browser will ask for the second step again at its next sign-in.', confirm: 'Stop trusting', danger: true });
    if (ok) await this.#do(`browser:${id}`, () => revokeTrustedBrowser(id), 'Browser no longer trusted.');
  }

  async unpair(id: string, name: string): Promise<void> {
    const ok = await ask({ title: `Unpair “${name}”?`, body: 'It will have to be paired again to sign in.', confirm: 'Unpair', danger: true });
    if (ok) await this.#do(`paired:${id}`, () => revokePairedDevice(id), 'Device unpaired.');
  }
}
