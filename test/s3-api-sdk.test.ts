import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type Api } from './helpers/s3-api.js';

let api: Api;
let s3: S3Client;

beforeAll(async () => {
  api = await startApi();
  s3 = api.client();
  await s3.send(new CreateBucketCommand({ Bucket: 'sdk' }));
});
afterAll(async () => {
  await api?.close();
});

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(S3ServiceException);
    return (err as S3ServiceException).name;
  }
  throw new Error('expected the request to fail');
}

const md5hex = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('buckets via the SDK', () => {
  it('create, head, location, versioning, list, delete', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'tmp-bucket' }));
    await s3.send(new HeadBucketCommand({ Bucket: 'tmp-bucket' }));
    const loc = await s3.send(new GetBucketLocationCommand({ Bucket: 'tmp-bucket' }));
    expect(loc.LocationConstraint ?? '').toBe('');
    const ver = await s3.send(new GetBucketVersioningCommand({ Bucket: 'tmp-bucket' }));
    expect(ver.Status).toBeUndefined();
    const list = await s3.send(new ListBucketsCommand({}));
    expect(list.Buckets?.map((b) => b.Name)).toEqual(expect.arrayContaining(['sdk', 'tmp-bucket']));
    // The owner creating its bucket again: S3's us-east-1 answer is a success that leaves the bucket as it was.
    await s3.send(new PutObjectCommand({ Bucket: 'tmp-bucket', Key: 'stays', Body: 'x' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'tmp-bucket' }));
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'tmp-bucket' }))).KeyCount).toBe(1);
    await s3.send(new DeleteObjectCommand({ Bucket: 'tmp-bucket', Key: 'stays' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'tmp-bucket' }));
    expect(await errorName(s3.send(new HeadBucketCommand({ Bucket: 'tmp-bucket' })))).toBe('NotFound');
  });
});

