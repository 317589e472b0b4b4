import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ColdStore } from '../src/cold/cold-store.js';
import { FsNodeDriver } from '../src/cold/nodes/fs.js';
import type { ColdConfig } from '../src/config/types.js';
import { Ingest } from '../src/gateway/ingest.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { collect, hex16 } from './helpers/codec.js';

/** A real fs node that starts refusing shard writes after `okPuts` of them (a disk that fills up mid-PUT). */
class FailingAfter extends FsNodeDriver {
  puts = 0;
  constructor(opts: { name: string; path: string }, private readonly okPuts: number) {
    super(opts);
  }
  override async put(shardId: string, body: Readable, length: number, signal?: AbortSignal): Promise<string> {
    if (++this.puts > this.okPuts) {
      body.resume();
      throw new Error('disk full');
    }
    return super.put(shardId, body, length, signal);
  }
}

const segmentSize = 64 * 1024;
const config: ColdConfig = {
  k: 4,
  m: 2,
  segmentSize,
  chunkSize: 4096,
  writeQuorum: 5,
  hedgeAfterMs: 1000,
  nodes: [],
  repair: { intervalMs: 60_000, maxBytesPerSecond: 1 << 30 },
  gcGraceMs: 0,
  inlineMaxBytes: 0,
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tessera-writedata-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function store(drivers: FsNodeDriver[]): ColdStore {
  return new ColdStore(drivers, config, { id: 'k1', key: randomBytes(32) }, createMetrics(), createLogger('silent'));
}

async function shardsOn(drivers: FsNodeDriver[]): Promise<number> {
  let n = 0;
  for (const d of drivers) for await (const _ of d.list()) n++;
  return n;
}

/** Deletes after a failed PUT run in the background: wait (bounded) until the nodes hold nothing. */
async function settlesEmpty(drivers: FsNodeDriver[]): Promise<number> {
  let n = await shardsOn(drivers);
  for (let i = 0; i < 200 && n > 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
    n = await shardsOn(drivers);
  }
  return n;
}

describe('ColdStore.writeData with segments in flight', () => {
  it('stores a many-segment object whose manifest is in order and reads back exactly', async () => {
    const drivers = Array.from({ length: 6 }, (_, i) => new FsNodeDriver({ name: `n${i}`, path: path.join(dir, `n${i}`) }));
    const cold = store(drivers);
    const size = 5 * segmentSize + 12345;
    const plain = randomBytes(size);
    const objectId = hex16();
    const dk = randomBytes(32);
    const ingest = new Ingest(Readable.from([plain.subarray(0, 100_000), plain.subarray(100_000)]), size);
    const segments = await cold.writeData({ objectId, dk, part: 1, size, erasure: { k: 4, m: 2 }, source: ingest });
    expect((await ingest.finish()).md5.length).toBe(16);
    expect(segments.map((s) => s.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(segments.map((s) => s.plainSize)).toEqual([...Array<number>(5).fill(segmentSize), 12345]);
    for (const s of segments) expect(s.shards.filter((r) => r.handle !== '').length).toBe(6);
    const manifest = { version: 1 as const, objectId, wrappedKey: '', keyId: '', size, segments };
    const got = await collect(await cold.openRange(manifest, dk, { offset: 0, length: size }));
    expect(got.equals(plain)).toBe(true);
    await cold.close();
  });

  it('a segment that misses its write quorum fails the whole PUT and nothing stays stored', async () => {
    const drivers: FsNodeDriver[] = Array.from({ length: 6 }, (_, i) =>
      // Two nodes refuse the third segment's shard: 4 of 6 stored is below the quorum of 5.
      i < 2 ? new FailingAfter({ name: `n${i}`, path: path.join(dir, `n${i}`) }, 2) : new FsNodeDriver({ name: `n${i}`, path: path.join(dir, `n${i}`) }),
    );
    const cold = store(drivers);
    const size = 6 * segmentSize;
    const ingest = new Ingest(Readable.from([randomBytes(size)]), size);
    await expect(cold.writeData({ objectId: hex16(), dk: randomBytes(32), part: 1, size, erasure: { k: 4, m: 2 }, source: ingest })).rejects.toMatchObject({
      name: 'ColdError',
      kind: 'Unavailable',
    });
    expect(await settlesEmpty(drivers)).toBe(0);
    await cold.close();
  });

  it('a body that breaks in a later segment fails with its own error and nothing stays stored', async () => {
    const drivers = Array.from({ length: 6 }, (_, i) => new FsNodeDriver({ name: `n${i}`, path: path.join(dir, `n${i}`) }));
    const cold = store(drivers);
    const size = 6 * segmentSize;
    async function* body(): AsyncGenerator<Buffer> {
      yield randomBytes(3 * segmentSize + 777);
      throw Object.assign(new Error('client went away'), { code: 'ECONNRESET' });
    }
    const ingest = new Ingest(Readable.from(body()), size);
    await expect(cold.writeData({ objectId: hex16(), dk: randomBytes(32), part: 1, size, erasure: { k: 4, m: 2 }, source: ingest })).rejects.toMatchObject({
      name: 'GatewayError',
      kind: 'BodyTooShort',
    });
    expect(await settlesEmpty(drivers)).toBe(0);
    // A client's failure is not the nodes' fault: no breaker opened.
    expect(cold.hasOpenCircuits()).toBe(false);
    await cold.close();
  });
});
