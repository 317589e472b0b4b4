import http from 'node:http';
import https from 'node:https';
import { pipeline, Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { abortErrorFrom } from './abort.js';
import { ExactLengthStream } from './exact-length.js';
import { guardStalls } from './watchdog.js';

/**
 * What the client needs to reach an S3-compatible service. Its own type, so util does not depend on config; the
 * config's S3 connection settings satisfy it structurally.
 */
export interface S3ClientOptions {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** Absent: the SDK's default provider chain (env, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  timeoutMs: number;
  maxAttempts: number;
}

/** Upload tuning shared by every streamed writer to S3 (hot tier, s3 nodes). */
export interface S3UploadTuning {
  /** Multipart part size; the SDK's floor is 5 MiB. Default 8 MiB. */
  partSize?: number;
  /** Parts in flight per upload. Peak memory per upload is about partSize * (queueSize + 1). Default 2. */
  queueSize?: number;
  /** Blobs up to this size are one streamed PutObject, larger ones multipart. Default 5 GiB (S3's single-PUT limit). */
  singlePutMax?: number;
}

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_QUEUE_SIZE = 2;

/** Connection timeout cap: a refused or black-holed endpoint must fail fast even when timeoutMs is generous. */
const MAX_CONNECT_TIMEOUT_MS = 10_000;

export interface S3ClientMode {
  /**
   * false: no socket idle timeout once the answer's headers are in, for clients whose callers read bodies at their
   * own pace (a paused download leaves the socket idle without the peer being at fault) and guard body stalls
   * themselves (guardStalls in watchdog.ts). Connecting and waiting for the headers stay bounded by timeoutMs.
   */
  bodyIdleTimeout?: boolean;
}

/**
 * One place that knows how Tessera talks to S3-compatible backends (hot tier and s3 nodes).
 * - Checksums only when an operation requires them: Ceph RGW 16 cannot parse the aws-chunked bodies with trailing
 *   checksums that the SDK sends by default for streamed uploads (it answers 411 MissingContentLength).
 * - The SDK's "standard" retry mode: exponential backoff with jitter on throttling (503 SlowDown) and 5xx.
 * - timeoutMs bounds connecting, waiting for response headers, and any idle gap in a body (socket timeout), so a
 *   stalled peer fails instead of hanging; a long transfer that keeps moving is never cut. The SDK's requestTimeout
 *   is not used for that on the default client: it runs until the response headers, so it also timed the upload of a
 *   request body, and cut every PUT that took longer than timeoutMs (a 300 MB promotion on a busy machine).
 *   A client with bodyIdleTimeout=false (downloads only: no request bodies) uses it for the wait for headers.
 */
export function createS3Client(cfg: S3ClientOptions, mode: S3ClientMode = {}): S3Client {
  // Uncapped (free sockets are capped): S3 nodes take part in lock-step shard uploads, and a capped pool can deadlock them.
  const agentOptions: http.AgentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: Infinity, maxFreeSockets: 64 };
  const options: S3ClientConfig = {
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    maxAttempts: Math.max(1, cfg.maxAttempts),
    retryMode: 'standard',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: Math.min(cfg.timeoutMs, MAX_CONNECT_TIMEOUT_MS),
      ...(mode.bodyIdleTimeout === false
        ? { requestTimeout: cfg.timeoutMs, throwOnRequestTimeout: true, socketTimeout: 0 }
        : { socketTimeout: cfg.timeoutMs }),
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
    },
  };
  if (cfg.endpoint !== undefined && cfg.endpoint !== '') options.endpoint = cfg.endpoint;
  if (cfg.credentials) {
    options.credentials = {
      accessKeyId: cfg.credentials.accessKeyId,
      secretAccessKey: cfg.credentials.secretAccessKey,
      ...(cfg.credentials.sessionToken !== undefined ? { sessionToken: cfg.credentials.sessionToken } : {}),
    };
  }
  return new S3Client(options);
}

/** What the SDK attaches to a failed call; read defensively because network errors carry none of it. */
export interface S3FailureInfo {
  name: string;
  code?: string;
  status?: number;
  message: string;
}

