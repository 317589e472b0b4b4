/**
 * Request fuzzing against a real in-process gateway: thousands of random and mutated requests, signed exactly as sent
 * (so the mutation reaches the code behind authentication) or unsigned. Every answer must honour the S3 contract
 * (no 5xx for a client's mistake, every error S3 XML with a RequestId), the process must survive, and the sentinel
 * objects must read back byte-identical afterwards.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, USERS, type Api, type UserName } from './helpers/s3-api.js';
import { canonicalQuery, errorCodeOf, expectS3Contract, send, sendRaw, sign, uriEncode, type Answer } from './helpers/fuzz.js';

const BUCKET = 'fuzz';
const SENTINELS: Record<string, Buffer> = {
  'sentinel/empty': Buffer.alloc(0),
  'sentinel/small': Buffer.from('sentinel-small-'.repeat(7000)),
  // Larger than one 1 MiB segment of the test gateway.
  'sentinel/multi-segment': Buffer.from(createHash('sha512').update('seed').digest('hex').repeat(12_500)),
};

let api: Api;
let host: string;

async function sentinelDigests(): Promise<Record<string, string>> {
  const client = api.client('admin');
  const out: Record<string, string> = {};
  for (const key of Object.keys(SENTINELS)) {
    const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    out[key] = createHash('sha256').update(await res.Body!.transformToByteArray()).digest('hex');
  }
  return out;
}

beforeAll(async () => {
  api = await startApi();
  host = `127.0.0.1:${api.port}`;
  const client = api.client('admin');
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const [key, body] of Object.entries(SENTINELS)) await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
});

afterAll(async () => {
  // Stored data unchanged by everything below, and the gateway still serves.
  const after = await sentinelDigests();
  for (const [key, body] of Object.entries(SENTINELS)) expect(after[key], key).toBe(createHash('sha256').update(body).digest('hex'));
  await api.close();
});

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
const weirdValue = fc.oneof(
  printable,
  fc.constantFrom('', ' ', '-1', '0', '99999999999999999999999', 'NaN', 'bytes=', 'bytes=0-', 'bytes=-0', 'bytes=5-1', 'bytes=0-0,1-1', '*', '"', '""', 'true', 'false', 'null'),
  fc.integer().map(String),
);

const HEADER_NAMES = [
  'range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'content-md5', 'content-type', 'content-encoding',
  'content-language', 'content-disposition', 'cache-control', 'expires', 'x-amz-meta-a', 'x-amz-meta-B', 'x-amz-tagging',
  'x-amz-copy-source', 'x-amz-copy-source-range', 'x-amz-copy-source-if-match', 'x-amz-metadata-directive', 'x-amz-tagging-directive',
  'x-amz-storage-class', 'x-amz-acl', 'x-amz-grant-read', 'x-amz-server-side-encryption', 'x-amz-server-side-encryption-customer-algorithm',
  'x-amz-checksum-crc32', 'x-amz-checksum-crc32c', 'x-amz-checksum-sha1', 'x-amz-checksum-sha256', 'x-amz-checksum-crc64nvme',
  'x-amz-sdk-checksum-algorithm', 'x-amz-checksum-algorithm', 'x-amz-checksum-mode', 'x-amz-trailer', 'x-amz-decoded-content-length',
  'x-amz-expected-bucket-owner', 'x-amz-request-payer', 'x-amz-object-lock-mode', 'x-amz-object-lock-retain-until-date',
  'x-amz-website-redirect-location', 'x-amz-mp-object-size', 'x-amz-write-offset-bytes', 'x-amz-bucket-object-lock-enabled',
  'x-amz-object-attributes', 'x-amz-max-parts', 'x-amz-part-number-marker', 'x-amz-security-token', 'x-forwarded-host',
] as const;

const QUERY_NAMES = [
  'uploads', 'uploadId', 'partNumber', 'tagging', 'delete', 'list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token',
  'start-after', 'marker', 'versionId', 'versions', 'acl', 'location', 'versioning', 'response-content-type', 'response-content-disposition',
  'response-cache-control', 'response-expires', 'x-id', 'encoding-type', 'fetch-owner', 'attributes', 'restore', 'select', 'torrent',
  'policy', 'cors', 'lifecycle', 'max-uploads', 'key-marker', 'upload-id-marker', 'max-parts', 'part-number-marker', 'X-Amz-Expires',
  'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Algorithm', 'object-lock', 'retention', 'legal-hold', 'website',
] as const;

/** Object keys, always below "f/" once decoded: nothing a fuzz case sends may legitimately address a sentinel. */
const fuzzKey = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('..', '../sentinel/small', '../../sentinel/small', './x', '/sentinel/small', 'a/../../../etc/passwd', 'x\0y', '\0', '\u0000../', 'con', 'aux.txt', '~', '.', '...', '//', 'a//b', 'dir/', ' '),
  fc.integer({ min: 1000, max: 1100 }).map((n) => 'k'.repeat(n)),
  fc.integer({ min: 300, max: 400 }).map((n) => '\u00e9'.repeat(n)),
);
/** Raw (already encoded) key suffixes, valid or not: the server decodes them, or answers InvalidURI. */
const rawKeySuffix = fc.oneof(
  fuzzKey.map((k) => uriEncode(k, true)),
  fc.constantFrom('%', '%Z1', '%C0%AF', '%ED%A0%80', '%FF', '%00', '%2e%2e%2f..%2fsentinel%2fsmall', '%E2%82', '%F4%90%80%80', '%25', 'a%2Fb', '%C3%28', '%u002e'),
  fc.tuple(fc.string({ unit: fc.constantFrom('%', 'A', 'f', '0', '2', 'e', '/', 'C', '8'), maxLength: 12 })).map(([s]) => s),
);

