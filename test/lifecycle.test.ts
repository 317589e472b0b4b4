/** Bucket lifecycle: the configuration as S3 takes it (AWS JS SDK), and the job that runs it, Object Lock respected. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBucketCommand,
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  PutBucketLifecycleConfigurationCommand,
  type LifecycleRule as SdkRule,
  type S3Client,
} from '@aws-sdk/client-s3';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { dueAt, runLifecycle } from '../src/gateway/lifecycle.js';
import type { ObjectLock } from '../src/model/records.js';
import { startS3Server } from '../src/s3/server.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { failure, sdkClient } from './helpers/sdk.js';

const ADMIN = { accessKey: 'AKIDLIFECYCLE000001', secretKey: 'lifecycle-secret-0000000000000000000001' };
const DAY = 86_400_000;

describe('bucket lifecycle', () => {
  let dir: string;
  let gateway: Gateway;
  let server: Awaited<ReturnType<typeof startS3Server>>;
  const made: S3Client[] = [];
  let s3: S3Client;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-lifecycle-'));
    const config = embeddedConfig(dir, { cold: { segmentSize: '1MiB', chunkSize: '64KiB' }, users: [{ ...ADMIN, buckets: { '*': 'admin' } }] });
    gateway = await openGateway(config, { logger: createLogger('silent'), metrics: createMetrics(), background: false });
    server = await startS3Server({ service: gateway.service, config, logger: createLogger('silent'), metrics: createMetrics() });
    s3 = sdkClient(server.url, ADMIN, made);
  });
  afterAll(async () => {
    for (const c of made) c.destroy();
    await server.close();
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  });

  const put = (bucket: string, key: string, lock?: ObjectLock) =>
    gateway.service.putObject({ bucket, key, body: Readable.from([Buffer.from(key)]), size: key.length, headers: { userMeta: {} }, tags: {}, ...(lock ? { lock } : {}) });
  const versions = async (bucket: string) =>
    (await gateway.service.listObjectVersions(bucket, { maxKeys: 1000 })).entries.map((e) => `${e.key}:${e.kind}${e.isLatest ? '*' : ''}`);

  it('stores, returns and removes a configuration; refuses what it would not run', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'lc-conf' }));
    expect(await failure(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf' })))).toBe('404 NoSuchLifecycleConfiguration');
    const rules: SdkRule[] = [
      { ID: 'tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 7 } },
      { ID: 'old', Status: 'Disabled', Filter: { Prefix: '' }, NoncurrentVersionExpiration: { NoncurrentDays: 30, NewerNoncurrentVersions: 2 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } },
    ];
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf', LifecycleConfiguration: { Rules: rules } }));
    expect((await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf' }))).Rules).toEqual(rules);
    const refused = async (rule: SdkRule) => failure(s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf', LifecycleConfiguration: { Rules: [rule] } })));
    expect(await refused({ ID: 't', Status: 'Enabled', Filter: { Prefix: '' }, Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] })).toBe('501 NotImplemented');
    expect(await refused({ ID: 't', Status: 'Enabled', Filter: { Tag: { Key: 'a', Value: 'b' } }, Expiration: { Days: 1 } })).toBe('501 NotImplemented');
    expect(await refused({ ID: 't', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 0 } })).toBe('400 InvalidArgument');
    expect(await refused({ ID: 't', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Date: new Date('2030-01-01T12:00:00Z') } })).toBe('400 InvalidArgument');
    expect(await failure(s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf', LifecycleConfiguration: { Rules: [rules[0]!, rules[0]!] } })))).toBe('400 InvalidArgument');
    // A legacy rule-level Prefix and an empty Filter come back as they were put.
    const legacy: SdkRule[] = [
      { ID: 'legacy', Status: 'Enabled', Prefix: 'logs/', Expiration: { Days: 31 } },
      { ID: 'empty', Status: 'Enabled', Filter: {}, Expiration: { Days: 2 } },
    ];
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf', LifecycleConfiguration: { Rules: legacy } }));
    expect((await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf' }))).Rules).toEqual(legacy);
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf', LifecycleConfiguration: { Rules: rules } }));
    // What was refused left the stored configuration as it was.
    expect((await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf' }))).Rules).toEqual(rules);
    await s3.send(new DeleteBucketLifecycleCommand({ Bucket: 'lc-conf' }));
    expect(await failure(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'lc-conf' })))).toBe('404 NoSuchLifecycleConfiguration');
  });

  it('counts days as S3 does: from the event, up to the next midnight UTC', () => {
    expect(dueAt(Date.UTC(2026, 0, 15, 10, 30), 3)).toBe(Date.UTC(2026, 0, 19));
    expect(dueAt(Date.UTC(2026, 0, 15), 1)).toBe(Date.UTC(2026, 0, 16));
  });

  it('expires current versions, noncurrent ones beyond the newest kept, lone delete markers and old uploads', async () => {
    const svc = gateway.service;
    await svc.createBucket('lc-plain', 'x');
    await put('lc-plain', 'tmp/a');
    await put('lc-plain', 'keep/b');
    await svc.putBucketConfig('lc-plain', 'lifecycle', JSON.stringify([{ id: 'r', prefix: 'tmp/', enabled: true, expiration: { days: 1 } }]));
    // Not yet due: nothing happens.
    expect((await runLifecycle(svc, Date.now())).expired).toBe(0);
    expect((await runLifecycle(svc, Date.now() + 3 * DAY)).expired).toBe(1);
    expect(await versions('lc-plain')).toEqual(['keep/b:object*']);

    await svc.createBucket('lc-ver', 'x');
    await svc.putBucketConfig('lc-ver', 'versioning', 'Enabled');
    for (let i = 0; i < 3; i++) await put('lc-ver', 'k');
    await put('lc-ver', 'gone');
    await svc.deleteObject('lc-ver', 'gone', { versionId: (await svc.headObject('lc-ver', 'gone')).versionId! });
    await put('lc-ver', 'lone');
    await svc.deleteObject('lc-ver', 'lone');
    await svc.deleteObject('lc-ver', 'lone', { versionId: (await svc.listObjectVersions('lc-ver', { prefix: 'lone', maxKeys: 10 })).entries.find((e) => e.kind === 'object')!.versionId });
    const upload = await svc.createUpload({ bucket: 'lc-ver', key: 'up', owner: 'x', headers: { userMeta: {} }, tags: {} });
    await svc.putBucketConfig(
      'lc-ver',
      'lifecycle',
      JSON.stringify([
        { id: 'cur', prefix: 'k', enabled: true, expiration: { days: 1 }, noncurrentExpiration: { days: 1, newerNoncurrentVersions: 1 } },
        { id: 'markers', prefix: 'lone', enabled: true, expiration: { expiredObjectDeleteMarker: true } },
        { id: 'uploads', prefix: '', enabled: true, abortIncompleteUploadDays: 1 },
      ]),
    );
    const first = await runLifecycle(svc, Date.now() + 3 * DAY);
    expect(first).toMatchObject({ expired: 1, noncurrentDeleted: 1, markersRemoved: 1, uploadsAborted: 1, locked: 0, failed: 0 });
    // k: a marker on top, the newest noncurrent version kept, the older one gone; lone's lone marker removed.
    expect(await versions('lc-ver')).toEqual(['k:marker*', 'k:object', 'k:object']);
    await expect(svc.getUpload('lc-ver', 'up', upload.uploadId)).rejects.toThrow();
    const second = await runLifecycle(svc, Date.now() + 6 * DAY);
    expect(second.noncurrentDeleted).toBe(1);
    expect(await versions('lc-ver')).toEqual(['k:marker*', 'k:object']);
  });

  it('never deletes a version Object Lock protects: the rule skips it and counts it', async () => {
    const svc = gateway.service;
    await svc.createBucket('lc-lock', 'x', { objectLock: true });
    await put('lc-lock', 'evidence', { retention: { mode: 'COMPLIANCE', until: Date.now() + 30 * DAY } });
    await svc.putBucketConfig('lc-lock', 'lifecycle', JSON.stringify([{ id: 'all', prefix: '', enabled: true, expiration: { days: 1 }, noncurrentExpiration: { days: 1 } }]));
    expect((await runLifecycle(svc, Date.now() + 3 * DAY)).expired).toBe(1);
    const later = await runLifecycle(svc, Date.now() + 6 * DAY);
    expect([later.noncurrentDeleted, later.locked]).toEqual([0, 1]);
    expect(await versions('lc-lock')).toEqual(['evidence:marker*', 'evidence:object']);
  });
});
