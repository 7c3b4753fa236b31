/**
 * The signed-in user of this app: the Jellyfin token the gateway released after the login policy, kept
 * in localStorage like jellyfin-web keeps its own, and mirrored to IndexedDB for the service worker
 * (which has no localStorage) so it can re-post a changed push subscription.
 */
import { deviceId, deviceName } from '../../common/device.ts';
import { saveWorkerSession } from './worker-store.ts';

const KEY = 'jellyguard.session';

export interface Session {
  token: string;
  userId: string;
  userName: string;
  isAdmin: boolean;
}

function load(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== 'string' || typeof s.userId !== 'string') return null;
    return { token: s.token, userId: s.userId, userName: String(s.userName ?? ''), isAdmin: s.isAdmin === true };
  } catch {
    return null;
  }
}

class SessionState {
  current = $state<Session | null>(load());

  get signedIn(): boolean {
    return this.current !== null;
  }

  get token(): string | null {
    return this.current?.token ?? null;
  }

  set(s: Session): void {
    this.current = s;
    localStorage.setItem(KEY, JSON.stringify(s));
    void saveWorkerSession({ token: s.token, userId: s.userId, deviceId: deviceId(), deviceName: deviceName() });
  }

  /** Update what /Me says (name, admin) without touching the token. */
  refresh(fields: { userName: string; isAdmin: boolean }): void {
    const c = this.current;
    if (!c || (c.userName === fields.userName && c.isAdmin === fields.isAdmin)) return;
    this.set({ ...c, ...fields });
  }

  clear(): void {
    this.current = null;
    localStorage.removeItem(KEY);
    void saveWorkerSession(null);
  }
}

export const session = new SessionState();
