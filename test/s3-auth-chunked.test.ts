import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import aws4 from 'aws4';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, decodeBody, type AuthContext, type AuthOptions, type AuthRequest } from '../src/s3/auth/index.js';
import { S3Error } from '../src/s3/s3-error.js';

const ACCESS_KEY = 'AKIDTESSERA0EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const REGION = 'eu-central-1';
const HOST = '127.0.0.1:9000';
const NOW = new Date('2024-05-06T07:08:09Z');
const AMZ_DATE = '20240506T070809Z';
const SCOPE = `20240506/${REGION}/s3/aws4_request`;
const OPTS: AuthOptions = { region: REGION, now: NOW, maxSkewMs: 15 * 60 * 1000 };
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const lookup = (ak: string): string | undefined => (ak === ACCESS_KEY ? SECRET : undefined);

type Mode = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' | 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' | 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
// Derived here from the spec, independently of the code under test.
const SIGNING_KEY = hmac(hmac(hmac(hmac('AWS4' + SECRET, '20240506'), REGION), 's3'), 'aws4_request');

/** Signs the request head with aws4 and authenticates it, giving the context the body decoder continues from. */
function streamingRequest(mode: Mode, decodedLength: number, extraHeaders: Record<string, string> = {}): { ctx: AuthContext; headers: IncomingHttpHeaders; seed: string } {
  const opts = {
    host: HOST,
    method: 'PUT',
    path: '/bucket/big.bin',
    service: 's3',
    region: REGION,
    headers: {
      'X-Amz-Date': AMZ_DATE,
      'X-Amz-Content-Sha256': mode,
      'Content-Encoding': 'aws-chunked',
      'X-Amz-Decoded-Content-Length': String(decodedLength),
      ...extraHeaders,
    } as Record<string, string>,
  };
  aws4.sign(opts, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET });
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(opts.headers)) headers[k.toLowerCase()] = v;
  headers.host = HOST;
  const req: AuthRequest = { method: 'PUT', rawPath: '/bucket/big.bin', rawQuery: '', headers, host: HOST };
  const seed = /Signature=([0-9a-f]{64})/.exec(headers.authorization as string)?.[1] as string;
  return { ctx: authenticate(req, lookup, OPTS), headers, seed };
}

interface BodyOptions {
  signed: boolean;
  seed?: string;
  trailers?: Array<[string, string]>;
  /** Omit x-amz-trailer-signature even though the body is signed. */
  dropTrailerSignature?: boolean;
}

/** Builds an aws-chunked body per the S3 streaming SigV4 documentation. */
function chunkedBody(pieces: Buffer[], o: BodyOptions): Buffer {
  const parts: Buffer[] = [];
  let previous = o.seed ?? '';
  const chunkSig = (data: Buffer): string => {
    const sig = hmac(SIGNING_KEY, ['AWS4-HMAC-SHA256-PAYLOAD', AMZ_DATE, SCOPE, previous, EMPTY_SHA256, sha256(data)].join('\n')).toString('hex');
    previous = sig;
    return sig;
  };
  for (const piece of [...pieces, Buffer.alloc(0)]) {
    const ext = o.signed ? `;chunk-signature=${chunkSig(piece)}` : '';
    parts.push(Buffer.from(`${piece.length.toString(16)}${ext}\r\n`));
    if (piece.length > 0) parts.push(piece, Buffer.from('\r\n'));
  }
  if (o.trailers !== undefined) {
    const canonical = o.trailers.map(([n, v]) => `${n}:${v}\n`).join('');
    parts.push(Buffer.from(o.trailers.map(([n, v]) => `${n}:${v}\r\n`).join('')));
    if (o.signed && o.dropTrailerSignature !== true) {
      const sig = hmac(SIGNING_KEY, ['AWS4-HMAC-SHA256-TRAILER', AMZ_DATE, SCOPE, previous, sha256(canonical)].join('\n')).toString('hex');
      parts.push(Buffer.from(`x-amz-trailer-signature:${sig}\r\n`));
    }
  }
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

interface RunResult {
  data: Buffer;
  error: unknown;
  ended: boolean;
}

/** Feeds `raw` into the decoder in `pieceSize` slices and collects what comes out. */
async function run(stream: Transform, raw: Buffer, pieceSize = raw.length || 1): Promise<RunResult> {
  const slices: Buffer[] = [];
  for (let i = 0; i < raw.length; i += pieceSize) slices.push(raw.subarray(i, i + pieceSize));
  const out: Buffer[] = [];
  let ended = false;
  stream.once('end', () => {
    ended = true;
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk);
      cb();
    },
  });
  let error: unknown;
  try {
    await pipeline(Readable.from(slices), stream, sink);
  } catch (err) {
    error = err;
  }
  return { data: Buffer.concat(out), error, ended };
}

