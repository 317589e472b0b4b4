import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBreakingFailure } from '../../src/cold/nodes/breaker.js';
import { NodeError, type NodeDriver } from '../../src/cold/nodes/driver.js';
import { readBounded } from '../../src/util/bounded-read.js';
import { sleep } from '../../src/util/abortable-sleep.js';
import { kindOfNodeError, rejection } from './errors.js';
import { chunked } from './streams.js';
import { eventually } from './wait.js';

/**
 * The behaviour every NodeDriver promises (src/cold/nodes/driver.ts), as one suite each driver runs against a real
 * node: fs on a temp dir, http against a `tessera node` process, s3 against Ceph RGW, iagon against the contract
 * server. A driver-specific test file keeps what only that driver has (retries, TLS, memory bounds...).
 */
export interface NodeUnderTest {
  driver: NodeDriver;
  /** A handle this node has never issued (what a manifest of a wiped node would point at). */
  missingHandle: string;
  stop(): Promise<void>;
}

export interface ContractOptions {
  /** Starts the node and its driver, once for the suite. */
  start(): Promise<NodeUnderTest>;
  /** For the suite's set-up (RGW's first start installs packages). */
  startTimeoutMs?: number;
  /**
   * The stall timeout the driver was configured with, for drivers that promise that a download the caller pauses is
   * not a stall (http, iagon). The suite then pauses a download for longer than that and expects every byte.
   */
  pausedDownloadTimeoutMs?: number;
}

/** Gateway-style shard ids: hex, so every driver accepts them. */
export function shardId(): string {
  return randomBytes(16).toString('hex');
}

/** Shards in this suite are at most a few MiB; a driver returning more than that is a failure in itself. */
function readStream(stream: Readable): Promise<Buffer> {
  return readBounded(stream, { limit: 16 * 1024 * 1024, overflow: 'fail' });
}

/** A body that sends `first`, then neither ends nor errors until destroyed (a stalled or aborted writer). */
function hanging(first: Buffer): Readable & { started: Promise<void> } {
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  let sent = false;
  const stream = new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(first);
      started();
    },
  });
  return Object.assign(stream, { started: startedP });
}

async function handlesOf(driver: NodeDriver): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const item of driver.list()) out.set(item.handle, item.size);
  return out;
}

