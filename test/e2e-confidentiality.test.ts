/**
 * Issue 3 acceptance, confidentiality: a random marker written in object bodies, keys, user metadata and tags (single
 * PUT and multipart) appears nowhere in the bytes on any node's disk, nor in the encrypted hot tier's directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digest, filesContaining, startCluster, type Cluster } from './helpers/cluster.js';
import { walkFiles } from './helpers/files.js';

const MiB = 1024 * 1024;

/** `size` bytes made of the marker and a counter, so every 1 KiB window of the body holds the marker. */
function markedBody(marker: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let at = 0;
  for (let i = 0; at < size; i++) at += out.write(`${marker}:${i};`, at);
  return out;
}

describe('no plaintext on the nodes or in the encrypted hot tier', () => {
  const marker = `tsrmark${randomBytes(12).toString('hex')}`;
  let cluster: Cluster;
  let s3: S3Client;
  const bucket = 'secrets';
  const bodies = new Map<string, Buffer>();

  beforeAll(async () => {
    // writeThrough: PUTs also fill the hot tier, so it holds every object at least once.
    cluster = await startCluster({ cold: { segmentSize: '1MiB', chunkSize: '64KiB' }, hot: { driver: 'fs', encrypt: true, writeThrough: true, promote: 'always' } });
    s3 = cluster.s3();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(async () => cluster?.stop());

  test('a marker in bodies, keys, metadata and tags is found in no file under any node dir or the hot dir', async () => {
    const single = { key: `plain/${marker}/object.txt`, body: markedBody(marker, 3 * MiB + 11) };
    const small = { key: marker, body: markedBody(marker, 100) };
    for (const o of [single, small]) {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: o.key, Body: o.body, Metadata: { note: marker }, Tagging: `tag=${marker}`, ContentType: `text/x-${marker}` }),
      );
      bodies.set(o.key, o.body);
    }
    const mpKey = `multipart/${marker}`;
    const parts = [markedBody(marker, 5 * MiB), markedBody(marker, 2 * MiB + 1)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: mpKey, Metadata: { note: marker } }));
    const etags: string[] = [];
    for (const [i, part] of parts.entries()) {
      etags.push((await s3.send(new UploadPartCommand({ Bucket: bucket, Key: mpKey, UploadId, PartNumber: i + 1, Body: part }))).ETag ?? '');
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: mpKey, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
    );
    bodies.set(mpKey, Buffer.concat(parts));

    // Cycle every object through the cold tier and back into the hot tier (promotion writes the hot blob anew).
    expect((await cluster.cli(['evict', bucket])).code).toBe(0);
    for (const [key, body] of bodies) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(await digest(res.Body as AsyncIterable<Uint8Array>)).toEqual(await digest([body]));
    }
    const warmed = await cluster.cli(['warm', bucket]);
    expect(warmed.code, warmed.stderr).toBe(0);

    const nodeDirs = cluster.nodes.map((n) => n.dataDir);
    const hotFiles = await walkFiles(cluster.hotDir);
    expect(hotFiles.length, 'the hot tier holds the objects').toBeGreaterThan(0);
    expect((await walkFiles(nodeDirs[0] ?? '')).length, 'node1 holds shards').toBeGreaterThan(0);
    expect(await filesContaining([...nodeDirs, cluster.hotDir], Buffer.from(marker))).toEqual([]);

    // The search itself works: the same marker in a plain file under the cluster dir is found.
    const control = path.join(cluster.dir, 'control');
    await mkdir(control);
    await writeFile(path.join(control, 'plain.bin'), Buffer.concat([randomBytes(1000), Buffer.from(marker), randomBytes(1000)]));
    expect(await filesContaining([control], Buffer.from(marker))).toEqual([path.join(control, 'plain.bin')]);
  });
});
