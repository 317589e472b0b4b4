/**
 * Protocol edges that real clients hit (issue 17's list): bodies without a length, non-ASCII metadata, the order of
 * tag sets, empty continuation tokens, v1's Prefix under encoding-type=url, copy ranges outside the source.
 * curl is the client where the SDKs cannot send the request at all (raw UTF-8 header bytes, chunked bodies).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import {
  CreateBucketCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, USERS, type Api } from './helpers/s3-api.js';

const run = promisify(execFile);
let api: Api;

beforeAll(async () => {
  api = await startApi();
  await api.client().send(new CreateBucketCommand({ Bucket: 'edges' }));
});
afterAll(async () => {
  await api?.close();
});

/** curl signing with SigV4 itself (it signs the header bytes exactly as it sends them). */
async function curl(args: string[], input?: Buffer): Promise<{ status: number; body: string }> {
  const { accessKey, secretKey } = USERS.admin;
  const full = ['-s', '-o', '-', '-w', '\n%{http_code}', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${accessKey}:${secretKey}`, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', ...args];
  const child = execFile('curl', full, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const done = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
  child.stdin?.end(input);
  const out = await done;
  const nl = out.lastIndexOf('\n');
  return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
}

async function bytesOf(key: string): Promise<Buffer> {
  const r = await api.client().send(new GetObjectCommand({ Bucket: 'edges', Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function errorOf(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof S3ServiceException) return { name: err.name, status: err.$metadata.httpStatusCode };
    throw err;
  }
  throw new Error('expected the request to fail');
}

describe('bodies without a length (Transfer-Encoding: chunked)', () => {
  it('curl -T - (chunked, no Content-Length) stores the whole body; the spool leaves nothing behind', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const r = await curl(['-T', '-', `${api.url}/edges/piped.bin`], body);
    expect(r.status, r.body).toBe(200);
    const back = await bytesOf('piped.bin');
    expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    const head = await api.client().send(new HeadObjectCommand({ Bucket: 'edges', Key: 'piped.bin' }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.ETag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    expect(await readdir(join(api.config.dataDir, 'spool'))).toEqual([]);
  });

  it('an empty chunked body is an empty object; UploadPart takes a chunked body too', async () => {
    expect((await curl(['-T', '-', `${api.url}/edges/empty.bin`], Buffer.alloc(0))).status).toBe(200);
    expect((await bytesOf('empty.bin')).length).toBe(0);
    const up = await api.client().send(new CreateMultipartUploadCommand({ Bucket: 'edges', Key: 'mp-chunked' }));
    const part = randomBytes(1_000_000);
    const r = await curl(['-T', '-', '-D', '-', `${api.url}/edges/mp-chunked?partNumber=1&uploadId=${up.UploadId}`], part);
    expect(r.status, r.body).toBe(200);
    expect(r.body.toLowerCase()).toContain(`etag: "${createHash('md5').update(part).digest('hex')}"`);
  });

  it('a chunked body over the single-PUT limit is refused with EntityTooLarge and not stored', async () => {
    const small = await startApi({ server: { maxSinglePutSize: '1MiB' } });
    try {
      await small.client().send(new CreateBucketCommand({ Bucket: 'edges' }));
      const { accessKey, secretKey } = USERS.admin;
      const { stdout } = await run('sh', ['-c', `head -c 3000000 /dev/zero | curl -s -w '\\n%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 --user ${accessKey}:${secretKey} -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T - ${small.url}/edges/big`]);
      expect(stdout).toContain('<Code>EntityTooLarge</Code>');
      expect(stdout.trim().endsWith('400')).toBe(true);
      expect((await errorOf(small.client().send(new HeadObjectCommand({ Bucket: 'edges', Key: 'big' })))).status).toBe(404);
      expect(await readdir(join(small.config.dataDir, 'spool'))).toEqual([]);
    } finally {
      await small.close();
    }
  });
});

describe('user metadata beyond ASCII', () => {
  it('UTF-8 header bytes sign and are stored as text; S3 returns them RFC 2047-encoded', async () => {
    const r = await curl(['-T', '-', '-H', 'x-amz-meta-title: café ünï 数据', `${api.url}/edges/meta.txt`], Buffer.from('x'));
    expect(r.status, r.body).toBe(200);
    const head = await api.client().send(new HeadObjectCommand({ Bucket: 'edges', Key: 'meta.txt' }));
    const value = head.Metadata?.title ?? '';
    expect(value).toBe(`=?UTF-8?B?${Buffer.from('café ünï 数据').toString('base64')}?=`);
  });

  it('an RFC 2047-encoded value from an SDK is decoded once stored (the round trip gives the same encoded words)', async () => {
    const encoded = `=?UTF-8?B?${Buffer.from('naïve').toString('base64')}?=`;
    await api.client().send(new PutObjectCommand({ Bucket: 'edges', Key: 'meta2.txt', Body: 'x', Metadata: { title: encoded, plain: 'ascii only' } }));
    const head = await api.client().send(new HeadObjectCommand({ Bucket: 'edges', Key: 'meta2.txt' }));
    expect(head.Metadata).toEqual({ title: encoded, plain: 'ascii only' });
    const stored = await api.gateway.meta.getObject('edges', 'meta2.txt');
    expect(stored?.headers.userMeta.title).toBe('naïve');
  });
});