describe('objects via the SDK (default flexible checksums)', () => {
  it('put/get/head round-trip with metadata, content headers and tags', async () => {
    const body = randomBytes(300_000);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'sdk',
        Key: 'dir/file one.bin',
        Body: body,
        ContentType: 'application/x-test',
        CacheControl: 'max-age=5',
        Metadata: { color: 'blue' },
        Tagging: 'a=1&b=2',
      }),
    );
    expect(put.ETag).toBe(`"${md5hex(body)}"`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'dir/file one.bin' }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.ContentType).toBe('application/x-test');
    expect(head.CacheControl).toBe('max-age=5');
    expect(head.Metadata).toEqual({ color: 'blue' });
    expect(head.TagCount).toBe(2);
    expect(head.AcceptRanges).toBe('bytes');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'dir/file one.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    const ranged = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'dir/file one.bin', Range: 'bytes=100-199' }));
    expect(ranged.ContentRange).toBe(`bytes 100-199/${body.length}`);
    expect(Buffer.from(await ranged.Body!.transformToByteArray()).equals(body.subarray(100, 200))).toBe(true);
  });

  it('checksum mode returns the stored checksum on full reads only', async () => {
    const body = Buffer.from('checksummed content');
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'ck', Body: body, ChecksumAlgorithm: 'SHA256' }));
    const full = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'ck', ChecksumMode: 'ENABLED' }));
    expect(full.ChecksumSHA256).toBe(createHash('sha256').update(body).digest('base64'));
    await full.Body!.transformToByteArray();
    const part = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'ck', ChecksumMode: 'ENABLED', Range: 'bytes=0-3' }));
    expect(part.ChecksumSHA256).toBeUndefined();
    await part.Body!.transformToByteArray();
  });

  it('missing keys and buckets', async () => {
    expect(await errorName(s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'nope' })))).toBe('NoSuchKey');
    expect(await errorName(s3.send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'nope/' })))).toBe('NotFound');
    expect(await errorName(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' })))).toBe('NoSuchBucket');
  });

  it('s3fs-style zero-byte directory markers', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'folder/', Body: '' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'folder/' }));
    expect(head.ContentLength).toBe(0);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'folder/' }));
    expect((await got.Body!.transformToByteArray()).length).toBe(0);
  });

  it('copy with COPY and REPLACE directives', async () => {
    const body = Buffer.from('copy me');
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'src', Body: body, Metadata: { m: 'src' }, ContentType: 'text/plain' }));
    const copied = await s3.send(new CopyObjectCommand({ Bucket: 'sdk', Key: 'dst 1', CopySource: 'sdk/src' }));
    expect(copied.CopyObjectResult?.ETag).toBe(`"${md5hex(body)}"`);
    const head1 = await s3.send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'dst 1' }));
    expect(head1.Metadata).toEqual({ m: 'src' });
    expect(head1.ContentType).toBe('text/plain');
    await s3.send(new CopyObjectCommand({ Bucket: 'sdk', Key: 'dst2', CopySource: '/sdk/dst%201', MetadataDirective: 'REPLACE', Metadata: { m: 'new' } }));
    const head2 = await s3.send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'dst2' }));
    expect(head2.Metadata).toEqual({ m: 'new' });
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'dst2' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).toString()).toBe('copy me');
    expect(await errorName(s3.send(new CopyObjectCommand({ Bucket: 'sdk', Key: 'src', CopySource: 'sdk/src' })))).toBe('InvalidRequest');
    expect(await errorName(s3.send(new CopyObjectCommand({ Bucket: 'sdk', Key: 'x', CopySource: 'sdk/src', CopySourceIfMatch: '"nope"' })))).toBe(
      'PreconditionFailed',
    );
  });

  it('tagging get/put/delete', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'tagged', Body: 'x' }));
    await s3.send(new PutObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged', Tagging: { TagSet: [{ Key: 'k&<', Value: 'v 1' }] } }));
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged' }));
    expect(tags.TagSet).toEqual([{ Key: 'k&<', Value: 'v 1' }]);
    await s3.send(new DeleteObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged' }));
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged' }))).TagSet).toEqual([]);
    const tooMany = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    expect(await errorName(s3.send(new PutObjectTaggingCommand({ Bucket: 'sdk', Key: 'tagged', Tagging: { TagSet: tooMany } })))).toBe('InvalidTag');
  });

  it('conditional writes', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'cond', Body: 'one' }));
    expect(await errorName(s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'cond', Body: 'two', IfNoneMatch: '*' })))).toBe('PreconditionFailed');
    expect(await errorName(s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'cond', Body: 'two', IfMatch: '"0000"' })))).toBe('PreconditionFailed');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'cond' }));
    expect(await got.Body!.transformToString()).toBe('one');
  });

  it('If-Match on a missing key is 404 NoSuchKey (S3: no current version), for PutObject and CompleteMultipartUpload, and creates nothing', async () => {
    const status = async (p: Promise<unknown>): Promise<[string, number | undefined]> => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(S3ServiceException);
      return [(err as S3ServiceException).name, (err as S3ServiceException).$metadata.httpStatusCode];
    };
    expect(await status(s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'cond-missing', Body: 'x', IfMatch: '"0000"' })))).toEqual(['NoSuchKey', 404]);
    expect(await status(s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'cond-missing', Body: 'x', IfMatch: '*' })))).toEqual(['NoSuchKey', 404]);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'sdk', Key: 'cond-missing' }));
    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'sdk', Key: 'cond-missing', UploadId, PartNumber: 1, Body: 'only part' }));
    const complete = (ifMatch: string) =>
      s3.send(
        new CompleteMultipartUploadCommand({ Bucket: 'sdk', Key: 'cond-missing', UploadId, IfMatch: ifMatch, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }] } }),
      );
    expect(await status(complete('"0000"'))).toEqual(['NoSuchKey', 404]);
    // A list naming a part that is not stored is InvalidPart before any condition is looked at.
    const badList = s3.send(
      new CompleteMultipartUploadCommand({ Bucket: 'sdk', Key: 'cond-missing', UploadId, IfMatch: '"0000"', MultipartUpload: { Parts: [{ PartNumber: 2, ETag: p1.ETag }] } }),
    );
    expect(await status(badList)).toEqual(['InvalidPart', 400]);
    expect(await status(s3.send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'cond-missing' })))).toEqual(['NotFound', 404]);
    // The upload survives a failed condition and completes without one.
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'sdk', Key: 'cond-missing', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }] } }));
    expect(done.ETag).toMatch(/-1"$/);
  });
});

