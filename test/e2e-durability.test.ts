/**
 * Issue 3 acceptance, durability: damaged shards on the nodes' disks are read around, reported and repaired; a
 * gateway killed mid-PUT leaves a consistent store and orphans that `tessera gc` removes; a lost metadata database
 * is rebuilt by `tessera recover-index`. Real node and gateway processes, real S3 client.
 */
import { rm, unlink } from 'node:fs/promises';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ObjectManifest } from '../src/model/manifest.js';
import { SqliteMetaStore } from '../src/meta/sqlite-store.js';
import { getDigest as getObjectDigest, httpStatusOf, patternDigest, putPattern, startCluster, type Cluster } from './helpers/cluster.js';
import { flipByte } from './helpers/files.js';

const MiB = 1024 * 1024;

interface Obj {
  bucket: string;
  key: string;
  seed: string;
  size: number;
  meta?: Record<string, string>;
}

function put(s3: S3Client, o: Obj): Promise<void> {
  return putPattern(s3, o.bucket, o.key, o.seed, o.size, o.meta);
}

function getDigest(s3: S3Client, o: Pick<Obj, 'bucket' | 'key'>, range?: { offset: number; length: number }): Promise<{ sha256: string; length: number }> {
  return getObjectDigest(s3, o.bucket, o.key, range);
}

async function expectWhole(s3: S3Client, o: Obj): Promise<void> {
  expect(await getDigest(s3, o), `${o.bucket}/${o.key}`).toEqual(await patternDigest(o.seed, 0, o.size));
}

/** The manifest as the gateway committed it (read through the store's own code, second connection, WAL). */
async function manifestOf(cluster: Cluster, o: Pick<Obj, 'bucket' | 'key'>): Promise<ObjectManifest> {
  const store = SqliteMetaStore.open(cluster.metaDbFile);
  try {
    const rec = await store.getObject(o.bucket, o.key);
    if (!rec) throw new Error(`no record for ${o.bucket}/${o.key}`);
    return rec.manifest;
  } finally {
    await store.close();
  }
}

/** Node files as a sorted list of "node:path", the unit gc's result is compared in. */
async function fileSet(cluster: Cluster): Promise<string[]> {
  return (await cluster.nodeFiles()).map((f) => `${f.node}:${f.path}`).sort();
}

