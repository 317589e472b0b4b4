import { writeFile, unlink, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkAllNodes, checkNode, formatTable } from '../src/cli/nodes-check.js';
import { FsNodeDriver } from '../src/cold/nodes/fs.js';
import { RepairQueue } from '../src/maintenance/repair-queue.js';
import { scrubAll, scrubSegment } from '../src/maintenance/scrub.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { putBytes, randomBody, shardFile, tempGateway } from './helpers/durability.js';
import { readAll } from './helpers/streams.js';

type Env = Awaited<ReturnType<typeof tempGateway>>;

function queueFor(env: Env, maxPending?: number): RepairQueue {
  return new RepairQueue({
    meta: env.g.meta,
    cold: env.g.cold,
    metrics: createMetrics(),
    logger: createLogger('silent'),
    repair: { intervalMs: 60_000, maxBytesPerSecond: 0 },
    ...(maxPending !== undefined ? { maxPending } : {}),
  });
}

describe('repair queue', () => {
  let env: Env;
  beforeEach(async () => {
    env = await tempGateway();
    await env.g.service.createBucket('b', 'tessera-admin');
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('heals a segment a reader reported, once per segment', async () => {
    const body = randomBody(1_500_000);
    const rec = await putBytes(env.g, 'b', 'k', body);
    const seg = rec.manifest.segments[1]!;
    await unlink(shardFile(env.config, seg.shards[0]!));
    const queue = queueFor(env);
    env.g.cold.onProblem = queue.onProblem;
    // The read succeeds from the other shards and reports the missing one.
    expect((await readAll(await env.g.reader.open(rec))).equals(body)).toBe(true);
    expect(queue.size).toBe(1);
    queue.report(rec.objectId, seg.segId, 0, 'missing');
    expect(queue.size).toBe(1);
    await queue.drain();
    expect(queue.processed).toBe(1);
    const fixed = (await env.g.meta.getObjectById(rec.objectId))!.manifest;
    expect(await scrubSegment(env.g.cold, fixed.segments[1]!)).toEqual(Array(6).fill('ok'));
    expect(fixed.segments[0]).toEqual(rec.manifest.segments[0]);
  });

  it('drops reports beyond its bound and ignores slow-shard reports', async () => {
    const queue = queueFor(env, 1);
    queue.report('a'.repeat(32), 0, 1, 'slow');
    expect(queue.size).toBe(0);
    queue.report('a'.repeat(32), 0, 1, 'corrupt');
    queue.report('b'.repeat(32), 0, 1, 'corrupt');
    expect(queue.size).toBe(1);
    expect(queue.dropped).toBe(1);
    // Unknown objects are simply skipped.
    await queue.drain();
    expect(queue.size).toBe(0);
  });

  it('the background sweep finds and repairs unreported damage', async () => {
    const rec = await putBytes(env.g, 'b', 'k', randomBody(300_000));
    await unlink(shardFile(env.config, rec.manifest.segments[0]!.shards[3]!));
    const queue = queueFor(env);
    queue.start(1);
    try {
      for (let i = 0; i < 500; i++) {
        const s = await scrubAll(env.g.meta, env.g.cold);
        if (s.missing === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await queue.stop();
    }
    const s = await scrubAll(env.g.meta, env.g.cold);
    expect(s).toMatchObject({ ok: 6, missing: 0 });
  });
});

describe('nodes check', () => {
  let env: Env;
  beforeEach(async () => {
    env = await tempGateway();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('round-trips a probe shard on every node and leaves nothing behind', async () => {
    const drivers = [...env.g.cold.nodes.values()].map((n) => n.inner);
    const rows = await checkAllNodes(env.config, drivers);
    expect(rows.map((r) => [r.node, r.ok])).toEqual(env.config.cold.nodes.map((n) => [n.name, true]));
    for (const n of env.config.cold.nodes) {
      if (n.kind !== 'fs') continue;
      const files = (await readdir(n.path, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
      expect(files).toEqual([]);
    }
    expect(formatTable(rows).split('\n')).toHaveLength(rows.length + 1);
  });

  it('reports a broken node with the failing step', async () => {
    const file = path.join(env.dir, 'not-a-dir');
    await writeFile(file, 'x');
    const r = await checkNode(new FsNodeDriver({ name: 'broken', path: file }));
    expect(r.ok).toBe(false);
    expect(r.failure).toMatch(/^health: /);
    expect(formatTable([r])).toMatch(/broken\s+fs\s+\d+ ms\s+FAILED health: /);
  });
});
