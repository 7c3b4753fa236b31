import type { Clock } from '../clock.ts';
import type { ApprovalStatus } from '../../shared/api/approvals.ts';

/** How a wait ended: the approval was decided, or the waiter's own deadline passed, or it gave up. */
export type WaitOutcome = Exclude<ApprovalStatus, 'pending'> | 'timeout' | 'aborted' | 'shutdown';

interface Waiter {
  until: number;
  resolve: (o: WaitOutcome) => void;
}

/**
 * Requests waiting for an approval: a held native login, a long-polling login page. A wait is a promise
 * resolved by the approval's decision (`settle`) — no polling loop — or by its deadline, which is
 * measured on the injected clock and checked by `tick()` (a 1-second timer in production; tests move the
 * ManualClock and call tick, never sleeping).
 */
export class Waiters {
  private readonly byId = new Map<string, Set<Waiter>>();
  private readonly watchers: Array<{ match: (approvalId: string) => boolean; resolve: (approvalId: string) => void }> = [];

  constructor(private readonly clock: Clock) {}

  /** Wait until `approvalId` is decided, `until` (clock ms) passes, or `signal` aborts. */
  wait(approvalId: string, until: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (signal?.aborted) return Promise.resolve('aborted');
    if (until <= this.clock.now()) return Promise.resolve('timeout');
    return new Promise<WaitOutcome>((resolve) => {
      let set = this.byId.get(approvalId);
      if (!set) {
        set = new Set();
        this.byId.set(approvalId, set);
      }
      const s = set;
      const onAbort = () => finish('aborted');
      const w: Waiter = { until, resolve: (o) => finish(o) };
      function finish(o: WaitOutcome): void {
        if (!s.delete(w)) return; // already finished
        signal?.removeEventListener('abort', onAbort);
        resolve(o);
      }
      s.add(w);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.notifyWatchers(approvalId);
    }).finally(() => {
      const set = this.byId.get(approvalId);
      if (set && set.size === 0) this.byId.delete(approvalId);
    });
  }

  /** The approval was decided: wake everyone waiting for it. */
  settle(approvalId: string, outcome: Exclude<ApprovalStatus, 'pending'>): void {
    const set = this.byId.get(approvalId);
    if (!set) return;
    for (const w of [...set]) w.resolve(outcome);
  }

  /** Wake the waiters whose deadline has passed on the clock. */
  tick(): void {
    const now = this.clock.now();
    for (const set of [...this.byId.values()]) for (const w of [...set]) if (w.until <= now) w.resolve('timeout');
  }

  /** Shutting down: every wait ends now. */
  closeAll(): void {
    for (const set of [...this.byId.values()]) for (const w of [...set]) w.resolve('shutdown');
  }

  /**
   * Resolves (with the approval's id) once a request waits for `approvalId` — or for any approval that
   * `approvalId` accepts when it is a predicate. Tests use it instead of sleeping.
   */
  whenWaiting(approvalId?: string | ((id: string) => boolean)): Promise<string> {
    const match = typeof approvalId === 'function' ? approvalId : (id: string) => approvalId === undefined || id === approvalId;
    for (const [id, set] of this.byId) if (set.size > 0 && match(id)) return Promise.resolve(id);
    return new Promise((resolve) => this.watchers.push({ match, resolve }));
  }

  private notifyWatchers(approvalId: string): void {
    for (let i = this.watchers.length - 1; i >= 0; i--) {
      const w = this.watchers[i]!;
      if (w.match(approvalId)) {
        this.watchers.splice(i, 1);
        w.resolve(approvalId);
      }
    }
  }

  /** How many requests wait (for one approval, or in all). */
  count(approvalId?: string): number {
    if (approvalId !== undefined) return this.byId.get(approvalId)?.size ?? 0;
    let n = 0;
    for (const s of this.byId.values()) n += s.size;
    return n;
  }
}
