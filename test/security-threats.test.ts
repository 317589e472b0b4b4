/**
 * Threat-model tests (docs/SECURITY.md names each one): what a storage-node operator, the hot-tier provider, someone
 * holding the metadata DB without the master key, and a holder of a read-only key can learn or do; and that the
 * gateway never logs a configured secret.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { startS3Server, type RunningS3Server } from '../src/s3/server.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import type { TesseraConfig } from '../src/config/types.js';
import { walkFiles } from './helpers/files.js';

const MARKER = 'TESSERA-PLAINTEXT-MARKER-7f3a9c';
const SECRET_KEYS = { admin: 'admin-secret-DO-NOT-LOG-0123456789', reader: 'reader-secret-DO-NOT-LOG-987654', writer: 'writer-secret-DO-NOT-LOG-555555' };
const MASTER_KEY = Buffer.alloc(32, 0x42);

let dir: string;
let config: TesseraConfig;
let gateway: Gateway;
let server: RunningS3Server;
const logLines: string[] = [];

function client(user: keyof typeof SECRET_KEYS): S3Client {
  return new S3Client({
    endpoint: server.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: `sec-${user}`, secretAccessKey: SECRET_KEYS[user] },
    maxAttempts: 1,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-security-'));
  config = embeddedConfig(dir, {
    cold: { segmentSize: '1MiB', chunkSize: '64KiB' },
    hot: { writeThrough: true, encrypt: true },
    log: { level: 'trace' },
    keys: { masterKeys: [{ id: 'sec', key: MASTER_KEY.toString('base64') }] },
    users: [
      { accessKey: 'sec-admin', secretKey: SECRET_KEYS.admin, buckets: { '*': 'admin' } },
      { accessKey: 'sec-reader', secretKey: SECRET_KEYS.reader, buckets: { public: 'read' } },
      { accessKey: 'sec-writer', secretKey: SECRET_KEYS.writer, buckets: { public: 'write' } },
    ],
  });
  // Capture every log line the gateway writes at the most verbose level.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger('trace', sink);
  const metrics = createMetrics();
  gateway = await openGateway(config, { logger, metrics, background: false });
  server = await startS3Server({ service: gateway.service, config, logger, metrics });
  const admin = client('admin');
  await admin.send(new CreateBucketCommand({ Bucket: 'public' }));
  await admin.send(new CreateBucketCommand({ Bucket: 'private' }));
  const body = Buffer.from(`${MARKER}\n`.repeat(60_000)); // ~2 MB, several segments
  await admin.send(new PutObjectCommand({ Bucket: 'public', Key: `secret-name-${MARKER}`, Body: body, Metadata: { note: MARKER } }));
  await admin.send(new PutObjectCommand({ Bucket: 'private', Key: 'p', Body: 'private data' }));
  await admin.send(new PutObjectCommand({ Bucket: 'public', Key: 'small', Body: `${MARKER} small` }));
});

afterAll(async () => {
  await server.close();
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

describe('storage-node operator (all shards, no master key)', () => {
  it('finds no plaintext, no object name and no metadata in any shard or record copy: marker search', async () => {
    const nodeFiles = await walkFiles(join(dir, 'nodes'));
    expect(nodeFiles.length).toBeGreaterThan(6);
    const needles = [MARKER, 'secret-name', 'public', 'private data', 'note'].map((s) => Buffer.from(s));
    for (const f of nodeFiles) {
      const bytes = readFileSync(f);
      for (const needle of needles) expect(bytes.includes(needle), `${needle.toString()} in ${f}`).toBe(false);
      // Shard file names are random ids: nothing of the object's name.
      expect(f.includes('secret-name')).toBe(false);
    }
  });
});

describe('hot-tier provider', () => {
  it('stores ciphertext under opaque ids: no marker, no key name in the hot tier', async () => {
    const hotFiles = await walkFiles(join(dir, 'hot'));
    expect(hotFiles.length).toBeGreaterThan(0);
    for (const f of hotFiles) {
      expect(readFileSync(f).includes(Buffer.from(MARKER)), f).toBe(false);
      expect(f.includes('secret-name')).toBe(false);
    }
  });
});

describe('metadata DB stolen without the master key', () => {
  it('holds names and sizes (documented) but no plaintext data and no usable data key', async () => {
    const metaFiles = await walkFiles(join(dir, 'meta'));
    const all = Buffer.concat(metaFiles.map((f) => readFileSync(f)));
    // Object data never goes into the DB; the master key never does either.
    expect(all.includes(Buffer.from(`${MARKER}\n${MARKER}`))).toBe(false);
    expect(all.includes(MASTER_KEY)).toBe(false);
    expect(all.includes(Buffer.from(MASTER_KEY.toString('base64')))).toBe(false);
  });

  it('a gateway opened over the same DB and nodes with a different master key cannot read any object', async () => {
    const other = embeddedConfig(dir, {
      cold: { segmentSize: '1MiB', chunkSize: '64KiB' },
      hot: { fs: { path: join(dir, 'hot-thief') } },
      meta: { path: join(dir, 'meta', 'tessera.db') },
      keys: { masterKeys: [{ id: 'sec', key: Buffer.alloc(32, 0x13).toString('base64') }] },
      users: [{ accessKey: 'thief', secretKey: 'thief-secret-0000000000', buckets: { '*': 'admin' } }],
    });
    const logger = createLogger('silent');
    const metrics = createMetrics();
    const thief = await openGateway(other, { logger, metrics, background: false, reconcile: false });
    const thiefServer = await startS3Server({ service: thief.service, config: other, logger, metrics });
    const thiefClient = new S3Client({
      endpoint: thiefServer.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'thief', secretAccessKey: 'thief-secret-0000000000' },
      maxAttempts: 1,
    });
    try {
      // The names are visible (they are in the DB)...
      const list = await thiefClient.send(new ListObjectsV2Command({ Bucket: 'public' }));
      expect(list.Contents?.some((o) => o.Key === 'small')).toBe(true);
      // ...the data is not: every read fails, and no failure carries plaintext.
      for (const key of ['small', `secret-name-${MARKER}`]) {
        const outcome = await thiefClient.send(new GetObjectCommand({ Bucket: 'public', Key: key })).then(
          async (r) => `read ${await r.Body!.transformToString()}`,
          (err: Error) => `error ${err.name} ${err.message}`,
        );
        expect(outcome.startsWith('error'), outcome.slice(0, 120)).toBe(true);
        expect(outcome.includes(`${MARKER} small`)).toBe(false);
      }
    } finally {
      thiefClient.destroy();
      await thiefServer.close();
      await thief.close();
    }
  });
});

describe('holder of a read-only key', () => {
  it('can read and list its bucket', async () => {
    const reader = client('reader');
    const got = await reader.send(new GetObjectCommand({ Bucket: 'public', Key: 'small' }));
    expect(await got.Body!.transformToString()).toBe(`${MARKER} small`);
    const list = await reader.send(new ListObjectsV2Command({ Bucket: 'public' }));
    expect(list.KeyCount).toBeGreaterThan(0);
  });

  it('cannot PUT, DELETE, start multipart, copy into its bucket, or read/list another bucket', async () => {
    const reader = client('reader');
    const denied = async (p: Promise<unknown>): Promise<void> => {
      await expect(p).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    };
    await denied(reader.send(new PutObjectCommand({ Bucket: 'public', Key: 'x', Body: 'x' })));
    await denied(reader.send(new DeleteObjectCommand({ Bucket: 'public', Key: 'small' })));
    await denied(reader.send(new CreateMultipartUploadCommand({ Bucket: 'public', Key: 'mp' })));
    await denied(reader.send(new CopyObjectCommand({ Bucket: 'public', Key: 'copy', CopySource: 'public/small' })));
    await denied(reader.send(new ListObjectsV2Command({ Bucket: 'private' })));
    await denied(reader.send(new GetObjectCommand({ Bucket: 'private', Key: 'p' })));
    // The object it tried to delete is still there.
    const still = await client('admin').send(new GetObjectCommand({ Bucket: 'public', Key: 'small' }));
    expect(await still.Body!.transformToString()).toBe(`${MARKER} small`);
  });

  it('a writer of one bucket cannot copy another bucket’s object into it (read on the source is required)', async () => {
    const writer = client('writer');
    await expect(writer.send(new CopyObjectCommand({ Bucket: 'public', Key: 'stolen', CopySource: 'private/p' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
  });
});

describe('secrets never logged', () => {
  it('no configured secret (user secrets, master key) appears anywhere in the trace-level log of this run', async () => {
    // Provoke error paths too: bad signature, wrong user, denied operation.
    const bad = new S3Client({ endpoint: server.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'sec-admin', secretAccessKey: 'wrong' }, maxAttempts: 1 });
    await expect(bad.send(new ListObjectsV2Command({ Bucket: 'public' }))).rejects.toBeTruthy();
    await expect(client('reader').send(new PutObjectCommand({ Bucket: 'public', Key: 'n', Body: 'n' }))).rejects.toBeTruthy();
    const log = logLines.join('');
    expect(log.length).toBeGreaterThan(1000);
    for (const secret of [...Object.values(SECRET_KEYS), MASTER_KEY.toString('base64'), MASTER_KEY.toString('hex')]) {
      expect(log.includes(secret), `secret in log`).toBe(false);
    }
  });
});
