import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDigest, patternDigest, putPattern, startCluster, type Cluster } from './helpers/cluster.js';

describe('many concurrent writers over http nodes', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 6 });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  // Each PUT streams to all six nodes in lock-step. With a capped socket pool per node, PUTs holding sockets on some
  // nodes while queued on others deadlocked (seen at 32 concurrent 4 KiB PUTs with a cap of 16).
  it('64 concurrent PUTs all complete and read back exactly', async () => {
    const s3 = cluster.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'many' }));
    const keys = Array.from({ length: 64 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((k, i) => putPattern(s3, 'many', k, k, 4096 + i)));
    for (const [i, k] of keys.entries()) expect(await getDigest(s3, 'many', k)).toEqual(await patternDigest(k, 0, 4096 + i));
  }, 300_000);
});
