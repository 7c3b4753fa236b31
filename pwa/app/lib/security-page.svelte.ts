/**
 * The Security page's state: the user's factors (shared/api/factors.ts Me), and each change to them.
 * Every change reloads Me so the page always shows what the server has.
 */
import type { TotpEnrollment } from '../../../shared/api/factors.ts';
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import { call } from './api.ts';
import { ask } from './confirm.svelte.ts';
import { deviceName } from '../../common/device.ts';
import {
  addPasskey,
  beginTotp,
  confirmEmail,
  confirmTotp,
  loadMe,
  removeEmail,
  removePasskey,
  removeTotp,
  renamePasskey,
  setEmail,
  type MeResponse,
} from './factors.ts';
import { messageOf } from './handle-error.ts';
import { StepUpCancelled, withStepUp } from './stepup.svelte.ts';
import { listPhones, type PhoneInfo } from './phone.svelte.ts';
import { toasts } from './toast.svelte.ts';

export class SecurityPage {
  me = $state<MeResponse | null>(null);
  /** The enrolled phones, to tell which passkey belongs to which phone. */
  phones = $state<PhoneInfo[]>([]);
  loadError = $state<string | null>(null);
  busy = $state<string | null>(null);
  error = $state<{ where: string; text: string } | null>(null);
  totpSetup = $state<TotpEnrollment | null>(null);
  /** Recovery codes just made: shown once, with download. */
  newCodes = $state<string[] | null>(null);
  emailPending = $state<string | null>(null);

  async load(): Promise<void> {
    try {
      const [me, phones] = await Promise.all([loadMe(), listPhones().catch(() => [] as PhoneInfo[])]);
      this.me = me;
      this.phones = phones;
      this.loadError = null;
    } catch (err) {
      this.loadError = messageOf(err);
    }
  }

  async #do(where: string, fn: () => Promise<void>, done?: string): Promise<boolean> {
    this.busy = where;
    this.error = null;
    try {
      await fn();
      if (done) toasts.show(done);
      await this.load();
      return true;
    } catch (err) {
      if (!(err instanceof StepUpCancelled)) this.error = { where, text: messageOf(err) };
      return false;
    } finally {
      this.busy = null;
    }
  }

  phoneOf(passkeyId: string): PhoneInfo | undefined {
    return this.phones.find((p) => p.passkeyId === passkeyId);
  }

  errorFor(where: string): string | null {
    return this.error?.where === where ? this.error.text : null;
  }

  // ── Authenticator app ──
  startTotp(): Promise<boolean> {
    return this.#do('totp', async () => {
      this.totpSetup = await beginTotp();
    });
  }

  confirmTotp(code: string): Promise<boolean> {
    return this.#do(
      'totp',
      async () => {
        const r = await confirmTotp(code.replace(/\s+/g, ''));
        this.totpSetup = null;
        if (r.recoveryCodes.length) this.newCodes = r.recoveryCodes;
      },
      'Authenticator app added.',
    );
  }

  cancelTotp(): void {
    this.totpSetup = null;
    this.error = null;
  }

  async removeTotp(): Promise<void> {
    const ok = await ask({ title: 'Remove the authenticator app?', body: 'Its codes will stop working for this account.', confirm: 'Remove', danger: true });
    if (ok) await this.#do('totp', () => removeTotp().then(() => undefined), 'Authenticator app removed.');
  }

  // ── Passkeys ──
  addPasskey(): Promise<boolean> {
    return this.#do(
      'passkeys',
      async () => {
        const p = await addPasskey(deviceName());
        if (p.recoveryCodes.length) this.newCodes = p.recoveryCodes;
      },
      'Passkey added.',
    );
  }

  rename(id: string, name: string): Promise<boolean> {
    return this.#do('passkeys', () => renamePasskey(id, name.trim()).then(() => undefined), 'Passkey renamed.');
  }

  async removePasskey(id: string, name: string): Promise<void> {
    const ok = await ask({
      title: `Remove “${name}”?`,
      body: 'You can no longer sign in or approve with this passkey.',
      confirm: 'Remove',
      danger: true,
    });
    if (ok) await this.#do('passkeys', () => removePasskey(id).then(() => undefined), 'Passkey removed.');
  }

  // ── E-mail ──
  setEmail(address: string): Promise<boolean> {
    return this.#do('email', async () => {
      await setEmail(address.trim());
      this.emailPending = address.trim();
    });
  }

  confirmEmail(code: string): Promise<boolean> {
    return this.#do(
      'email',
      async () => {
        await confirmEmail(code.replace(/\s+/g, ''));
        this.emailPending = null;
      },
      'E-mail address confirmed.',
    );
  }

  async removeEmail(): Promise<void> {
    const ok = await ask({ title: 'Stop e-mail codes?', body: 'Codes will no longer be sent to this address.', confirm: 'Remove', danger: true });
    if (ok) await this.#do('email', () => removeEmail().then(() => undefined), 'E-mail address removed.');
  }

  // ── Recovery codes ──
  /** Make a new set (the old one stops working); the gateway may ask for a fresh proof first (step-up). */
  async regenerateCodes(): Promise<void> {
    const ok = await ask({
      title: 'Make new recovery codes?',
      body: 'Your old codes stop working at once. You will see the new ones only once.',
      confirm: 'Make new codes',
    });
    if (!ok) return;
    await this.#do('recovery', async () => {
      const r = await withStepUp((headers) => call(ENDPOINTS.MeRecoveryCodes, { headers }));
      this.newCodes = r.recoveryCodes;
    });
  }
}
