import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/** The data directory cannot be used; the message names the path, the operating system's error and what to do. */
export class DataDirError extends Error {}

/** What each error usually means on a home server, so the message says what to look at. */
const HINTS: Record<string, string> = {
  EROFS: 'the file system is mounted read-only (an SD card or USB disk the kernel switched to read-only after errors, or a read-only volume mount)',
  EACCES: 'the gateway\'s user may not write there (check the owner and mode, e.g. `chown` it to the service user)',
  EPERM: 'the operation is not permitted there (a read-only or special file system, or a security policy)',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the user\'s disk quota is used up',
  ENOTDIR: 'a part of the path is a file, not a directory',
  ENOENT: 'a part of the path does not exist and cannot be created',
  EIO: 'the disk reported an input/output error (failing storage?)',
};

/**
 * Make sure the data directory exists and takes a write that reaches the disk: create it (mode 0700),
 * write, fsync and delete a small probe file. Start-up calls this before anything else touches the
 * directory, so that "unable to open database file" never is the first thing an admin reads.
 */
export function checkDataDir(dir: string): void {
  const probe = path.join(dir, `.write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  let step = 'create';
  try {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      // A recursive mkdir reports ENOENT for a read-only parent: one level at a time tells the real cause.
      if (existsSync(path.dirname(dir))) mkdirSync(dir, { mode: 0o700 });
      throw e;
    }
    step = 'write to';
    const fd = openSync(probe, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(4096));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    rmSync(probe, { force: true });
  } catch (e) {
    try {
      rmSync(probe, { force: true });
    } catch {
      // nothing was written, or nothing can be removed: the error below says why
    }
    const err = e as NodeJS.ErrnoException;
    const code = err.code ?? 'error';
    const hint = HINTS[code] ? `: ${HINTS[code]}` : '';
    throw new DataDirError(
      `cannot ${step} the data directory ${dir} (${err.message})${hint}. ` +
        'Set JELLYGUARD_DATA_DIR to a writable directory, or fix this one.',
    );
  }
}

/**
 * Errors that mean the database cannot take a write right now — disk full, read-only file or mount, I/O
 * error — as opposed to a bug. better-sqlite3 reports SQLite's extended result code in `code`.
 */
export function isStorageUnavailable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/.test(code) || ['ENOSPC', 'EROFS', 'EIO', 'EDQUOT'].includes(code);
}