function keyPath(bucket: string, rawSuffix: string | undefined): string {
  return rawSuffix === undefined ? `/${bucket}` : `/${bucket}/f/${rawSuffix}`;
}

const bucketName = fc.oneof(
  fc.constant(BUCKET),
  fc.constant(BUCKET),
  fc.constantFrom('nosuchbucket', 'FUZZ', 'a', 'ab', '..', 'fuzz.', '-fuzz', 'xn--fuzz', '192.168.0.1', 'a'.repeat(64), 'fuzz..x'),
  fc.string({ unit: fc.constantFrom('a', 'b', '.', '-', '0', 'Z', '_'), minLength: 0, maxLength: 70 }),
);

interface Stats {
  total: number;
  pastAuth: number;
  byStatus: Map<number, number>;
}

function record(stats: Stats, a: Answer): void {
  stats.total++;
  stats.byStatus.set(a.status, (stats.byStatus.get(a.status) ?? 0) + 1);
  const code = errorCodeOf(a);
  if (code !== 'SignatureDoesNotMatch' && code !== 'AccessDenied' && code !== 'InvalidAccessKeyId' && code !== 'AuthorizationHeaderMalformed') stats.pastAuth++;
}

function withLength(headers: Record<string, string>, body: Buffer | undefined): Record<string, string> {
  return body === undefined ? headers : { ...headers, 'content-length': String(body.length) };
}