export function describeS3Failure(err: unknown): S3FailureInfo {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const meta = (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  const status = typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
  const rawCode = (err as { code?: unknown; Code?: unknown }).code ?? (err as { Code?: unknown }).Code;
  const info: S3FailureInfo = { name: err.name, message: err.message };
  if (status !== undefined) info.status = status;
  if (typeof rawCode === 'string') info.code = rawCode;
  return info;
}

/** NoSuchKey from GET, NotFound (bare 404) from HEAD. */
export function isS3NotFound(err: unknown): boolean {
  const f = describeS3Failure(err);
  return f.name === 'NoSuchKey' || f.name === 'NotFound' || f.code === 'NoSuchKey' || (f.status === 404 && f.name !== 'NoSuchBucket');
}

/** S3 Range header for [offset, offset+length); length must be > 0. */
export function byteRangeHeader(range: { offset: number; length: number }): string {
  return `bytes=${range.offset}-${range.offset + range.length - 1}`;
}

/** `body` piped through an ExactLengthStream; errors of the source propagate to the returned stream. */
export function withExactLength(body: Readable, length: number): Readable {
  const guard = new ExactLengthStream(length);
  // pipeline, not pipe: when the uploader destroys `guard` (a failed upload), the body is destroyed too, so a writer
  // waiting for 'drain' on it is released instead of stalling forever.
  pipeline(body, guard, () => undefined);
  return guard;
}

/**
 * Largest blob sent as one streamed PutObject (S3's limit for a single PUT is 5 GiB). Below it there is no part
 * buffering, no per-part SHA-256 and no copying: the SDK signs a stream body as UNSIGNED-PAYLOAD and pipes it to the
 * socket (bench: a promoting 256 MiB cold GET spent ~1 CPU-s in lib-storage's part concat + payload hashing). The cost
 * is that a failed single PUT is not retried (the SDK never replays a stream body) and restarts from zero, which a
 * cache fill can afford: the object stays cold and the next read promotes it.
 */
export const DEFAULT_SINGLE_PUT_MAX_BYTES = 5 * 1024 * 1024 * 1024;

export interface UploadWindow {
  /** Multipart part size (above singlePutMax). */
  partSize: number;
  /** Multipart parts in memory at most. */
  queueSize: number;
  /** Blobs up to this size go as one streamed PutObject; default DEFAULT_SINGLE_PUT_MAX_BYTES. */
  singlePutMax?: number;
}

/**
 * Streams exactly `length` bytes of `body` to `bucket/key`: one streamed PutObject up to `window.singlePutMax`,
 * multipart above it (`queueSize` parts in memory at most). An abort of `signal` aborts the upload and its parts.
 * Shared by the S3 hot tier and the S3 node driver.
 */
export async function uploadStream(
  client: S3Client,
  target: { bucket: string; key: string },
  body: Readable,
  length: number,
  window: UploadWindow,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) {
    body.destroy();
    throw abortErrorFrom(signal);
  }
  if (length <= (window.singlePutMax ?? DEFAULT_SINGLE_PUT_MAX_BYTES)) {
    await putStream(client, target, body, length, signal);
    return;
  }
  const upload = new Upload({
    client,
    params: { Bucket: target.bucket, Key: target.key, Body: withExactLength(body, length) },
    partSize: window.partSize,
    queueSize: window.queueSize,
    leavePartsOnError: false,
  });
  const onAbort = (): void => void upload.abort().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await upload.done();
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * One PutObject whose body streams from `body`. A body of the wrong length, a caller's abort and a failed request all
 * end the request and destroy the body (the node.js handler only pipes it, and a short body would otherwise leave the
 * request waiting for bytes that never come until the idle timeout).
 */
async function putStream(client: S3Client, target: { bucket: string; key: string }, body: Readable, length: number, signal?: AbortSignal): Promise<void> {
  const guard = new ExactLengthStream(length);
  const request = new AbortController();
  let bodyError: Error | undefined;
  pipeline(body, guard, (err) => {
    if (!err) return;
    bodyError ??= err;
    request.abort(err);
  });
  const onAbort = (): void => request.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.send(
      new PutObjectCommand({ Bucket: target.bucket, Key: target.key, Body: guard, ContentLength: length }),
      { abortSignal: request.signal },
    );
  } catch (err) {
    guard.destroy();
    body.destroy();
    // The body's own failure says more than the abort it caused.
    throw bodyError ?? (signal?.aborted ? abortErrorFrom(signal) : err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (bodyError) throw bodyError;
}

/**
 * GetObject for a body the caller reads at its own pace (hot-tier reads, shard downloads). `client` must come from
 * createS3Client(cfg, { bodyIdleTimeout: false }): the body is then guarded here, failing with stallError() only when
 * S3 delivers nothing for timeoutMs while the caller is reading. SDK failures reject unchanged (callers classify them);
 * `contentLength` is what S3 declared, so a caller can refuse a short range.
 */
export async function openObjectStream(
  client: S3Client,
  target: { bucket: string; key: string; range?: { offset: number; length: number } },
  opts: { timeoutMs: number; stallError: () => Error; signal?: AbortSignal },
): Promise<{ body: Readable; contentLength: number | undefined }> {
  const out = await client.send(
    new GetObjectCommand({ Bucket: target.bucket, Key: target.key, ...(target.range ? { Range: byteRangeHeader(target.range) } : {}) }),
    { abortSignal: opts.signal },
  );
  if (!(out.Body instanceof Readable)) throw new Error('S3 GetObject returned no Node.js stream body');
  return { body: guardStalls(out.Body, opts.timeoutMs, opts.stallError), contentLength: out.ContentLength };
}
