import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { LocalCache } from '../src/gateway/local-cache.js';
import { applyTiering } from '../src/gateway/tiering.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics, type Metrics } from '../src/util/metrics.js';
import { readAll } from './helpers/streams.js';

const log = createLogger('silent');

/** Bytes of every file under `dir` (blobs and files being written). */
function bytesOnDisk(dir: string): number {
  let n = 0;
  for (const d of readdirSync(dir)) {
    for (const f of readdirSync(path.join(dir, d))) {
      try {
        n += statSync(path.join(dir, d, f)).size;
      } catch {
        // Renamed or deleted while listing.
      }
    }
  }
  return n;
}

async function counter(m: Metrics, name: keyof Metrics): Promise<number> {
  const c = m[name] as unknown as { get(): Promise<{ values: Array<{ value: number }> }> };
  return (await c.get()).values.reduce((n, v) => n + v.value, 0);
}

describe('local cache tier: budget, admission and eviction', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function cache(budget: number, live: (id: string) => boolean = () => true): Promise<{ c: LocalCache; root: string; m: Metrics }> {
    const root = mkdtempSync(path.join(tmpdir(), 'tessera-local-'));
    dirs.push(root);
    const m = createMetrics();
    return { c: await LocalCache.open(root, budget, m, log, (id) => Promise.resolve(live(id))), root, m };
  }

  const id = (n: number, set = 'a'): string => (set + n.toString(16)).padStart(32, '0').replace(/[^0-9a-f]/g, 'f');

  /** One reader's read of `key`: a hit, or a fill of `size` bytes when admitted. */
  async function readOrFill(c: LocalCache, key: string, size: number): Promise<'hit' | 'filled' | 'refused'> {
    c.noteRead(key);
    const s = await c.read(key);
    if (s) {
      expect((await readAll(s)).length).toBe(size);
      return 'hit';
    }
    const fill = await c.admit(key, size);
    if (!fill) return 'refused';
    const body = Buffer.alloc(size, key.charCodeAt(31));
    for (let at = 0; at < size; at += 4096) await fill.write(body.subarray(at, at + 4096));
    expect(await fill.commit()).toBe(true);
    return 'filled';
  }

  it('never holds more than its budget on disk under concurrent fills, and reads back what it holds', async () => {
    const budget = 1 << 20;
    const { c, root } = await cache(budget);
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, bytesOnDisk(root));
        expect(c.bytes).toBeLessThanOrEqual(budget);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const sizes = Array.from({ length: 48 }, (_, i) => 40_000 + ((i * 7919) % 260_000));
    const written = new Map<string, Buffer>();
    await Promise.all(
      sizes.map(async (size, i) => {
        const key = id(i);
        // Read several times first, so later fills may displace earlier ones.
        for (let r = 0; r <= i % 4; r++) c.noteRead(key);
        const fill = await c.admit(key, size);
        if (!fill) return;
        const body = randomBytes(size);
        for (let at = 0; at < size; at += 8192) {
          await fill.write(body.subarray(at, at + 8192));
          await new Promise((r) => setImmediate(r));
        }
        if (await fill.commit()) written.set(key, body);
      }),
    );
    sampling = false;
    await sampler;
    expect(peak).toBeLessThanOrEqual(budget);
    expect(peak).toBeGreaterThan(budget / 2);
    expect(written.size).toBeGreaterThan(3);
    let held = 0;
    for (const [key, body] of written) {
      const s = await c.read(key);
      if (!s) continue;
      held++;
      expect((await readAll(s)).equals(body)).toBe(true);
    }
    expect(held).toBeGreaterThan(2);
    expect(bytesOnDisk(root)).toBe(c.bytes);
  });

  it('refuses a blob larger than the budget and one already cached', async () => {
    const { c, m } = await cache(100_000);
    expect(await c.admit(id(1), 100_001)).toBeUndefined();
    expect(await readOrFill(c, id(2), 50_000)).toBe('filled');
    expect(await c.admit(id(2), 50_000)).toBeUndefined();
    expect(await counter(m, 'localRefusals')).toBe(2);
  });

  /**
   * Epochs over 16 objects, 2x the budget (7 fit), with 16 readers at once: LRU alone would evict each object just
   * before its next read and hit nothing.
   */
  async function epochs(c: LocalCache, keys: string[], n: number, shuffled: boolean): Promise<number[]> {
    const size = 8192 + 64;
    const hitRates: number[] = [];
    for (let e = 0; e < n; e++) {
      const order = shuffled ? [...keys].sort(() => Math.random() - 0.5) : keys;
      const outcomes = await Promise.all(order.map((k) => readOrFill(c, k, size)));
      hitRates.push(outcomes.filter((o) => o === 'hit').length / keys.length);
    }
    return hitRates;
  }

  for (const shuffled of [false, true]) {
    it(`keeps at least 40% hits from epoch 2 with 16 concurrent readers at 2x the budget (${shuffled ? 'shuffled' : 'fixed'} order)`, async () => {
      const { c } = await cache(8 * 8192);
      const keys = Array.from({ length: 16 }, (_, i) => id(i));
      const rates = await epochs(c, keys, 4, shuffled);
      expect(rates[0]).toBe(0);
      for (const r of rates.slice(1)) expect(r).toBeGreaterThanOrEqual(0.4);
      expect(c.bytes).toBeLessThanOrEqual(8 * 8192);
    });
  }

  it('lets a new working set displace an old one', async () => {
    const { c } = await cache(8 * 8192);
    const old = Array.from({ length: 16 }, (_, i) => id(i, 'a'));
    const fresh = Array.from({ length: 16 }, (_, i) => id(i, 'b'));
    await epochs(c, old, 3, false);
    const rates = await epochs(c, fresh, 12, false);
    expect(rates.at(-1)).toBeGreaterThanOrEqual(0.4);
    for (const k of old) expect(c.has(k)).toBe(false);
  });

  it('drops the blobs of deleted objects instead of letting their past reads hold off newcomers', async () => {
    const gone = new Set<string>();
    const { c } = await cache(4 * 10_000, (k) => !gone.has(k));
    const old = Array.from({ length: 4 }, (_, i) => id(i, 'a'));
    for (let r = 0; r < 5; r++) for (const k of old) await readOrFill(c, k, 10_000);
    for (const k of old) gone.add(k);
    // Read once, far less than the old objects were, yet admitted: they no longer exist.
    expect(await readOrFill(c, id(1, 'b'), 10_000)).toBe('filled');
    expect(c.bytes).toBeLessThanOrEqual(4 * 10_000);
  });
});

