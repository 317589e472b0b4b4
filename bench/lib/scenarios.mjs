// The benchmark scenarios. Each takes the run context and appends rows (see harness.compare).
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { compare, load } from './harness.mjs';
import { listingKey } from './keys.mjs';
import { ROOT } from './services.mjs';

const MiB = 1 << 20;
const BUCKET = 'bench';
const mbps = (r) => r.mbps;

/**
 * Makes the object hot in Tessera: a whole GET fills the local cache tier and, from it, the hot tier (promote:
 * full-read). A second GET waits for nothing but shows the copy is there.
 */
async function warm(ctx, key, size) {
  await load(ctx.T, { op: 'get', bucket: BUCKET, key, size });
  await load(ctx.T, { op: 'get', bucket: BUCKET, key, size });
}

/** Runs `fn` with the gateway restarted without its local cache tier (rows of the remote hot tier alone). */
async function withoutLocalCache(ctx, fn) {
  await ctx.gw.reconfigure({ localCache: { enabled: false } });
  try {
    return await fn();
  } finally {
    await ctx.gw.reconfigure({ localCache: undefined });
  }
}

export async function setup(ctx) {
  for (const t of [ctx.T, ctx.R]) await load(t, { op: 'mkbucket', bucket: BUCKET });
}

// ---------------------------------------------------------------- 1) large objects

export async function large(ctx) {
  const { size, streams, reps } = ctx.opts;
  const g = 'large';
  const both = (op, key, s) => ({
    tessera: () => load(ctx.T, { op, bucket: BUCKET, key, size, streams: s }).then(mbps),
    rgw: () => load(ctx.R, { op, bucket: BUCKET, key, size, streams: s }).then(mbps),
  });
  await compare(ctx, { name: 'put-1stream', group: g, unit: 'MB/s', better: 'higher', reps, ...both('put', 'large-a', 1) });
  await compare(ctx, { name: `put-${streams}streams`, group: g, unit: 'MB/s', better: 'higher', reps, note: 'multipart, parts in parallel', ...both('put', 'large-b', streams) });
  if (ctx.opts.only) {
    // The PUT rows may have been filtered out: the GET rows still need their object on both sides.
    for (const t of [ctx.T, ctx.R]) await load(t, { op: 'put', bucket: BUCKET, key: 'large-a', size });
  }
  await warm(ctx, 'large-a', size);
  await compare(ctx, { name: 'get-local-1stream', group: g, unit: 'MB/s', better: 'higher', reps, note: 'object in the local cache tier', ...both('get', 'large-a', 1) });
  await compare(ctx, { name: `get-local-${streams}streams`, group: g, unit: 'MB/s', better: 'higher', reps, note: 'object in the local cache tier; ranged GETs in parallel', ...both('get', 'large-a', streams) });
  await withoutLocalCache(ctx, async () => {
    await compare(ctx, { name: 'get-hot-1stream', group: g, unit: 'MB/s', better: 'higher', reps, note: 'remote hot tier, local cache off', ...both('get', 'large-a', 1) });
    await compare(ctx, { name: `get-hot-${streams}streams`, group: g, unit: 'MB/s', better: 'higher', reps, note: 'remote hot tier, local cache off; ranged GETs in parallel', ...both('get', 'large-a', streams) });
  });
  const evict = () => ctx.gw.evict(BUCKET);
  await compare(ctx, { name: 'get-cold-1stream', group: g, unit: 'MB/s', better: 'higher', reps, beforeTessera: evict, note: 'promotes to hot while reading', ...both('get', 'large-a', 1) });
  await compare(ctx, { name: `get-cold-${streams}streams`, group: g, unit: 'MB/s', better: 'higher', reps, beforeTessera: evict, ...both('get', 'large-a', streams) });
  const restart = await ctx.nodes.stopSome(2);
  try {
    await compare(ctx, { name: 'get-cold-2down-1stream', group: g, unit: 'MB/s', better: 'higher', reps, beforeTessera: evict, note: '2 of 6 nodes stopped', ...both('get', 'large-a', 1) });
    await compare(ctx, { name: `get-cold-2down-${streams}streams`, group: g, unit: 'MB/s', better: 'higher', reps, beforeTessera: evict, note: '2 of 6 nodes stopped', ...both('get', 'large-a', streams) });
  } finally {
    await restart();
    await ctx.gw.waitNodesHealthy(ctx.nodes.count);
  }
}