describe('listing and tagging edges', () => {
  it('GetObjectTagging returns the tag set in key order', async () => {
    await api.client().send(new PutObjectCommand({ Bucket: 'edges', Key: 'tagged', Body: 'x', Tagging: 'zeta=1&alpha=2&mid=3' }));
    const r = await api.client().send(new GetObjectTaggingCommand({ Bucket: 'edges', Key: 'tagged' }));
    expect(r.TagSet?.map((t) => t.Key)).toEqual(['alpha', 'mid', 'zeta']);
  });

  it('an empty continuation token on ListObjectsV2 is the first page', async () => {
    const r = await api.client().send(new ListObjectsV2Command({ Bucket: 'edges', ContinuationToken: '', MaxKeys: 2 }));
    expect(r.KeyCount).toBe(2);
    expect(r.IsTruncated).toBe(true);
  });

  it('ListObjects v1 leaves the top-level Prefix as given under encoding-type=url (the keys are encoded)', async () => {
    await api.client().send(new PutObjectCommand({ Bucket: 'edges', Key: 'dir name/file', Body: 'x' }));
    const r = await api.client().send(new ListObjectsCommand({ Bucket: 'edges', Prefix: 'dir name/', EncodingType: 'url' }));
    expect(r.Prefix).toBe('dir name/');
    const v2 = await api.client().send(new ListObjectsV2Command({ Bucket: 'edges', Prefix: 'dir name/', EncodingType: 'url' }));
    expect(v2.Prefix).not.toBe('dir name/');
    expect(decodeURIComponent(v2.Prefix ?? '')).toBe('dir name/');
  });
});

describe('UploadPartCopy ranges', () => {
  it('a range reaching past the source is 400 InvalidRange; a malformed one InvalidArgument', async () => {
    await api.client().send(new PutObjectCommand({ Bucket: 'edges', Key: 'src', Body: Buffer.alloc(100) }));
    const up = await api.client().send(new CreateMultipartUploadCommand({ Bucket: 'edges', Key: 'dst' }));
    const copy = (range: string) => api.client().send(new UploadPartCopyCommand({ Bucket: 'edges', Key: 'dst', UploadId: up.UploadId, PartNumber: 1, CopySource: 'edges/src', CopySourceRange: range }));
    expect(await errorOf(copy('bytes=0-100'))).toEqual({ name: 'InvalidRange', status: 400 });
    expect(await errorOf(copy('bytes=50-10'))).toEqual({ name: 'InvalidRange', status: 400 });
    expect(await errorOf(copy('0-10'))).toEqual({ name: 'InvalidArgument', status: 400 });
    const ok = await copy('bytes=0-99');
    expect(ok.CopyPartResult?.ETag).toBeDefined();
  });
});