describe('streaming uploads (aws-chunked with trailing checksums)', () => {
  it('PutObject with a stream body and lib-storage Upload (multipart) round-trip', async () => {
    const body = randomBytes(200_000);
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'streamed', Body: Readable.from([body.subarray(0, 70_000), body.subarray(70_000)]), ContentLength: body.length }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'streamed' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);

    const big = randomBytes(6 * 1024 * 1024 + 123);
    const upload = new Upload({ client: s3, params: { Bucket: 'sdk', Key: 'lib-storage', Body: Readable.from([big]) }, partSize: 5 * 1024 * 1024, queueSize: 2 });
    await upload.done();
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'sdk', Key: 'lib-storage' }));
    expect(head.ContentLength).toBe(big.length);
    expect(head.ETag).toMatch(/-2"$/);
    const back = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'lib-storage' }));
    expect(createHash('sha256').update(await back.Body!.transformToByteArray()).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
  });
});

describe('listing via the SDK', () => {
  beforeAll(async () => {
    for (const key of ['l/a', 'l/b/1', 'l/b/2', 'l/c', 'l/d e', 'l/f+g']) await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: key, Body: key }));
  });
  it('v2 pages with continuation tokens and delimiters', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'sdk', Prefix: 'l/', Delimiter: '/', MaxKeys: 2, ContinuationToken: token }));
      seen.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!));
      expect(page.KeyCount).toBeLessThanOrEqual(2);
      token = page.NextContinuationToken;
      if (page.IsTruncated) expect(token).toBeDefined();
    } while (token);
    expect(seen.sort()).toEqual(['l/a', 'l/b/', 'l/c', 'l/d e', 'l/f+g']);
    const after = await s3.send(new ListObjectsV2Command({ Bucket: 'sdk', Prefix: 'l/', StartAfter: 'l/c' }));
    expect(after.Contents?.map((c) => c.Key)).toEqual(['l/d e', 'l/f+g']);
  });
  it('v1 with marker and NextMarker', async () => {
    const page = await s3.send(new ListObjectsCommand({ Bucket: 'sdk', Prefix: 'l/', Delimiter: '/', MaxKeys: 2 }));
    expect(page.IsTruncated).toBe(true);
    expect(page.NextMarker).toBeDefined();
    const rest = await s3.send(new ListObjectsCommand({ Bucket: 'sdk', Prefix: 'l/', Delimiter: '/', Marker: page.NextMarker }));
    expect([...(rest.Contents ?? []).map((c) => c.Key), ...(rest.CommonPrefixes ?? []).map((p) => p.Prefix)].sort()).toEqual(['l/c', 'l/d e', 'l/f+g']);
  });
  it('delete objects (batch) then list is empty', async () => {
    const res = await s3.send(new DeleteObjectsCommand({ Bucket: 'sdk', Delete: { Objects: ['l/a', 'l/b/1', 'l/b/2', 'l/c', 'l/d e', 'l/f+g', 'l/missing'].map((Key) => ({ Key })) } }));
    expect(res.Deleted).toHaveLength(7);
    expect(res.Errors ?? []).toEqual([]);
    const after = await s3.send(new ListObjectsV2Command({ Bucket: 'sdk', Prefix: 'l/' }));
    expect(after.KeyCount).toBe(0);
    await s3.send(new DeleteObjectCommand({ Bucket: 'sdk', Key: 'never-existed' }));
  });
});