describe('local cache tier in the read path: order local -> hot -> cold, fills, staleness', () => {
  const dirs: string[] = [];
  const open: Gateway[] = [];
  afterEach(async () => {
    for (const g of open.splice(0)) await g.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const SIZE = 300_000;

  async function start(local = true): Promise<{ g: Gateway; m: Metrics }> {
    const d = mkdtempSync(path.join(tmpdir(), 'tessera-local-gw-'));
    dirs.push(d);
    const config = embeddedConfig(d, {
      hot: { budget: '10MiB' },
      cache: { local: { enabled: local, budget: '5MiB' } },
      cold: { segmentSize: '128KiB', chunkSize: '16KiB' },
    });
    const m = createMetrics();
    const g = await openGateway(config, { logger: log, metrics: m, background: false, localCache: true });
    open.push(g);
    await g.service.createBucket('b', 'o');
    return { g, m };
  }

  async function put(g: Gateway, key: string): Promise<Buffer> {
    const body = randomBytes(SIZE);
    await g.service.putObject({ bucket: 'b', key, body: Readable.from([body]), size: SIZE, headers: { userMeta: {} }, tags: {} });
    return body;
  }

  async function get(g: Gateway, key: string): Promise<Buffer> {
    const bytes = await readAll(await g.service.openObject(await g.service.headObject('b', key)));
    await g.reader.drain();
    return bytes;
  }

  async function figures(m: Metrics): Promise<{ local: number; hot: number; cold: number }> {
    return { local: await counter(m, 'localHits'), hot: await counter(m, 'hotHits'), cold: await counter(m, 'reconstructions') };
  }

  it('serves a cold read, fills the local cache, uploads to the hot tier from it, and reads the local copy next', async () => {
    const { g, m } = await start();
    const a = await put(g, 'a');
    expect(await get(g, 'a')).toEqual(a);
    expect(await figures(m)).toEqual({ local: 0, hot: 0, cold: 1 });
    const rec = await g.service.headObject('b', 'a');
    expect(g.local?.has(rec.objectId)).toBe(true);
    // The upload to the hot tier came from the local file after the read (drain waited for it).
    expect(rec.hot).toBe('hot');
    expect(await get(g, 'a')).toEqual(a);
    expect(await figures(m)).toEqual({ local: 1, hot: 0, cold: 1 });
    // Ranges come from the local copy too.
    const part = await readAll(await g.service.openObject(rec, { offset: 100_000, length: 50_001 }));
    expect(part).toEqual(a.subarray(100_000, 150_001));
    expect((await figures(m)).local).toBe(2);
  });

  it('falls back to the hot tier when the local copy is gone, and refills the local cache from it', async () => {
    const { g, m } = await start();
    const a = await put(g, 'a');
    await get(g, 'a');
    const rec = await g.service.headObject('b', 'a');
    await LocalCache.dropEverywhere(g.config.cache.local.path, [rec.objectId]);
    expect(await get(g, 'a')).toEqual(a);
    expect(await figures(m)).toEqual({ local: 0, hot: 1, cold: 1 });
    expect(g.local?.has(rec.objectId)).toBe(true);
    expect(await get(g, 'a')).toEqual(a);
    expect(await figures(m)).toEqual({ local: 1, hot: 1, cold: 1 });
  });

  it('`evict` empties both cache tiers: the next read reconstructs', async () => {
    const { g, m } = await start();
    const a = await put(g, 'a');
    await get(g, 'a');
    await applyTiering(g, 'evict', { bucket: 'b', prefix: '' });
    const rec = await g.service.headObject('b', 'a');
    expect(rec.hot).toBe('cold');
    expect(g.local?.has(rec.objectId)).toBe(false);
    expect(await get(g, 'a')).toEqual(a);
    expect((await figures(m)).cold).toBe(2);
  });

  it('never serves a stale copy after an overwrite or a delete', async () => {
    const { g, m } = await start();
    await put(g, 'k');
    await get(g, 'k');
    await get(g, 'k');
    expect((await figures(m)).local).toBe(1);
    const v2 = await put(g, 'k');
    expect(await get(g, 'k')).toEqual(v2);
    expect(await get(g, 'k')).toEqual(v2);
    await g.service.deleteObject('b', 'k');
    await expect(g.service.headObject('b', 'k')).rejects.toThrow();
  });

  it('without a local cache, promotes every admitted cold read even when many arrive at once (spooled, not dropped)', async () => {
    const { g } = await start(false);
    expect(g.local).toBeUndefined();
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const bodies = new Map<string, Buffer>();
    for (const k of keys) bodies.set(k, await put(g, k));
    const recs = await Promise.all(keys.map((k) => g.service.headObject('b', k)));
    // Twelve readers at once: more than the hot tier's concurrent writers.
    const read = await Promise.all(recs.map(async (r) => readAll(await g.service.openObject(r))));
    read.forEach((bytes, i) => expect(bytes.equals(bodies.get(keys[i]!)!)).toBe(true));
    await g.reader.drain();
    for (const k of keys) expect((await g.service.headObject('b', k)).hot).toBe('hot');
    expect(await g.meta.hotBytesTotal()).toBeLessThanOrEqual(10 * 2 ** 20);
    // The spool is empty again.
    expect(readdirSync(path.join(g.config.cache.local.path, 'spool', `p${process.pid}`)).length).toBe(0);
  });
});