describe('GetObjectAttributes', () => {
  it('ETag, size, storage class and checksum of a single PUT; no parts', async () => {
    const body = Buffer.from('attributes of one object');
    const put = await api.client().send(new PutObjectCommand({ Bucket: 'edges', Key: 'attrs-1', Body: body, ChecksumAlgorithm: 'CRC32' }));
    const r = await api.client().send(new GetObjectAttributesCommand({ Bucket: 'edges', Key: 'attrs-1', ObjectAttributes: ['ETag', 'ObjectSize', 'StorageClass', 'Checksum', 'ObjectParts'] }));
    expect(r.ETag).toBe(put.ETag?.replace(/"/g, ''));
    expect(r.ObjectSize).toBe(body.length);
    expect(r.StorageClass).toBe('STANDARD');
    expect(r.Checksum?.ChecksumCRC32).toBe(put.ChecksumCRC32);
    expect(r.ObjectParts).toBeUndefined();
    expect(r.LastModified).toBeInstanceOf(Date);
  });

  it('the parts of a multipart object, paginated by max-parts and part-number-marker', async () => {
    const s3 = api.client();
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'edges', Key: 'attrs-mp', ChecksumAlgorithm: 'CRC32C' }));
    const sizes = [5 * 1024 * 1024, 5 * 1024 * 1024, 1234];
    const parts = [];
    for (const [i, size] of sizes.entries()) {
      const p = await s3.send(new UploadPartCommand({ Bucket: 'edges', Key: 'attrs-mp', UploadId: up.UploadId, PartNumber: i + 1, Body: Buffer.alloc(size, i), ChecksumAlgorithm: 'CRC32C' }));
      parts.push({ PartNumber: i + 1, ETag: p.ETag, ChecksumCRC32C: p.ChecksumCRC32C });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'edges', Key: 'attrs-mp', UploadId: up.UploadId, MultipartUpload: { Parts: parts } }));
    const first = await s3.send(new GetObjectAttributesCommand({ Bucket: 'edges', Key: 'attrs-mp', ObjectAttributes: ['ObjectParts', 'ObjectSize'], MaxParts: 2 }));
    expect(first.ObjectSize).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(first.ObjectParts?.TotalPartsCount).toBe(3);
    expect(first.ObjectParts?.IsTruncated).toBe(true);
    expect(first.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumCRC32C])).toEqual(parts.slice(0, 2).map((p, i) => [p.PartNumber, sizes[i], p.ChecksumCRC32C]));
    const rest = await s3.send(new GetObjectAttributesCommand({ Bucket: 'edges', Key: 'attrs-mp', ObjectAttributes: ['ObjectParts'], MaxParts: 2, PartNumberMarker: first.ObjectParts?.NextPartNumberMarker }));
    expect(rest.ObjectParts?.IsTruncated).toBe(false);
    expect(rest.ObjectParts?.Parts?.map((p) => p.PartNumber)).toEqual([3]);
  });

  it('a missing or unknown attribute name is InvalidArgument; a missing key NoSuchKey; conditions apply', async () => {
    const { raw } = await import('./helpers/s3-api.js');
    const none = await raw(api, { method: 'GET', path: '/edges/attrs-1?attributes' });
    expect(none.status).toBe(400);
    expect(none.text).toContain('<Code>InvalidArgument</Code>');
    const bad = await raw(api, { method: 'GET', path: '/edges/attrs-1?attributes', headers: { 'x-amz-object-attributes': 'ETag,Colour' } });
    expect(bad.status).toBe(400);
    expect((await errorOf(api.client().send(new GetObjectAttributesCommand({ Bucket: 'edges', Key: 'nope', ObjectAttributes: ['ETag'] })))).name).toBe('NoSuchKey');
    const cond = await raw(api, { method: 'GET', path: '/edges/attrs-1?attributes', headers: { 'x-amz-object-attributes': 'ETag', 'if-match': '"not-it"' } });
    expect(cond.status).toBe(412);
  });
});

describe('bucket tagging', () => {
  it('put, get (in key order), replace, delete; NoSuchTagSet when none; 50 at most', async () => {
    const { PutBucketTaggingCommand, GetBucketTaggingCommand, DeleteBucketTaggingCommand } = await import('@aws-sdk/client-s3');
    const s3 = api.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'tagged-bucket' }));
    expect((await errorOf(s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' })))).name).toBe('NoSuchTagSet');
    await s3.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: [{ Key: 'team', Value: 'vision' }, { Key: 'cost-center', Value: '42' }] } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).TagSet).toEqual([{ Key: 'cost-center', Value: '42' }, { Key: 'team', Value: 'vision' }]);
    await s3.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: [{ Key: 'only', Value: 'one' }] } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).TagSet).toEqual([{ Key: 'only', Value: 'one' }]);
    const many = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    expect((await errorOf(s3.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: many } })))).name).toBe('InvalidTag');
    await s3.send(new PutBucketTaggingCommand({ Bucket: 'tagged-bucket', Tagging: { TagSet: many.slice(0, 50) } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).TagSet).toHaveLength(50);
    // A reader may read the tags, not change them.
    const reader = api.client('reader');
    expect((await reader.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' }))).TagSet).toHaveLength(50);
    expect((await errorOf(reader.send(new DeleteBucketTaggingCommand({ Bucket: 'tagged-bucket' })))).name).toBe('AccessDenied');
    await s3.send(new DeleteBucketTaggingCommand({ Bucket: 'tagged-bucket' }));
    expect((await errorOf(s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged-bucket' })))).name).toBe('NoSuchTagSet');
    expect((await errorOf(s3.send(new GetBucketTaggingCommand({ Bucket: 'no-such-bucket-here' })))).name).toBe('NoSuchBucket');
  });

  it('tags go with the bucket: a new bucket of the same name has none', async () => {
    const { PutBucketTaggingCommand, GetBucketTaggingCommand, DeleteBucketCommand } = await import('@aws-sdk/client-s3');
    const s3 = api.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'short-lived' }));
    await s3.send(new PutBucketTaggingCommand({ Bucket: 'short-lived', Tagging: { TagSet: [{ Key: 'a', Value: 'b' }] } }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'short-lived' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'short-lived' }));
    expect((await errorOf(s3.send(new GetBucketTaggingCommand({ Bucket: 'short-lived' })))).name).toBe('NoSuchTagSet');
  });
});

