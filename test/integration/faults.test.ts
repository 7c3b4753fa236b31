import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FrameBoundary, closeFrame } from '../../server/jellyfin/proxy-upgrade.ts';
import { isStorageUnavailable } from '../../server/store/data-dir.ts';
import { startEmulator, mediaByte, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.ts';
import { getQuickConnectApi, jellyfinClient, sdkLogin } from '../helpers/sdk.ts';

/**
 * Restarts and faults as Docker and systemd cause them: SIGTERM while a download and a WebSocket are open,
 * Jellyfin going away under a WebSocket, a data directory that cannot be written, a sign-in whose token
 * cannot be recorded, a request body that never ends.
 */
const MEDIA = 48 * 1024 * 1024;
let jf: Emulator;
let apiKey: string;

beforeAll(async () => {
  jf = await startEmulator({ users: [{ name: 'alice', password: 'alice-pw', isAdministrator: true }], mediaSize: MEDIA });
  apiKey = jf.createApiKey('jellyguard');
});

afterAll(async () => {
  await jf?.close();
});

/** The gateway as `jellyguard start` runs it, in a child process; resolves with its port once listening. */
function startChild(env: Record<string, string>, cmd: string[] = ['--import', 'tsx', 'server/cli.ts', 'start']): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = spawn(process.execPath, cmd, { env: { ...process.env, JELLYGUARD_HOST: '127.0.0.1', JELLYGUARD_PORT: '0', ...env } });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      output += c;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) resolve({ child, port: Number(m[1]), output: () => output });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (output += c));
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${output}`)));
  });
}

/** Upload `bytes` to `url` at about `bytesPerSecond`; resolves with the answer's status (0: the connection was cut). */
function slowUpload(url: string, bytes: number, bytesPerSecond: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    const t0 = Date.now();
    const pump = (): void => {
      while (sent < bytes) {
        const ahead = sent / bytesPerSecond - (Date.now() - t0) / 1000;
        if (ahead > 0) {
          setTimeout(pump, ahead * 1000);
          return;
        }
        const n = Math.min(chunk.length, bytes - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** Download `url`, reading at about `bytesPerSecond`; resolves with how many bytes arrived and whether they were right. */
function slowDownload(url: string, bytesPerSecond: number): { done: Promise<{ bytes: number; intact: boolean; status: number; complete: boolean }>; started: Promise<void> } {
  let startedResolve!: () => void;
  const started = new Promise<void>((r) => (startedResolve = r));
  const done = new Promise<{ bytes: number; intact: boolean; status: number; complete: boolean }>((resolve) => {
    const req = http.get(url, (res) => {
      startedResolve();
      let bytes = 0;
      let intact = true;
      const t0 = Date.now();
      res.on('data', (c: Buffer) => {
        for (let i = 0; i < c.length; i += 4093) if (c[i] !== mediaByte(bytes + i)) intact = false;
        bytes += c.length;
        const ahead = bytes / bytesPerSecond - (Date.now() - t0) / 1000;
        if (ahead > 0) {
          res.pause();
          setTimeout(() => res.resume(), ahead * 1000);
        }
      });
      res.on('end', () => resolve({ bytes, intact, status: res.statusCode ?? 0, complete: res.complete }));
      res.on('error', () => resolve({ bytes, intact, status: res.statusCode ?? 0, complete: false }));
      res.on('aborted', () => resolve({ bytes, intact, status: res.statusCode ?? 0, complete: false }));
    });
    req.on('error', () => resolve({ bytes: 0, intact: false, status: 0, complete: false }));
  });
  return { done, started };
}

function openSocket(url: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: String(reason) })));
    ws.once('message', () => resolve({ ws, closed }));
    ws.once('error', reject);
  });
}

describe('SIGTERM (docker stop, systemctl stop)', () => {
  it('stops accepting, lets a download and an upload finish, then closes WebSockets with 1001 and exits 0', async () => {
    const dataDir = tempDir('jellyguard-drain-');
    const gw = await startChild({ JELLYFIN_URL: jf.url, JELLYFIN_API_KEY: apiKey, JELLYGUARD_DATA_DIR: dataDir });
    const base = `http://127.0.0.1:${gw.port}`;
    const login = await sdkLogin(jellyfinClient(base, { deviceId: 'drain' }), 'alice', 'alice-pw');
    expect(login.status).toBe(200);
    const socket = await openSocket(`ws://127.0.0.1:${gw.port}/socket?api_key=${login.token}&deviceId=drain`);
    // 48 MiB read at 16 MiB/s: about 3 s, well inside the 8 s grace period.
    const download = slowDownload(`${base}/Videos/${jf.itemId}/stream?api_key=${login.token}`, 16 * 1024 * 1024);
    // …and an upload (an image, 8 MiB at 4 MiB/s) that is still being sent when the signal comes.
    const upload = slowUpload(`${base}/Items/${jf.itemId}/Images/Primary?api_key=${login.token}`, 8 * 1024 * 1024, 4 * 1024 * 1024);
    await download.started;
    await new Promise((r) => setTimeout(r, 500));
    const exited = new Promise<{ code: number | null; at: number }>((r) => gw.child.once('exit', (code) => r({ code, at: Date.now() })));
    const signalled = Date.now();
    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    // No new connections once stopping.
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    const result = await download.done;
    expect(result).toEqual({ bytes: MEDIA, intact: true, status: 200, complete: true });
    expect(await upload).toBe(404); // received whole and answered (the emulator has no image upload route)
    const closed = await socket.closed;
    expect(closed.code).toBe(1001);
    const { code, at } = await exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(9000);
    expect(gw.output()).toMatch(/SIGTERM: shutting down/);
  }, 60_000);

  it('cuts what is still running when the grace period is over', async () => {
    const dataDir = tempDir('jellyguard-drain-');
    writeFileSync(path.join(dataDir, 'config.yaml'), 'ShutdownGraceSeconds: 1\n');
    const gw = await startChild({ JELLYFIN_URL: jf.url, JELLYFIN_API_KEY: apiKey, JELLYGUARD_DATA_DIR: dataDir });
    const base = `http://127.0.0.1:${gw.port}`;
    const login = await sdkLogin(jellyfinClient(base, { deviceId: 'cut' }), 'alice', 'alice-pw');
    // 48 MiB at 4 MiB/s would take 12 s.
    const download = slowDownload(`${base}/Videos/${jf.itemId}/stream?api_key=${login.token}`, 4 * 1024 * 1024);
    await download.started;
    const exited = new Promise<number>((r) => gw.child.once('exit', () => r(Date.now())));
    const signalled = Date.now();
    gw.child.kill('SIGTERM');
    const result = await download.done;
    expect(result.complete).toBe(false);
    expect(result.bytes).toBeLessThan(MEDIA);
    expect((await exited) - signalled).toBeLessThan(4000);
    expect(gw.output()).toMatch(/still busy after 1000 ms: cut/);
  }, 60_000);
});

