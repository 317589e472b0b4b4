/** S3 Object Lock through the AWS JS SDK against a real gateway: configuration, retention, legal hold, enforcement. */
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
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { failure, sdkClient, startSdkGateway, type SdkGateway } from './helpers/sdk.js';

const ADMIN = { accessKey: 'AKIDOBJECTLOCK00001', secretKey: 'objlock-secret-00000000000000000000000001' };
const WRITER = { accessKey: 'AKIDOBJECTLOCK00002', secretKey: 'objlock-secret-00000000000000000000000002' };
const DAY = 86_400_000;

describe('S3 Object Lock (AWS JS SDK)', () => {
  let gw: SdkGateway;
  const made: S3Client[] = [];
  let s3: S3Client;
  let writer: S3Client;

  beforeAll(async () => {
    gw = await startSdkGateway('tessera-objlock-', [
      { ...ADMIN, buckets: { '*': 'admin' } },
      { ...WRITER, buckets: { '*': 'write' } },
    ]);
    s3 = sdkClient(gw.url, ADMIN, made);
    writer = sdkClient(gw.url, WRITER, made);
  });
  afterAll(async () => {
    for (const c of made) c.destroy();
    await gw.close();
  });

  const text = async (out: { Body?: { transformToString(): Promise<string> } }) => (await out.Body?.transformToString()) ?? '';
  const lockedBucket = async (name: string) => s3.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: true }));
  const inDays = (days: number) => new Date(Date.now() + days * DAY);

  it('CreateBucket with Object Lock enables it and versioning, which then cannot be suspended; other buckets have none', async () => {
    await lockedBucket('lk-conf');
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: 'lk-conf' }))).Status).toBe('Enabled');
    const conf = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: 'lk-conf' }));
    expect(conf.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: 'Enabled' });
    expect(await failure(s3.send(new PutBucketVersioningCommand({ Bucket: 'lk-conf', VersioningConfiguration: { Status: 'Suspended' } })))).toBe('409 InvalidBucketState');

    await s3.send(new CreateBucketCommand({ Bucket: 'lk-plain' }));
    expect(await failure(s3.send(new GetObjectLockConfigurationCommand({ Bucket: 'lk-plain' })))).toBe('404 ObjectLockConfigurationNotFoundError');
    const rule = { ObjectLockEnabled: 'Enabled' as const, Rule: { DefaultRetention: { Mode: 'GOVERNANCE' as const, Days: 1 } } };
    // An existing bucket can have Object Lock turned on once versioning is Enabled.
    expect(await failure(s3.send(new PutObjectLockConfigurationCommand({ Bucket: 'lk-plain', ObjectLockConfiguration: rule })))).toBe('409 InvalidBucketState');
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'lk-plain', VersioningConfiguration: { Status: 'Enabled' } }));
    const badDays = { ObjectLockEnabled: 'Enabled' as const, Rule: { DefaultRetention: { Mode: 'GOVERNANCE' as const, Days: 0 } } };
    expect(await failure(s3.send(new PutObjectLockConfigurationCommand({ Bucket: 'lk-plain', ObjectLockConfiguration: badDays })))).toBe('400 InvalidRetentionPeriod');
    const both = { ObjectLockEnabled: 'Enabled' as const, Rule: { DefaultRetention: { Mode: 'GOVERNANCE' as const, Days: 1, Years: 1 } } };
    expect(await failure(s3.send(new PutObjectLockConfigurationCommand({ Bucket: 'lk-plain', ObjectLockConfiguration: both })))).toBe('400 MalformedXML');
    await s3.send(new PutObjectLockConfigurationCommand({ Bucket: 'lk-plain', ObjectLockConfiguration: rule }));
    expect((await s3.send(new GetObjectLockConfigurationCommand({ Bucket: 'lk-plain' }))).ObjectLockConfiguration).toEqual(rule);
    // Lock settings on a write to a bucket without Object Lock are refused, never ignored.
    await s3.send(new CreateBucketCommand({ Bucket: 'lk-none' }));
    expect(await failure(s3.send(new PutObjectCommand({ Bucket: 'lk-none', Key: 'k', Body: 'x', ObjectLockLegalHoldStatus: 'ON' })))).toBe('400 InvalidRequest');
    expect(await failure(s3.send(new PutObjectRetentionCommand({ Bucket: 'lk-none', Key: 'k', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: inDays(1) } })))).toBe(
      '400 InvalidRequest',
    );
  });

  it('the default retention applies to new versions; explicit headers win; bad values are InvalidArgument', async () => {
    await lockedBucket('lk-default');
    await s3.send(
      new PutObjectLockConfigurationCommand({ Bucket: 'lk-default', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 2 } } } }),
    );
    const before = Date.now();
    const put = await s3.send(new PutObjectCommand({ Bucket: 'lk-default', Key: 'd', Body: 'default' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'lk-default', Key: 'd' }));
    expect(head.ObjectLockMode).toBe('GOVERNANCE');
    expect(head.ObjectLockRetainUntilDate!.getTime()).toBeGreaterThanOrEqual(before + 2 * DAY - 1000);
    expect(head.ObjectLockRetainUntilDate!.getTime()).toBeLessThanOrEqual(Date.now() + 2 * DAY + 1000);
    const retention = await s3.send(new GetObjectRetentionCommand({ Bucket: 'lk-default', Key: 'd', VersionId: put.VersionId }));
    expect(retention.Retention?.Mode).toBe('GOVERNANCE');

    const until = new Date(Math.floor(inDays(5).getTime() / 1000) * 1000);
    await s3.send(new PutObjectCommand({ Bucket: 'lk-default', Key: 'e', Body: 'explicit', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }));
    const explicit = await s3.send(new GetObjectRetentionCommand({ Bucket: 'lk-default', Key: 'e' }));
    expect([explicit.Retention?.Mode, explicit.Retention?.RetainUntilDate?.getTime()]).toEqual(['COMPLIANCE', until.getTime()]);
    expect(await failure(s3.send(new GetObjectLegalHoldCommand({ Bucket: 'lk-default', Key: 'e' })))).toBe('404 NoSuchObjectLockConfiguration');

    expect(await failure(s3.send(new PutObjectCommand({ Bucket: 'lk-default', Key: 'x', Body: 'x', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() - DAY) })))).toBe(
      '400 InvalidArgument',
    );
    expect(await failure(s3.send(new PutObjectCommand({ Bucket: 'lk-default', Key: 'x', Body: 'x', ObjectLockMode: 'COMPLIANCE' })))).toBe('400 InvalidArgument');
  });

  it('COMPLIANCE: no version delete by anyone (API, DeleteObjects, bucket delete), only extension; a plain delete hides it behind a marker', async () => {
    await lockedBucket('lk-comp');
    const put = await s3.send(new PutObjectCommand({ Bucket: 'lk-comp', Key: 'c', Body: 'kept bytes', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: inDays(1) }));
    const v = put.VersionId!;
    const bypass = { BypassGovernanceRetention: true };
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket: 'lk-comp', Key: 'c', VersionId: v, ...bypass })))).toBe('403 AccessDenied');
    const multi = await s3.send(new DeleteObjectsCommand({ Bucket: 'lk-comp', Delete: { Objects: [{ Key: 'c', VersionId: v }] }, ...bypass }));
    expect(multi.Errors?.map((e) => [e.Key, e.Code])).toEqual([['c', 'AccessDenied']]);
    const marker = await s3.send(new DeleteObjectCommand({ Bucket: 'lk-comp', Key: 'c' }));
    expect(marker.DeleteMarker).toBe(true);
    expect(await text(await s3.send(new GetObjectCommand({ Bucket: 'lk-comp', Key: 'c', VersionId: v })))).toBe('kept bytes');
    // Shortening or changing the mode is refused even with bypass; extending is allowed.
    const shorter = { Bucket: 'lk-comp', Key: 'c', VersionId: v, Retention: { Mode: 'COMPLIANCE' as const, RetainUntilDate: new Date(Date.now() + DAY / 2) } };
    expect(await failure(s3.send(new PutObjectRetentionCommand({ ...shorter, ...bypass })))).toBe('403 AccessDenied');
    expect(await failure(s3.send(new PutObjectRetentionCommand({ ...shorter, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: inDays(3) }, ...bypass })))).toBe('403 AccessDenied');
    const later = new Date(Math.floor(inDays(3).getTime() / 1000) * 1000);
    await s3.send(new PutObjectRetentionCommand({ ...shorter, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: later } }));
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'lk-comp', Key: 'c', VersionId: v }))).ObjectLockRetainUntilDate?.getTime()).toBe(later.getTime());
    // The marker can go; the locked version keeps the bucket from being deleted.
    await s3.send(new DeleteObjectCommand({ Bucket: 'lk-comp', Key: 'c', VersionId: marker.VersionId }));
    expect(await failure(s3.send(new DeleteBucketCommand({ Bucket: 'lk-comp' })))).toBe('409 BucketNotEmpty');
    expect(await text(await s3.send(new GetObjectCommand({ Bucket: 'lk-comp', Key: 'c' })))).toBe('kept bytes');
  });

  it('GOVERNANCE: only a requester allowed s3:BypassGovernanceRetention, asking for the bypass, deletes or shortens it', async () => {
    await lockedBucket('lk-gov');
    const put = await s3.send(new PutObjectCommand({ Bucket: 'lk-gov', Key: 'g', Body: 'governed', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: inDays(1) }));
    const target = { Bucket: 'lk-gov', Key: 'g', VersionId: put.VersionId! };
    expect(await failure(s3.send(new DeleteObjectCommand(target)))).toBe('403 AccessDenied');
    // A writer may delete versions but not bypass governance.
    expect(await failure(writer.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true })))).toBe('403 AccessDenied');
    expect(await failure(writer.send(new PutObjectRetentionCommand({ ...target, Retention: {}, BypassGovernanceRetention: true })))).toBe('403 AccessDenied');
    // The admin may shorten it (to no retention at all) with the bypass, and then delete without it.
    await s3.send(new PutObjectRetentionCommand({ ...target, Retention: {}, BypassGovernanceRetention: true }));
    expect(await failure(s3.send(new GetObjectRetentionCommand(target)))).toBe('404 NoSuchObjectLockConfiguration');
    const second = await s3.send(new PutObjectCommand({ Bucket: 'lk-gov', Key: 'g2', Body: 'x', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: inDays(1) }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'lk-gov', Key: 'g2', VersionId: second.VersionId, BypassGovernanceRetention: true }));
    expect(await failure(s3.send(new HeadObjectCommand({ Bucket: 'lk-gov', Key: 'g2', VersionId: second.VersionId })))).toBe('404 NotFound');
    await s3.send(new DeleteObjectCommand(target));
  });

  it('a legal hold protects a version whatever its retention until it is turned OFF', async () => {
    await lockedBucket('lk-hold');
    const put = await s3.send(new PutObjectCommand({ Bucket: 'lk-hold', Key: 'h', Body: 'held', ObjectLockLegalHoldStatus: 'ON' }));
    const target = { Bucket: 'lk-hold', Key: 'h', VersionId: put.VersionId! };
    expect((await s3.send(new HeadObjectCommand(target))).ObjectLockLegalHoldStatus).toBe('ON');
    expect(await failure(s3.send(new DeleteObjectCommand({ ...target, BypassGovernanceRetention: true })))).toBe('403 AccessDenied');
    await s3.send(new PutObjectLegalHoldCommand({ ...target, LegalHold: { Status: 'OFF' } }));
    expect((await s3.send(new GetObjectLegalHoldCommand(target))).LegalHold?.Status).toBe('OFF');
    await s3.send(new DeleteObjectCommand(target));
    // Set after the write, on the latest version.
    await s3.send(new PutObjectCommand({ Bucket: 'lk-hold', Key: 'h2', Body: 'later' }));
    await s3.send(new PutObjectLegalHoldCommand({ Bucket: 'lk-hold', Key: 'h2', LegalHold: { Status: 'ON' } }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'lk-hold', Key: 'h2' }));
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket: 'lk-hold', Key: 'h2', VersionId: head.VersionId })))).toBe('403 AccessDenied');
  });

  it('multipart uploads and copies take the lock their request asks for, never the copy source one', async () => {
    await lockedBucket('lk-mp');
    const until = new Date(Math.floor(inDays(1).getTime() / 1000) * 1000);
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'lk-mp', Key: 'm', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }));
    const part = await s3.send(new UploadPartCommand({ Bucket: 'lk-mp', Key: 'm', UploadId: created.UploadId, PartNumber: 1, Body: 'one part' }));
    const done = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: 'lk-mp', Key: 'm', UploadId: created.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'lk-mp', Key: 'm', VersionId: done.VersionId }));
    expect([head.ObjectLockMode, head.ObjectLockRetainUntilDate?.getTime()]).toEqual(['COMPLIANCE', until.getTime()]);

    const copy = await s3.send(new CopyObjectCommand({ Bucket: 'lk-mp', Key: 'copy', CopySource: 'lk-mp/m' }));
    const copied = await s3.send(new HeadObjectCommand({ Bucket: 'lk-mp', Key: 'copy', VersionId: copy.VersionId }));
    expect(copied.ObjectLockMode).toBeUndefined();
    await s3.send(new DeleteObjectCommand({ Bucket: 'lk-mp', Key: 'copy', VersionId: copy.VersionId }));
    const held = await s3.send(new CopyObjectCommand({ Bucket: 'lk-mp', Key: 'held', CopySource: 'lk-mp/m', ObjectLockLegalHoldStatus: 'ON' }));
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'lk-mp', Key: 'held', VersionId: held.VersionId }))).ObjectLockLegalHoldStatus).toBe('ON');
  });
});