describe('the same part uploaded twice at once', () => {
  it('the upload that finishes last is the part: Complete with its ETag succeeds and stores its bytes; the other ETag is InvalidPart', async () => {
    const client = api.client();
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: 'edges', Key: 'raced' }));
    const slowBody = randomBytes(5 * 1024 * 1024);
    const fastBody = randomBytes(5 * 1024 * 1024);
    let fastDone = false;
    // The slow upload starts first and holds back its last bytes until the fast one has been answered.
    async function* slowly(): AsyncGenerator<Buffer> {
      yield slowBody.subarray(0, 1024 * 1024);
      while (!fastDone) await sleep(20);
      await sleep(100);
      yield slowBody.subarray(1024 * 1024);
    }
    const slow = client.send(new UploadPartCommand({ Bucket: 'edges', Key: 'raced', UploadId, PartNumber: 1, Body: Readable.from(slowly()), ContentLength: slowBody.length }));
    await sleep(100);
    const fast = await client.send(new UploadPartCommand({ Bucket: 'edges', Key: 'raced', UploadId, PartNumber: 1, Body: fastBody }));
    fastDone = true;
    const last = await slow;
    expect(last.ETag).not.toBe(fast.ETag);
    const stale = await errorOf(client.send(new CompleteMultipartUploadCommand({ Bucket: 'edges', Key: 'raced', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: fast.ETag }] } })));
    expect(stale).toEqual({ name: 'InvalidPart', status: 400 });
    await client.send(new CompleteMultipartUploadCommand({ Bucket: 'edges', Key: 'raced', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: last.ETag }] } }));
    expect((await bytesOf('raced')).equals(slowBody)).toBe(true);
  });
});

describe('multipart checksums of both types', () => {
  const b64 = (n: number) => {
    const o = Buffer.alloc(4);
    o.writeUInt32BE(n >>> 0);
    return o.toString('base64');
  };
  it('FULL_OBJECT: the object carries the CRC of all its bytes (from the parts, combined); a wrong one at Complete is BadDigest', async () => {
    const s3 = api.client();
    const bodies = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024 + 3), randomBytes(777)];
    const whole = b64(crc32(Buffer.concat(bodies)));
    for (const wrong of [true, false]) {
      const key = wrong ? 'full-wrong' : 'full';
      const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'edges', Key: key, ChecksumAlgorithm: 'CRC32', ChecksumType: 'FULL_OBJECT' }));
      const parts = [];
      for (const [i, body] of bodies.entries()) {
        const p = await s3.send(new UploadPartCommand({ Bucket: 'edges', Key: key, UploadId: up.UploadId, PartNumber: i + 1, Body: body, ChecksumCRC32: b64(crc32(body)) }));
        parts.push({ PartNumber: i + 1, ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32 });
      }
      const complete = s3.send(
        new CompleteMultipartUploadCommand({ Bucket: 'edges', Key: key, UploadId: up.UploadId, MultipartUpload: { Parts: parts }, ChecksumCRC32: wrong ? b64(crc32(Buffer.from('nope'))) : whole, ChecksumType: 'FULL_OBJECT' }),
      );
      if (wrong) {
        expect((await errorOf(complete)).name).toBe('BadDigest');
        continue;
      }
      const done = await complete;
      expect([done.ChecksumCRC32, done.ChecksumType]).toEqual([whole, 'FULL_OBJECT']);
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'edges', Key: key, ChecksumMode: 'ENABLED' }));
      expect([head.ChecksumCRC32, head.ChecksumType]).toEqual([whole, 'FULL_OBJECT']);
    }
  });

  it('COMPOSITE stays the checksum of the part checksums with the -N suffix; FULL_OBJECT with SHA256 is refused', async () => {
    const s3 = api.client();
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'edges', Key: 'composite', ChecksumAlgorithm: 'CRC32', ChecksumType: 'COMPOSITE' }));
    const body = randomBytes(1000);
    const p = await s3.send(new UploadPartCommand({ Bucket: 'edges', Key: 'composite', UploadId: up.UploadId, PartNumber: 1, Body: body, ChecksumCRC32: b64(crc32(body)) }));
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'edges', Key: 'composite', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32 }] } }));
    expect(done.ChecksumCRC32).toBe(`${b64(crc32(Buffer.from(p.ChecksumCRC32!, 'base64')))}-1`);
    expect(done.ChecksumType).toBe('COMPOSITE');
    expect((await errorOf(s3.send(new CreateMultipartUploadCommand({ Bucket: 'edges', Key: 'x', ChecksumAlgorithm: 'SHA256', ChecksumType: 'FULL_OBJECT' })))).name).toBe('InvalidRequest');
  });
});
