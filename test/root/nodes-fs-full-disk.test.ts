import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsNodeDriver } from '../../src/cold/nodes/fs.js';
import { nodeErrorKind } from '../helpers/errors.js';
import { filesUnder } from '../helpers/files.js';
import { chunked } from '../helpers/streams.js';

const id = (n: number): string => `${n.toString(16).padStart(2, '0')}${'ab'.repeat(15)}`;

let root: string;
beforeEach(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'tessera-fs-full-'));
});
afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** A real full disk: a tiny tmpfs, which takes mount privileges (this tier runs as root; it fails, never skips). */
describe('FsNodeDriver on a full disk', () => {
  it('maps ENOSPC from a real write to NodeError full and leaves no temp file', async () => {
    const mnt = path.join(root, 'tiny');
    await fsp.mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'pipe' });
    try {
      const small = new FsNodeDriver({ path: mnt, name: 'tiny' });
      const data = randomBytes(1024 * 1024);
      expect(await nodeErrorKind(small.put(id(7), chunked(data), data.length))).toBe('full');
      expect(await filesUnder(mnt)).toEqual([]);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