describe('WebSockets when Jellyfin goes away', () => {
  let gw: TestGateway;
  let jf2: Emulator;
  beforeAll(async () => {
    jf2 = await startEmulator({ users: [{ name: 'alice', password: 'alice-pw' }] });
    gw = await startGateway({ upstreamUrl: jf2.url });
  });
  afterAll(async () => {
    await gw?.close();
    await jf2?.close();
  });

  it('the client gets a close frame (1001), not an abnormal closure', async () => {
    const login = await sdkLogin(jellyfinClient(gw.url, { deviceId: 'ws-gone' }), 'alice', 'alice-pw');
    const a = await openSocket(`${gw.url.replace('http', 'ws')}/socket?api_key=${login.token}&deviceId=ws-gone`);
    // Messages still flow both ways before.
    const echo = new Promise<string>((r) => a.ws.once('message', (d) => r(String(d))));
    a.ws.send(JSON.stringify({ MessageType: 'Echo', Data: 'x'.repeat(70_000) }));
    expect(JSON.parse(await echo).Data).toHaveLength(70_000);
    await jf2.close(); // terminates its sockets without a close frame, as a crashed or killed Jellyfin does
    const closed = await a.closed;
    expect(closed.code).toBe(1001);
    expect(closed.reason).toBe('Jellyfin went away');
  });
});