describe('multipart via the SDK', () => {
  const MiB = 1024 * 1024;
  it('create, upload (incl. copy), list, complete, get by part', async () => {
    const part1 = randomBytes(5 * MiB);
    const tail = randomBytes(1000);
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'copy-src', Body: tail }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'sdk', Key: 'mp', ContentType: 'application/x-mp' }));
    expect(UploadId).toBeDefined();
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'sdk' }));
    expect(uploads.Uploads?.map((u) => u.UploadId)).toContain(UploadId);
    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'sdk', Key: 'mp', UploadId, PartNumber: 1, Body: part1 }));
    const p2 = await s3.send(new UploadPartCopyCommand({ Bucket: 'sdk', Key: 'mp', UploadId, PartNumber: 2, CopySource: 'sdk/copy-src', CopySourceRange: 'bytes=0-999' }));
    const parts = await s3.send(new ListPartsCommand({ Bucket: 'sdk', Key: 'mp', UploadId }));
    expect(parts.Parts?.map((p) => [p.PartNumber, p.Size])).toEqual([
      [1, 5 * MiB],
      [2, 1000],
    ]);
    expect(
      await errorName(
        s3.send(new CompleteMultipartUploadCommand({ Bucket: 'sdk', Key: 'mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"deadbeef"' }] } })),
      ),
    ).toBe('InvalidPart');
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sdk',
        Key: 'mp',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag },
            { PartNumber: 2, ETag: p2.CopyPartResult?.ETag },
          ],
        },
      }),
    );
    expect(done.ETag).toMatch(/-2"$/);
    const whole = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'mp' }));
    expect(Buffer.from(await whole.Body!.transformToByteArray()).equals(Buffer.concat([part1, tail]))).toBe(true);
    const second = await s3.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'mp', PartNumber: 2 }));
    expect(second.PartsCount).toBe(2);
    expect(second.ContentRange).toBe(`bytes ${5 * MiB}-${5 * MiB + 999}/${5 * MiB + 1000}`);
    expect(Buffer.from(await second.Body!.transformToByteArray()).equals(tail)).toBe(true);
  });

  it('abort, and small non-last parts are EntityTooSmall', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'sdk', Key: 'mp-small' }));
    const a = await s3.send(new UploadPartCommand({ Bucket: 'sdk', Key: 'mp-small', UploadId, PartNumber: 1, Body: 'tiny' }));
    const b = await s3.send(new UploadPartCommand({ Bucket: 'sdk', Key: 'mp-small', UploadId, PartNumber: 2, Body: 'tiny' }));
    expect(
      await errorName(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: 'sdk',
            Key: 'mp-small',
            UploadId,
            MultipartUpload: {
              Parts: [
                { PartNumber: 1, ETag: a.ETag },
                { PartNumber: 2, ETag: b.ETag },
              ],
            },
          }),
        ),
      ),
    ).toBe('EntityTooSmall');
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'sdk', Key: 'mp-small', UploadId }));
    expect(await errorName(s3.send(new ListPartsCommand({ Bucket: 'sdk', Key: 'mp-small', UploadId })))).toBe('NoSuchUpload');
  });
});

describe('authorization via the SDK', () => {
  it('reader can read but not write; writer only sees its bucket', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'writable' }));
    await s3.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'public-ish', Body: 'r' }));
    const reader = api.client('reader');
    expect(await (await reader.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'public-ish' }))).Body!.transformToString()).toBe('r');
    expect(await errorName(reader.send(new PutObjectCommand({ Bucket: 'sdk', Key: 'x', Body: 'x' })))).toBe('AccessDenied');
    expect(await errorName(reader.send(new CreateBucketCommand({ Bucket: 'reader-bucket' })))).toBe('AccessDenied');
    const writer = api.client('writer');
    await writer.send(new PutObjectCommand({ Bucket: 'writable', Key: 'w', Body: 'w' }));
    expect(await errorName(writer.send(new GetObjectCommand({ Bucket: 'sdk', Key: 'public-ish' })))).toBe('AccessDenied');
    expect(await errorName(writer.send(new CopyObjectCommand({ Bucket: 'writable', Key: 'c', CopySource: 'sdk/public-ish' })))).toBe('AccessDenied');
    expect(await errorName(writer.send(new DeleteBucketCommand({ Bucket: 'writable' })))).toBe('AccessDenied');
    const listed = await writer.send(new ListBucketsCommand({}));
    expect(listed.Buckets?.map((b) => b.Name)).toEqual(['writable']);
  });
});
