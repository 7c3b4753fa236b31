/** The admin console's state (users with factors + reset, bans, audit log); the page renders it. */
import type { AuditItem, BanInfo } from '../../../shared/api/guard.ts';
import { auditLog, liftAllBans, liftBan, listBans, listUsers, resetFactors, type AdminUser } from './admin.ts';
import { ask } from './confirm.svelte.ts';
import { messageOf } from './handle-error.ts';
import { StepUpCancelled, withStepUp } from './stepup.svelte.ts';
import { toasts } from './toast.svelte.ts';

export class AdminPage {
  users = $state<AdminUser[] | null>(null);
  bans = $state<BanInfo[] | null>(null);
  audit = $state<AuditItem[] | null>(null);
  auditTotal = $state(0);
  auditFilter = $state('');
  error = $state<string | null>(null);
  busy = $state(false);

  async #load(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      this.error = null;
    } catch (err) {
      this.error = messageOf(err);
    }
  }

  loadUsers = () => this.#load(async () => void (this.users = await listUsers()));
  loadBans = () => this.#load(async () => void (this.bans = (await listBans()).items));

  loadAudit(more = false): Promise<void> {
    return this.#load(async () => {
      const f = this.auditFilter.trim();
      const filter = /^[a-z_.*]+$/.test(f) ? { type: f.includes('.') || f.endsWith('*') ? f : `${f}.*` } : f ? { user: f } : {};
      const r = await auditLog({ ...filter, offset: more ? (this.audit?.length ?? 0) : 0, limit: 50 });
      this.audit = more ? [...(this.audit ?? []), ...r.items] : r.items;
      this.auditTotal = r.total;
    });
  }

  /** An admin change: the gateway may ask for a fresh proof first (step-up), which `fn` then sends. */
  async #do(fn: (headers: Record<string, string>) => Promise<unknown>, done: string): Promise<void> {
    this.busy = true;
    try {
      await withStepUp(fn);
      toasts.show(done);
    } catch (err) {
      if (!(err instanceof StepUpCancelled)) toasts.show(messageOf(err), 'error', 6000);
    } finally {
      this.busy = false;
    }
  }

  async reset(u: AdminUser): Promise<void> {
    const ok = await ask({
      title: `Reset ${u.name}’s second factors?`,
      body: 'Their passkeys, authenticator app, e-mail codes, recovery codes and trusted browsers are removed. Do this when they lost their phone.',
      confirm: 'Reset',
      danger: true,
    });
    if (ok) await this.#do((h) => resetFactors(u.id, h).then(() => this.loadUsers()), `${u.name}’s second factors were reset.`);
  }

  async lift(b: BanInfo): Promise<void> {
    await this.#do((h) => liftBan(b.id, h).then(() => this.loadBans()), 'Ban lifted.');
  }

  async liftAll(): Promise<void> {
    const ok = await ask({ title: 'Lift every ban?', body: 'Every blocked address and locked user name can try again at once.', confirm: 'Lift all', danger: true });
    if (ok) await this.#do((h) => liftAllBans(h).then(() => this.loadBans()), 'All bans lifted.');
  }
}
