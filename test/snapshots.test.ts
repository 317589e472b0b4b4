/**
 * Dataset snapshots end to end: created through the admin HTTP endpoint, read by the AWS JS SDK as a read-only bucket,
 * holding their versions, verified against an independently computed Merkle root, diffed and exported; and the plaintext
 * SHA-256 computed at PUT, as clients see it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { errorCode, raw, startApi, type Api } from './helpers/s3-api.js';
import { failure } from './helpers/sdk.js';
import { shardFile } from './helpers/durability.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

/** The documented root (docs/SNAPSHOTS.md), implemented again here from the text, not from the code. */
function expectedRoot(entries: Array<{ key: string; versionId: string; size: number; etag: string; sha256: string }>): string {
  let level: Buffer[] = entries.map((e) => sha256(Buffer.concat([Buffer.from([0]), Buffer.from(JSON.stringify([e.key, e.versionId, e.size, e.etag, e.sha256]))])));
  if (level.length === 0) return sha256('').toString('hex');
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? sha256(Buffer.concat([Buffer.from([1]), level[i]!, level[i + 1]!])) : level[i]!);
    level = next;
  }
  return level[0]!.toString('hex');
}

describe('dataset snapshots', () => {
  let api: Api;
  let s3: S3Client;
  const bodies = new Map<string, Buffer>();

  beforeAll(async () => {
    api = await startApi();
    s3 = api.client('admin');
    await s3.send(new CreateBucketCommand({ Bucket: 'data' }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'data', VersioningConfiguration: { Status: 'Enabled' } }));
    for (const key of ['train/shard-000.tar', 'train/shard-001.tar', 'train/labels/l.json', 'eval/e.tar']) {
      const body = randomBytes(key.length * 9_000);
      bodies.set(key, body);
      await s3.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: body }));
    }
    // A multipart object: its SHA-256 cannot come from the parts, the snapshot computes it.
    const big = randomBytes(6 * 1024 * 1024);
    bodies.set('train/shard-002.tar', big);
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'data', Key: 'train/shard-002.tar' }));
    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'data', Key: 'train/shard-002.tar', UploadId: up.UploadId, PartNumber: 1, Body: big.subarray(0, 5 * 1024 * 1024) }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: 'data', Key: 'train/shard-002.tar', UploadId: up.UploadId, PartNumber: 2, Body: big.subarray(5 * 1024 * 1024) }));
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'data',
        Key: 'train/shard-002.tar',
        UploadId: up.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
      }),
    );
  });
  afterAll(async () => {
    await api.close();
  });

  const admin = (method: string, path: string, body?: unknown) =>
    raw(api, { method, path, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });

  it('a multipart object gets its SHA-256 right after completion, in the background', async () => {
    const want = sha256(bodies.get('train/shard-002.tar')!).toString('hex');
    let got: string | string[] | undefined;
    for (let i = 0; i < 600 && got === undefined; i++) {
      got = (await raw(api, { method: 'HEAD', path: '/data/train/shard-002.tar' })).headers['x-tessera-content-sha256'];
      if (got === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toBe(want);
  });

  it('PUT computes the plaintext SHA-256: a header on HEAD, and the S3 checksum under checksum mode', async () => {
    const body = bodies.get('eval/e.tar')!;
    const rawHead = await raw(api, { method: 'HEAD', path: '/data/eval/e.tar' });
    expect(rawHead.headers['x-tessera-content-sha256']).toBe(sha256(body).toString('hex'));
    // Stored without a checksum of the client's (a plain signed PUT): checksum mode answers the SHA-256.
    const plain = randomBytes(30_000);
    expect((await raw(api, { method: 'PUT', path: '/data/eval/plain.bin', body: plain })).status).toBe(200);
    const got = await raw(api, { method: 'GET', path: '/data/eval/plain.bin', headers: { 'x-amz-checksum-mode': 'ENABLED' } });
    expect([got.headers['x-amz-checksum-sha256'], got.headers['x-amz-checksum-type']]).toEqual([sha256(plain).toString('base64'), 'FULL_OBJECT']);
    expect(got.body.equals(plain)).toBe(true);
    bodies.set('eval/plain.bin', plain);
    // The SDK, which sends a CRC32 of its own by default, gets that one back, and the SHA-256 header as well.
    const sdk = await s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'eval/e.tar', ChecksumMode: 'ENABLED' }));
    expect(Buffer.from(await sdk.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(sdk.ChecksumCRC32 ?? sdk.ChecksumCRC64NVME).toBeDefined();
  });

  it('creates through the admin endpoint, is read as a read-only bucket, and holds its versions', async () => {
    // Versioning is required: a snapshot holds versions.
    await s3.send(new CreateBucketCommand({ Bucket: 'plain' }));
    const refused = await admin('POST', '/_tessera/snapshots', { bucket: 'plain', name: 'nope' });
    expect([refused.status, errorCode(refused)]).toEqual([409, 'InvalidBucketState']);
    expect(errorCode(await admin('POST', '/_tessera/snapshots', { bucket: 'data', name: 'Bad_Name' }))).toBe('InvalidSnapshotName');
    expect((await raw(api, { method: 'POST', path: '/_tessera/snapshots', user: 'reader', body: JSON.stringify({ bucket: 'data', name: 'x-reader' }) })).status).toBe(403);

    const created = await admin('POST', '/_tessera/snapshots', { bucket: 'data', prefix: 'train/', name: 'ds-v1' });
    expect(created.status).toBe(201);
    const summary = JSON.parse(created.text) as { objects: number; bytes: number; merkleRoot: string };
    const keys = [...bodies.keys()].filter((k) => k.startsWith('train/')).sort();
    expect(summary.objects).toBe(keys.length);
    expect(summary.bytes).toBe(keys.reduce((n, k) => n + bodies.get(k)!.length, 0));
    expect((await admin('POST', '/_tessera/snapshots', { bucket: 'data', prefix: 'train/', name: 'ds-v1' })).status).toBe(409);

    // The data changes under it: overwritten, deleted, added.
    await s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'train/shard-000.tar', Body: 'changed' }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'data', Key: 'train/shard-001.tar' }));
    await s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'train/shard-003.tar', Body: 'new' }));

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'ds-v1' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(keys);
    const byDir = await s3.send(new ListObjectsV2Command({ Bucket: 'ds-v1', Prefix: 'train/', Delimiter: '/', MaxKeys: 2 }));
    expect([byDir.CommonPrefixes?.map((p) => p.Prefix), byDir.Contents?.map((c) => c.Key), byDir.IsTruncated]).toEqual([['train/labels/'], ['train/shard-000.tar'], true]);
    const rest = await s3.send(new ListObjectsV2Command({ Bucket: 'ds-v1', Prefix: 'train/', Delimiter: '/', ContinuationToken: byDir.NextContinuationToken }));
    expect(rest.Contents?.map((c) => c.Key)).toEqual(['train/shard-001.tar', 'train/shard-002.tar']);
    for (const key of keys) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'ds-v1', Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(bodies.get(key)!), key).toBe(true);
    }
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: 'ds-v1', Key: 'train/shard-003.tar' })))).toBe('404 NoSuchKey');
    expect(await failure(s3.send(new PutObjectCommand({ Bucket: 'ds-v1', Key: 'x', Body: 'x' })))).toBe('403 AccessDenied');
    expect(await failure(s3.send(new CreateBucketCommand({ Bucket: 'ds-v1' })))).toBe('409 BucketAlreadyExists');

    // Its versions are held: a permanent delete is refused until the snapshot goes.
    const held = (await api.gateway.service.snapshots.entriesPage('ds-v1', { prefix: 'train/shard-000.tar', limit: 1 }))[0]!;
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket: 'data', Key: held.key, VersionId: held.versionId })))).toBe('403 AccessDenied');

    const exported = await admin('GET', '/_tessera/snapshots/ds-v1?export');
    const manifest = JSON.parse(exported.text) as { merkleRoot: string; entries: Array<{ key: string; versionId: string; size: number; etag: string; sha256: string }> };
    expect(manifest.entries.map((e) => [e.key, e.sha256])).toEqual(keys.map((k) => [k, sha256(bodies.get(k)!).toString('hex')]));
    expect(manifest.merkleRoot).toBe(expectedRoot(manifest.entries));
    expect(summary.merkleRoot).toBe(manifest.merkleRoot);

    const second = await admin('POST', '/_tessera/snapshots', { bucket: 'data', prefix: 'train/', name: 'ds-v2' });
    expect(second.status).toBe(201);
    const diff = await api.gateway.service.snapshots.diff('ds-v1', 'ds-v2');
    expect([diff.added.map((e) => e.key), diff.removed.map((e) => e.key), diff.changed.map((c) => c.key)]).toEqual([['train/shard-003.tar'], ['train/shard-001.tar'], ['train/shard-000.tar']]);

    expect((await admin('DELETE', '/_tessera/snapshots/ds-v2')).status).toBe(204);
    expect((await admin('DELETE', '/_tessera/snapshots/ds-v1')).status).toBe(204);
    expect(errorCode(await admin('GET', '/_tessera/snapshots/ds-v1'))).toBe('NoSuchSnapshot');
    await s3.send(new DeleteObjectCommand({ Bucket: 'data', Key: held.key, VersionId: held.versionId }));
  });

  it('verify re-reads everything: a damaged shard is found and queued for repair, a wrong hash or root never passes', async () => {
    const snaps = api.gateway.service.snapshots;
    await snaps.create('data', 'eval/', 'ds-eval');
    const ok = await snaps.verify('ds-eval');
    expect(ok).toMatchObject({ ok: true, rootMatches: true, objects: 2, damagedShards: 0, mismatched: [] });

    // One shard of the object, damaged on its node: still readable from the others, reported, healed by repair.
    const record = (await api.gateway.meta.getObject('data', 'eval/e.tar'))!;
    const file = shardFile(api.config, record.manifest.segments[0]!.shards[0]!);
    const bytes = await readFile(file);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0xff;
    await writeFile(file, bytes);
    const damaged = await snaps.verify('ds-eval');
    expect([damaged.ok, damaged.damagedShards]).toEqual([true, 1]);
    await api.gateway.repair.drain();
    expect((await snaps.verify('ds-eval')).damagedShards).toBe(0);

    // The manifest itself altered (its hash, as if the store were tampered with): the object mismatches, the root too.
    const meta = api.gateway.meta as unknown as { db?: { prepare(sql: string): { run(...a: unknown[]): unknown } } };
    meta.db!.prepare("UPDATE snapshot_entries SET sha256 = ? WHERE snapshot = 'ds-eval'").run('00'.repeat(32));
    const tampered = await snaps.verify('ds-eval');
    expect([tampered.ok, tampered.mismatched, tampered.rootMatches]).toEqual([false, ['eval/e.tar', 'eval/plain.bin'], false]);
  });
});
