// Load generator: one process per measurement, so its CPU is never counted against the gateway.
// Usage: node bench/load.mjs '<json task>'  -> prints one JSON result line on stdout.
// Task: { target: {endpoint, accessKey, secretKey}, op: 'put'|'get'|..., ...op args }.
import { URLSearchParams } from 'node:url';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { S3Endpoint, drain, encodeKey, patternBody, readText } from './lib/s3.mjs';
import { listingKey } from './lib/keys.mjs';

const MiB = 1 << 20;
const pattern = randomBytes(4 * MiB);

const ops = {
  async mkbucket(s3, { bucket }) {
    await s3.call({ method: 'PUT', path: `/${bucket}` }, [200, 409]);
    return {};
  },

  /** One object, either one PUT stream or a multipart upload with `streams` parts in flight at once. */
  async put(s3, { bucket, key, size, streams = 1 }) {
    const t0 = performance.now();
    if (streams <= 1) {
      await s3.call({ method: 'PUT', path: `/${bucket}/${encodeKey(key)}`, body: patternBody(size, pattern), bodySize: size });
    } else {
      await multipartPut(s3, bucket, key, size, streams);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, bytes: size, mbps: size / 1e6 / seconds };
  },

  /** One object, either one GET stream or `streams` ranged GETs at once. */
  async get(s3, { bucket, key, size, streams = 1 }) {
    const t0 = performance.now();
    const span = Math.ceil(size / streams);
    const parts = [];
    for (let off = 0; off < size; off += span) {
      const end = Math.min(size, off + span) - 1;
      parts.push(getRange(s3, bucket, key, streams > 1 ? `bytes=${off}-${end}` : undefined));
    }
    const got = await Promise.all(parts);
    const bytes = got.reduce((n, g) => n + g.bytes, 0);
    if (bytes !== size) throw new Error(`GET ${key}: got ${bytes} bytes, expected ${size}`);
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, bytes, mbps: bytes / 1e6 / seconds, ttfbMs: Math.min(...got.map((g) => g.firstByteAt)) - t0 };
  },

  /** Time to the first body byte of whole-object GETs, abandoning each after that byte. */
  async ttfb(s3, { bucket, key, n, range }) {
    const samples = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const res = await s3.request({ method: 'GET', path: `/${bucket}/${encodeKey(key)}`, headers: range ? { Range: range } : {} });
      if (res.statusCode !== 200 && res.statusCode !== 206) throw new Error(`GET ${key}: HTTP ${res.statusCode} ${await readText(res)}`);
      await new Promise((resolve, reject) => {
        res.once('data', resolve);
        res.once('error', reject);
      });
      samples.push(performance.now() - t0);
      res.destroy();
    }
    return { samples };
  },

  /** Writes n objects of `size` bytes (keys from `prefix` + index or the listing scheme), `concurrency` at once. */
  async populate(s3, { bucket, prefix, n, size = 0, concurrency = 64, scheme }) {
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      for (let i = next++; i < n; i = next++) {
        const key = scheme === 'listing' ? listingKey(i) : `${prefix}${i}`;
        await s3.call({ method: 'PUT', path: `/${bucket}/${encodeKey(key)}`, body: patternBody(size, pattern), bodySize: size });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, opsPerSec: n / seconds };
  },

  /** `concurrency` clients in closed loop for durationMs: PUT fresh keys, or GET random keys of a populated pool. */
  async small(s3, { bucket, mode: op, size, concurrency, durationMs, prefix, pool }) {
    const lat = [];
    let errors = 0;
    const runId = randomBytes(4).toString('hex');
    const t0 = performance.now();
    const stopAt = t0 + durationMs;
    const client = async (c) => {
      for (let i = 0; performance.now() < stopAt; i++) {
        const s = performance.now();
        try {
          if (op === 'put') {
            await s3.call({ method: 'PUT', path: `/${bucket}/${encodeKey(`${prefix}${runId}/c${c}-${i}`)}`, body: patternBody(size, pattern), bodySize: size });
          } else {
            const key = `${prefix}${Math.floor(Math.random() * pool)}`;
            const res = await s3.request({ method: 'GET', path: `/${bucket}/${encodeKey(key)}` });
            const { bytes } = await drain(res);
            if (res.statusCode !== 200 || bytes !== size) throw new Error(`GET ${key}: ${res.statusCode}, ${bytes} bytes`);
          }
          lat.push(performance.now() - s);
        } catch (err) {
          if (errors++ === 0) process.stderr.write(`small ${op}: ${err.message}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, c) => client(c)));
    const seconds = (performance.now() - t0) / 1000;
    return { ops: lat.length, errors, seconds, opsPerSec: lat.length / seconds, samples: lat };
  },

  /** ListObjectsV2 pages of 1000: flat from random start-after keys, or one directory level under a random prefix. */
  async list(s3, { bucket, n, mode, samples: count }) {
    const samples = [];
    let keys = 0;
    for (let i = 0; i < count; i++) {
      const q = new URLSearchParams({ 'list-type': '2', 'max-keys': '1000' });
      if (mode === 'flat') q.set('start-after', listingKey(Math.floor(Math.random() * n)));
      else {
        q.set('delimiter', '/');
        q.set('prefix', `${listingKey(Math.floor(Math.random() * n)).split('/')[0]}/`);
      }
      const t = performance.now();
      const { text } = await s3.call({ method: 'GET', path: `/${bucket}?${q}` });
      samples.push(performance.now() - t);
      keys += (text.match(/<Key>/g)?.length ?? 0) + (text.match(/<Prefix>[^<]+<\/Prefix>\s*<\/CommonPrefixes>/g)?.length ?? 0);
    }
    return { samples, entriesPerPage: keys / count };
  },

  /** Sequential PUT of a fresh key then GET of it: per-request latency at the bucket's current size. */
  async latency(s3, { bucket, n, size, prefix }) {
    const put = [];
    const get = [];
    const runId = randomBytes(4).toString('hex');
    for (let i = 0; i < n; i++) {
      const path = `/${bucket}/${encodeKey(`${prefix}${runId}-${i}`)}`;
      let t = performance.now();
      await s3.call({ method: 'PUT', path, body: patternBody(size, pattern), bodySize: size });
      put.push(performance.now() - t);
      t = performance.now();
      const res = await s3.request({ method: 'GET', path });
      await drain(res);
      if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode}`);
      get.push(performance.now() - t);
    }
    return { put, get };
  },

  /** Training input: `workers` readers, each reading `perWorker` whole objects from its own shuffled order. */
  async train(s3, { bucket, keys, size, workers, perWorker }) {
    const lat = [];
    let bytes = 0;
    const t0 = performance.now();
    const worker = async () => {
      const order = [...keys].sort(() => Math.random() - 0.5);
      for (let i = 0; i < perWorker; i++) {
        const t = performance.now();
        const g = await getRange(s3, bucket, order[i % order.length]);
        if (g.bytes !== size) throw new Error(`train GET: ${g.bytes} bytes, expected ${size}`);
        bytes += g.bytes;
        lat.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, bytes, mbps: bytes / 1e6 / seconds, samples: lat };
  },

  /** One epoch: every key read once, in the given order, by `workers` readers taking the next key in turn. */
  async epoch(s3, { bucket, keys, size, workers }) {
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++];
        const g = await getRange(s3, bucket, key);
        if (g.bytes !== size) throw new Error(`epoch GET ${key}: ${g.bytes} bytes, expected ${size}`);
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
    return { seconds: (performance.now() - t0) / 1000 };
  },
};

async function getRange(s3, bucket, key, range) {
  const res = await s3.request({ method: 'GET', path: `/${bucket}/${encodeKey(key)}`, headers: range ? { Range: range } : {} });
  if (res.statusCode !== 200 && res.statusCode !== 206) throw new Error(`GET ${key}: HTTP ${res.statusCode} ${(await readText(res)).slice(0, 300)}`);
  return drain(res);
}

async function multipartPut(s3, bucket, key, size, streams) {
  const path = `/${bucket}/${encodeKey(key)}`;
  const { text } = await s3.call({ method: 'POST', path: `${path}?uploads` });
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(text)?.[1];
  if (!uploadId) throw new Error(`CreateMultipartUpload: no UploadId in ${text.slice(0, 200)}`);
  const partSize = Math.max(5 * MiB, Math.ceil(size / streams));
  const parts = [];
  for (let n = 1, off = 0; off < size; n++, off += partSize) parts.push({ n, len: Math.min(partSize, size - off) });
  const etags = await Promise.all(
    parts.map(async ({ n, len }) => {
      const { res } = await s3.call({ method: 'PUT', path: `${path}?partNumber=${n}&uploadId=${encodeURIComponent(uploadId)}`, body: patternBody(len, pattern), bodySize: len });
      return res.headers.etag;
    }),
  );
  const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  const done = await s3.call({ method: 'POST', path: `${path}?uploadId=${encodeURIComponent(uploadId)}`, body: xml });
  if (/<Error>/.test(done.text)) throw new Error(`CompleteMultipartUpload: ${done.text.slice(0, 300)}`);
}

async function main() {
  const task = JSON.parse(process.argv[2] ?? '{}');
  const op = ops[task.op];
  if (!op) throw new Error(`unknown op ${task.op}`);
  const s3 = new S3Endpoint(task.target);
  try {
    const result = await op(s3, task);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    s3.close();
  }
}

main().catch((err) => {
  process.stderr.write(`load: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
