// AWS SDK for JavaScript v3 conformance, with the SDK's defaults (flexible checksums on: CRC32 on every upload,
// aws-chunked bodies with trailing checksums for streams, response validation when asked) and @aws-sdk/lib-storage
// Upload of a stream of unknown length. Prints `CELL sdk-js-v3 <op> PASS|FAIL <detail>` lines.
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { Readable } from 'node:stream';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  CopyObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectCommand,
  DeleteBucketCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const env = process.env;
const CLIENT = 'sdk-js-v3';
const credentials = { accessKeyId: env.CONF_ACCESS_KEY, secretAccessKey: env.CONF_SECRET_KEY };
const bucket = `${CLIENT}-t-${env.CONF_MODE[0]}-${env.CONF_RUN_ID}`;
const MIB = 1024 * 1024;
let failed = 0;

const s3 = new S3Client({ endpoint: env.CONF_ENDPOINT, region: 'us-east-1', forcePathStyle: true, credentials });

function emit(op, status, detail = '') {
  process.stdout.write(`CELL ${CLIENT} ${op} ${status} ${detail.replace(/\s+/g, ' ').slice(0, 400)}\n`);
  if (status === 'FAIL') failed++;
}

async function cell(op, fn) {
  const started = Date.now();
  try {
    const detail = (await fn()) ?? '';
    emit(op, 'PASS', `${detail} (${((Date.now() - started) / 1000).toFixed(1)}s)`.trim());
  } catch (err) {
    emit(op, 'FAIL', `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`);
  }
}

function expectEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: got ${a?.slice(0, 200)} expected ${e?.slice(0, 200)}`);
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

async function streamSha256(body) {
  const h = createHash('sha256');
  let n = 0;
  for await (const chunk of body) {
    h.update(chunk);
    n += chunk.length;
  }
  return { sha: h.digest('hex'), bytes: n };
}

async function expectError(fn, name, status) {
  try {
    await fn();
  } catch (err) {
    expectEqual([err.name, err.$metadata?.httpStatusCode], [name, status], 'error (name, HTTP status)');
    return;
  }
  throw new Error(`expected ${name}, the call succeeded`);
}

/** A deterministic pseudo-random stream of `size` bytes (no length known up front), with its sha256. */
function generatedStream(size, seed) {
  const h = createHash('sha256');
  let produced = 0;
  let counter = 0;
  const stream = new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(1 * MIB, size - produced);
      const block = Buffer.alloc(n);
      for (let off = 0; off < n; off += 32) createHash('sha256').update(`${seed}:${counter++}`).digest().copy(block, off);
      produced += n;
      h.update(block);
      this.push(block);
    },
  });
  return { stream, digest: () => h.digest('hex') };
}

function tier() {
  const [cmd, ...args] = env.CONF_TIER_CMD.split(' ');
  const r = spawnSync(cmd, [...args, bucket], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) emit('tier', 'FAIL', `exit ${r.status}: ${r.stderr}`);
}

const small = randomBytes(2 * MIB + 11);
const streamSize = 150 * MIB + 3;
let streamDigest = '';

process.stdout.write(`# ${CLIENT}: @aws-sdk/client-s3 ${(await import('@aws-sdk/client-s3/package.json', { with: { type: 'json' } })).default.version}\n`);

await cell('CreateBucket', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

await cell('PutObject-default-checksum', async () => {
  const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'small.bin', Body: small }));
  if (!out.ChecksumCRC32) throw new Error('no ChecksumCRC32 in the PutObject reply (the SDK sent one by default)');
  return `CRC32 ${out.ChecksumCRC32}`;
});

await cell('PutObject-stream-aws-chunked', async () => {
  // A stream with a known length but no precomputed checksum: the SDK sends aws-chunked with a trailing CRC32.
  const body = Readable.from([small.subarray(0, MIB), small.subarray(MIB)]);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'streamed-small.bin', Body: body, ContentLength: small.length }));
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'streamed-small.bin' }));
  expectEqual((await streamSha256(got.Body)).sha, sha256(small), 'sha256');
});

await cell('lib-storage-Upload-stream', async () => {
  const { stream, digest } = generatedStream(streamSize, 'upload');
  const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: 'dir/streamed.bin', Body: stream }, partSize: 16 * MIB, queueSize: 4 });
  const out = await upload.done();
  streamDigest = digest();
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dir/streamed.bin' }));
  expectEqual(head.ContentLength, streamSize, 'ContentLength');
  if (!/-10"$/.test(out.ETag ?? '')) throw new Error(`ETag ${out.ETag} is not a 10-part ETag`);
  return `${streamSize} bytes, ETag ${out.ETag}`;
});