function expectFailure(result: RunResult, code: string, status: number): void {
  expect(result.error).toBeInstanceOf(S3Error);
  const e = result.error as S3Error;
  expect({ code: e.code, status: e.status }).toEqual({ code, status });
  // The error must come before 'end' so the consumer never commits the object.
  expect(result.ended).toBe(false);
}

function splitInto(payload: Buffer, chunkSize: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < payload.length; i += chunkSize) out.push(payload.subarray(i, i + chunkSize));
  return out;
}

describe('aws-chunked with signed chunks', () => {
  const payload = randomBytes(200 * 1024 + 123);

  it('decodes a signed chain however the raw bytes are split', async () => {
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', payload.length);
    expect(ctx.payload).toEqual({ kind: 'streaming-signed', trailer: false });
    const raw = chunkedBody(splitInto(payload, 64 * 1024), { signed: true, seed });
    for (const pieceSize of [raw.length, 65536, 8191, 97]) {
      const decoded = decodeBody(ctx, headers);
      expect(decoded.decodedLength).toBe(payload.length);
      const result = await run(decoded.stream, raw, pieceSize);
      expect(result.error).toBeUndefined();
      expect(result.data.equals(payload)).toBe(true);
      expect(decoded.trailers()).toEqual({});
    }
  });

  it('decodes byte-by-byte delivery of a small body', async () => {
    const small = randomBytes(3000);
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', small.length);
    const result = await run(decodeBody(ctx, headers).stream, chunkedBody(splitInto(small, 1000), { signed: true, seed }), 1);
    expect(result.error).toBeUndefined();
    expect(result.data.equals(small)).toBe(true);
  });

  it('decodes an empty payload (only the final chunk)', async () => {
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 0);
    const result = await run(decodeBody(ctx, headers).stream, chunkedBody([], { signed: true, seed }));
    expect(result.error).toBeUndefined();
    expect(result.data.length).toBe(0);
    expect(result.ended).toBe(true);
  });

  it('rejects a tampered chunk byte with SignatureDoesNotMatch before the end', async () => {
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', payload.length);
    const raw = chunkedBody(splitInto(payload, 64 * 1024), { signed: true, seed });
    const flipAt = raw.indexOf('\r\n', raw.indexOf('\r\n') + 2 + 64 * 1024) + 200; // inside the second chunk
    raw[flipAt] = (raw[flipAt] as number) ^ 1;
    expectFailure(await run(decodeBody(ctx, headers).stream, raw, 4096), 'SignatureDoesNotMatch', 403);
  });

  it('rejects chunks signed from the wrong seed, and a corrupted chunk signature', async () => {
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', payload.length);
    const wrongSeed = chunkedBody(splitInto(payload, 64 * 1024), { signed: true, seed: seed.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) });
    expectFailure(await run(decodeBody(ctx, headers).stream, wrongSeed), 'SignatureDoesNotMatch', 403);
    const raw = chunkedBody(splitInto(payload, 64 * 1024), { signed: true, seed });
    const sigAt = raw.indexOf('chunk-signature=') + 'chunk-signature='.length + 10;
    raw[sigAt] = raw[sigAt] === 0x30 ? 0x31 : 0x30;
    expectFailure(await run(decodeBody(ctx, headers).stream, raw), 'SignatureDoesNotMatch', 403);
  });

  it('rejects reordered chunks (the chain binds order)', async () => {
    const a = randomBytes(1000);
    const b = randomBytes(1000);
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 2000);
    const good = chunkedBody([a, b], { signed: true, seed });
    const firstLen = good.indexOf('\r\n') + 2 + 1000 + 2;
    const secondLen = good.indexOf('\r\n', firstLen) + 2 + 1000 + 2 - firstLen;
    const swapped = Buffer.concat([good.subarray(firstLen, firstLen + secondLen), good.subarray(0, firstLen), good.subarray(firstLen + secondLen)]);
    expectFailure(await run(decodeBody(ctx, headers).stream, swapped), 'SignatureDoesNotMatch', 403);
  });

  it('rejects a chunk without a chunk-signature', async () => {
    const { ctx, headers } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 10);
    expectFailure(await run(decodeBody(ctx, headers).stream, chunkedBody([randomBytes(10)], { signed: false })), 'InvalidRequest', 400);
  });

  it('answers IncompleteBody for every truncation point', async () => {
    const small = randomBytes(300);
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', small.length);
    const raw = chunkedBody(splitInto(small, 100), { signed: true, seed });
    for (let cut = 0; cut < raw.length; cut++) {
      expectFailure(await run(decodeBody(ctx, headers).stream, raw.subarray(0, cut), 64), 'IncompleteBody', 400);
    }
  });

  it('rejects a decoded length that disagrees with the chunks', async () => {
    const data = randomBytes(1000);
    const longer = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 1001);
    expectFailure(await run(decodeBody(longer.ctx, longer.headers).stream, chunkedBody([data], { signed: true, seed: longer.seed })), 'IncompleteBody', 400);
    const shorter = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 999);
    expectFailure(await run(decodeBody(shorter.ctx, shorter.headers).stream, chunkedBody([data], { signed: true, seed: shorter.seed })), 'InvalidRequest', 400);
  });

  it('requires x-amz-decoded-content-length', () => {
    const { ctx, headers } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 10);
    const { 'x-amz-decoded-content-length': _gone, ...without } = headers;
    try {
      decodeBody(ctx, without);
      expect.unreachable('decodeBody accepted a chunked body without a decoded length');
    } catch (err) {
      expect((err as S3Error).code).toBe('MissingContentLength');
    }
  });
});

