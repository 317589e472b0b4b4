/** S3 versioning through the AWS JS SDK against a real gateway: the documented behaviour of every versioned operation. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3ServiceException,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { failure, sdkClient, startSdkGateway, type SdkGateway } from './helpers/sdk.js';

const OWNER = { accessKey: 'AKIDVERSIONS000001', secretKey: 'versions-secret-000000000000000000000001' };
const READER = { accessKey: 'AKIDVERSIONS000002', secretKey: 'versions-secret-000000000000000000000002' };

describe('S3 versioning (AWS JS SDK)', () => {
  let gw: SdkGateway;
  const made: S3Client[] = [];
  let s3: S3Client;
  let reader: S3Client;

  beforeAll(async () => {
    gw = await startSdkGateway('tessera-versions-', [
      { ...OWNER, buckets: { '*': 'admin' } },
      { ...READER, buckets: { '*': 'read' } },
    ]);
    s3 = sdkClient(gw.url, OWNER, made);
    reader = sdkClient(gw.url, READER, made);
  });
  afterAll(async () => {
    for (const c of made) c.destroy();
    await gw.close();
  });

  const text = async (out: { Body?: { transformToString(): Promise<string> } }) => (await out.Body?.transformToString()) ?? '';

  async function bucketWithVersioning(name: string, status: 'Enabled' | 'Suspended' = 'Enabled'): Promise<void> {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: status } }));
  }

  it('Get/PutBucketVersioning: empty until set, then Enabled or Suspended; MFA Delete is refused with 501', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vconf' }));
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status).toBeUndefined();
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'vconf', VersioningConfiguration: { Status: 'Enabled' } }));
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status).toBe('Enabled');
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'vconf', VersioningConfiguration: { Status: 'Suspended' } }));
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: 'vconf' }))).Status).toBe('Suspended');
    expect(await failure(s3.send(new PutBucketVersioningCommand({ Bucket: 'vconf', VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' } })))).toBe(
      '501 NotImplemented',
    );
    expect(await failure(reader.send(new PutBucketVersioningCommand({ Bucket: 'vconf', VersioningConfiguration: { Status: 'Enabled' } })))).toBe('403 AccessDenied');
    expect(await failure(s3.send(new GetBucketVersioningCommand({ Bucket: 'no-such-vbucket' })))).toBe('404 NoSuchBucket');
  });

  it('PUT, GET and HEAD by version id; every write is a new version', async () => {
    await bucketWithVersioning('vget');
    const v1 = await s3.send(new PutObjectCommand({ Bucket: 'vget', Key: 'k', Body: 'one' }));
    const v2 = await s3.send(new PutObjectCommand({ Bucket: 'vget', Key: 'k', Body: 'two' }));
    expect(v1.VersionId).toBeTruthy();
    expect(v2.VersionId).not.toBe(v1.VersionId);
    const latest = await s3.send(new GetObjectCommand({ Bucket: 'vget', Key: 'k' }));
    expect([await text(latest), latest.VersionId]).toEqual(['two', v2.VersionId]);
    const old = await s3.send(new GetObjectCommand({ Bucket: 'vget', Key: 'k', VersionId: v1.VersionId }));
    expect([await text(old), old.VersionId]).toEqual(['one', v1.VersionId]);
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'vget', Key: 'k', VersionId: v1.VersionId }))).ContentLength).toBe(3);
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: 'vget', Key: 'k', VersionId: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })))).toBe('404 NoSuchVersion');
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: 'vget', Key: 'k', VersionId: 'bad version' })))).toBe('400 InvalidArgument');
    // A reader with read access can read old versions (s3:GetObjectVersion).
    expect(await text(await reader.send(new GetObjectCommand({ Bucket: 'vget', Key: 'k', VersionId: v1.VersionId })))).toBe('one');
  });

  it('DELETE without version id writes a delete marker: GET is 404 with x-amz-delete-marker, the versions stay', async () => {
    await bucketWithVersioning('vdel');
    const v1 = await s3.send(new PutObjectCommand({ Bucket: 'vdel', Key: 'k', Body: 'kept' }));
    const del = await s3.send(new DeleteObjectCommand({ Bucket: 'vdel', Key: 'k' }));
    expect(del.DeleteMarker).toBe(true);
    expect(del.VersionId).toBeTruthy();
    try {
      await s3.send(new GetObjectCommand({ Bucket: 'vdel', Key: 'k' }));
      expect.unreachable();
    } catch (err) {
      const e = err as S3ServiceException;
      expect([e.$metadata.httpStatusCode, e.name, e.$response?.headers['x-amz-delete-marker'], e.$response?.headers['x-amz-version-id']]).toEqual([
        404,
        'NoSuchKey',
        'true',
        del.VersionId,
      ]);
    }
    // The marker itself by version id: 405 MethodNotAllowed (HEAD has no body to name the code).
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: 'vdel', Key: 'k', VersionId: del.VersionId })))).toBe('405 MethodNotAllowed');
    expect(await failure(s3.send(new HeadObjectCommand({ Bucket: 'vdel', Key: 'k', VersionId: del.VersionId })))).toBe('405 Unknown');
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'vdel' }))).KeyCount).toBe(0);
    expect(await text(await s3.send(new GetObjectCommand({ Bucket: 'vdel', Key: 'k', VersionId: v1.VersionId })))).toBe('kept');
    expect(await failure(s3.send(new DeleteBucketCommand({ Bucket: 'vdel' })))).toBe('409 BucketNotEmpty');
    // Deleting the marker undeletes the object.
    const undo = await s3.send(new DeleteObjectCommand({ Bucket: 'vdel', Key: 'k', VersionId: del.VersionId }));
    expect([undo.DeleteMarker, undo.VersionId]).toEqual([true, del.VersionId]);
    expect(await text(await s3.send(new GetObjectCommand({ Bucket: 'vdel', Key: 'k' })))).toBe('kept');
    // Deleting the last version for good, then the bucket.
    const gone = await s3.send(new DeleteObjectCommand({ Bucket: 'vdel', Key: 'k', VersionId: v1.VersionId }));
    expect([gone.DeleteMarker, gone.VersionId]).toEqual([undefined, v1.VersionId]);
    await s3.send(new DeleteBucketCommand({ Bucket: 'vdel' }));
  });

  it('ListObjectVersions: versions and markers, newest first, IsLatest, paging by key and version-id markers', async () => {
    await bucketWithVersioning('vlist');
    const put = async (key: string, body: string) => (await s3.send(new PutObjectCommand({ Bucket: 'vlist', Key: key, Body: body }))).VersionId!;
    const a1 = await put('a', '1');
    const a2 = await put('a', '22');
    const b1 = await put('dir/b', '333');
    const marker = (await s3.send(new DeleteObjectCommand({ Bucket: 'vlist', Key: 'a' }))).VersionId!;
    const all = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vlist' }));
    expect(all.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size])).toEqual([
      ['a', a2, false, 2],
      ['a', a1, false, 1],
      ['dir/b', b1, true, 3],
    ]);
    expect(all.DeleteMarkers?.map((m) => [m.Key, m.VersionId, m.IsLatest, m.Owner?.ID !== undefined])).toEqual([['a', marker, true, true]]);
    expect(all.Versions?.[0]?.ETag).toMatch(/^"[0-9a-f]{32}"$/);

    const seen: string[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vlist', MaxKeys: 1, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) seen.push(v.VersionId!);
      if (page.IsTruncated !== true) break;
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
    }
    expect(seen).toEqual([marker, a2, a1, b1]);

    const grouped = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vlist', Delimiter: '/' }));
    expect(grouped.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['dir/']);
    expect(grouped.Versions?.map((v) => v.Key)).toEqual(['a', 'a']);
    expect(await failure(s3.send(new ListObjectVersionsCommand({ Bucket: 'vlist', VersionIdMarker: a1 })))).toBe('400 InvalidArgument');
  });

  it('DeleteObjects with versions: removes named versions, writes markers for keys without one', async () => {
    await bucketWithVersioning('vbatch');
    const v1 = (await s3.send(new PutObjectCommand({ Bucket: 'vbatch', Key: 'x', Body: 'x1' }))).VersionId!;
    const v2 = (await s3.send(new PutObjectCommand({ Bucket: 'vbatch', Key: 'x', Body: 'x2' }))).VersionId!;
    await s3.send(new PutObjectCommand({ Bucket: 'vbatch', Key: 'y', Body: 'y1' }));
    const out = await s3.send(
      new DeleteObjectsCommand({ Bucket: 'vbatch', Delete: { Objects: [{ Key: 'x', VersionId: v2 }, { Key: 'y' }, { Key: 'x', VersionId: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }] } }),
    );
    const deleted = out.Deleted ?? [];
    expect(deleted.find((d) => d.VersionId === v2)).toMatchObject({ Key: 'x' });
    expect(deleted.find((d) => d.Key === 'y')).toMatchObject({ DeleteMarker: true });
    expect(deleted.find((d) => d.Key === 'y')?.DeleteMarkerVersionId).toBeTruthy();
    expect(out.Errors ?? []).toEqual([]);
    expect(await text(await s3.send(new GetObjectCommand({ Bucket: 'vbatch', Key: 'x' })))).toBe('x1');
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'vbatch', Key: 'x' }))).VersionId).toBe(v1);
    expect(await failure(s3.send(new HeadObjectCommand({ Bucket: 'vbatch', Key: 'y' })))).toBe('404 NotFound');
  });

  it('Suspended: writes are the null version, replacing only the earlier null version', async () => {
    await bucketWithVersioning('vsusp');
    const kept = (await s3.send(new PutObjectCommand({ Bucket: 'vsusp', Key: 'k', Body: 'versioned' }))).VersionId!;
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'vsusp', VersioningConfiguration: { Status: 'Suspended' } }));
    expect((await s3.send(new PutObjectCommand({ Bucket: 'vsusp', Key: 'k', Body: 'null-1' }))).VersionId).toBe('null');
    await s3.send(new PutObjectCommand({ Bucket: 'vsusp', Key: 'k', Body: 'null-2' }));
    const versions = (await s3.send(new ListObjectVersionsCommand({ Bucket: 'vsusp' }))).Versions ?? [];
    expect(versions.map((v) => [v.VersionId, v.IsLatest])).toEqual([
      ['null', true],
      [kept, false],
    ]);
    expect(await text(await s3.send(new GetObjectCommand({ Bucket: 'vsusp', Key: 'k', VersionId: 'null' })))).toBe('null-2');
    // The null version is named `null` on reads in a bucket with versioning; never-versioned buckets send no id.
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'vsusp', Key: 'k' }))).VersionId).toBe('null');
    await s3.send(new CreateBucketCommand({ Bucket: 'vnever' }));
    await s3.send(new PutObjectCommand({ Bucket: 'vnever', Key: 'k', Body: 'x' }));
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'vnever', Key: 'k' }))).VersionId).toBeUndefined();
    expect(await text(await s3.send(new GetObjectCommand({ Bucket: 'vsusp', Key: 'k', VersionId: kept })))).toBe('versioned');
  });

  it('CopyObject from a version restores it; tagging and attributes by version id; multipart completes into a new version', async () => {
    await bucketWithVersioning('vcopy');
    const v1 = (await s3.send(new PutObjectCommand({ Bucket: 'vcopy', Key: 'k', Body: 'first', Tagging: 'a=1' }))).VersionId!;
    await s3.send(new PutObjectCommand({ Bucket: 'vcopy', Key: 'k', Body: 'second' }));
    const restored = await s3.send(new CopyObjectCommand({ Bucket: 'vcopy', Key: 'k', CopySource: `vcopy/k?versionId=${encodeURIComponent(v1)}` }));
    expect(restored.CopySourceVersionId).toBe(v1);
    expect(restored.VersionId).toBeTruthy();
    expect(await text(await s3.send(new GetObjectCommand({ Bucket: 'vcopy', Key: 'k' })))).toBe('first');

    await s3.send(new PutObjectTaggingCommand({ Bucket: 'vcopy', Key: 'k', VersionId: v1, Tagging: { TagSet: [{ Key: 'epoch', Value: '7' }] } }));
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: 'vcopy', Key: 'k', VersionId: v1 }));
    expect([tags.VersionId, tags.TagSet]).toEqual([v1, [{ Key: 'epoch', Value: '7' }]]);
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket: 'vcopy', Key: 'k' }))).TagSet).toEqual([{ Key: 'a', Value: '1' }]);
    const attrs = await s3.send(new GetObjectAttributesCommand({ Bucket: 'vcopy', Key: 'k', VersionId: v1, ObjectAttributes: ['ObjectSize'] }));
    expect([attrs.VersionId, attrs.ObjectSize]).toEqual([v1, 5]);

    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'vcopy', Key: 'k' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: 'vcopy', Key: 'k', UploadId: upload.UploadId, PartNumber: 1, Body: 'third' }));
    const done = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: 'vcopy', Key: 'k', UploadId: upload.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
    );
    expect(done.VersionId).toBeTruthy();
    const versions = (await s3.send(new ListObjectVersionsCommand({ Bucket: 'vcopy' }))).Versions ?? [];
    expect(versions.map((v) => v.VersionId)).toEqual([done.VersionId, restored.VersionId, expect.any(String), v1]);
  });

  it('a bucket without versioning answers no version ids and keeps one object per key', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vnone' }));
    const put = await s3.send(new PutObjectCommand({ Bucket: 'vnone', Key: 'k', Body: 'a' }));
    expect(put.VersionId).toBeUndefined();
    await s3.send(new PutObjectCommand({ Bucket: 'vnone', Key: 'k', Body: 'b' }));
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'vnone' }));
    expect(versions.Versions?.map((v) => [v.VersionId, v.IsLatest])).toEqual([['null', true]]);
    expect((await s3.send(new DeleteObjectCommand({ Bucket: 'vnone', Key: 'k' }))).DeleteMarker).toBeUndefined();
    expect((await s3.send(new ListObjectVersionsCommand({ Bucket: 'vnone' }))).Versions).toBeUndefined();
  });
});