describe('fuzzed signed requests', () => {
  it('random methods, buckets, keys, subresources, headers and bodies never crash the gateway or get a 5xx', async () => {
    const stats: Stats = { total: 0, pastAuth: 0, byStatus: new Map() };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PUT', 'HEAD', 'DELETE', 'POST', 'OPTIONS', 'PATCH'),
        bucketName,
        fc.option(rawKeySuffix, { nil: undefined }),
        fc.array(fc.tuple(fc.constantFrom(...QUERY_NAMES), weirdValue), { maxLength: 4 }),
        fc.dictionary(fc.constantFrom(...HEADER_NAMES), weirdValue, { maxKeys: 5 }),
        fc.option(fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)), { nil: undefined }),
        fc.constantFrom<UserName>('admin', 'reader', 'writer'),
        async (method, bucket, rawKey, query, headers, body, user) => {
          const path = keyPath(uriEncode(bucket), rawKey);
          const wire = sign({ method, path, query: canonicalQuery(query), headers, body }, host, USERS[user]);
          const a = await send(api.port, { ...wire, headers: withLength(wire.headers ?? {}, body) });
          if (a.notSent) return;
          record(stats, a);
          expectS3Contract(a, `${method} ${path}?${wire.query ?? ''} ${JSON.stringify(headers)}`);
          // We sign exactly what we send: the server must agree on the signature whatever the content.
          expect(errorCodeOf(a), `${method} ${path}?${wire.query ?? ''} ${JSON.stringify(headers)}`).not.toBe('SignatureDoesNotMatch');
        },
      ),
      { numRuns: 1500 },
    );
    // The fuzz is only meaningful if most cases reach the handlers.
    expect(stats.pastAuth / stats.total).toBeGreaterThan(0.5);
  }, 120_000);

  it('keys: NUL, dot segments, very long, invalid UTF-8 percent-encodings are answered (InvalidURI, KeyTooLong...) or stored as literal keys', async () => {
    await fc.assert(
      fc.asyncProperty(rawKeySuffix, fc.uint8Array({ maxLength: 64 }), async (rawKey, bytes) => {
        const body = Buffer.from(bytes);
        const path = keyPath(BUCKET, rawKey);
        const put = await send(api.port, { ...sign({ method: 'PUT', path, body }, host, USERS.admin), body });
        if (put.notSent) return;
        expectS3Contract(put, `PUT ${path}`);
        expect([200, 400]).toContain(put.status);
        const get = await send(api.port, sign({ method: 'GET', path }, host, USERS.admin));
        expectS3Contract(get, `GET ${path}`);
        if (put.status === 200) {
          // Stored under its literal (decoded) name: reads back exactly, and a dot segment never reached a sentinel.
          expect(get.status, `GET ${path}`).toBe(200);
          expect(get.body.equals(body)).toBe(true);
          const del = await send(api.port, sign({ method: 'DELETE', path }, host, USERS.admin));
          expect(del.status).toBe(204);
        } else {
          expect(get.status).toBe(400);
        }
      }),
      { numRuns: 400 },
    );
  }, 90_000);

  it('ranges: every answer is 200, 206 with exactly the bytes named by Content-Range, or 416', async () => {
    const object = SENTINELS['sentinel/multi-segment']!;
    const spec = fc.oneof(
      fc.tuple(fc.nat({ max: 1_700_000 }), fc.nat({ max: 1_700_000 })).map(([a, b]) => `bytes=${a}-${b}`),
      fc.nat({ max: 1_700_000 }).map((a) => `bytes=${a}-`),
      fc.nat({ max: 1_700_000 }).map((n) => `bytes=-${n}`),
      fc.tuple(fc.nat(100), fc.nat(100), fc.nat(100)).map(([a, b, c]) => `bytes=${a}-${b},${c}-`),
      printable.map((s) => `bytes=${s}`),
      printable,
      fc.constantFrom('bytes=0-0', 'bytes=1599999-', 'bytes=1600000-', 'bytes=-1', 'bytes=-0', 'bytes=0--1', 'bytes= 0-1', 'items=0-1', 'bytes=99999999999999999999-'),
    );
    await fc.assert(
      fc.asyncProperty(spec, async (range) => {
        const a = await send(api.port, sign({ method: 'GET', path: `/${BUCKET}/sentinel/multi-segment`, headers: { range } }, host, USERS.reader));
        if (a.notSent) return;
        expectS3Contract(a, `range ${range}`);
        expect([200, 206, 416, 400], `range ${range}`).toContain(a.status);
        if (a.status === 200) expect(a.body.equals(object)).toBe(true);
        if (a.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(a.headers['content-range']));
          expect(m, `content-range for ${range}`).not.toBeNull();
          const [start, end, total] = [Number(m![1]), Number(m![2]), Number(m![3])];
          expect(total).toBe(object.length);
          expect(a.body.equals(object.subarray(start, end + 1)), `bytes for ${range}`).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  }, 90_000);

  it('metadata: random x-amz-meta-* sets are stored and returned exactly, or refused with a 400', async () => {
    const metaName = fc.string({ unit: fc.constantFrom('a', 'b', 'z', '0', '-', '_', '.'), minLength: 1, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(fc.dictionary(metaName, printable, { maxKeys: 30 }), async (meta) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(meta)) headers[`x-amz-meta-${k}`] = v;
        const path = `/${BUCKET}/f/meta`;
        const body = Buffer.from('m');
        const put = await send(api.port, { ...sign({ method: 'PUT', path, headers, body }, host, USERS.admin), body });
        if (put.notSent) return;
        expectS3Contract(put, `PUT meta ${JSON.stringify(meta)}`);
        expect([200, 400]).toContain(put.status);
        if (put.status !== 200) return;
        const head = await send(api.port, sign({ method: 'HEAD', path }, host, USERS.admin));
        expect(head.status).toBe(200);
        // HTTP strips a header value's surrounding whitespace on the way in; everything else must survive.
        for (const [k, v] of Object.entries(meta)) if (v.trim() !== '') expect(head.headers[`x-amz-meta-${k}`], k).toBe(v.trim());
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});

describe('unsigned and malformed requests', () => {
  it('an Expect header other than 100-continue is answered by the S3 layer (S3 XML with a RequestId), not by node', async () => {
    for (const expectValue of ['0', 'foo', '200-ok']) {
      const a = await send(api.port, sign({ method: 'GET', path: `/${BUCKET}/sentinel/small`, headers: { expect: expectValue } }, host, USERS.admin));
      expectS3Contract(a, `GET with Expect: ${expectValue}`);
    }
  });

  it('anonymous requests of every shape are refused with S3 XML errors, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PUT', 'HEAD', 'DELETE', 'POST'),
        bucketName,
        fc.option(rawKeySuffix, { nil: undefined }),
        fc.array(fc.tuple(fc.constantFrom(...QUERY_NAMES), weirdValue), { maxLength: 5 }),
        fc.dictionary(fc.constantFrom('authorization', 'x-amz-date', 'x-amz-content-sha256', 'date', ...HEADER_NAMES), weirdValue, { maxKeys: 5 }),
        async (method, bucket, rawKey, query, headers) => {
          const path = keyPath(uriEncode(bucket), rawKey);
          const a = await send(api.port, { method, path, query: canonicalQuery(query), headers: { ...headers, host } });
          if (a.notSent) return;
          expectS3Contract(a, `${method} ${path} ${JSON.stringify(headers)}`);
          // Nothing anonymous succeeds against a gateway without public buckets.
          expect(a.status, `${method} ${path}`).toBeGreaterThanOrEqual(300);
        },
      ),
      { numRuns: 600 },
    );
  }, 60_000);

  it('wrong signatures, stale dates and foreign regions are 403 with S3 XML', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('secret', 'date', 'region', 'access', 'header'),
        fc.constantFrom('GET', 'PUT', 'DELETE'),
        async (mutation, method) => {
          const creds = mutation === 'secret' ? { ...USERS.admin, secretKey: 'wrong' } : mutation === 'access' ? { accessKey: 'nobody', secretKey: 'x' } : USERS.admin;
          const date = mutation === 'date' ? new Date(Date.now() - 3_600_000) : new Date();
          const wire = sign({ method, path: `/${BUCKET}/sentinel/small` }, host, creds, { date, region: mutation === 'region' ? 'eu-west-9' : 'us-east-1' });
          if (mutation === 'header') wire.headers = { ...wire.headers, 'x-amz-date': '20000101T000000Z' };
          const a = await send(api.port, { ...wire, headers: withLength(wire.headers ?? {}, method === 'PUT' ? Buffer.alloc(0) : undefined) });
          expectS3Contract(a, `${mutation} ${method}`);
          expect([400, 403]).toContain(a.status);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('garbage on the socket: the server answers 4xx or closes, and keeps serving', async () => {
    const garbage = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 600 }).map((u) => Buffer.from(u)),
      fc.tuple(printable, printable).map(([m, p]) => Buffer.from(`${m} /${p} HTTP/1.1\r\nHost: x\r\n\r\n`)),
      fc.constantFrom(
        'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
        'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
        'PUT /fuzz/f/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nzz\r\n',
        'GET / HTTP/9.9\r\n\r\n',
        'GET /\0 HTTP/1.1\r\n\r\n',
        `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        'GET / HTTP/1.1\r\nHost: x\r\nX: \u0001\r\n\r\n',
      ).map((s) => Buffer.from(s, 'latin1')),
    );
    await fc.assert(
      fc.asyncProperty(garbage, async (bytes) => {
        const r = await sendRaw(api.port, bytes, 5_000);
        const status = /^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1];
        if (status !== undefined) expect(Number(status), r.text.slice(0, 200)).toBeLessThan(500);
      }),
      { numRuns: 200 },
    );
    // Still alive and serving.
    const ok = await send(api.port, sign({ method: 'GET', path: `/${BUCKET}/sentinel/small` }, host, USERS.admin));
    expect(ok.status).toBe(200);
  }, 60_000);
});
