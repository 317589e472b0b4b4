/**
 * `tessera status` and `tessera cost` against a real cluster (6 node processes, one gateway): the figures match
 * what was stored, a stopped node shows as down and every object as degraded, and the cost follows the prices.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putPattern, startCluster, type Cluster } from './helpers/cluster.js';

const GiB = 2 ** 30;
// Every object above cold.inlineMax: their redundancy follows from shards on all six nodes (inline objects are covered
// by test/inline-objects.test.ts).
const SIZES = { data: [3 * 2 ** 20, 500_000, 70_000], logs: [2 * 2 ** 20 + 7] };

interface StatusJson {
  nodes: Array<{ node: string; ok: boolean; storedBytes: number }>;
  durability: { objects: number; full: number; degraded: number; 'at-risk': number; lost: number };
  repairBacklog: number;
  tiers: { hot: { bytes: number; budgetBytes: number } };
  buckets: Array<{ bucket: string; objects: number; logicalBytes: number; storedBytes: number; hotBytes: number }>;
}
interface CostLineJson {
  bucket: string;
  logicalBytes: number;
  storedBytes: number;
  hotBytes: number;
  monthly: number;
  replication3x: number;
  allHot: number;
}
interface CostJson {
  currency: string;
  buckets: CostLineJson[];
  total: CostLineJson;
}

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ nodes: 6, cold: { k: 4, m: 2, segmentSize: '1MiB', chunkSize: '64KiB' } });
  const s3 = cluster.s3();
  for (const [bucket, sizes] of Object.entries(SIZES)) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const [i, size] of sizes.entries()) await putPattern(s3, bucket, `obj-${i}`, `${bucket}-${i}`, size);
  }
  const warm = await cluster.cli(['warm', 'data']);
  expect(warm.code).toBe(0);
  await cluster.gateway.stop();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe('tessera status', () => {
  it('reports every node up, every object at full redundancy, and per-bucket figures that match the data', async () => {
    const r = await cluster.cli(['status', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as StatusJson;
    expect(s.nodes.map((n) => [n.node, n.ok])).toEqual(cluster.nodes.map((_, i) => [`node${i + 1}`, true]));
    expect(s.durability).toEqual({ objects: 4, full: 4, degraded: 0, 'at-risk': 0, lost: 0 });
    expect(s.repairBacklog).toBe(0);
    const data = s.buckets.find((b) => b.bucket === 'data');
    const logs = s.buckets.find((b) => b.bucket === 'logs');
    expect([data?.objects, data?.logicalBytes]).toEqual([3, sum(SIZES.data)]);
    expect([logs?.objects, logs?.logicalBytes, logs?.hotBytes]).toEqual([1, sum(SIZES.logs), 0]);
    // Warmed: its ciphertext is in the hot tier, and that is all the hot tier holds.
    expect(data?.hotBytes).toBeGreaterThan(sum(SIZES.data));
    expect(s.tiers.hot.bytes).toBe(data?.hotBytes);
    // Shards: at least (k+m)/k of the data; what else the nodes hold is the small record copies.
    const stored = sum(s.buckets.map((b) => b.storedBytes));
    expect(stored).toBeGreaterThanOrEqual(((sum(SIZES.data) + sum(SIZES.logs)) * 6) / 4);
    expect(sum(s.nodes.map((n) => n.storedBytes))).toBe(stored);
    const onDisk = sum((await cluster.nodeFiles()).map((f) => f.size));
    expect(onDisk).toBeGreaterThanOrEqual(stored);
    expect(onDisk - stored).toBeLessThan(4 * 6 * 16 * 1024);
    const text = await cluster.cli(['status']);
    expect(text.stdout).toMatch(/nodes: 6 of 6 answering/);
    expect(text.stdout).toMatch(/4 objects: 4 at full redundancy, 0 degraded/);
  });

  it('a stopped node shows as down and every object as degraded; two stopped put them at risk (exit 2)', async () => {
    await cluster.nodes[0]?.stop();
    try {
      const one = JSON.parse((await cluster.cli(['status', '--json'])).stdout) as StatusJson;
      expect(one.nodes.filter((n) => !n.ok).map((n) => n.node)).toEqual(['node1']);
      expect(one.durability).toMatchObject({ full: 0, degraded: 4, 'at-risk': 0, lost: 0 });
      await cluster.nodes[1]?.stop();
      const two = await cluster.cli(['status', '--json']);
      expect(two.code).toBe(2);
      expect((JSON.parse(two.stdout) as StatusJson).durability).toMatchObject({ full: 0, degraded: 0, 'at-risk': 4, lost: 0 });
    } finally {
      await cluster.nodes[0]?.start();
      await cluster.nodes[1]?.start();
    }
  });
});

describe('tessera cost', () => {
  it('prices the bytes on nodes and in the hot tier, against 3x replication and all-hot', async () => {
    const r = await cluster.cli(['cost', '--json']);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout) as CostJson;
    expect(c.currency).toBe('USD');
    const status = JSON.parse((await cluster.cli(['status', '--json'])).stdout) as StatusJson;
    for (const b of status.buckets) {
      const line = c.buckets.find((l) => l.bucket === b.bucket);
      expect([line?.logicalBytes, line?.storedBytes, line?.hotBytes]).toEqual([b.logicalBytes, b.storedBytes, b.hotBytes]);
      // The documented example prices: nodes 0.004, hot tier 0.023 per GiB-month.
      expect(line?.monthly).toBeCloseTo((b.storedBytes / GiB) * 0.004 + (b.hotBytes / GiB) * 0.023, 12);
      expect(line?.replication3x).toBeCloseTo(((3 * b.logicalBytes) / GiB) * 0.004, 12);
      expect(line?.allHot).toBeCloseTo((b.logicalBytes / GiB) * 0.023, 12);
    }
    expect(c.total.logicalBytes).toBe(sum(Object.values(SIZES).flat()));
    expect(c.total.monthly).toBeCloseTo(sum(c.buckets.map((l) => l.monthly)), 12);
    const text = await cluster.cli(['cost']);
    expect(text.stdout).toMatch(/\(total\)/);
    expect(text.stdout).toMatch(/3x replicas/);
  });
});
