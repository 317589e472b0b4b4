import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsHotTier } from '../src/hot/fs.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tessera-hot-length-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** 64 KiB chunks, generated on demand; `pulled` counts what the consumer asked for. */
function lazy(total: number): Readable & { pulled: number } {
  let sent = 0;
  const s = new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(64 * 1024, total - sent);
      sent += n;
      s.pulled = sent;
      this.push(Buffer.alloc(n, 1));
    },
  }) as Readable & { pulled: number };
  s.pulled = 0;
  return s;
}

describe('fs hot tier: body length', () => {
  const id = 'a'.repeat(32);

  it('stops a body longer than declared at the first extra bytes and keeps nothing', async () => {
    const hot = await FsHotTier.open(dir);
    const body = lazy(64 * 1024 * 1024);
    await expect(hot.put(id, body, 100_000)).rejects.toThrow(/longer than the declared 100000/);
    // It used to write the whole 64 MiB before comparing sizes.
    expect(body.pulled).toBeLessThan(2 * 1024 * 1024);
    expect(await hot.get(id)).toBeNull();
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a body shorter than declared and keeps nothing; stores an exact one', async () => {
    const hot = await FsHotTier.open(dir);
    await expect(hot.put(id, lazy(1000), 2000)).rejects.toThrow(/wrote 1000 bytes, expected 2000/);
    expect(await readdir(dir)).toEqual([]);
    await hot.put(id, lazy(2000), 2000);
    expect((await readdir(dir)).length).toBe(1);
  });
});
