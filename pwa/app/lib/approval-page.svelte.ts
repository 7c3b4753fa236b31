/**
 * One approval on screen: load it, check its commitment, count down to its expiry, and decide. The page
 * only renders this state.
 */
import { ApiError } from './api.ts';
import { approvalErrorText, approve, deny, getApproval, report, type ApprovalView } from './approvals.ts';
import { commitmentHolds } from './commitment.ts';
import { messageOf } from './handle-error.ts';

export class ApprovalPage {
  view = $state<ApprovalView | null>(null);
  loading = $state(true);
  /** The page and the signed challenge agree (checked before any passkey is asked for). */
  verified = $state<boolean | null>(null);
  picked = $state<string | null>(null);
  busy = $state<'approve' | 'deny' | 'report' | null>(null);
  error = $state<string | null>(null);
  loadError = $state<string | null>(null);
  now = $state(Date.now());

  constructor(readonly id: string) {}

  get expired(): boolean {
    const v = this.view;
    return v !== null && v.status === 'pending' && Date.parse(v.expiresAt) <= this.now;
  }

  get pending(): boolean {
    return this.view?.status === 'pending' && !this.expired;
  }

  get canApprove(): boolean {
    return this.pending && this.verified === true && this.busy === null && (this.view!.choices === null || this.picked !== null);
  }

  async load(): Promise<void> {
    this.loading = true;
    this.loadError = null;
    try {
      const v = await getApproval(this.id);
      this.view = v;
      this.verified = await commitmentHolds(v);
    } catch (err) {
      this.loadError = approvalErrorText(err) ?? messageOf(err);
    } finally {
      this.loading = false;
    }
  }

  tick(): void {
    this.now = Date.now();
  }

  async #decide(kind: 'approve' | 'deny' | 'report', fn: (v: ApprovalView) => Promise<ApprovalView>): Promise<void> {
    const v = this.view;
    if (!v) return;
    this.busy = kind;
    this.error = null;
    try {
      this.view = await fn(v);
    } catch (err) {
      this.error = approvalErrorText(err) ?? messageOf(err);
      // The approval may have ended (wrong number, too many tries, answered elsewhere): show its state.
      if (err instanceof ApiError && err.status !== 0 && err.code !== 'number_required') {
        const fresh = await getApproval(v.id).catch(() => null);
        if (fresh) this.view = fresh;
        // It ended: the result card says how (expired, answered elsewhere, wrong number).
        if (fresh && fresh.status !== 'pending') this.error = null;
      }
    } finally {
      this.busy = null;
    }
  }

  approve(): Promise<void> {
    return this.#decide('approve', (v) => approve(v, v.choices ? this.picked : null));
  }

  deny(): Promise<void> {
    return this.#decide('deny', deny);
  }

  report(): Promise<void> {
    return this.#decide('report', report);
  }
}
