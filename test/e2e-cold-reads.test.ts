/**
 * Issue 3 acceptance, read path at scale: the default 32 MiB segments over six `tessera node` processes with two of
 * them stopped, and 32 concurrent GETs of one cold object rebuilding it once (single-flight).
 */
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectExact, getDigest, patternDigest, putPattern, startCluster, type Cluster } from './helpers/cluster.js';

const MiB = 1024 * 1024;

describe('cold reads with the default 32 MiB segments', () => {
  const segmentSize = 32 * MiB;
  let cluster: Cluster;
  let s3: S3Client;
  const bucket = 'default-segments';
  const objects = [
    { key: 'one-segment', seed: 'd1', size: segmentSize },
    { key: 'segment-plus-one', seed: 'd2', size: segmentSize + 1 },
    { key: 'three-and-a-bit', seed: 'd3', size: 3 * segmentSize + 12_345 },
  ];

  beforeAll(async () => {
    cluster = await startCluster({ hot: { driver: 'fs', encrypt: true, promote: 'never' } });
    s3 = cluster.s3();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const o of objects) await putPattern(s3, bucket, o.key, o.seed, o.size);
  });
  afterAll(async () => cluster?.stop());

  test('evicted objects read back exactly with two nodes stopped', async () => {
    const evicted = await cluster.cli(['evict', bucket]);
    expect(evicted.code, evicted.stderr).toBe(0);
    await cluster.nodes[0]?.stop();
    await cluster.nodes[3]?.stop();
    for (const o of objects) await expectExact(s3, bucket, o, segmentSize);
  });
});

describe('concurrent cold reads', () => {
  let cluster: Cluster;
  let s3: S3Client;
  const bucket = 'flock';
  const obj = { key: 'shared', seed: 'c1', size: 24 * MiB };

  beforeAll(async () => {
    cluster = await startCluster({ cold: { segmentSize: '1MiB', chunkSize: '64KiB' }, hot: { driver: 'fs', encrypt: true, promote: 'always' } });
    s3 = cluster.s3();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await putPattern(s3, bucket, obj.key, obj.seed, obj.size);
    const evicted = await cluster.cli(['evict', bucket]);
    expect(evicted.code, evicted.stderr).toBe(0);
  });
  afterAll(async () => cluster?.stop());

  test('32 concurrent GETs of one cold object cause exactly one reconstruction', async () => {
    const rebuilt = await cluster.metric('tessera_cold_reconstructions_total');
    const coalesced = await cluster.metric('tessera_cold_coalesced_reads_total');
    const want = await patternDigest(obj.seed, 0, obj.size);
    const results = await Promise.allSettled(Array.from({ length: 32 }, () => getDigest(s3, bucket, obj.key)));
    expect(cluster.gateway.crashes).toEqual([]);
    for (const r of results) expect(r.status === 'fulfilled' ? r.value : String(r.reason)).toEqual(want);
    expect(await cluster.metric('tessera_cold_reconstructions_total')).toBe(rebuilt + 1);
    expect(await cluster.metric('tessera_cold_coalesced_reads_total')).toBeGreaterThan(coalesced);
  });
});
