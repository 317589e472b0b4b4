/**
 * The COMPLIANCE fault test: a version under COMPLIANCE retention, and every path that could destroy it tried in turn
 * (S3 DeleteObject and DeleteObjects by version id with bypass, lifecycle, tessera gc with the orphan sweep, evict,
 * bucket deletion, recover-index after deleting the metadata). Each refusal is a clear S3 error; the version stays
 * readable byte-exactly throughout.
 */
import { rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  CreateBucketCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { startS3Server } from '../src/s3/server.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { runDurabilityCommand } from '../src/cli/durability.js';
import { runLifecycle } from '../src/gateway/lifecycle.js';
import { failure, sdkClient } from './helpers/sdk.js';

const ADMIN = { accessKey: 'AKIDCOMPLIANCE00001', secretKey: 'compliance-secret-000000000000000000001' };

describe('COMPLIANCE retention against every deletion path', () => {
  let dir: string;
  let config: ReturnType<typeof embeddedConfig>;
  let gateway: Gateway;
  let server: Awaited<ReturnType<typeof startS3Server>>;
  const made: S3Client[] = [];
  let s3: S3Client;

  const start = async () => {
    gateway = await openGateway(config, { logger: createLogger('silent'), metrics: createMetrics(), background: false });
    server = await startS3Server({ service: gateway.service, config, logger: createLogger('silent'), metrics: createMetrics() });
    s3 = sdkClient(server.url, ADMIN, made);
  };
  const stop = async () => {
    await server.close();
    await gateway.close();
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-compliance-'));
    config = embeddedConfig(dir, { cold: { segmentSize: '1MiB', chunkSize: '64KiB' }, users: [{ ...ADMIN, buckets: { '*': 'admin' } }] });
    await start();
  });
  afterAll(async () => {
    for (const c of made) c.destroy();
    await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the version byte-exact; every refusal is an S3 error', async () => {
    const body = randomBytes(2_500_000);
    await s3.send(new CreateBucketCommand({ Bucket: 'evidence', ObjectLockEnabledForBucket: true }));
    const until = new Date(Date.now() + 7 * 86_400_000);
    const put = await s3.send(new PutObjectCommand({ Bucket: 'evidence', Key: 'train/shard-000.tar', Body: body, ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }));
    const version = { Bucket: 'evidence', Key: 'train/shard-000.tar', VersionId: put.VersionId! };
    const readable = async () => {
      const out = await s3.send(new GetObjectCommand(version));
      expect(Buffer.from(await out.Body!.transformToByteArray()).equals(body)).toBe(true);
    };

    // The S3 paths, with the governance bypass asked for (it does not apply to COMPLIANCE).
    expect(await failure(s3.send(new DeleteObjectCommand({ ...version, BypassGovernanceRetention: true })))).toBe('403 AccessDenied');
    const multi = await s3.send(new DeleteObjectsCommand({ Bucket: 'evidence', BypassGovernanceRetention: true, Delete: { Objects: [{ Key: version.Key, VersionId: version.VersionId }] } }));
    expect(multi.Errors?.map((e) => e.Code)).toEqual(['AccessDenied']);
    expect(await failure(s3.send(new PutObjectRetentionCommand({ ...version, BypassGovernanceRetention: true, Retention: {} })))).toBe('403 AccessDenied');
    // Lifecycle: rules that expire everything, current and noncurrent, a day after; run as if days had passed.
    const rule = { ID: 'expire', Status: 'Enabled' as const, Filter: { Prefix: '' }, Expiration: { Days: 1 }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } };
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'evidence', LifecycleConfiguration: { Rules: [rule] } }));
    // The current version expires as S3 expires it in a versioned bucket: a delete marker on top.
    expect((await runLifecycle(gateway.service, Date.now() + 3 * 86_400_000)).expired).toBe(1);
    const later = await runLifecycle(gateway.service, Date.now() + 6 * 86_400_000);
    expect([later.noncurrentDeleted, later.locked]).toEqual([0, 1]);
    // A plain delete only adds a marker; the bucket still holds the version.
    await s3.send(new DeleteObjectCommand({ Bucket: 'evidence', Key: version.Key }));
    expect(await failure(s3.send(new DeleteBucketCommand({ Bucket: 'evidence' })))).toBe('409 BucketNotEmpty');
    await readable();

    // Maintenance: the collector and the orphan sweep, and eviction from the hot tier.
    const gc = await runDurabilityCommand('gc', gateway, config, { minAgeMs: 0 });
    expect(gc.code).toBe(0);
    await gateway.garbage.runOnce(Date.now() + 365 * 86_400_000);
    const record = await gateway.service.headObject('evidence', version.Key, version.VersionId);
    await gateway.hot.evict(record.objectId);
    await readable();
    const lockBefore = (await gateway.service.headObject('evidence', version.Key, version.VersionId)).lock;
    expect(lockBefore?.retention?.mode).toBe('COMPLIANCE');

    // The metadata is lost: recover-index brings the version back, still under COMPLIANCE.
    await stop();
    for (const suffix of ['', '-wal', '-shm']) await rm(config.meta.path + suffix, { force: true });
    await start();
    const r = await runDurabilityCommand('recover-index', gateway, config);
    expect(r.code).toBe(0);
    await readable();
    expect(await failure(s3.send(new DeleteObjectCommand({ ...version, BypassGovernanceRetention: true })))).toBe('403 AccessDenied');
    // The marker came back too: the key still reads as deleted.
    expect(await gateway.meta.getObject('evidence', version.Key)).toBeNull();
    expect((await gateway.service.headObject('evidence', version.Key, version.VersionId)).lock).toEqual(lockBefore);
  });
});
