/**
 * Issue 3 acceptance, read path: objects written through the S3 API, evicted from the hot tier, read back exactly
 * (whole and ranged) from six `tessera node` processes with 4+2 coding while nodes are stopped; a clear 503 past m
 * lost nodes; 32 concurrent cold GETs rebuild the object once.
 */
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectExact, getDigest, httpStatusOf, patternDigest, putPattern, startCluster, type Cluster } from './helpers/cluster.js';

const MiB = 1024 * 1024;

async function expectServiceUnavailable(s3: S3Client, bucket: string, key: string): Promise<void> {
  const err = await getDigest(s3, bucket, key).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err, `GET ${key} with three nodes down must fail`).toBeDefined();
  expect({ name: err?.name, status: httpStatusOf(err) }).toEqual({ name: 'ServiceUnavailable', status: 503 });
}

describe('cold reads over six node processes, 4+2, 1 MiB segments', () => {
  const segmentSize = MiB;
  let cluster: Cluster;
  let s3: S3Client;
  const bucket = 'cold';
  const objects = [
    { key: 'empty', seed: 'e0', size: 0 },
    { key: 'one-byte', seed: 'e1', size: 1 },
    { key: 'one-segment', seed: 'e2', size: segmentSize },
    { key: 'segment-plus-one', seed: 'e3', size: segmentSize + 1 },
    { key: 'big/200MB', seed: 'e4', size: 200_000_000 },
  ];

  beforeAll(async () => {
    // promote: never keeps every read a cold read (a promoted object would be served hot afterwards).
    cluster = await startCluster({ cold: { segmentSize: '1MiB', chunkSize: '64KiB' }, hot: { driver: 'fs', encrypt: true, promote: 'never' } });
    s3 = cluster.s3();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const o of objects) await putPattern(s3, bucket, o.key, o.seed, o.size);
  });
  afterAll(async () => cluster?.stop());

  test('after eviction, with two nodes stopped, whole and ranged GETs are exact; three stopped: 503; restarted: exact again', async () => {
    const evicted = await cluster.cli(['evict', bucket]);
    expect(evicted.code, evicted.stderr).toBe(0);
    for (const o of objects) expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: o.key }))).ContentLength).toBe(o.size);

    const [, n2, n3, , n5] = cluster.nodes;
    await n2?.stop();
    await n5?.kill();
    const hotHits = await cluster.metric('tessera_hot_hits_total');
    const rebuilt = await cluster.metric('tessera_cold_reconstructions_total');
    for (const o of objects) await expectExact(s3, bucket, o, segmentSize);
    expect(await cluster.metric('tessera_hot_hits_total'), 'no read may come from the hot tier').toBe(hotHits);
    expect(await cluster.metric('tessera_cold_reconstructions_total')).toBeGreaterThan(rebuilt);

    // A third node dies while a big GET streams: the response must fail, never end looking complete.
    const big = objects[objects.length - 1];
    if (!big) throw new Error('no big object');
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: big.key }));
    const body = res.Body as AsyncIterable<Uint8Array>;
    let received = 0;
    const outcome = await (async () => {
      for await (const chunk of body) {
        received += chunk.length;
        if (received >= 8 * MiB && n3?.running) await n3.kill();
      }
      return 'ended';
    })().catch((err: Error) => `failed: ${err.name}`);
    expect(n3?.running).toBe(false);
    expect({ outcome: outcome.startsWith('failed') ? 'failed' : outcome, short: received < big.size }).toEqual({ outcome: 'failed', short: true });

    // Coded objects need k shards: 503. The one stored inline (1 byte) is read from its record: no node is asked.
    for (const o of objects.filter((x) => x.size > 64 * 1024)) await expectServiceUnavailable(s3, bucket, o.key);
    for (const o of objects.filter((x) => x.size > 0 && x.size <= 64 * 1024)) await expectExact(s3, bucket, o, segmentSize);

    // Back up. The gateway may keep refusing them until its circuit breakers cool down; wait that out here (this
    // step is about recovery at all; the next test demands recovery at once). Circuits only move on traffic: a small
    // PUT asks every node's breaker, which lets cooled-down nodes take a trial request.
    await Promise.all([n2?.start(), n3?.start(), n5?.start()]);
    await s3.send(new CreateBucketCommand({ Bucket: 'probe' }));
    let probes = 0;
    await until(async () => {
      await putPattern(s3, 'probe', `p${probes++}`, 'probe', 1).catch(() => undefined);
      return (await healthyNodes(cluster)) === 6;
    }, 'every node circuit closed again');
    for (const o of objects) await expectExact(s3, bucket, o, segmentSize);
  });

  test('three nodes stopped until the gateway gives up on them, restarted: the next GETs are exact at once', async () => {
    const down = [cluster.nodes[0], cluster.nodes[3], cluster.nodes[5]];
    expect(await healthyNodes(cluster), 'all circuits closed before the outage').toBe(6);
    await Promise.all(down.map((n) => n?.stop()));
    // Fail reads until the gateway has marked all three unhealthy (circuit open: it stops asking them).
    for (let attempt = 0; attempt < 20 && (await healthyNodes(cluster)) > 3; attempt++) await expectServiceUnavailable(s3, bucket, 'big/200MB');
    expect(await healthyNodes(cluster)).toBe(3);

    await Promise.all(down.map((n) => n?.start()));
    for (const o of objects.filter((x) => x.size > 0 && x.size < 10 * MiB)) {
      expect(await getDigest(s3, bucket, o.key), `${o.key} right after the nodes came back`).toEqual(await patternDigest(o.seed, 0, o.size));
    }
  });
});

/** Nodes the gateway currently considers reachable (tessera_node_healthy gauge). */
async function healthyNodes(cluster: Cluster): Promise<number> {
  return cluster.metric('tessera_node_healthy');
}

/** Polls `check` until it holds (at most 30 s; each attempt is a real request, so the loop stays short). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for: ${what}`);
}