// ---------------------------------------------------------------- 2) time to first byte

export async function ttfb(ctx) {
  const { size, ttfbN } = ctx.opts;
  await load(ctx.T, { op: 'put', bucket: BUCKET, key: 'large-a', size }).catch(() => undefined);
  await warm(ctx, 'large-a', size);
  const sampled = (r) => ({ values: r.samples, samples: r.samples });
  const hotRow = (name, note) =>
    compare(ctx, {
      name,
      group: 'ttfb',
      unit: 'ms',
      better: 'lower',
      reps: 1,
      note,
      tessera: () => load(ctx.T, { op: 'ttfb', bucket: BUCKET, key: 'large-a', n: ttfbN }).then(sampled),
      rgw: () => load(ctx.R, { op: 'ttfb', bucket: BUCKET, key: 'large-a', n: ttfbN }).then(sampled),
    });
  await hotRow('ttfb-local', 'object in the local cache tier');
  await withoutLocalCache(ctx, () => hotRow('ttfb-hot', 'remote hot tier, local cache off'));
  // Every cold sample starts from an evicted object. It asks for bytes 0..size-2, which streams the object from the
  // cold tier but is not a whole read, so it does not promote: an abandoned whole GET keeps promoting the full
  // object, and the next reader waits for that promotion (single-flight) -- minutes per sample at 1 GiB.
  const coldRange = `bytes=0-${size - 2}`;
  await compare(ctx, {
    name: 'ttfb-cold',
    group: 'ttfb',
    unit: 'ms',
    better: 'lower',
    reps: ttfbN,
    beforeTessera: () => ctx.gw.evict(BUCKET),
    tessera: () => load(ctx.T, { op: 'ttfb', bucket: BUCKET, key: 'large-a', n: 1, range: coldRange }).then(sampled),
    rgw: () => load(ctx.R, { op: 'ttfb', bucket: BUCKET, key: 'large-a', n: 1, range: coldRange }).then(sampled),
    note: 'Range bytes=0-(size-2): a cold read that does not promote; RGW column: the same GET',
  });
}

// ---------------------------------------------------------------- 3) small objects

export async function small(ctx) {
  const { concurrency, durationMs, smallReps, smallPool } = ctx.opts;
  for (const size of [4 * 1024, 64 * 1024]) {
    const tag = `${size / 1024}KiB`;
    const prefix = `small-${tag}/`;
    for (const t of [ctx.T, ctx.R]) await load(t, { op: 'populate', bucket: BUCKET, prefix: `${prefix}pool-`, n: smallPool, size, concurrency: 32 });
    // Steady state for reads of a small working set: the pool is hot (a first read would promote it anyway).
    await ctx.gw.warm(`${BUCKET}/${prefix}pool-`);
    for (const op of ['put', 'get']) {
      const task = { op: 'small', bucket: BUCKET, size, concurrency, durationMs, prefix: op === 'put' ? `${prefix}new-` : `${prefix}pool-`, pool: smallPool, mode: op };
      const one = (target) => load(target, task).then((r) => ({ values: [r.opsPerSec], samples: r.samples }));
      await compare(ctx, { name: `small-${op}-${tag}`, group: 'small', unit: 'ops/s', better: 'higher', reps: smallReps, tessera: () => one(ctx.T), rgw: () => one(ctx.R), note: `${concurrency} clients, ${durationMs / 1000} s` });
    }
  }
}

// ---------------------------------------------------------------- 4) listing and 5) cost growth

