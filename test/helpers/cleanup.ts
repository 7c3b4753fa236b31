import { rmSync } from 'node:fs';
import { afterAll } from 'vitest';
import { tempDirs } from './gateway.ts';

/**
 * Runs in every test file (vitest.config.ts setupFiles): the temporary data directories a file made are
 * deleted once the file is done, so a test run leaves no SQLite files, keys or config files in /tmp.
 */
afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