describe('aws-chunked framing errors', () => {
  const unsigned = () => streamingRequest('STREAMING-UNSIGNED-PAYLOAD-TRAILER', 5);

  it('stops at an oversized chunk-size line without buffering the rest', async () => {
    const { ctx, headers } = unsigned();
    const garbage = Buffer.alloc(8 * 1024 * 1024, 'f');
    const result = await run(decodeBody(ctx, headers).stream, garbage, 1024);
    expectFailure(result, 'InvalidRequest', 400);
    expect(result.data.length).toBe(0);
  });

  it('rejects malformed framing with 400s', async () => {
    const cases: Array<[string, string]> = [
      ['zz\r\nhello\r\n0\r\n\r\n', 'InvalidRequest'], // size not hex
      ['5\r\nhelloXX0\r\n\r\n', 'InvalidRequest'], // data not followed by CRLF
      ['6\r\nhello!\r\n0\r\n\r\n', 'InvalidRequest'], // chunk longer than decoded length
      ['5\nhello\r\n0\r\n\r\n', 'InvalidRequest'], // bare LF
      ['5\r\nhello\r\n0\r\n\r\nextra', 'InvalidRequest'], // bytes after the end
      ['5\r\nhello\r\n0\r\nno-colon-here\r\n\r\n', 'MalformedTrailerError'],
      ['\r\nhello\r\n0\r\n\r\n', 'InvalidRequest'], // empty size line
    ];
    for (const [body, code] of cases) {
      const { ctx, headers } = unsigned();
      expectFailure(await run(decodeBody(ctx, headers).stream, Buffer.from(body)), code, 400);
    }
  });

  it('never throws anything but a 4xx S3Error on arbitrary input', async () => {
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 20, { 'X-Amz-Trailer': 'x-amz-checksum-crc32' });
    const valid = chunkedBody([randomBytes(20)], { signed: true, seed, trailers: [['x-amz-checksum-crc32', 'AAAAAA==']] });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
          // Mutations of a valid body reach deeper states than pure noise.
          fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(valid.length)).map(([at, byte, cut]) => {
            const b = Buffer.from(valid);
            b[at] = byte;
            return b.subarray(0, Math.max(cut, at + 1));
          }),
        ),
        fc.integer({ min: 1, max: 64 }),
        async (raw, pieceSize) => {
          const result = await run(decodeBody(ctx, headers).stream, raw, pieceSize);
          if (result.error === undefined) return; // e.g. a mutation that left the body unchanged
          expect(result.error).toBeInstanceOf(S3Error);
          const status = (result.error as S3Error).status;
          expect(status >= 400 && status < 500).toBe(true);
          expect(result.ended).toBe(false);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('aws-chunked with trailers', () => {
  const payload = randomBytes(70000);
  const trailers: Array<[string, string]> = [['x-amz-checksum-crc32', 'sOO8/Q==']];

  it('verifies a signed trailer and exposes it after the end', async () => {
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', payload.length, { 'X-Amz-Trailer': 'x-amz-checksum-crc32' });
    expect(ctx.payload).toEqual({ kind: 'streaming-signed', trailer: true });
    const decoded = decodeBody(ctx, headers);
    const result = await run(decoded.stream, chunkedBody(splitInto(payload, 65536), { signed: true, seed, trailers }), 1000);
    expect(result.error).toBeUndefined();
    expect(result.data.equals(payload)).toBe(true);
    expect(decoded.trailers()).toEqual({ 'x-amz-checksum-crc32': 'sOO8/Q==' });
  });

  it('rejects a tampered signed trailer and a missing trailer signature', async () => {
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', payload.length, { 'X-Amz-Trailer': 'x-amz-checksum-crc32' });
    const raw = chunkedBody(splitInto(payload, 65536), { signed: true, seed, trailers });
    const tampered = Buffer.from(raw.toString('latin1').replace('sOO8/Q==', 'AAAAAA=='), 'latin1');
    expectFailure(await run(decodeBody(ctx, headers).stream, tampered), 'SignatureDoesNotMatch', 403);
    const unsignedTrailer = chunkedBody(splitInto(payload, 65536), { signed: true, seed, trailers, dropTrailerSignature: true });
    expectFailure(await run(decodeBody(ctx, headers).stream, unsignedTrailer), 'MalformedTrailerError', 400);
  });

  it('rejects trailing headers in a body that declared none', async () => {
    const { ctx, headers, seed } = streamingRequest('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', payload.length);
    expectFailure(await run(decodeBody(ctx, headers).stream, chunkedBody([payload], { signed: true, seed, trailers })), 'MalformedTrailerError', 400);
  });

  it('decodes an unsigned-payload body with a trailer', async () => {
    const { ctx, headers } = streamingRequest('STREAMING-UNSIGNED-PAYLOAD-TRAILER', payload.length, { 'X-Amz-Trailer': 'x-amz-checksum-crc32' });
    expect(ctx.payload).toEqual({ kind: 'streaming-unsigned', trailer: true });
    const decoded = decodeBody(ctx, headers);
    const result = await run(decoded.stream, chunkedBody(splitInto(payload, 8192), { signed: false, trailers }), 3333);
    expect(result.error).toBeUndefined();
    expect(result.data.equals(payload)).toBe(true);
    expect(decoded.trailers()).toEqual({ 'x-amz-checksum-crc32': 'sOO8/Q==' });
  });

  it('rejects an unsigned-trailer body whose declared trailer never arrives', async () => {
    const { ctx, headers } = streamingRequest('STREAMING-UNSIGNED-PAYLOAD-TRAILER', payload.length, { 'X-Amz-Trailer': 'x-amz-checksum-crc32' });
    expectFailure(await run(decodeBody(ctx, headers).stream, chunkedBody([payload], { signed: false })), 'MalformedTrailerError', 400);
  });
});

describe('plain bodies', () => {
  function plainRequest(contentSha256: string, contentLength: number): { ctx: AuthContext; headers: IncomingHttpHeaders } {
    const opts = {
      host: HOST,
      method: 'PUT',
      path: '/bucket/k',
      service: 's3',
      region: REGION,
      headers: { 'X-Amz-Date': AMZ_DATE, 'X-Amz-Content-Sha256': contentSha256 } as Record<string, string>,
    };
    aws4.sign(opts, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET });
    const headers: IncomingHttpHeaders = { 'content-length': String(contentLength), host: HOST };
    for (const [k, v] of Object.entries(opts.headers)) headers[k.toLowerCase()] = v;
    return { ctx: authenticate({ method: 'PUT', rawPath: '/bucket/k', rawQuery: '', headers, host: HOST }, lookup, OPTS), headers };
  }

  it('passes a body whose SHA-256 matches', async () => {
    const body = randomBytes(100_000);
    const { ctx, headers } = plainRequest(sha256(body), body.length);
    const decoded = decodeBody(ctx, headers);
    expect(decoded.decodedLength).toBe(body.length);
    const result = await run(decoded.stream, body, 16384);
    expect(result.error).toBeUndefined();
    expect(result.data.equals(body)).toBe(true);
  });

  it('fails a body whose SHA-256 differs with XAmzContentSHA256Mismatch before the end', async () => {
    const body = randomBytes(100_000);
    const { ctx, headers } = plainRequest(sha256(body), body.length);
    const other = Buffer.from(body);
    other[5000] = (other[5000] as number) ^ 0xff;
    expectFailure(await run(decodeBody(ctx, headers).stream, other, 16384), 'XAmzContentSHA256Mismatch', 400);
  });

  it('fails a body shorter than Content-Length with IncompleteBody, signed or not', async () => {
    const body = randomBytes(1000);
    const signed = plainRequest(sha256(body), body.length);
    expectFailure(await run(decodeBody(signed.ctx, signed.headers).stream, body.subarray(0, 999)), 'IncompleteBody', 400);
    const unsignedReq = plainRequest('UNSIGNED-PAYLOAD', body.length);
    expectFailure(await run(decodeBody(unsignedReq.ctx, unsignedReq.headers).stream, body.subarray(0, 999)), 'IncompleteBody', 400);
    const ok = await run(decodeBody(unsignedReq.ctx, unsignedReq.headers).stream, body);
    expect(ok.data.equals(body)).toBe(true);
  });
});

describe('a body produced by the real AWS SDK', () => {
  interface Captured {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
    body: Buffer;
  }
  let server: Server;
  let endpoint: string;
  const captured: Captured[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        captured.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) });
        res.writeHead(200, { etag: '"0123456789abcdef0123456789abcdef"' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('authenticates and decodes an SDK PutObject with a streaming body and its checksum trailer', async () => {
    const client = new S3Client({
      endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
      requestChecksumCalculation: 'WHEN_SUPPORTED',
    });
    const payload = randomBytes(300 * 1024 + 7);
    const key = 'dir/sdk object (1).bin';
    await client.send(
      new PutObjectCommand({ Bucket: 'bucket', Key: key, Body: Readable.from(splitInto(payload, 50_000)), ContentLength: payload.length }),
    );
    client.destroy();
    const req = captured.at(-1) as Captured;
    const q = req.url.indexOf('?');
    const ctx = authenticate(
      { method: req.method, rawPath: q < 0 ? req.url : req.url.slice(0, q), rawQuery: q < 0 ? '' : req.url.slice(q + 1), headers: req.headers, host: req.headers.host as string },
      lookup,
      { region: REGION, now: new Date(), maxSkewMs: 15 * 60 * 1000 },
    );
    expect(ctx.payload.kind).toMatch(/^streaming-/);
    const decoded = decodeBody(ctx, req.headers);
    const result = await run(decoded.stream, req.body, 10_000);
    expect(result.error).toBeUndefined();
    expect(result.data.equals(payload)).toBe(true);
    const trailers = decoded.trailers();
    const trailerName = String(req.headers['x-amz-trailer']);
    expect(Object.keys(trailers)).toEqual([trailerName]);
    expect(trailerName).toMatch(/^x-amz-checksum-/);
    if (trailerName === 'x-amz-checksum-crc32') {
      const { crc32 } = await import('node:zlib');
      const expected = Buffer.alloc(4);
      expected.writeUInt32BE(crc32(payload));
      expect(trailers[trailerName]).toBe(expected.toString('base64'));
    }
  });
});
