/**
 * A tiny IndexedDB key-value store shared by the pages and the service worker (which has no
 * localStorage): what the worker needs to re-post a changed push subscription on its own — the
 * session's token and DeviceId, and this phone's id.
 */
const DB = 'jellyguard';
const STORE = 'kv';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export interface WorkerSession {
  token: string;
  userId: string;
  deviceId: string;
  deviceName: string;
}

export interface WorkerPhone {
  phoneId: string;
  userId: string;
}

async function put(key: string, value: unknown): Promise<void> {
  try {
    await run<unknown>('readwrite', (st) => (value === null ? st.delete(key) : st.put(value, key)) as IDBRequest<unknown>);
  } catch {
    // Private modes without IndexedDB: the worker then cannot re-post a changed subscription, and the
    // app re-subscribes at its next start instead.
  }
}

async function read<T>(key: string): Promise<T | null> {
  try {
    return ((await run('readonly', (st) => st.get(key))) as T | undefined) ?? null;
  } catch {
    return null;
  }
}

export const saveWorkerSession = (s: WorkerSession | null) => put('session', s);
export const loadWorkerSession = () => read<WorkerSession>('session');
export const saveWorkerPhone = (p: WorkerPhone | null) => put('phone', p);
export const loadWorkerPhone = () => read<WorkerPhone>('phone');