describe('WebSocket frame boundaries', () => {
  it('are followed across any split of the stream, and a close frame is seen', () => {
    const frames = [
      Buffer.from([0x81, 3, 97, 98, 99]), // text "abc"
      Buffer.concat([Buffer.from([0x82, 126, 0x01, 0x00]), Buffer.alloc(256, 7)]), // 256 bytes, 16-bit length
      Buffer.concat([Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]), Buffer.alloc(65_536, 1)]), // 64-bit length
      Buffer.concat([Buffer.from([0x81, 0x80 | 2, 1, 2, 3, 4]), Buffer.from([9, 9])]), // masked (client to server)
      closeFrame(1000, 'bye'),
    ];
    const all = Buffer.concat(frames);
    const ends = new Set<number>();
    let acc = 0;
    for (const f of frames) ends.add((acc += f.length));
    for (const step of [1, 2, 3, 7, 100, 4096, all.length]) {
      const b = new FrameBoundary();
      for (let i = 0; i < all.length; i += step) {
        b.feed(all.subarray(i, i + step));
        const at = Math.min(i + step, all.length);
        expect(b.atBoundary).toBe(ends.has(at));
      }
      expect(b.sawClose).toBe(true);
    }
    // With stopAtBoundary, bytes after the first boundary are held back.
    const b = new FrameBoundary();
    b.feed(all.subarray(0, 2));
    expect(b.feed(all.subarray(2, 20), true)).toBe(3); // the rest of "abc", then stop
    expect(b.atBoundary).toBe(true);
    expect(closeFrame(1001, 'going').toString('hex')).toBe('880703e9' + Buffer.from('going').toString('hex'));
  });
});

