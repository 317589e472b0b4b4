import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { decodeSegment, encodeSegment } from '../src/cold/codec/index.js';
import { ColdError } from '../src/cold/errors.js';
import { collect, encodeToMemory, hex16, memoryOpener, pieces } from './helpers/codec.js';

const objectId = hex16();
const dk = randomBytes(32);

describe('encoder backpressure', () => {
  it('a stalled shard consumer stops the encoder from reading its input', async () => {
    const chunkSize = 4096;
    const plain = randomBytes(1 << 20);
    let read = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for await (const p of pieces(plain, 3000)) {
        read += p.length;
        yield p;
      }
    }
    const enc = encodeSegment({ objectId, dk, part: 1, index: 0, plain: source(), plainSize: plain.length, chunkSize, k: 2, m: 1 });
    const sinks = enc.shards.slice(0, 2).map((s) => collect(s));
    // Shard 2 is never read. Wait until the encoder stops making progress.
    let last = -1;
    while (read !== last) {
      last = read;
      await sleep(100);
    }
    const stripePlain = 2 * chunkSize;
    // Bounded by the per-shard queue (SHARD_QUEUE_BLOCKS = 4 blocks) plus the stripes in the encoder's hands.
    expect(read).toBeLessThanOrEqual((3 + 4) * stripePlain + 3000);
    expect(read).toBeLessThan(plain.length);
    // Reading the stalled shard lets everything finish, with every shard complete.
    const third = collect(enc.shards[2]!);
    const shards = [...(await Promise.all(sinks)), await third];
    await enc.done;
    expect(read).toBe(plain.length);
    for (const s of shards) expect(s.length).toBe(enc.segment.shardSize);
  });

  it('input shorter or longer than plainSize fails the encode and errors the shard streams', async () => {
    for (const [given, claimed] of [[1000, 1001], [1001, 1000]] as const) {
      const enc = encodeSegment({ objectId, dk, part: 1, index: 0, plain: pieces(randomBytes(given)), plainSize: claimed, chunkSize: 256, k: 2, m: 1 });
      const results = await Promise.allSettled([enc.done, ...enc.shards.map((s) => collect(s))]);
      for (const r of results) expect(r.status).toBe('rejected');
    }
  });

  it('a shard consumer that goes away does not stop the others', async () => {
    const plain = randomBytes(50_000);
    const enc = encodeSegment({ objectId, dk, part: 1, index: 0, plain: pieces(plain), plainSize: plain.length, chunkSize: 1024, k: 2, m: 2 });
    enc.shards[3]!.destroy();
    const got = await Promise.all(enc.shards.slice(0, 3).map((s) => collect(s)));
    await enc.done;
    for (const s of got) expect(s.length).toBe(enc.segment.shardSize);
  });
});