tier();

await cell('GetObject-checksum-validated', async () => {
  // ChecksumMode ENABLED makes the SDK validate the object's full CRC32 against the bytes it receives.
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'small.bin', ChecksumMode: 'ENABLED' }));
  if (!got.ChecksumCRC32) throw new Error('no x-amz-checksum-crc32 on GetObject with ChecksumMode ENABLED');
  expectEqual((await streamSha256(got.Body)).sha, sha256(small), 'sha256');
});

await cell('GetObject-stream-large', async () => {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/streamed.bin', ChecksumMode: 'ENABLED' }));
  const { sha, bytes } = await streamSha256(got.Body);
  expectEqual([bytes, sha], [streamSize, streamDigest], '[bytes, sha256]');
});

await cell('GetObject-range', async () => {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/streamed.bin', Range: 'bytes=33554000-33555000' }));
  expectEqual(got.ContentRange, `bytes 33554000-33555000/${streamSize}`, 'ContentRange');
  const whole = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/streamed.bin', Range: 'bytes=0-33555000' }));
  const buf = Buffer.concat(await whole.Body.toArray());
  const part = Buffer.concat(await got.Body.toArray());
  expectEqual(sha256(part), sha256(buf.subarray(33554000)), 'range bytes vs prefix bytes');
});

await cell('ListObjectsV2', async () => {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  expectEqual(out.Contents.map((o) => o.Key), ['dir/streamed.bin', 'small.bin', 'streamed-small.bin'], 'keys');
  const top = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
  expectEqual((top.CommonPrefixes ?? []).map((p) => p.Prefix), ['dir/'], 'CommonPrefixes');
});

await cell('CopyObject', async () => {
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/ü.bin', CopySource: `${bucket}/${encodeURIComponent('small.bin')}` }));
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'copy/ü.bin' }));
  expectEqual((await streamSha256(got.Body)).sha, sha256(small), 'sha256');
});

await cell('DeleteObjects', async () => {
  const out = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'streamed-small.bin' }, { Key: 'copy/ü.bin' }] } }));
  expectEqual((out.Deleted ?? []).map((d) => d.Key).sort(), ['copy/ü.bin', 'streamed-small.bin'], 'Deleted');
  const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  expectEqual(left.Contents.map((o) => o.Key), ['dir/streamed.bin', 'small.bin'], 'keys left');
});

await cell('PutObject-if-none-match', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cond.bin', Body: 'one', IfNoneMatch: '*' }));
  await expectError(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cond.bin', Body: 'two', IfNoneMatch: '*' })), 'PreconditionFailed', 412);
});

await cell('virtual-hosted-style', async () => {
  // BUCKET.localhost does not resolve everywhere: resolve *.localhost to 127.0.0.1 for this client only.
  const lookup = (_host, opts, cb) => (opts?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));
  const vs = new S3Client({
    endpoint: env.CONF_VHOST_ENDPOINT,
    region: 'us-east-1',
    forcePathStyle: false,
    credentials,
    requestHandler: { httpAgent: new http.Agent({ lookup }) },
  });
  const vb = `${CLIENT}-vh-${env.CONF_MODE[0]}-${env.CONF_RUN_ID}`;
  await vs.send(new CreateBucketCommand({ Bucket: vb }));
  await vs.send(new PutObjectCommand({ Bucket: vb, Key: 'k', Body: small }));
  const got = await vs.send(new GetObjectCommand({ Bucket: vb, Key: 'k' }));
  expectEqual((await streamSha256(got.Body)).sha, sha256(small), 'sha256');
  await vs.send(new DeleteObjectCommand({ Bucket: vb, Key: 'k' }));
  await vs.send(new DeleteBucketCommand({ Bucket: vb }));
  return env.CONF_VHOST_ENDPOINT;
});

await cell('err-NoSuchKey', async () => {
  await expectError(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'no/such/key' })), 'NoSuchKey', 404);
  await expectError(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'no/such/key' })), 'NotFound', 404);
});

await cell('err-NoSuchBucket', async () => {
  await expectError(() => s3.send(new GetObjectCommand({ Bucket: `${bucket}-missing`, Key: 'k' })), 'NoSuchBucket', 404);
  await expectError(() => s3.send(new ListObjectsV2Command({ Bucket: `${bucket}-missing` })), 'NoSuchBucket', 404);
});

process.exitCode = failed > 0 ? 1 : 0;
