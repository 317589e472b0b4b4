import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ExactLengthStream } from '../util/exact-length.js';
import type { HotTier } from './driver.js';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-files.js';

const ID = /^[0-9a-f]{32}$/;
/** Temp files carry their writer's pid: `.tmp-PID-RANDOM`. */
const TEMP = /^\.tmp-(\d+)-[0-9a-f]{16}$/;

/** Whether a temp file's writer may still be running (EPERM: alive, someone else's). */
function writerAlive(name: string): boolean {
  const m = TEMP.exec(name);
  if (!m) return false;
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The embedded hot tier: one file per object id in a local directory, written by temp file + rename. */
export class FsHotTier implements HotTier {
  readonly kind = 'fs' as const;

  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<FsHotTier> {
    // Blobs are object data (ciphertext by default, plaintext with hot.encrypt off): owner-only.
    makePrivateDir(dir);
    // Temp files of a crashed process are never referenced again. Those of a live one are its writes in progress:
    // the gateway and a `tessera warm` (or two of them) share this directory.
    for (const name of await fsp.readdir(dir)) {
      if (name.startsWith('.tmp-') && !writerAlive(name)) await fsp.rm(path.join(dir, name), { force: true });
    }
    return new FsHotTier(dir);
  }

  private file(id: string): string {
    if (!ID.test(id)) throw new Error('hot tier: invalid object id');
    return path.join(this.dir, id);
  }

  async put(id: string, body: Readable, length: number, signal?: AbortSignal): Promise<void> {
    const target = this.file(id);
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      // Checked while streaming: a body longer than declared fails at the first extra byte instead of filling the disk.
      const exact = new ExactLengthStream(length, {
        tooLong: (n) => new Error(`hot tier: body longer than the declared ${n} bytes`),
        tooShort: (seen, n) => new Error(`hot tier: wrote ${seen} bytes, expected ${n}`),
      });
      await pipeline(body, exact, createWriteStream(tmp, { mode: PRIVATE_FILE_MODE }), signal ? { signal } : {});
      await fsp.chmod(tmp, PRIVATE_FILE_MODE);
      // No fsync: the hot tier is a cache; a torn file after a crash is caught by the size check on reconcile and by AEAD on read.
      await fsp.rename(tmp, target);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  async get(id: string, range?: { offset: number; length: number }): Promise<Readable | null> {
    const file = this.file(id);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    // Opening first means a concurrent eviction cannot turn this read into a half-read file.
    if (range && range.length === 0) {
      await handle.close();
      return Readable.from([]);
    }
    return createReadStream('', {
      fd: handle,
      ...(range ? { start: range.offset, end: range.offset + range.length - 1 } : {}),
      highWaterMark: 1024 * 1024,
    });
  }

  async delete(id: string): Promise<void> {
    await fsp.rm(this.file(id), { force: true });
  }

  async *list(): AsyncIterable<{ id: string; size: number }> {
    for (const name of await fsp.readdir(this.dir)) {
      if (!ID.test(name)) continue;
      try {
        const st = await fsp.stat(path.join(this.dir, name));
        yield { id: name, size: st.size };
      } catch {
        // Evicted while listing.
      }
    }
  }

  async health(): Promise<{ ok: boolean; reason?: string }> {
    try {
      await fsp.access(this.dir);
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: (err as NodeJS.ErrnoException).code ?? 'error' };
    }
  }

  async close(): Promise<void> {}
}