describe('a data directory that cannot be written', () => {
  it('stops start-up naming the path and the error (a file where the directory should be)', () => {
    const dir = tempDir('jellyguard-ro-');
    writeFileSync(path.join(dir, 'data'), 'not a directory');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'start'], {
      env: { ...process.env, JELLYGUARD_DATA_DIR: path.join(dir, 'data', 'jellyguard'), JELLYGUARD_PORT: '0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(73);
    expect(run.stderr).toContain(path.join(dir, 'data', 'jellyguard'));
    expect(run.stderr).toMatch(/ENOTDIR/);
    expect(run.stderr).not.toMatch(/unable to open database file/);
  });

  it('stops start-up on a read-only mount (a real read-only tmpfs in a private mount namespace)', () => {
    // Root passes permission checks, so chmod cannot make a directory unwritable: a read-only mount can.
    // unshare -m keeps the mount private to the child; it needs the mount capability (CI and this
    // machine run as root). Where it is missing, the case above still covers the message.
    const dir = tempDir('jellyguard-rofs-');
    const probe = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o ro,size=1m tmpfs "${dir}" && touch "${dir}/x"`], { encoding: 'utf8' });
    const canMount = probe.stderr.includes('Read-only file system');
    if (!canMount) {
      console.warn(`read-only mount not available here (${probe.stderr.trim()}): only the ENOTDIR case was run`);
      return;
    }
    const script = `mount -t tmpfs -o ro,size=1m tmpfs "${dir}" && exec "${process.execPath}" --import tsx server/cli.ts start`;
    // The directory itself on the read-only mount (an SD card gone read-only), and one to be made on it.
    for (const dataDir of [dir, path.join(dir, 'data')]) {
      const run = spawnSync('unshare', ['-m', 'sh', '-c', script], {
        env: { ...process.env, JELLYGUARD_DATA_DIR: dataDir, JELLYGUARD_PORT: '0' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(run.status).toBe(73);
      expect(run.stderr).toContain(`data directory ${dataDir} (EROFS`);
      expect(run.stderr).toMatch(/mounted read-only/);
    }
  });
});

describe('a sign-in whose token cannot be recorded', () => {
  it('is logged out at Jellyfin and the person is told the server cannot save sign-ins', async () => {
    const gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey } });
    const devices = async () => {
      const res = await fetch(`${jf.url}/Devices`, { headers: { authorization: `MediaBrowser Token="${apiKey}"` } });
      return ((await res.json()) as { Items: Array<{ Id: string }> }).Items.map((d) => d.Id);
    };
    try {
      gw.gateway.store.sqlite.pragma('query_only = ON'); // SQLite refuses every write: SQLITE_READONLY
      const res = await fetch(`${gw.url}/Users/AuthenticateByName`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'MediaBrowser Client="Test", Device="T", DeviceId="full-disk", Version="1"' },
        body: JSON.stringify({ Username: 'alice', Pw: 'alice-pw' }),
      });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('cannot_save_signin');
      expect(body.message).toMatch(/cannot save sign-ins right now/);
      expect(await devices()).not.toContain('full-disk'); // the session Jellyfin opened was logged out
      gw.gateway.store.sqlite.pragma('query_only = OFF');
      expect((await sdkLogin(jellyfinClient(gw.url, { deviceId: 'after' }), 'alice', 'alice-pw')).status).toBe(200);
    } finally {
      gw.gateway.store.sqlite.pragma('query_only = OFF');
      await gw.close();
    }
  });

  it('the same for a Quick Connect sign-in (a TV)', async () => {
    const gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey } });
    try {
      const tv = jellyfinClient(gw.url, { client: 'Android TV', deviceId: 'tv-full-disk' });
      const init = await getQuickConnectApi(tv).initiateQuickConnect();
      // Approved through the gateway (as the phone would), and at Jellyfin.
      const userId = jf.user('alice').id;
      expect(await gw.gateway.quickConnect.requests.markAuthorized(init.data.Code!, userId)).toBe(1);
      jf.authorizeQuickConnectDirect(init.data.Code!, userId);
      gw.gateway.store.sqlite.pragma('query_only = ON');
      const res = await fetch(`${gw.url}/Users/AuthenticateWithQuickConnect`, {
        method: 'POST',
        headers: { authorization: tv.authorizationHeader, 'content-type': 'application/json' },
        body: JSON.stringify({ Secret: init.data.Secret }),
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: string }).error).toBe('cannot_save_signin');
      const devices = await fetch(`${jf.url}/Devices`, { headers: { authorization: `MediaBrowser Token="${apiKey}"` } });
      expect(((await devices.json()) as { Items: Array<{ Id: string }> }).Items.map((d) => d.Id)).not.toContain('tv-full-disk');
    } finally {
      gw.gateway.store.sqlite.pragma('query_only = OFF');
      await gw.close();
    }
  });

  it('storage errors are told from bugs by their codes', () => {
    for (const code of ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_IOERR_WRITE', 'SQLITE_CANTOPEN', 'ENOSPC', 'EROFS']) {
      expect(isStorageUnavailable(Object.assign(new Error('x'), { code }))).toBe(true);
    }
    for (const e of [new Error('x'), Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }), null, 'SQLITE_FULL']) {
      expect(isStorageUnavailable(e)).toBe(false);
    }
  });
});

describe('request bodies have a timeout', () => {
  it('answers 408 to a body that stops coming, while a slow download is not limited', async () => {
    const gw = await startGateway({ upstreamUrl: jf.url, config: { RequestTimeoutSeconds: 1 } });
    try {
      const answer = await new Promise<string>((resolve) => {
        const s = net.connect(gw.port, '127.0.0.1', () => {
          s.write('POST /Users/AuthenticateByName HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"Username":');
        });
        let text = '';
        s.on('data', (c: Buffer) => (text += c));
        s.on('close', () => resolve(text));
        setTimeout(() => s.destroy(), 8000).unref();
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      const login = await sdkLogin(jellyfinClient(gw.url), 'alice', 'alice-pw');
      // 48 MiB at 24 MiB/s: two seconds, twice the request timeout.
      const download = slowDownload(`${gw.url}/Videos/${jf.itemId}/stream?api_key=${login.token}`, 24 * 1024 * 1024);
      expect(await download.done).toEqual({ bytes: MEDIA, intact: true, status: 200, complete: true });
    } finally {
      await gw.close();
    }
  }, 30_000);
});


