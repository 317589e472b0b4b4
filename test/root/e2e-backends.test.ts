/**
 * Issue 4 acceptance: real backends. Two throwaway Ceph RGW instances (scripts/rgw-up.sh via test/helpers/rgw.ts):
 *   RGW-A holds the hot tier (hot.driver s3) and the bucket of the s3 node "rgw-a";
 *   RGW-B holds the bucket of the s3 node "rgw-b".
 * Four `tessera node` processes complete the 4+2 layout, so every segment has one shard on each of the six nodes.
 * "Stopping" an RGW-bucket node is stopping the RGW that serves it (rgw-b = RGW-B, a real outage, not a simulation);
 * stopping RGW-A takes down the hot tier and node rgw-a together, which must still leave reads working (m = 2).
 */
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getDigest, pattern, patternDigest, s3Client, startCluster, type Cluster } from '../helpers/cluster.js';
import { startRgw, type RgwInstance } from '../helpers/rgw.js';

const SIZE = 300_000_000;
const SEED = 'rgw-300MB';
const HOT_BUCKET = 'tessera-hot';

/** Every object in a bucket: [key, body] (downloads whole objects: test-sized data only). */
async function* bucketContents(s3: S3Client, bucket: string): AsyncGenerator<[string, Buffer]> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
      yield [o.Key ?? '', Buffer.from(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())];
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

const t0 = Date.now();
/** Progress on stderr: this file drives several minutes of I/O, and a timeout should say where it stood. */
function step(what: string): void {
  process.stderr.write(`[e2e-backends +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}\n`);
}

describe('hot tier on Ceph RGW, 4+2 over two RGW-bucket nodes and four http nodes', () => {
  let rgwA: RgwInstance;
  let rgwB: RgwInstance;
  let cluster: Cluster;
  let s3: S3Client;
  const marker = `tsrmark${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    step('starting two RGW instances');
    [rgwA, rgwB] = await Promise.all([startRgw(), startRgw()]);
    const rgwClient = (r: RgwInstance): S3Client => s3Client(r.endpoint, { accessKeyId: r.accessKey, secretAccessKey: r.secretKey });
    const [a, b] = [rgwClient(rgwA), rgwClient(rgwB)];
    for (const bucket of [HOT_BUCKET, 'shards-a']) await a.send(new CreateBucketCommand({ Bucket: bucket }));
    await b.send(new CreateBucketCommand({ Bucket: 'shards-b' }));
    a.destroy();
    b.destroy();

    const conn = (r: RgwInstance, bucket: string, prefix: string): Record<string, unknown> => ({
      endpoint: r.endpoint,
      region: 'us-east-1',
      bucket,
      prefix,
      forcePathStyle: true,
      credentials: { accessKeyId: r.accessKey, secretAccessKey: r.secretKey },
      // A stopped RGW refuses connections: fail over quickly instead of retrying for long.
      timeout: '20s',
      maxAttempts: 2,
    });
    step('starting the cluster');
    cluster = await startCluster({
      nodes: 4,
      extraNodes: [
        { name: 'rgw-a', kind: 's3', ...conn(rgwA, 'shards-a', 'node-a/') },
        { name: 'rgw-b', kind: 's3', ...conn(rgwB, 'shards-b', 'node-b/') },
      ],
      // full-read: ranged cold reads stay cold; a whole cold read promotes the object back to the hot tier.
      hot: { driver: 's3', encrypt: true, promote: 'full-read', budget: '2GiB', s3: conn(rgwA, HOT_BUCKET, 'hot/') },
    });
    s3 = cluster.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'data' }));
  });
  afterAll(async () => {
    await cluster?.stop();
    await Promise.allSettled([rgwA?.stop(), rgwB?.stop()]);
  });

  test('300 MB: exact hot, exact cold with one RGW node and one http node down, exact with RGW-A gone; no plaintext in RGW', async () => {
    const want = await patternDigest(SEED, 0, SIZE);
    const ranges = [
      { offset: 0, length: 1 },
      { offset: SIZE - 1, length: 1 },
      { offset: 32 * 2 ** 20 - 1000, length: 2000 },
      { offset: 123_456_789, length: 40 * 2 ** 20 },
    ];
    step('PUT 300 MB');
    await s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'big.bin', Body: pattern(SEED, 0, SIZE), ContentLength: SIZE }));
    await s3.send(new PutObjectCommand({ Bucket: 'data', Key: `marked/${marker}`, Body: Buffer.from(`${marker} `.repeat(5000)), Metadata: { note: marker } }));

    // Hot: `tessera warm` promotes into RGW-A; the GET is served from there.
    step('warm');
    const warmed = await cluster.cli(['warm', 'data']);
    expect(warmed.code, warmed.stderr).toBe(0);
    step('GET hot');
    const hits = await cluster.metric('tessera_hot_hits_total');
    expect(await getDigest(s3, 'data', 'big.bin')).toEqual(want);
    expect(await cluster.metric('tessera_hot_hits_total')).toBe(hits + 1);

    // The hot bucket (and the shard buckets) hold ciphertext only.
    step('scanning RGW buckets for the marker');
    const rgwA_ = s3Client(rgwA.endpoint, { accessKeyId: rgwA.accessKey, secretAccessKey: rgwA.secretKey });
    const rgwB_ = s3Client(rgwB.endpoint, { accessKeyId: rgwB.accessKey, secretAccessKey: rgwB.secretKey });
    try {
      for (const [client, bucket] of [[rgwA_, HOT_BUCKET], [rgwA_, 'shards-a'], [rgwB_, 'shards-b']] as const) {
        let objects = 0;
        const leaks: string[] = [];
        for await (const [key, body] of bucketContents(client, bucket)) {
          objects++;
          if (key.includes(marker) || body.includes(marker)) leaks.push(key);
        }
        expect(objects, `${bucket} holds objects`).toBeGreaterThan(0);
        expect(leaks, `plaintext marker in ${bucket}`).toEqual([]);
      }
    } finally {
      rgwA_.destroy();
      rgwB_.destroy();
    }

    // Cold, with RGW-B (node rgw-b) stopped and one http node stopped.
    step('evict, stop RGW-B and one http node');
    const evicted = await cluster.cli(['evict', 'data']);
    expect(evicted.code, evicted.stderr).toBe(0);
    await rgwB.stop();
    const httpNode = cluster.nodes[1];
    await httpNode?.stop();
    step('cold GETs');
    const rebuilt = await cluster.metric('tessera_cold_reconstructions_total');
    for (const r of ranges) expect(await getDigest(s3, 'data', 'big.bin', r), `bytes ${r.offset}+${r.length}`).toEqual(await patternDigest(SEED, r.offset, r.length));
    expect(await getDigest(s3, 'data', 'big.bin')).toEqual(want);
    expect(await cluster.metric('tessera_cold_reconstructions_total')).toBeGreaterThanOrEqual(rebuilt + ranges.length + 1);

    // RGW-A gone too (hot tier + node rgw-a): the http node is back, so 4 of 6 shards remain for every segment.
    step('http node back, stopping RGW-A');
    await httpNode?.start();
    await rgwA.stop();
    step('GETs without RGW-A');
    expect(await getDigest(s3, 'data', 'big.bin')).toEqual(want);
    expect(await getDigest(s3, 'data', 'big.bin', ranges[3])).toEqual(await patternDigest(SEED, ranges[3]?.offset ?? 0, ranges[3]?.length ?? 0));
    step('done');
  }, 300_000);
});