export function describeNodeDriverContract(label: string, opts: ContractOptions): void {
  describe(`NodeDriver contract: ${label}`, () => {
    let node: NodeUnderTest;
    let d: NodeDriver;

    beforeAll(async () => {
      node = await opts.start();
      d = node.driver;
    }, opts.startTimeoutMs ?? 60_000);

    afterAll(async () => {
      await node?.driver.close();
      await node?.stop();
    }, 60_000);

    it('reports health ok', async () => {
      const h = await d.health();
      expect(h.reason).toBeUndefined();
      expect(h.ok).toBe(true);
    });

    it('stores a shard and reads it back whole; stat reports its size', async () => {
      const data = randomBytes(300_001);
      const handle = await d.put(shardId(), chunked(data), data.length);
      expect(typeof handle).toBe('string');
      expect(handle).not.toBe('');
      expect((await readStream(await d.get(handle))).equals(data)).toBe(true);
      expect(await d.stat(handle)).toEqual({ size: data.length });
    });

    it('stores an empty shard', async () => {
      const handle = await d.put(shardId(), Readable.from([]), 0);
      expect(await d.stat(handle)).toEqual({ size: 0 });
      expect((await readStream(await d.get(handle))).length).toBe(0);
    });

    it('serves ranges: exactly the requested bytes, the first and the last byte, and an empty range', async () => {
      const data = randomBytes(200_000);
      const handle = await d.put(shardId(), chunked(data), data.length);
      const ranges = [
        { offset: 0, length: 1 },
        { offset: 70_001, length: 4096 },
        { offset: 65_535, length: 65_538 },
        { offset: data.length - 1, length: 1 },
        { offset: 10, length: data.length - 10 },
        { offset: 500, length: 0 },
      ];
      for (const range of ranges) {
        const got = await readStream(await d.get(handle, range));
        expect({ range, equal: got.equals(data.subarray(range.offset, range.offset + range.length)) }).toEqual({ range, equal: true });
      }
    });

    it('never returns short data for a range past the end of the shard', async () => {
      const data = randomBytes(1000);
      const handle = await d.put(shardId(), chunked(data), data.length);
      const outcome = await d.get(handle, { offset: 990, length: 20 }).then(readStream).then(
        (bytes) => ({ ok: true, bytes: bytes.length }),
        (err: unknown) => ({ ok: false, isNodeError: err instanceof NodeError }),
      );
      expect(outcome).toEqual({ ok: false, isNodeError: true });
    });

    it('a missing shard: get rejects with not-found, stat is null, delete succeeds', async () => {
      expect(kindOfNodeError(await rejection(d.get(node.missingHandle)))).toBe('not-found');
      expect(kindOfNodeError(await rejection(d.get(node.missingHandle, { offset: 0, length: 10 })))).toBe('not-found');
      expect(await d.stat(node.missingHandle)).toBeNull();
      await d.delete(node.missingHandle);
    });

    it('deletes a shard: gone from get, stat and list; deleting again is not an error', async () => {
      const data = randomBytes(5000);
      const handle = await d.put(shardId(), chunked(data), data.length);
      expect((await handlesOf(d)).get(handle)).toBe(data.length);
      await d.delete(handle);
      expect(await d.stat(handle)).toBeNull();
      expect(kindOfNodeError(await rejection(d.get(handle)))).toBe('not-found');
      expect((await handlesOf(d)).has(handle)).toBe(false);
      await d.delete(handle);
    });

    it('putting the same shard id again stores the new bytes under the returned handle', async () => {
      const id = shardId();
      const first = randomBytes(3000);
      const second = randomBytes(4500);
      await d.put(id, chunked(first), first.length);
      const handle = await d.put(id, chunked(second), second.length);
      expect((await readStream(await d.get(handle))).equals(second)).toBe(true);
      expect(await d.stat(handle)).toEqual({ size: second.length });
    });

    it('lists every stored shard with its size', async () => {
      const stored = new Map<string, number>();
      for (const size of [1, 777, 70_000]) stored.set(await d.put(shardId(), chunked(randomBytes(size)), size), size);
      const listed = await handlesOf(d);
      for (const [handle, size] of stored) expect([handle, listed.get(handle)]).toEqual([handle, size]);
    });

    it('refuses a body shorter or longer than declared, as the caller\'s fault, and stores nothing', async () => {
      const before = await handlesOf(d);
      for (const [sent, declared] of [
        [1000, 2000],
        [3000, 2000],
      ] as const) {
        const body = chunked(randomBytes(sent), 512);
        const err = await rejection(d.put(shardId(), body, declared));
        expect(err).toBeInstanceOf(Error);
        expect({ sent, declared, breaking: isBreakingFailure(err) }).toEqual({ sent, declared, breaking: false });
      }
      expect(await handlesOf(d)).toEqual(before);
    });

    it('refuses a put whose source fails midway, as the caller\'s fault, stores nothing and releases the source', async () => {
      const before = await handlesOf(d);
      const body = hanging(randomBytes(10_000));
      void body.started.then(() => setTimeout(() => body.destroy(new Error('source went away')), 50));
      const err = await rejection(d.put(shardId(), body, 50_000));
      expect(err).toBeInstanceOf(Error);
      expect(String((err as Error).message)).toMatch(/source went away/);
      expect(isBreakingFailure(err)).toBe(false);
      expect(await handlesOf(d)).toEqual(before);
    });

    it('aborting an upload midway rejects with AbortError, releases the body and stores nothing', async () => {
      const before = await handlesOf(d);
      const ac = new AbortController();
      const body = hanging(randomBytes(10_000));
      void body.started.then(() => setTimeout(() => ac.abort(), 50));
      const err = await rejection(d.put(shardId(), body, 50_000, ac.signal));
      expect((err as Error).name).toBe('AbortError');
      expect(err).not.toBeInstanceOf(NodeError);
      await eventually(() => body.destroyed, 'the aborted upload destroys its body');
      // The node may notice the cut connection a moment later; give it that moment before comparing.
      await sleep(200, undefined, 'resolve');
      expect(await handlesOf(d)).toEqual(before);
    });

    it('an already aborted signal rejects get, stat, delete and put with AbortError', async () => {
      const data = randomBytes(100);
      const handle = await d.put(shardId(), chunked(data), data.length);
      const ac = new AbortController();
      ac.abort();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['get', () => d.get(handle, undefined, ac.signal).then(readStream)],
        ['stat', () => d.stat(handle, ac.signal)],
        ['delete', () => d.delete(handle, ac.signal)],
        ['put', () => d.put(shardId(), chunked(data), data.length, ac.signal)],
      ];
      for (const [op, call] of calls) {
        const err = await rejection(call());
        expect([op, (err as Error).name]).toEqual([op, 'AbortError']);
      }
      expect(await d.stat(handle)).toEqual({ size: data.length });
    });

    it('aborting a download midway errors the stream with AbortError, not a node failure', async () => {
      const data = randomBytes(4 * 1024 * 1024);
      const handle = await d.put(shardId(), chunked(data), data.length);
      const ac = new AbortController();
      const stream = await d.get(handle, undefined, ac.signal);
      let received = 0;
      const err = await rejection(
        (async () => {
          for await (const c of stream) {
            received += (c as Buffer).length;
            if (!ac.signal.aborted) ac.abort();
          }
        })(),
      );
      expect((err as Error).name).toBe('AbortError');
      expect(received).toBeLessThan(data.length);
    });

    const pauseFor = opts.pausedDownloadTimeoutMs;
    if (pauseFor !== undefined) {
      it('a download the caller pauses for longer than the timeout is not a stall: every byte arrives', async () => {
        const data = randomBytes(8 * 1024 * 1024);
        const handle = await d.put(shardId(), chunked(data), data.length);
        const stream = await d.get(handle);
        const parts: Buffer[] = [];
        let paused = false;
        for await (const c of stream) {
          parts.push(c as Buffer);
          if (!paused) {
            paused = true;
            await sleep(pauseFor * 2 + 500, undefined, 'resolve');
          }
        }
        expect(Buffer.concat(parts).equals(data)).toBe(true);
      }, pauseFor * 2 + 30_000);
    }

    it('refuses a shard id that could escape its namespace, and releases the body', async () => {
      const body = chunked(randomBytes(100));
      const err = await rejection(d.put('../escape', body, 100));
      expect(kindOfNodeError(err)).toBe('bad-request');
      await eventually(() => body.destroyed, 'the refused upload destroys its body');
    });
  });
}