/** Fills listing buckets: Tessera through its SQLite store (gateway stopped), RGW through zero-byte PUTs. */
export async function populateListing(ctx) {
  if (ctx.listingReady) return;
  const counts = [...new Set([1000, ...ctx.opts.listCounts])].sort((a, b) => a - b);
  ctx.log(`  populating listing buckets ${counts.join(', ')} (Tessera: direct SQLite inserts, gateway stopped)`);
  await ctx.gw.stop();
  const { SqliteMetaStore } = await import(path.join(ROOT, 'dist/meta/sqlite-store.js'));
  const store = SqliteMetaStore.open(path.join(ctx.gw.dir, 'data/meta/tessera.db'));
  try {
    for (const n of counts) {
      const bucket = `list-${n}`;
      if (await store.getBucket(bucket)) continue;
      await store.createBucket({ name: bucket, createdAt: Date.now(), owner: ctx.gw.accessKey, region: 'us-east-1' });
      const t0 = performance.now();
      store.putObjects(zeroSizeRecords(bucket, n));
      ctx.log(`    tessera ${bucket}: ${n} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await store.close();
  }
  await ctx.gw.start();
  ctx.rgwListCounts = counts.filter((n) => n <= ctx.opts.rgwListMax);
  for (const n of ctx.rgwListCounts) {
    const bucket = `list-${n}`;
    await load(ctx.R, { op: 'mkbucket', bucket });
    const r = await load(ctx.R, { op: 'populate', bucket, n, size: 0, concurrency: 64, scheme: 'listing' });
    ctx.log(`    rgw ${bucket}: ${n} zero-byte PUTs in ${r.seconds.toFixed(1)} s (${r.opsPerSec.toFixed(0)}/s)`);
  }
  ctx.listingReady = true;
}

function* zeroSizeRecords(bucket, n) {
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const objectId = `${n.toString(16).padStart(8, "0")}${i.toString(16).padStart(24, "0")}`;
    yield {
      bucket,
      key: listingKey(i),
      objectId,
      size: 0,
      etag: '"d41d8cd98f00b204e9800998ecf8427e"',
      lastModified: now,
      headers: { userMeta: {} },
      tags: {},
      manifest: { version: 1, objectId, wrappedKey: 'none', keyId: 'bench', size: 0, segments: [] },
      hot: 'cold',
      hotBytes: 0,
      pinned: false,
      lastAccess: 0,
    };
  }
}

export async function list(ctx) {
  await populateListing(ctx);
  const { listSamples } = ctx.opts;
  for (const n of ctx.opts.listCounts) {
    for (const mode of ['flat', 'delim']) {
      const one = (target) => load(target, { op: 'list', bucket: `list-${n}`, n, mode, samples: listSamples }).then((r) => ({ values: r.samples, samples: r.samples }));
      await compare(ctx, {
        name: `list-${mode}-${n}`,
        group: 'list',
        unit: 'ms',
        better: 'lower',
        reps: 1,
        tessera: () => one(ctx.T),
        ...(ctx.rgwListCounts.includes(n) ? { rgw: () => one(ctx.R) } : {}),
        note: mode === 'flat' ? 'pages of 1000 from random start-after' : "prefix dNN/, delimiter '/'",
      });
    }
  }
}

export async function growth(ctx) {
  await populateListing(ctx);
  const { growthN } = ctx.opts;
  const counts = [...new Set([1000, ...ctx.opts.listCounts])].sort((a, b) => a - b);
  for (const n of counts) {
    let lastT;
    let lastR;
    // PUT and GET rows share one loop per side (each PUT then GET of that key).
    const run = async (target) => load(target, { op: 'latency', bucket: `list-${n}`, n: growthN, size: 4096, prefix: 'growth/' });
    const rgwOk = ctx.rgwListCounts.includes(n);
    await compare(ctx, {
      name: `growth-put-${n}`,
      group: 'growth',
      unit: 'ms',
      better: 'lower',
      reps: 1,
      tessera: async () => ((lastT = await run(ctx.T)), { values: lastT.put, samples: lastT.put }),
      ...(rgwOk ? { rgw: async () => ((lastR = await run(ctx.R)), { values: lastR.put, samples: lastR.put }) } : {}),
      note: '4 KiB, sequential',
    });
    // The GETs ran in the same loop as the PUTs (each PUT then GET of that key); recorded as their own row.
    await compare(ctx, {
      name: `growth-get-${n}`,
      group: 'growth',
      unit: 'ms',
      better: 'lower',
      reps: 1,
      tessera: async () => {
        if (!lastT) throw new Error('no GET samples: the PUT row of this size failed');
        return { values: lastT.get, samples: lastT.get };
      },
      ...(rgwOk
        ? {
            rgw: async () => {
              if (!lastR) throw new Error('no GET samples: the PUT row of this size failed');
              return { values: lastR.get, samples: lastR.get };
            },
          }
        : {}),
      note: '4 KiB, sequential (measured with the PUT row)',
    });
  }
}

// ---------------------------------------------------------------- 6) training read pattern

export async function train(ctx) {
  const { trainObjects, trainWorkers, trainPerWorker, reps } = ctx.opts;
  const size = 64 * MiB;
  const keys = Array.from({ length: trainObjects }, (_, i) => `train/shard-${String(i).padStart(4, '0')}`);
  for (const key of keys) {
    for (const t of [ctx.T, ctx.R]) await load(t, { op: 'put', bucket: BUCKET, key, size });
  }
  const task = { op: 'train', bucket: BUCKET, keys, size, workers: trainWorkers, perWorker: trainPerWorker };
  const one = (target) => load(target, task).then((r) => ({ values: [r.mbps], samples: r.samples }));
  const note = `${trainWorkers} workers x ${trainPerWorker} objects of 64 MiB from ${trainObjects}`;
  await compare(ctx, { name: 'train-cold', group: 'train', unit: 'MB/s', better: 'higher', reps, beforeTessera: () => ctx.gw.evict(BUCKET), tessera: () => one(ctx.T), rgw: () => one(ctx.R), note: `${note}; evicted first (first epoch)` });
  await compare(ctx, { name: 'train-hot', group: 'train', unit: 'MB/s', better: 'higher', reps, tessera: () => one(ctx.T), rgw: () => one(ctx.R), note });
  // A loader walking the shards in key order (WebDataset style) with fewer workers than shards: read-ahead's case.
  const walkers = 4;
  const walk = (target) => load(target, { op: 'epoch', bucket: BUCKET, keys, size, workers: walkers }).then((r) => (keys.length * size) / 1e6 / r.seconds);
  const walkNote = `${walkers} workers take the ${trainObjects} objects of 64 MiB in key order`;
  await compare(ctx, { name: 'train-walk-cold', group: 'train', unit: 'MB/s', better: 'higher', reps, beforeTessera: () => ctx.gw.evict(BUCKET), tessera: () => walk(ctx.T), rgw: () => walk(ctx.R), note: `${walkNote}; evicted first (first epoch, read-ahead on)` });
  await compare(ctx, { name: 'train-walk-hot', group: 'train', unit: 'MB/s', better: 'higher', reps, tessera: () => walk(ctx.T), rgw: () => walk(ctx.R), note: walkNote });
}

// ---------------------------------------------------------------- 7) a remote hot tier (fixed latency)

/**
 * The hot tier behind a delay proxy (`--hot-latency` ms each way, as a remote S3 region): the local cache tier's
 * rows against the remote hot tier's, and the RGW column through the same proxy (a client reading the remote hot
 * tier directly).
 */
export async function remote(ctx) {
  const { size, streams, reps, hotLatencyMs, ttfbN } = ctx.opts;
  const { startDelayProxy } = await import('./delay-proxy.mjs');
  const proxy = await startDelayProxy(ctx.R.endpoint, hotLatencyMs);
  const R = { ...ctx.R, endpoint: proxy.endpoint };
  const g = 'remote';
  const tag = `@${hotLatencyMs}ms`;
  const both = (op, key, s) => ({
    tessera: () => load(ctx.T, { op, bucket: BUCKET, key, size, streams: s }).then(mbps),
    rgw: () => load(R, { op, bucket: BUCKET, key, size, streams: s }).then(mbps),
  });
  const sampled = (r) => ({ values: r.samples, samples: r.samples });
  const ttfbRow = (name, note) =>
    compare(ctx, {
      name,
      group: g,
      unit: 'ms',
      better: 'lower',
      reps: 1,
      note,
      tessera: () => load(ctx.T, { op: 'ttfb', bucket: BUCKET, key: 'large-a', n: ttfbN }).then(sampled),
      rgw: () => load(R, { op: 'ttfb', bucket: BUCKET, key: 'large-a', n: ttfbN }).then(sampled),
    });
  try {
    await ctx.gw.reconfigure({ hotEndpoint: proxy.endpoint });
    await load(ctx.T, { op: 'put', bucket: BUCKET, key: 'large-a', size }).catch(() => undefined);
    await load(ctx.R, { op: 'put', bucket: BUCKET, key: 'large-a', size }).catch(() => undefined);
    await warm(ctx, 'large-a', size);
    await compare(ctx, { name: `get-local-1stream${tag}`, group: g, unit: 'MB/s', better: 'higher', reps, note: 'local cache tier; RGW through the delay proxy', ...both('get', 'large-a', 1) });
    await compare(ctx, { name: `get-local-${streams}streams${tag}`, group: g, unit: 'MB/s', better: 'higher', reps, note: 'local cache tier; RGW through the delay proxy', ...both('get', 'large-a', streams) });
    await ttfbRow(`ttfb-local${tag}`, 'local cache tier; RGW through the delay proxy');
    await ctx.gw.reconfigure({ localCache: { enabled: false } });
    await compare(ctx, { name: `get-hot-1stream${tag}`, group: g, unit: 'MB/s', better: 'higher', reps, note: 'remote hot tier through the delay proxy, local cache off', ...both('get', 'large-a', 1) });
    await compare(ctx, { name: `get-hot-${streams}streams${tag}`, group: g, unit: 'MB/s', better: 'higher', reps, note: 'remote hot tier through the delay proxy, local cache off', ...both('get', 'large-a', streams) });
    await ttfbRow(`ttfb-hot${tag}`, 'remote hot tier through the delay proxy, local cache off');
  } finally {
    await ctx.gw.reconfigure({ hotEndpoint: undefined, localCache: undefined });
    await proxy.close();
  }
}

// ---------------------------------------------------------------- 8) cache admission under many readers

/**
 * Epochs over a working set twice the cache's budget (16 objects of 8 MiB, 64 MiB; 7 fit), 16 readers at once, in
 * fixed and in shuffled order, for the local cache tier and for the hot tier (local cache off). The row's value is
 * the hit rate (%) of each epoch from the second on, from the gateway's counters; the first epoch is all misses.
 */
export async function epochs(ctx) {
  const objects = 16;
  const size = 8 * MiB;
  const n = ctx.opts.epochs;
  const keys = Array.from({ length: objects }, (_, i) => `epochs/obj-${String(i).padStart(2, '0')}`);
  for (const key of keys) await load(ctx.T, { op: 'put', bucket: BUCKET, key, size });
  let seed = 7;
  const shuffle = (a) => {
    const b = [...a];
    for (let i = b.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [b[i], b[j]] = [b[j], b[i]];
    }
    return b;
  };
  const tiers = [
    { tier: 'local', metric: 'tessera_local_cache_hits_total', settings: { localCache: { enabled: true, budget: '64MiB' } } },
    { tier: 'hot', metric: 'tessera_hot_hits_total', settings: { localCache: { enabled: false }, hotBudget: '64MiB' } },
  ];
  try {
    for (const { tier, metric, settings } of tiers) {
      for (const order of ['fixed', 'shuffled']) {
        await ctx.gw.reconfigure(settings);
        await ctx.gw.evict(BUCKET);
        await compare(ctx, {
          name: `epochs-${tier}-${order}`,
          group: 'epochs',
          unit: '% hits',
          better: 'higher',
          reps: 1,
          note: `${objects} x 8 MiB, ${tier} budget 64 MiB, 16 readers at once, epochs 2-${n}`,
          tessera: async () => {
            const rates = [];
            for (let e = 0; e < n; e++) {
              const before = await ctx.gw.metric(metric);
              await load(ctx.T, { op: 'epoch', bucket: BUCKET, keys: order === 'fixed' ? keys : shuffle(keys), size, workers: 16 });
              // Hot-tier uploads (queued after the reads) finish before the next epoch is counted.
              await new Promise((r) => setTimeout(r, 500));
              rates.push((100 * ((await ctx.gw.metric(metric)) - before)) / objects);
            }
            ctx.log(`    ${tier} ${order}: hits per epoch ${rates.map((r) => r.toFixed(0)).join(', ')} %`);
            return { values: rates.slice(1), samples: rates };
          },
        });
      }
    }
  } finally {
    await ctx.gw.reconfigure({ localCache: undefined, hotBudget: undefined });
  }
}

export const SCENARIOS = { large, ttfb, small, list, growth, train, remote, epochs };
