import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3ConnectionConfig, S3NodeConfig } from '../../src/config/types.js';
import { NodeError } from '../../src/cold/nodes/driver.js';
import { S3NodeDriver } from '../../src/cold/nodes/s3.js';
import { S3HotTier } from '../../src/hot/s3.js';
import { sleep } from '../../src/util/abortable-sleep.js';
import { createS3Client } from '../../src/util/s3-client.js';
import { startRgw, type RgwInstance } from '../helpers/rgw.js';
import { readAll } from '../helpers/streams.js';
import { rejection } from '../helpers/errors.js';

// Large enough that buffering the whole object would be unmistakable next to the bounded multipart window.
const BIG = 120 * 1000 * 1000;
const BUCKET = 'tessera-backends';

/** Deterministic pseudo-random bytes (AES-CTR keystream), generated on demand so the test never holds the object. */
function* pattern(seed: number, total: number, chunkSize = 256 * 1024): Generator<Buffer> {
  const key = Buffer.alloc(16, seed);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(chunkSize);
  for (let done = 0; done < total; done += chunkSize) yield cipher.update(zeros.subarray(0, Math.min(chunkSize, total - done)));
}

function patternStream(seed: number, total: number): Readable {
  return Readable.from(pattern(seed, total), { objectMode: false });
}

function patternSha(seed: number, total: number): string {
  const h = createHash('sha256');
  for (const c of pattern(seed, total)) h.update(c);
  return h.digest('hex');
}

function patternSlice(seed: number, offset: number, length: number): Buffer {
  return Buffer.concat([...pattern(seed, offset + length)]).subarray(offset);
}

async function sha(stream: Readable): Promise<{ hex: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of stream) {
    h.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { hex: h.digest('hex'), bytes };
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Peak growth of live memory (heap + Buffers, measured after a forced GC) while `work` runs. */
async function peakLiveGrowth(work: () => Promise<void>): Promise<number> {
  const live = (): number => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = live();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, live())), 25);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return peak - base;
}

let rgw: RgwInstance;
let conn: S3ConnectionConfig;

beforeAll(async () => {
  rgw = await startRgw();
  conn = {
    endpoint: rgw.endpoint,
    region: 'us-east-1',
    bucket: BUCKET,
    prefix: 'hot/',
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey },
    timeoutMs: 5000,
    maxAttempts: 2,
  };
  const client = createS3Client(conn);
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();
}, 600_000);

afterAll(async () => {
  await rgw?.stop();
}, 120_000);

