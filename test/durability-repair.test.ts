import { stat, unlink } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repairAll, repairObject, remainingProblems } from '../src/maintenance/repair.js';
import { scrubAll, scrubSegment } from '../src/maintenance/scrub.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { putBytes, randomBody, shardFile, tempGateway } from './helpers/durability.js';
import { readAll } from './helpers/streams.js';
import { flipByte } from './helpers/files.js';

type Env = Awaited<ReturnType<typeof tempGateway>>;

describe('scrub and repair', () => {
  let env: Env;
  beforeEach(async () => {
    env = await tempGateway();
    await env.g.service.createBucket('b', 'tessera-admin');
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('finds a corrupt and a missing shard of one segment, rebuilds both, and the object reads back intact', async () => {
    const body = randomBody(2 * 1024 * 1024 + 12345);
    const rec = await putBytes(env.g, 'b', 'k', body);
    const other = await putBytes(env.g, 'b', 'other', randomBody(300_000));
    expect(rec.manifest.segments).toHaveLength(3);
    const seg = rec.manifest.segments[1]!;
    const corruptRef = seg.shards[0]!;
    const missingRef = seg.shards[4]!;
    // A byte in the middle of a block, past the header.
    await flipByte(shardFile(env.config, corruptRef), 32 + 1000);
    await unlink(shardFile(env.config, missingRef));

    const statuses = await scrubSegment(env.g.cold, seg);
    expect(statuses).toEqual(['corrupt', 'ok', 'ok', 'ok', 'missing', 'ok']);
    const before = await scrubAll(env.g.meta, env.g.cold);
    expect(before).toMatchObject({ objects: 2, segments: 3 + other.manifest.segments.length, corrupt: 1, missing: 1, unreachable: 0 });

    const metrics = createMetrics();
    const deps = { cold: env.g.cold, meta: env.g.meta, metrics, log: createLogger('silent') };
    const summary = await repairAll(deps, { maxBytesPerSecond: 0 });
    expect(summary.rebuilt).toBe(2);
    expect(remainingProblems(summary)).toBe(0);
    expect((await metrics.repairs.get()).values.find((v) => v.labels.result === 'ok')?.value).toBe(2);

    const after = await env.g.meta.getObjectById(rec.objectId);
    const newSeg = after!.manifest.segments[1]!;
    expect(newSeg.shards[0]!.handle).not.toBe(corruptRef.handle);
    // The corrupt shard's node was healthy, so its replacement stays there; the old file is gone.
    expect(newSeg.shards[0]!.node).toBe(corruptRef.node);
    await expect(stat(shardFile(env.config, corruptRef))).rejects.toThrow();
    // Still one shard per node.
    expect(new Set(newSeg.shards.map((s) => s.node)).size).toBe(6);
    // Other segments untouched.
    expect(after!.manifest.segments[0]).toEqual(rec.manifest.segments[0]);
    // Record copies were rewritten with the new manifest.
    expect(after!.manifest.copies).toBeDefined();
    expect(after!.manifest.copies).not.toEqual(rec.manifest.copies);
    for (const c of rec.manifest.copies ?? []) await expect(stat(shardFile(env.config, c))).rejects.toThrow();

    const clean = await scrubAll(env.g.meta, env.g.cold);
    expect(clean).toMatchObject({ ok: clean.shards, missing: 0, corrupt: 0, unreachable: 0 });

    // Decode from the rebuilt shards only: knock out two original shards of the segment so the rebuilt ones are needed.
    await unlink(shardFile(env.config, newSeg.shards[1]!));
    await unlink(shardFile(env.config, newSeg.shards[2]!));
    const bytes = await readAll(await env.g.reader.open(after!));
    expect(bytes.equals(body)).toBe(true);
  });

  it('rebuilds a missing shard on another node when its node holds nothing of the segment, and fails cleanly with fewer than k', async () => {
    const rec = await putBytes(env.g, 'b', 'k', randomBody(500_000));
    const seg = rec.manifest.segments[0]!;
    await unlink(shardFile(env.config, seg.shards[5]!));
    const deps = { cold: env.g.cold, meta: env.g.meta, metrics: createMetrics(), log: createLogger('silent') };
    const r = await repairObject(deps, rec.objectId);
    expect(r).toMatchObject({ rebuilt: 1, failed: 0, missing: 1 });
    const fixed = (await env.g.meta.getObjectById(rec.objectId))!.manifest.segments[0]!;
    expect(await scrubSegment(env.g.cold, fixed)).toEqual(Array(6).fill('ok'));

    // Three shards gone out of 4+2: nothing can be rebuilt, and nothing is changed.
    for (const i of [0, 1, 2]) await unlink(shardFile(env.config, fixed.shards[i]!));
    const r2 = await repairObject(deps, rec.objectId);
    expect(r2).toMatchObject({ rebuilt: 0, failed: 3, missing: 3 });
    expect((await env.g.meta.getObjectById(rec.objectId))!.manifest.segments[0]).toEqual(fixed);
  });
});
