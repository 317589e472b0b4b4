import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { ReadAhead } from '../src/gateway/read-ahead.js';
import type { ObjectRecord } from '../src/model/records.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics, type Metrics } from '../src/util/metrics.js';
import { readAll } from './helpers/streams.js';

/** A dataset of keys for the ReadAhead unit: records carry only what read-ahead looks at. */
function dataset(n: number, size = 1000): ObjectRecord[] {
  return Array.from({ length: n }, (_, i) => ({ bucket: 'b', key: `train/shard-${String(i).padStart(4, '0')}.tar`, size }) as ObjectRecord);
}

describe('read-ahead: key-order walks', () => {
  function harness(records: ObjectRecord[], o: { depth: number; budgetBytes: number }) {
    const fetches = new Map<string, AbortSignal>();
    const outcomes: string[] = [];
    const ra = new ReadAhead(
      {
        next: (bucket, prefix, after, n) => Promise.resolve(records.filter((r) => r.bucket === bucket && r.key.startsWith(prefix) && r.key > after).slice(0, n)),
        cached: () => false,
        // A fetch that lasts until cancelled: what is in flight stays visible.
        fetch: (r, signal) =>
          new Promise<void>((resolve) => {
            fetches.set(r.key, signal);
            signal.addEventListener('abort', () => resolve(), { once: true });
          }),
        onOutcome: (x) => outcomes.push(x),
      },
      o,
    );
    return { ra, fetches, outcomes };
  }
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

  it('fetches the next objects after three ascending reads, within the byte budget', async () => {
    const d = dataset(10);
    const { ra, fetches } = harness(d, { depth: 3, budgetBytes: 2500 });
    ra.noteRead(d[0]!);
    ra.noteRead(d[1]!);
    await settle();
    expect(fetches.size).toBe(0);
    ra.noteRead(d[2]!);
    await settle();
    // Depth 3, but only two 1000-byte objects fit in a 2500-byte budget.
    expect([...fetches.keys()]).toEqual([d[3]!.key, d[4]!.key]);
    expect(ra.bytesInFlight).toBe(2000);
  });

  it('cancels the fetches in flight when the order breaks, and tolerates interleaved workers', async () => {
    const d = dataset(20);
    const { ra, fetches, outcomes } = harness(d, { depth: 2, budgetBytes: 1 << 20 });
    for (const i of [0, 1, 2]) ra.noteRead(d[i]!);
    await settle();
    expect([...fetches.keys()]).toEqual([d[3]!.key, d[4]!.key]);
    // Another worker of the same walk, slightly behind: not a break.
    ra.noteRead(d[5]!);
    ra.noteRead(d[4]!);
    await settle();
    expect([...fetches.values()].some((s) => s.aborted)).toBe(false);
    // A jump back before everything read lately: the pattern stopped.
    ra.noteRead(d[0]!);
    await settle();
    expect([...fetches.values()].every((s) => s.aborted)).toBe(true);
    expect(outcomes.filter((o) => o === 'cancelled').length).toBeGreaterThan(0);
    expect(ra.bytesInFlight).toBe(0);
  });

  it('keeps walks of different prefixes apart and does nothing for random access', async () => {
    const d = [...dataset(10), ...dataset(10).map((r) => ({ ...r, key: r.key.replace('train/', 'val/') }))];
    const { ra, fetches } = harness(d, { depth: 2, budgetBytes: 1 << 20 });
    for (const i of [7, 2, 9, 0, 5]) ra.noteRead(d[i]!);
    await settle();
    expect(fetches.size).toBe(0);
    // Ascending, but far apart (a shuffled epoch does that): not a walk either.
    for (const i of [1, 4, 8]) ra.noteRead(d[i]!);
    await settle();
    expect(fetches.size).toBe(0);
    for (const i of [10, 11, 12]) ra.noteRead(d[i]!);
    await settle();
    expect([...fetches.keys()].every((k) => k.startsWith('val/'))).toBe(true);
    expect(fetches.size).toBe(2);
  });
});

describe('read-ahead in the gateway', () => {
  const dirs: string[] = [];
  const open: Gateway[] = [];
  afterEach(async () => {
    for (const g of open.splice(0)) await g.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function counter(m: Metrics, name: 'localHits' | 'readAhead'): Promise<number> {
    return (await m[name].get()).values.reduce((n, v) => n + v.value, 0);
  }

  it('a key-order walk of cold objects finds the next ones in the local cache', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'tessera-readahead-'));
    dirs.push(d);
    const config = embeddedConfig(d, { cache: { local: { enabled: true, budget: '20MiB', readAhead: 2 } }, cold: { segmentSize: '128KiB', chunkSize: '16KiB' } });
    const m = createMetrics();
    const g = await openGateway(config, { logger: createLogger('silent'), metrics: m, background: false, localCache: true });
    open.push(g);
    await g.service.createBucket('b', 'o');
    const bodies: Buffer[] = [];
    for (let i = 0; i < 6; i++) {
      const body = randomBytes(200_000);
      bodies.push(body);
      await g.service.putObject({ bucket: 'b', key: `train/shard-${i}.tar`, body: Readable.from([body]), size: body.length, headers: { userMeta: {} }, tags: {} });
    }
    const read = async (i: number): Promise<Buffer> => readAll(await g.service.openObject(await g.service.headObject('b', `train/shard-${i}.tar`)));
    for (const i of [0, 1, 2]) expect((await read(i)).equals(bodies[i]!)).toBe(true);
    const before = await counter(m, 'localHits');
    // Fetched ahead meanwhile: the next two are in the local cache before anyone asks.
    for (let wait = 0; wait < 200 && !(await Promise.all([3, 4].map(async (i) => g.reader.locallyCached(await g.service.headObject('b', `train/shard-${i}.tar`))))).every(Boolean); wait++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(await counter(m, 'readAhead')).toBeGreaterThanOrEqual(2);
    expect((await read(3)).equals(bodies[3]!)).toBe(true);
    expect((await read(4)).equals(bodies[4]!)).toBe(true);
    expect(await counter(m, 'localHits')).toBe(before + 2);
  });
});
