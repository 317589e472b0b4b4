/** Repair covers parts of multipart uploads still in progress: their damaged shards are rebuilt before completion. */
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repairAll, remainingProblems } from '../src/maintenance/repair.js';
import { RepairQueue } from '../src/maintenance/repair-queue.js';
import { rotateMasterKey } from '../src/maintenance/recover.js';
import type { TesseraConfig } from '../src/config/types.js';
import { scrubSegment } from '../src/maintenance/scrub.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { randomBody, shardFile, tempGateway } from './helpers/durability.js';
import { readAll } from './helpers/streams.js';

type Env = Awaited<ReturnType<typeof tempGateway>>;
const PART = 5 * 1024 * 1024;

describe('repair of in-progress multipart uploads', () => {
  let env: Env;
  beforeEach(async () => {
    env = await tempGateway();
    await env.g.service.createBucket('b', 'tessera-admin');
  });
  afterEach(async () => {
    await env.cleanup();
  });

  async function uploadWithParts(bodies: Buffer[]): Promise<{ uploadId: string; etags: string[] }> {
    const upload = await env.g.service.createUpload({ bucket: 'b', key: 'mp', owner: 'tessera-admin', headers: { userMeta: {} }, tags: {} });
    const etags: string[] = [];
    for (const [i, body] of bodies.entries()) {
      const r = await env.g.service.uploadPart({ bucket: 'b', key: 'mp', uploadId: upload.uploadId, partNumber: i + 1, body: Readable.from([body]), size: body.length });
      etags.push(r.etag);
    }
    return { uploadId: upload.uploadId, etags };
  }

  it('tessera repair rebuilds two lost shards of a part, and the completed object uses them and reads back', async () => {
    const bodies = [randomBody(PART), randomBody(123_456)];
    const { uploadId, etags } = await uploadWithParts(bodies);
    const [part1] = await env.g.meta.getParts(uploadId, [1]);
    const seg = part1!.manifest.segments[2]!;
    const lost = [seg.shards[0]!, seg.shards[3]!];
    for (const ref of lost) await unlink(shardFile(env.config, ref));
    expect((await scrubSegment(env.g.cold, seg)).filter((s) => s === 'missing')).toHaveLength(2);

    const deps = { cold: env.g.cold, meta: env.g.meta, metrics: createMetrics(), log: createLogger('silent') };
    const summary = await repairAll(deps, { maxBytesPerSecond: 0 });
    expect(summary.rebuilt).toBe(2);
    expect(summary.unrepairedParts).toBe(0);
    expect(remainingProblems(summary)).toBe(0);

    const [repaired] = await env.g.meta.getParts(uploadId, [1]);
    const newSeg = repaired!.manifest.segments[2]!;
    expect(newSeg.shards[0]!.handle).not.toBe(lost[0]!.handle);
    expect(newSeg.shards[3]!.handle).not.toBe(lost[1]!.handle);
    expect(await scrubSegment(env.g.cold, newSeg)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);

    // Complete with the part etags the client holds; the object is whole, and its shards are the rebuilt ones.
    const upload = (await env.g.meta.getUpload(uploadId))!;
    const record = await env.g.service.completeUpload(upload, etags.map((etag, i) => ({ partNumber: i + 1, etag })));
    expect(record.manifest.segments.find((s) => s.segId === seg.segId)?.shards[0]?.handle).toBe(newSeg.shards[0]!.handle);
    // Two more shards of that segment lost still leave k: only possible because the first two were rebuilt.
    for (const ref of [newSeg.shards[1]!, newSeg.shards[2]!]) await unlink(shardFile(env.config, ref));
    const got = await readAll(await env.g.service.openObject(await env.g.service.headObject('b', 'mp')));
    expect(got.equals(Buffer.concat(bodies))).toBe(true);
  });

  it('the background sweep repairs parts too', async () => {
    const { uploadId } = await uploadWithParts([randomBody(PART)]);
    const [part1] = await env.g.meta.getParts(uploadId, [1]);
    const seg = part1!.manifest.segments[0]!;
    await unlink(shardFile(env.config, seg.shards[1]!));
    const queue = new RepairQueue({ meta: env.g.meta, cold: env.g.cold, metrics: createMetrics(), logger: createLogger('silent'), repair: { intervalMs: 1, maxBytesPerSecond: 0 } });
    queue.start(1);
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const [now] = await env.g.meta.getParts(uploadId, [1]);
        if (now!.manifest.segments[0]!.shards[1]!.handle !== seg.shards[1]!.handle) break;
        if (Date.now() > deadline) throw new Error('the sweep did not repair the part');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await queue.stop();
    }
    const [after] = await env.g.meta.getParts(uploadId, [1]);
    expect(await scrubSegment(env.g.cold, after!.manifest.segments[0]!)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  });

  it('rotate-key rewraps an in-progress upload, which then completes and reads back under the new key alone', async () => {
    const bodies = [randomBody(PART), randomBody(50_000)];
    const { uploadId, etags } = await uploadWithParts(bodies);
    const oldKey = env.config.keys.masterKeys[0]!;
    const newKey = { id: 'k2', key: randomBytes(32) };
    const g = await env.reopen({ ...env.config, keys: { masterKeys: [newKey, oldKey] } });
    const s = await rotateMasterKey({ meta: g.meta, cold: g.cold, keyring: g.keyring });
    expect(s).toMatchObject({ rewrappedUploads: 1, pendingUploads: 0 });
    expect((await g.meta.getUpload(uploadId))?.keyId).toBe('k2');
    for (const part of await g.meta.getParts(uploadId, [1, 2])) expect(part.manifest.keyId).toBe('k2');

    const retired: TesseraConfig = { ...env.config, keys: { masterKeys: [newKey] } };
    const g2 = await env.reopen(retired);
    const upload = (await g2.meta.getUpload(uploadId))!;
    await g2.service.completeUpload(upload, etags.map((etag, i) => ({ partNumber: i + 1, etag })));
    const got = await readAll(await g2.service.openObject(await g2.service.headObject('b', 'mp')));
    expect(got.equals(Buffer.concat(bodies))).toBe(true);
  });
});