describe('decoder sources', () => {
  const plain = randomBytes(40 * 1024 + 5);
  const setup = encodeToMemory({ objectId, dk, plain, chunkSize: 1024, k: 3, m: 2 });

  /** A shard stream that never delivers a byte (a hung node). */
  const hung = (): Readable => new Readable({ read() {} });

  it('hedges a hung shard with another one, drops the loser, and reports it slow', async () => {
    const enc = await setup;
    const mem = memoryOpener(enc.shards);
    const stuck: Readable[] = [];
    const problems: Array<[number, string]> = [];
    const got = await collect(
      decodeSegment({
        manifest: enc.manifest,
        objectId,
        dk,
        hedgeAfterMs: 30,
        openShard: async (i, req, signal) => {
          if (i === 1) {
            const s = hung();
            stuck.push(s);
            return s;
          }
          return mem.open(i, req, signal);
        },
        onShardProblem: (i, kind) => void problems.push([i, kind]),
      }),
    );
    expect(got.equals(plain)).toBe(true);
    expect(problems).toEqual([[1, 'slow']]);
    expect(stuck.every((s) => s.destroyed)).toBe(true);
    expect(mem.opened).toContain(3);
  });

  it('without hedging, a shard silent for readTimeoutMs is written off and replaced', async () => {
    const enc = await setup;
    const mem = memoryOpener(enc.shards);
    const problems: Array<[number, string]> = [];
    const got = await collect(
      decodeSegment({
        manifest: enc.manifest,
        objectId,
        dk,
        readTimeoutMs: 50,
        openShard: async (i, req, signal) => (i === 0 ? hung() : mem.open(i, req, signal)),
        onShardProblem: (i, kind) => void problems.push([i, kind]),
      }),
    );
    expect(got.equals(plain)).toBe(true);
    expect(problems).toEqual([[0, 'slow']]);
  });

  it('a stream error mid-shard switches to another shard', async () => {
    const enc = await setup;
    const mem = memoryOpener(enc.shards);
    const problems: Array<[number, string]> = [];
    const got = await collect(
      decodeSegment({
        manifest: enc.manifest,
        objectId,
        dk,
        openShard: async (i, req, signal) => {
          if (i !== 2) return mem.open(i, req, signal);
          const half = enc.shards[2]!.subarray(req.offset, req.offset + Math.floor(req.length / 2));
          return Readable.from(
            (async function* () {
              yield half;
              throw new Error('connection reset');
            })(),
          );
        },
        onShardProblem: (i, kind) => void problems.push([i, kind]),
      }),
    );
    expect(got.equals(plain)).toBe(true);
    expect(problems).toEqual([[2, 'error']]);
  });

  it('shards listed as unavailable are neither opened nor reported; too many of them is a 503', async () => {
    const enc = await setup;
    const mem = memoryOpener(enc.shards);
    const problems: number[] = [];
    const got = await collect(
      decodeSegment({ manifest: enc.manifest, objectId, dk, unavailable: [0, 1], openShard: mem.open, onShardProblem: (i) => void problems.push(i) }),
    );
    expect(got.equals(plain)).toBe(true);
    expect(problems).toEqual([]);
    expect(mem.opened).not.toContain(0);
    const err = await collect(decodeSegment({ manifest: enc.manifest, objectId, dk, unavailable: [0, 1, 4], openShard: mem.open })).catch((e: unknown) => e);
    expect((err as ColdError).kind).toBe('Unavailable');
  });

  it('a consumer that stops early closes every shard stream', async () => {
    const enc = await setup;
    const opened: Readable[] = [];
    const mem = memoryOpener(enc.shards);
    const gen = decodeSegment({
      manifest: enc.manifest,
      objectId,
      dk,
      openShard: async (i, req, signal) => {
        const s = await mem.open(i, req, signal);
        opened.push(s);
        return s;
      },
    });
    const first = await gen.next();
    expect(first.done).toBe(false);
    await gen.return();
    expect(opened.length).toBe(3);
    await sleep(10);
    expect(opened.every((s) => s.destroyed)).toBe(true);
  });
});

describe('aborting', () => {
  it('abort wakes an encoder blocked on a stalled consumer and fails it', async () => {
    const ac = new AbortController();
    const plain = randomBytes(200_000);
    const enc = encodeSegment({ objectId, dk, part: 1, index: 0, plain: pieces(plain), plainSize: plain.length, chunkSize: 1024, k: 2, m: 1, signal: ac.signal });
    const sinks = enc.shards.slice(0, 2).map((s) => collect(s).catch((e: unknown) => e));
    // Shard 2 has a listener for its error but never reads: the encoder stalls on it.
    const stalled = new Promise((resolve) => enc.shards[2]!.once('error', resolve));
    await sleep(50);
    ac.abort(new Error('client went away'));
    await expect(enc.done).rejects.toThrow('client went away');
    for (const r of await Promise.all([...sinks, stalled])) expect(r).toBeInstanceOf(Error);
    expect(enc.shards.every((s) => s.destroyed)).toBe(true);
  });

  it('abort ends a decode waiting on a hung shard and closes its streams', async () => {
    const plain = randomBytes(10_000);
    const enc = await encodeToMemory({ objectId, dk, plain, chunkSize: 1024, k: 2, m: 1 });
    const ac = new AbortController();
    const streams: Readable[] = [];
    const gen = decodeSegment({
      manifest: enc.manifest,
      objectId,
      dk,
      signal: ac.signal,
      openShard: async () => {
        const s = new Readable({ read() {} });
        streams.push(s);
        return s;
      },
    });
    const result = collect(gen).catch((e: unknown) => e);
    await sleep(50);
    ac.abort(new Error('stop'));
    expect(await result).toMatchObject({ message: 'stop' });
    expect(streams.length).toBe(2);
    expect(streams.every((s) => s.destroyed)).toBe(true);
  });
});
