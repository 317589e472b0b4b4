/**
 * recover-index after a metadata loss, with versioning and Object Lock: every version, delete marker and lock state
 * comes back from the sealed records on the nodes, and nothing that was deleted for good does, also when a node that
 * holds a record copy could not be reached at the delete (its tombstones stand in).
 */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDurabilityCommand } from '../src/cli/durability.js';
import type { Gateway } from '../src/gateway/gateway.js';
import type { VersionEntry } from '../src/model/records.js';
import { putBytes, randomBody, shardFile, tempGateway } from './helpers/durability.js';
import { readAll } from './helpers/streams.js';

type Env = Awaited<ReturnType<typeof tempGateway>>;

/** Every version of every key of the bucket, as S3 lists them, with the lock state of each object version. */
async function history(g: Gateway, bucket: string): Promise<string[]> {
  const { entries } = await g.service.listObjectVersions(bucket, { maxKeys: 1000 });
  return Promise.all(
    entries.map(async (e: VersionEntry) => {
      if (e.kind === 'marker') return `${e.key} ${e.versionId} marker${e.isLatest ? ' latest' : ''}`;
      const record = await g.service.headObject(bucket, e.key, e.versionId);
      return `${e.key} ${e.versionId} ${e.etag}${e.isLatest ? ' latest' : ''} ${JSON.stringify(record.lock ?? null)}`;
    }),
  );
}

async function wipeMetadata(env: Env): Promise<Gateway> {
  await env.g.close();
  for (const suffix of ['', '-wal', '-shm']) await rm(env.config.meta.path + suffix, { force: true });
  return env.reopen();
}

describe('recover-index with versions, delete markers and Object Lock', () => {
  let env: Env;
  beforeEach(async () => {
    env = await tempGateway();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('restores every version, marker and lock; versions deleted for good stay deleted', async () => {
    const g = env.g;
    await g.service.createBucket('v', 'tessera-admin');
    await g.service.putBucketConfig('v', 'versioning', 'Enabled');
    const first = randomBody(120_000);
    const v1 = await putBytes(g, 'v', 'k', first);
    await putBytes(g, 'v', 'k', randomBody(90_000));
    // Deleted for good by version id: must never come back.
    const doomed = await putBytes(g, 'v', 'k', randomBody(10_000));
    await g.service.deleteObject('v', 'k', { versionId: doomed.versionId! });
    // Hidden behind a marker: the marker is restored and still hides it.
    await putBytes(g, 'v', 'hidden', randomBody(5_000));
    await g.service.deleteObject('v', 'hidden');
    // A marker deleted for good: the key is visible again after recovery.
    await putBytes(g, 'v', 'back', randomBody(5_000));
    const marker = await g.service.deleteObject('v', 'back');
    await g.service.deleteObject('v', 'back', { versionId: marker.marker!.versionId });

    await g.service.createBucket('locked', 'tessera-admin', { objectLock: true });
    const until = Date.now() + 86_400_000;
    const kept = await g.service.putObject({
      bucket: 'locked',
      key: 'model-input',
      body: (await import('node:stream')).Readable.from([Buffer.from('training bytes')]),
      size: 14,
      headers: { userMeta: {} },
      tags: {},
      lock: { retention: { mode: 'COMPLIANCE', until } },
    });
    await g.service.setObjectLock('locked', 'model-input', kept.versionId, { legalHold: true }, false);

    const before = { v: await history(g, 'v'), locked: await history(g, 'locked') };
    expect(before.v.filter((l) => l.includes(doomed.versionId!))).toEqual([]);
    expect(before.v.some((l) => l.startsWith('hidden ') && l.endsWith('marker latest'))).toBe(true);

    const after = await wipeMetadata(env);
    const r = await runDurabilityCommand('recover-index', after, env.config);
    expect(r.code).toBe(0);
    expect(r.summary).toMatch(/5 object versions and 1 delete markers restored/);
    expect(await history(after, 'v')).toEqual(before.v);
    expect(await history(after, 'locked')).toEqual(before.locked);
    expect((await after.meta.getObject('locked', 'model-input'))?.lock).toEqual({ retention: { mode: 'COMPLIANCE', until }, legalHold: true });
    expect(await readAll(await after.reader.open(await after.service.headObject('v', 'k', v1.versionId)))).toEqual(first);

    // The orphan sweep keeps what recovery restored (markers' copies included): a second loss recovers the same.
    const gc = await runDurabilityCommand('gc', after, env.config, { minAgeMs: 0 });
    expect(gc.code).toBe(0);
    const again = await wipeMetadata(env);
    await runDurabilityCommand('recover-index', again, env.config);
    expect(await history(again, 'v')).toEqual(before.v);
    expect(await history(again, 'locked')).toEqual(before.locked);
  });

  it('a delete while a node holding a record copy fails leaves tombstones: recover-index honours them, gc removes them last', async () => {
    const g = env.g;
    await g.service.createBucket('b', 'tessera-admin');
    const x = await putBytes(g, 'b', 'x', randomBody(20_000));
    const y = await putBytes(g, 'b', 'y', randomBody(20_000));
    // The directory holding one record copy of each becomes unusable (a failing disk): deletes there fail.
    const broken = async (ref: { node: string; handle: string }) => {
      const dir = path.dirname(shardFile(env.config, ref));
      await rename(dir, `${dir}.away`);
      await writeFile(dir, 'not a directory');
      return async () => {
        await rm(dir);
        await rename(`${dir}.away`, dir);
      };
    };
    // While the node still fails, the collector keeps the tombstones; once the copy is gone, they go too.
    const yCopy = y.manifest.copies![0]!;
    const repairY = await broken(yCopy);
    await g.service.deleteObject('b', 'y');
    const yItem = (await g.meta.dueGarbage(Date.now() + 1, 100)).find((item) => item.manifest.copies?.[0]?.handle === yCopy.handle && item.manifest.tombstones);
    const yTombstones = yItem!.manifest.tombstones!;
    await g.garbage.runOnce(Date.now() + 1);
    for (const t of yTombstones) await stat(shardFile(env.config, t));
    await repairY();
    await g.garbage.runOnce(Date.now() + 1);
    await expect(stat(shardFile(env.config, yCopy))).rejects.toThrow();
    for (const t of yTombstones) await expect(stat(shardFile(env.config, t))).rejects.toThrow();

    const xCopy = x.manifest.copies![0]!;
    const repairX = await broken(xCopy);
    await g.service.deleteObject('b', 'x');
    await repairX();
    // The copy that could not be deleted is still there, and so are tombstones on other nodes.
    await stat(shardFile(env.config, xCopy));
    const garbage = await g.meta.dueGarbage(Date.now() + 1, 100);
    const pending = garbage.find((item) => item.manifest.tombstones !== undefined && item.manifest.copies?.[0]?.handle === xCopy.handle);
    expect(pending?.manifest.tombstones?.length).toBeGreaterThan(0);
    expect(pending?.manifest.tombstones?.every((t) => t.node !== xCopy.node)).toBe(true);

    // x's copy and tombstones are still on the nodes when the metadata is lost: x stays deleted.
    const after = await wipeMetadata(env);
    const r = await runDurabilityCommand('recover-index', after, env.config);
    expect(r.summary).toMatch(/0 object versions and 0 delete markers restored, 1 deleted versions left out/);
    expect(await after.meta.getObject('b', 'x')).toBeNull();
  });
});
