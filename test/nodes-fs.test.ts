import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeError } from '../src/cold/nodes/driver.js';
import { FsNodeDriver, isValidShardId, mapFsError } from '../src/cold/nodes/fs.js';
import { createNodeDriver } from '../src/cold/nodes/factory.js';
import { chunked, readAll } from './helpers/streams.js';
import { nodeErrorKind } from './helpers/errors.js';
import { filesUnder } from './helpers/files.js';

const id = (n: number): string => `${n.toString(16).padStart(2, '0')}${'ab'.repeat(15)}`;

let root: string;
let driver: FsNodeDriver;

beforeEach(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'tessera-fs-node-'));
  driver = new FsNodeDriver({ path: path.join(root, 'node'), name: 'n1', weight: 2 });
});

afterEach(async () => {
  await driver.close();
  await fsp.rm(root, { recursive: true, force: true });
});

describe('FsNodeDriver', () => {
  it('stores, reads whole and ranged, stats and deletes a shard', async () => {
    const data = randomBytes(300_000);
    const handle = await driver.put(id(0xa1), chunked(data), data.length);
    expect(handle).toBe(id(0xa1));
    expect(await driver.stat(handle)).toEqual({ size: data.length });
    expect((await readAll(await driver.get(handle))).equals(data)).toBe(true);
    const part = await readAll(await driver.get(handle, { offset: 12_345, length: 100_000 }));
    expect(part.equals(data.subarray(12_345, 112_345))).toBe(true);
    expect((await readAll(await driver.get(handle, { offset: data.length, length: 0 }))).length).toBe(0);
    // fanned out by the first two hex chars
    expect(await filesUnder(path.join(root, 'node'))).toEqual([`a1/${id(0xa1)}`]);
    await driver.delete(handle);
    expect(await driver.stat(handle)).toBeNull();
    await driver.delete(handle); // missing is fine
    expect(await nodeErrorKind(driver.get(handle))).toBe('not-found');
  });

  it('replaces an existing shard atomically', async () => {
    await driver.put(id(1), Readable.from([Buffer.from('first')]), 5);
    await driver.put(id(1), Readable.from([Buffer.from('second!')]), 7);
    expect((await readAll(await driver.get(id(1)))).toString()).toBe('second!');
  });

  it('rejects ranges outside the shard', async () => {
    await driver.put(id(2), Readable.from([Buffer.alloc(10)]), 10);
    expect(await nodeErrorKind(driver.get(id(2), { offset: 5, length: 6 }))).toBe('bad-request');
    expect(await nodeErrorKind(driver.get(id(2), { offset: -1, length: 2 }))).toBe('bad-request');
  });

  it('rejects a body shorter or longer than declared and leaves no file', async () => {
    expect(await nodeErrorKind(driver.put(id(3), Readable.from([Buffer.alloc(10)]), 11))).toBe('bad-request');
    expect(await nodeErrorKind(driver.put(id(3), Readable.from([Buffer.alloc(12)]), 11))).toBe('bad-request');
    expect(await driver.stat(id(3))).toBeNull();
    expect(await filesUnder(path.join(root, 'node'))).toEqual([]);
  });

  it('removes the temp file when the body errors mid-way', async () => {
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent++ < 3) this.push(Buffer.alloc(1000));
        else this.destroy(new Error('source broke'));
      },
    });
    await expect(driver.put(id(4), failing, 10_000)).rejects.toThrow();
    expect(await filesUnder(path.join(root, 'node'))).toEqual([]);
  });

  it('honours an abort signal during put', async () => {
    const ac = new AbortController();
    const slow = new Readable({
      read() {
        this.push(Buffer.alloc(100));
        ac.abort();
      },
    });
    const err = await driver.put(id(5), slow, 1_000_000, ac.signal).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(await filesUnder(path.join(root, 'node'))).toEqual([]);
  });

  it.each([
    '../../../etc/passwd',
    '/etc/passwd',
    'ab%2f..%2f..%2fetc',
    'ab/../../outside0000',
    'AB' + 'cd'.repeat(10),
    'ab..cdcdcdcdcdcdcdcd',
    'abcdef', // too short
    'ab' + 'c'.repeat(200), // too long
    '',
    'ab\0cdcdcdcdcdcdcdcdcd',
  ])('rejects shard id %j without touching the filesystem', async (bad) => {
    expect(isValidShardId(bad)).toBe(false);
    expect(await nodeErrorKind(driver.put(bad, Readable.from([Buffer.from('x')]), 1))).toBe('bad-request');
    expect(await nodeErrorKind(driver.get(bad))).toBe('bad-request');
    expect(await nodeErrorKind(driver.stat(bad))).toBe('bad-request');
    expect(await nodeErrorKind(driver.delete(bad))).toBe('bad-request');
    expect(await filesUnder(root)).toEqual([]);
  });

  it('accepts hex ids with dashes', () => {
    expect(isValidShardId('0123456789abcdef')).toBe(true);
    expect(isValidShardId('0123456789abcdef0123456789abcdef-07')).toBe(true);
  });

  it('lists shards in id order, ignoring temp files and strangers, and pages with after', async () => {
    const ids = [id(0x10), id(0x02), id(0xff), `${id(0x10).slice(0, -1)}0`];
    for (const [i, shard] of ids.entries()) await driver.put(shard, Readable.from([Buffer.alloc(i + 1)]), i + 1);
    await fsp.writeFile(path.join(root, 'node', '10', '.tmp-deadbeef'), 'partial');
    await fsp.writeFile(path.join(root, 'node', '10', 'not-a-shard.txt'), 'x');
    await fsp.mkdir(path.join(root, 'node', 'zz'));
    const listed: Array<{ handle: string; size: number; mtimeMs?: number }> = [];
    for await (const item of driver.list()) listed.push(item);
    expect(listed.map((l) => l.handle)).toEqual([...ids].sort());
    expect(listed.find((l) => l.handle === id(0xff))?.size).toBe(3);
    expect(listed.every((l) => typeof l.mtimeMs === 'number' && Math.abs(l.mtimeMs - Date.now()) < 3_600_000)).toBe(true);
    const afterFirstTwo: string[] = [];
    for await (const item of driver.listAfter([...ids].sort()[1])) afterFirstTwo.push(item.handle);
    expect(afterFirstTwo).toEqual([...ids].sort().slice(2));
  });

  it('removes stale temp files on open but keeps fresh ones', async () => {
    const dir = path.join(root, 'node', 'ab');
    await fsp.mkdir(dir, { recursive: true });
    const stale = path.join(dir, '.tmp-stale');
    const fresh = path.join(dir, '.tmp-fresh');
    await fsp.writeFile(stale, 'old');
    await fsp.writeFile(fresh, 'new');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await fsp.utimes(stale, twoHoursAgo, twoHoursAgo);
    await driver.open();
    expect((await fsp.readdir(dir)).sort()).toEqual(['.tmp-fresh']);
  });

  it('reports capacity from statfs', async () => {
    const health = await driver.health();
    expect(health.ok).toBe(true);
    expect(health.capacityBytes).toBeGreaterThan(0);
    expect(health.freeBytes).toBeGreaterThanOrEqual(0);
    expect(health.freeBytes).toBeLessThanOrEqual(health.capacityBytes as number);
  });

  it('reports ok=false instead of throwing when the root is unusable', async () => {
    const file = path.join(root, 'plainfile');
    await fsp.writeFile(file, 'x');
    const broken = new FsNodeDriver({ path: path.join(file, 'sub'), name: 'broken' });
    const health = await broken.health();
    expect(health.ok).toBe(false);
    expect(health.reason).toMatch(/broken/);
  });

  it('maps ENOSPC/EDQUOT to full and ENOENT to not-found', () => {
    const errno = (code: string): Error => Object.assign(new Error(code), { code });
    expect((mapFsError('n', errno('ENOSPC'), 'put') as NodeError).kind).toBe('full');
    expect((mapFsError('n', errno('EDQUOT'), 'put') as NodeError).kind).toBe('full');
    expect((mapFsError('n', errno('ENOENT'), 'get') as NodeError).kind).toBe('not-found');
    expect((mapFsError('n', errno('EIO'), 'get') as NodeError).kind).toBe('unavailable');
  });

  it('is built by the factory from config', async () => {
    const d = await createNodeDriver({ kind: 'fs', name: 'f', path: root, weight: 3 });
    expect(d).toBeInstanceOf(FsNodeDriver);
    expect([d.name, d.kind, d.weight]).toEqual(['f', 'fs', 3]);
  });
});