describe('S3 backends against a real Ceph RGW', () => {
  let hot: S3HotTier;
  let node: S3NodeDriver;
  const nodeConfig = (): S3NodeConfig => ({ ...conn, prefix: 'cold/', name: 'rgw-node', kind: 's3', weight: 2 });

  it('hot tier: 120 MB put/get with bounded memory, ranges, list, delete', async () => {
    hot = new S3HotTier(conn);
    expect(await hot.health()).toEqual({ ok: true });

    const putGrowth = await peakLiveGrowth(() => hot.put('obj-big', patternStream(1, BIG), BIG));
    // One streamed PutObject: the object is never whole in memory.
    expect(putGrowth).toBeLessThan(BIG * 0.6);

    let got = { hex: '', bytes: 0 };
    const getGrowth = await peakLiveGrowth(async () => {
      const body = await hot.get('obj-big');
      expect(body).not.toBeNull();
      got = await sha(body!);
    });
    expect(got).toEqual({ hex: patternSha(1, BIG), bytes: BIG });
    expect(getGrowth).toBeLessThan(BIG * 0.6);

    // A reader that starts consuming late (the gateway awaits admission and key unwrapping first) loses nothing.
    const late = await hot.get('obj-big', { offset: 0, length: 8 * 1024 * 1024 });
    await new Promise((r) => setTimeout(r, 300));
    expect(Buffer.compare(await readAll(late!), patternSlice(1, 0, 8 * 1024 * 1024))).toBe(0);

    const range = { offset: 10 * 1024 * 1024 + 3, length: 1024 * 1024 + 5 };
    const part = await readAll((await hot.get('obj-big', range))!);
    expect(Buffer.compare(part, patternSlice(1, range.offset, range.length))).toBe(0);
    expect((await readAll((await hot.get('obj-big', { offset: 7, length: 0 }))!)).length).toBe(0);

    await hot.put('obj-small', Readable.from([Buffer.from('tiny')]), 4);
    await hot.put('obj-empty', Readable.from([]), 0);
    const listed: Array<{ id: string; size: number }> = [];
    for await (const item of hot.list()) listed.push(item);
    expect(listed.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'obj-big', size: BIG },
      { id: 'obj-empty', size: 0 },
      { id: 'obj-small', size: 4 },
    ]);

    expect(await hot.get('missing')).toBeNull();
    expect(await hot.get('missing', { offset: 0, length: 0 })).toBeNull();
    await hot.delete('obj-big');
    await hot.delete('obj-big');
    expect(await hot.get('obj-big')).toBeNull();
    await expect(hot.put('bad-length', Readable.from([Buffer.alloc(3)]), 5)).rejects.toThrow(/3 of the declared 5/);
    expect(await hot.get('bad-length')).toBeNull();
  });

  it('hot tier: multipart above singlePutMax; an aborted or failing single PUT stores nothing and releases its body', async () => {
    const multi = new S3HotTier(conn, { singlePutMax: 16 * 1024 * 1024 });
    const size = 40 * 1000 * 1000;
    await multi.put('obj-multi', patternStream(3, size), size);
    expect(await sha((await multi.get('obj-multi'))!)).toEqual({ hex: patternSha(3, size), bytes: size });
    await expect(multi.put('multi-bad', patternStream(3, size), size + 1)).rejects.toThrow(/declared/);
    expect(await multi.get('multi-bad')).toBeNull();
    await multi.delete('obj-multi');
    await multi.close();

    // A body that stalls halfway, then the caller aborts: the request ends now (not at the idle timeout) and the body
    // is destroyed, so whoever feeds it is released.
    const stalled = new Readable({ read() {} });
    stalled.push(Buffer.alloc(1024 * 1024, 7));
    const abort = new AbortController();
    const put = hot.put('obj-aborted', stalled, 8 * 1024 * 1024, abort.signal);
    setTimeout(() => abort.abort(), 200);
    await expect(put).rejects.toBeDefined();
    expect(stalled.destroyed).toBe(true);
    expect(await hot.get('obj-aborted')).toBeNull();

    // A body that fails: the PUT rejects with the body's error.
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(1024, 1));
    setTimeout(() => failing.destroy(new Error('source went away')), 100);
    await expect(hot.put('obj-failing', failing, 4096)).rejects.toThrow(/source went away/);
    expect(await hot.get('obj-failing')).toBeNull();
  });

  it('node driver: 120 MB shard with bounded memory, ranged get, stat, list, delete, error kinds', async () => {
    node = new S3NodeDriver(nodeConfig());
    expect(node.kind).toBe('s3');
    expect((await node.health()).ok).toBe(true);

    let handle = '';
    const growth = await peakLiveGrowth(async () => {
      handle = await node.put('shard-big', patternStream(2, BIG), BIG);
    });
    expect(handle).toBe('shard-big');
    expect(growth).toBeLessThan(BIG * 0.6);
    expect(await node.stat(handle)).toEqual({ size: BIG });
    expect(await sha(await node.get(handle))).toEqual({ hex: patternSha(2, BIG), bytes: BIG });

    const range = { offset: BIG - 4096, length: 4096 };
    expect(Buffer.compare(await readAll(await node.get(handle, range)), patternSlice(2, range.offset, range.length))).toBe(0);

    const small = await node.put('shard-small', Readable.from([Buffer.from('abc')]), 3);
    const listed: Array<{ handle: string; size: number }> = [];
    for await (const item of node.list()) {
      expect(typeof item.mtimeMs).toBe('number');
      listed.push({ handle: item.handle, size: item.size });
    }
    expect(listed.sort((a, b) => a.handle.localeCompare(b.handle))).toEqual([
      { handle: 'shard-big', size: BIG },
      { handle: 'shard-small', size: 3 },
    ]);

    await node.delete(handle);
    await node.delete(handle);
    expect(await node.stat(handle)).toBeNull();
    const missing = await rejection(node.get(handle));
    expect(missing).toBeInstanceOf(NodeError);
    expect((missing as NodeError).kind).toBe('not-found');
    expect((missing as NodeError).node).toBe('rgw-node');
    expect((await readAll(await node.get(small))).toString()).toBe('abc');

    const badCreds = new S3NodeDriver({ ...nodeConfig(), credentials: { accessKeyId: 'nobody', secretAccessKey: 'wrong-secret' } });
    const denied = await rejection(badCreds.get(small));
    expect((denied as NodeError).kind).toBe('auth');
    expect(String((denied as Error).message)).not.toContain('wrong-secret');
    expect((await badCreds.health()).ok).toBe(false);
    await badCreds.close();
  });

  it('timeoutMs bounds stalls, not durations: a slow upload that keeps moving and a read the caller pauses both succeed', async () => {
    const TIMEOUT = 1500;
    /** 16 chunks of 64 KiB, one every 250 ms: ~4 s in all, never idle for long. */
    const slowBody = (seed: number): Readable =>
      Readable.from(
        (async function* () {
          for (let i = 0; i < 16; i++) {
            await sleep(250, undefined, 'resolve');
            yield Buffer.alloc(64 * 1024, seed + i);
          }
        })(),
        { objectMode: false },
      );
    const expected = (seed: number): Buffer => Buffer.concat(Array.from({ length: 16 }, (_, i) => Buffer.alloc(64 * 1024, seed + i)));
    const slowHot = new S3HotTier({ ...conn, prefix: 'slow-hot/', timeoutMs: TIMEOUT });
    const slowNode = new S3NodeDriver({ ...nodeConfig(), name: 'slow-node', prefix: 'slow-node/', timeoutMs: TIMEOUT });
    try {
      // Both used to fail with "a request has exceeded the configured 1500 ms requestTimeout".
      await slowHot.put('obj-slow', slowBody(1), 16 * 64 * 1024);
      expect(await slowNode.put('shard-slow', slowBody(2), 16 * 64 * 1024)).toBe('shard-slow');

      // A hot read paused for longer than the timeout (a slow client downstream) is not a stall.
      const big = 8 * 1024 * 1024;
      await slowHot.put('obj-paused', patternStream(9, big), big);
      const stream = (await slowHot.get('obj-paused'))!;
      const h = createHash('sha256');
      let bytes = 0;
      let paused = false;
      for await (const c of stream) {
        h.update(c as Buffer);
        bytes += (c as Buffer).length;
        if (!paused) {
          paused = true;
          await sleep(TIMEOUT * 2 + 500, undefined, 'resolve');
        }
      }
      expect({ hex: h.digest('hex'), bytes }).toEqual({ hex: patternSha(9, big), bytes: big });
      expect((await readAll((await slowHot.get('obj-slow'))!)).equals(expected(1))).toBe(true);
      expect((await readAll(await slowNode.get('shard-slow'))).equals(expected(2))).toBe(true);
    } finally {
      await slowHot.close();
      await slowNode.close();
    }
  });

  it('RGW stopped: health is false and calls fail with unavailable instead of hanging', async () => {
    await rgw.stop();
    const hotHealth = await hot.health();
    expect(hotHealth.ok).toBe(false);
    const nodeHealth = await node.health();
    expect(nodeHealth.ok).toBe(false);
    expect(nodeHealth.reason).toMatch(/^unavailable/);

    const getErr = await rejection(node.get('shard-small'));
    expect(getErr).toBeInstanceOf(NodeError);
    expect((getErr as NodeError).kind).toBe('unavailable');
    const putErr = await rejection(node.put('shard-new', Readable.from([Buffer.from('x')]), 1));
    expect((putErr as NodeError).kind).toBe('unavailable');
    expect((await rejection(node.stat('shard-small')) as NodeError).kind).toBe('unavailable');
    await hot.close();
    await node.close();
  });
});
