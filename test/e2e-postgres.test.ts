/**
 * The whole program on PostgreSQL: `tessera serve` processes (TESSERA-style YAML with meta.driver postgres) over real
 * `tessera node` processes, driven by the AWS SDK over HTTP. Two gateways share the store: a write through one is
 * read, listed and conditionally refused through the other. The database password never reaches the logs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedProcess, getDigest, httpStatusOf, patternDigest, putPattern, s3Client, startCluster, ADMIN, type Cluster } from './helpers/cluster.js';
import { postgresAvailable, startPostgres, type PostgresServer } from './helpers/postgres.js';

const PASSWORD = 'pw-never-in-logs-7f3a';

describe.runIf(postgresAvailable())('gateways on PostgreSQL', () => {
  let server: PostgresServer;
  let cluster: Cluster;
  let second: ManagedProcess;

  beforeAll(async () => {
    server = await startPostgres();
    // Trust authentication ignores the password; it is in the URL to prove it is never printed.
    const url = (await server.createDatabase()).replace('://postgres@', `://postgres:${PASSWORD}@`);
    cluster = await startCluster({
      nodes: 3,
      cold: { k: 2, m: 1, segmentSize: '1MiB', chunkSize: '64KiB' },
      meta: { driver: 'postgres', postgres: { url, poolSize: 4 } },
      logLevel: 'info',
    });
    // A second gateway: same config (so the same hot tier directory, shared as an S3 hot tier would be), its own port.
    second = new ManagedProcess({ name: 'gateway2', logFile: path.join(cluster.dir, 'logs', 'gateway2.log'), readyLine: /Tessera is listening on (\S+)/ }, () => ({
      args: ['serve', '--config', cluster.configFile],
      env: { TESSERA_PORT: '0' },
    }));
    await second.start();
  }, 120_000);

  afterAll(async () => {
    await second?.dispose();
    await cluster?.stop();
    await server?.stop();
  });

  it('serves S3 through either gateway from one store', async () => {
    const one = cluster.s3();
    const two = s3Client(second.url, { accessKeyId: ADMIN.accessKey, secretAccessKey: ADMIN.secretKey });
    await one.send(new CreateBucketCommand({ Bucket: 'data' }));
    await putPattern(one, 'data', 'train/a.bin', 'a', 300_000);
    await putPattern(two, 'data', 'train/b.bin', 'b', 1_500_000);
    await putPattern(one, 'data', 'readme', 'r', 10);
    expect(await getDigest(two, 'data', 'train/a.bin')).toEqual(await patternDigest('a', 0, 300_000));
    expect(await getDigest(one, 'data', 'train/b.bin')).toEqual(await patternDigest('b', 0, 1_500_000));

    const listed = await two.send(new ListObjectsV2Command({ Bucket: 'data', Delimiter: '/' }));
    expect(listed.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['train/']);
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['readme']);

    // If-None-Match decided in the database: the second gateway sees the first one's object.
    const refused = await two.send(new PutObjectCommand({ Bucket: 'data', Key: 'train/a.bin', Body: 'x', IfNoneMatch: '*' })).catch((e: unknown) => e);
    expect(httpStatusOf(refused)).toBe(412);

    // A multipart upload started on one gateway, parts through both, completed on the other.
    const { UploadId } = await one.send(new CreateMultipartUploadCommand({ Bucket: 'data', Key: 'big' }));
    const part = Buffer.alloc(5 * 1024 * 1024, 7);
    const p1 = await one.send(new UploadPartCommand({ Bucket: 'data', Key: 'big', UploadId, PartNumber: 1, Body: part }));
    const p2 = await two.send(new UploadPartCommand({ Bucket: 'data', Key: 'big', UploadId, PartNumber: 2, Body: Buffer.from('tail') }));
    await two.send(
      new CompleteMultipartUploadCommand({ Bucket: 'data', Key: 'big', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] } }),
    );
    const big = await getDigest(one, 'data', 'big');
    expect(big.length).toBe(part.length + 4);

    // A restarted gateway finds everything in the store.
    await cluster.gateway.stop();
    await cluster.gateway.start();
    expect(await getDigest(cluster.s3(), 'data', 'train/b.bin')).toEqual(await patternDigest('b', 0, 1_500_000));

    const logs = (await readFile(path.join(cluster.dir, 'logs', 'gateway.log'), 'utf8')) + (await readFile(path.join(cluster.dir, 'logs', 'gateway2.log'), 'utf8'));
    expect(logs).toMatch(/metadata: +postgres postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
    expect(logs).not.toContain(PASSWORD);
  }, 120_000);
});