describe('durability over six node processes, 4+2, 1 MiB segments', () => {
  let cluster: Cluster;
  let s3: S3Client;
  /** Every object committed so far, in its latest version: what recover-index must bring back. */
  const committed = new Map<string, Obj>();
  const remember = (o: Obj): void => void committed.set(`${o.bucket}/${o.key}`, o);

  beforeAll(async () => {
    // promote: never, so every GET below is a cold read of the shards on disk.
    // gcGrace 0: garbage of deleted objects is due at once, so `tessera gc` settles the nodes without waiting.
    cluster = await startCluster({ cold: { segmentSize: '1MiB', chunkSize: '64KiB', gcGrace: 0 }, hot: { driver: 'fs', encrypt: true, promote: 'never' } });
    s3 = cluster.s3();
    for (const b of ['damage', 'crash', 'meta']) await s3.send(new CreateBucketCommand({ Bucket: b }));
  });
  afterAll(async () => cluster?.stop());

  test('a corrupt and a missing shard of one segment: exact GET, problems reported, repaired, scrub clean', async () => {
    const victim: Obj = { bucket: 'damage', key: 'victim', seed: 'v1', size: 5 * MiB + 3 };
    await put(s3, victim);
    remember(victim);
    expect((await cluster.cli(['evict', 'damage'])).code).toBe(0);

    const segment = (await manifestOf(cluster, victim)).segments[1];
    if (!segment) throw new Error('expected at least two segments');
    // Data shards 0 and 1, so the decoder cannot avoid them: it must fall back to both parity shards.
    const [corrupt, missing] = [segment.shards[0], segment.shards[1]];
    const corruptNode = cluster.nodes.find((n) => n.name === corrupt?.node);
    const missingNode = cluster.nodes.find((n) => n.name === missing?.node);
    if (!corrupt || !missing || !corruptNode || !missingNode) throw new Error(`shards of segment ${segment.segId} not on http nodes`);
    await flipByte(corruptNode.shardPath(corrupt.handle), Math.floor(segment.shardSize / 2));
    await unlink(missingNode.shardPath(missing.handle));

    const before = await cluster.cli(['scrub']);
    expect(before.code, `scrub must notice the damage:\n${before.stderr}`).toBe(1);
    expect(before.stderr).toMatch(/1 missing, 1 corrupt/);

    const problems = { corrupt: await cluster.metric('tessera_shard_problems_total', { kind: 'corrupt' }), missing: await cluster.metric('tessera_shard_problems_total', { kind: 'missing' }) };
    await expectWhole(s3, victim);
    expect(await getDigest(s3, victim, { offset: MiB - 7, length: MiB + 14 })).toEqual(await patternDigest(victim.seed, MiB - 7, MiB + 14));
    expect(await cluster.metric('tessera_shard_problems_total', { kind: 'corrupt' })).toBeGreaterThan(problems.corrupt);
    expect(await cluster.metric('tessera_shard_problems_total', { kind: 'missing' })).toBeGreaterThan(problems.missing);

    const repaired = await cluster.cli(['repair']);
    expect(repaired.code, repaired.stderr).toBe(0);
    const after = await cluster.cli(['scrub']);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).toMatch(/0 missing, 0 corrupt, 0 unreachable/);
    await expectWhole(s3, victim);
  });

  test('gateway SIGKILLed during a 200 MB PUT: previous version intact, HEAD/LIST agree, gc removes the orphans', async () => {
    const previous: Obj = { bucket: 'crash', key: 'big', seed: 'p1', size: 3 * MiB + 1 };
    const other: Obj = { bucket: 'crash', key: 'bystander', seed: 'p2', size: 2 * MiB };
    await put(s3, previous);
    await put(s3, other);
    remember(previous);
    remember(other);
    // Settle: nothing queued or in flight, so the files on the nodes are exactly what committed objects need.
    expect((await cluster.cli(['gc', '--min-age', '0'])).code).toBe(0);
    const needed = await fileSet(cluster);

    // Two uploads die with the gateway: a new version of an existing key, and a key that never existed.
    const settled = (p: Promise<void>): Promise<string> =>
      p.then(
        () => 'completed',
        () => 'failed',
      );
    const uploads = Promise.all([
      settled(put(s3, { bucket: 'crash', key: 'big', seed: 'p-new', size: 200_000_000 })),
      settled(put(s3, { bucket: 'crash', key: 'fresh', seed: 'p-fresh', size: 200_000_000 })),
    ]);
    // Kill once a good part of the new shards is on the nodes (6 per 1 MiB segment).
    for (;;) {
      if ((await cluster.nodeFiles()).length >= needed.length + 6 * 60) break;
      if ((await Promise.race([uploads, Promise.resolve('running')])) !== 'running') throw new Error('the PUTs finished before the gateway could be killed');
      await new Promise((r) => setTimeout(r, 50));
    }
    await cluster.gateway.kill();
    expect(await uploads).toEqual(['failed', 'failed']);
    await cluster.gateway.start();

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'crash', Key: 'big' }));
    expect(head.ContentLength).toBe(previous.size);
    const fresh = await s3.send(new HeadObjectCommand({ Bucket: 'crash', Key: 'fresh' })).then(
      () => 'present',
      (err: unknown) => httpStatusOf(err),
    );
    expect(fresh, 'an object whose PUT never completed must not exist').toBe(404);
    await expectWhole(s3, previous);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: 'crash' }));
    expect((list.Contents ?? []).map((c) => [c.Key, c.Size])).toEqual([
      ['big', previous.size],
      ['bystander', other.size],
    ]);

    expect((await cluster.nodeFiles()).length, 'the interrupted PUT left shards behind').toBeGreaterThan(needed.length);
    const gc = await cluster.cli(['gc', '--min-age', '0']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(await fileSet(cluster)).toEqual(needed);
    await expectWhole(s3, previous);
    await expectWhole(s3, other);
  });

  test('metadata database deleted while the gateway is stopped: recover-index restores every committed object', async () => {
    const withMeta: Obj = { bucket: 'meta', key: 'dir/with meta ü', seed: 'm1', size: MiB + 5, meta: { origin: 'e2e', 'note-x': 'kept across recovery' } };
    const tiny: Obj = { bucket: 'meta', key: 'tiny', seed: 'm2', size: 1 };
    const empty: Obj = { bucket: 'meta', key: 'empty', seed: 'm3', size: 0 };
    const replaced1: Obj = { bucket: 'meta', key: 'replaced', seed: 'm4-old', size: 2 * MiB };
    const replaced2: Obj = { bucket: 'meta', key: 'replaced', seed: 'm4-new', size: MiB + 100 };
    for (const o of [withMeta, tiny, empty, replaced1, replaced2]) {
      await put(s3, o);
      remember(o);
    }

    // Deleted, and its shards and record copies collected (gcGrace 0): recovery must not bring it back.
    const gone: Obj = { bucket: 'meta', key: 'deleted', seed: 'm5', size: MiB };
    await put(s3, gone);
    await s3.send(new DeleteObjectCommand({ Bucket: gone.bucket, Key: gone.key }));
    const gc = await cluster.cli(['gc', '--min-age', '0']);
    expect(gc.code, gc.stderr).toBe(0);

    expect(await cluster.gateway.stop(), 'graceful stop exits 0').toBe(0);
    await rm(`${cluster.dataDir}/meta`, { recursive: true, force: true });
    const recovered = await cluster.cli(['recover-index']);
    expect(recovered.code, recovered.stderr).toBe(0);
    await cluster.gateway.start();

    const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name).sort();
    expect(buckets).toEqual(['crash', 'damage', 'meta']);
    for (const bucket of ['crash', 'damage', 'meta']) {
      const want = [...committed.values()].filter((o) => o.bucket === bucket).map((o) => [o.key, o.size]).sort();
      const got = ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((c) => [c.Key, c.Size]).sort();
      expect(got, `listing of ${bucket}`).toEqual(want);
    }
    for (const o of committed.values()) await expectWhole(s3, o);
    const head = await s3.send(new HeadObjectCommand({ Bucket: withMeta.bucket, Key: withMeta.key }));
    expect(head.Metadata).toEqual(withMeta.meta);
  });
});
