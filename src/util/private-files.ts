import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';

/**
 * Owner-only files and directories for what names objects or holds secrets (the metadata database, hot-tier blobs,
 * keys): 0700 directories, 0600 files, whatever the process umask. Directories that already exist are left as they
 * are (a configured path may be a shared one such as /tmp); only the levels created here are set.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

export function makePrivateDir(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) return;
  // The umask can clear bits of the mode given to mkdir: set it explicitly on every level this call created.
  const top = path.resolve(first);
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    chmodSync(d, PRIVATE_DIR_MODE);
    if (d === top || path.dirname(d) === d) break;
  }
}

/** Creates `file` empty when missing; either way leaves it mode 0600. */
export function makePrivateFile(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  chmodSync(file, PRIVATE_FILE_MODE);
}
