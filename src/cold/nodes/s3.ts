import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { S3NodeConfig } from '../../config/types.js';
import { NodeError, type NodeDriver, type NodeErrorKind, type NodeHealth } from './driver.js';
import { kindForStatus } from './http-status.js';
import { abortErrorFrom, destroyOnAbort, isAbortError } from '../../util/abort.js';
import { ExactLengthStream } from '../../util/exact-length.js';
import {
  createS3Client,
  DEFAULT_PART_SIZE,
  DEFAULT_QUEUE_SIZE,
  describeS3Failure,
  isS3NotFound,
  openObjectStream,
  uploadStream,
  type S3UploadTuning,
} from '../../util/s3-client.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const AUTH_CODES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken']);

/**
 * Which NodeError kind an S3 SDK failure is, so the cold tier can decide: retry elsewhere, mark unhealthy, heal.
 * S3 error codes decide first (they are more precise than statuses: a 404 NoSuchBucket is a wiped or misconfigured
 * node, not a missing shard; ExpiredToken is a 400 that means auth); then the status, through the mapping every HTTP
 * driver shares; a failure without a status never reached S3 and is 'unavailable'.
 */
export function classifyS3Failure(err: unknown): NodeErrorKind {
  const f = describeS3Failure(err);
  const code = f.code ?? f.name;
  if (isS3NotFound(err)) return 'not-found';
  if (code === 'NoSuchBucket') return 'unavailable';
  if (code === 'QuotaExceeded' || code === 'InsufficientStorage') return 'full';
  if (code === 'EntityTooLarge') return 'too-large';
  if (AUTH_CODES.has(code)) return 'auth';
  if (f.name === 'TimeoutError' || code === 'ETIMEDOUT' || code === 'RequestTimeout' || code === 'TimeoutError') return 'timeout';
  if (NETWORK_CODES.has(code) || f.status === undefined) return 'unavailable';
  return kindForStatus(f.status);
}

/** Shards as objects `${prefix}shards/${shardId}` in an S3-compatible bucket; the handle is the shard id. */
export class S3NodeDriver implements NodeDriver {
  readonly name: string;
  readonly kind = 's3' as const;
  readonly weight: number;
  private readonly client: S3Client;
  /** For GetObject only: bodies are read at the caller's pace, so stalls are guarded here, not by the socket. */
  private readonly readClient: S3Client;
  private readonly timeoutMs: number;
  private readonly bucket: string;
  private readonly shardPrefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(cfg: S3NodeConfig, tuning: S3UploadTuning = {}) {
    this.name = cfg.name;
    this.weight = cfg.weight;
    this.client = createS3Client(cfg);
    this.readClient = createS3Client(cfg, { bodyIdleTimeout: false });
    this.timeoutMs = cfg.timeoutMs;
    this.bucket = cfg.bucket;
    this.shardPrefix = `${cfg.prefix}shards/`;
    this.partSize = tuning.partSize ?? DEFAULT_PART_SIZE;
    this.queueSize = tuning.queueSize ?? DEFAULT_QUEUE_SIZE;
  }

  private key(handle: string): string {
    if (handle === '' || handle.includes('/')) throw new NodeError(this.name, 'bad-request', 'invalid shard handle');
    return `${this.shardPrefix}${handle}`;
  }

  /** Abort errors caused by the caller's own signal pass through unchanged: they are not a fault of the node. */
  private fail(op: string, err: unknown, signal?: AbortSignal): never {
    if (err instanceof NodeError) throw err;
    if (signal?.aborted || isAbortError(err)) throw err;
    const f = describeS3Failure(err);
    const detail = `${f.status !== undefined ? `HTTP ${f.status} ` : ''}${f.code ?? f.name}: ${f.message}`;
    throw new NodeError(this.name, classifyS3Failure(err), `${op}: ${detail}`, { cause: err });
  }

  async put(shardId: string, body: Readable, length: number, signal?: AbortSignal): Promise<string> {
    let key: string;
    try {
      key = this.key(shardId);
      if (!Number.isSafeInteger(length) || length < 0) throw new NodeError(this.name, 'bad-request', `put ${shardId}: invalid shard length ${length}`);
    } catch (err) {
      // Refused before the upload started: nobody else will consume or release the caller's stream.
      body.destroy();
      throw err;
    }
    // The caller's side, checked before the upload sees it: a body of the wrong length or a failing source is the
    // caller's fault, 'bad-request', which the breaker does not count against the node (as 'unavailable' it did).
    // pipe, not pipeline, so a source error can be turned into that NodeError; the source goes with `checked`.
    const op = `put ${shardId}`;
    const checked = new ExactLengthStream(length, {
      tooLong: (n) => new NodeError(this.name, 'bad-request', `${op}: shard body longer than ${n} bytes`),
      tooShort: (seen, n) => new NodeError(this.name, 'bad-request', `${op}: shard body ended after ${seen} of ${n} bytes`),
    });
    body.on('error', (err) =>
      checked.destroy(isAbortError(err) ? err : new NodeError(this.name, 'bad-request', `${op}: shard body failed: ${err.message}`, { cause: err })),
    );
    checked.once('close', () => body.destroy());
    body.pipe(checked);
    try {
      await uploadStream(this.client, { bucket: this.bucket, key }, checked, length, { partSize: this.partSize, queueSize: this.queueSize }, signal);
      return shardId;
    } catch (err) {
      return this.fail(`put ${shardId}`, err, signal);
    }
  }

  async get(handle: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable> {
    const key = this.key(handle);
    if (range && range.length === 0) {
      if ((await this.stat(handle, signal)) === null) throw new NodeError(this.name, 'not-found', `get ${handle}: no such shard`);
      return Readable.from([]);
    }
    try {
      const { body, contentLength } = await openObjectStream(
        this.readClient,
        { bucket: this.bucket, key, ...(range ? { range } : {}) },
        {
          timeoutMs: this.timeoutMs,
          stallError: () => new NodeError(this.name, 'timeout', `get ${handle}: download stalled for ${this.timeoutMs} ms`),
          ...(signal ? { signal } : {}),
        },
      );
      // S3 answers a range that runs past the end with the bytes it has (206, shorter): never hand those out as the range.
      if (range && contentLength !== range.length) {
        body.destroy();
        throw new NodeError(this.name, 'corrupt', `get ${handle}: range of ${range.length} bytes answered with ${contentLength ?? 'unknown'} bytes`);
      }
      // The SDK's abort cuts the socket, which the body reports as a plain Error: the caller must see its AbortError.
      return destroyOnAbort(body, signal);
    } catch (err) {
      this.fail(`get ${handle}`, err, signal);
    }
  }

  async delete(handle: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(handle) }), { abortSignal: signal });
    } catch (err) {
      if (isS3NotFound(err)) return;
      this.fail(`delete ${handle}`, err, signal);
    }
  }

  async stat(handle: string, signal?: AbortSignal): Promise<{ size: number } | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(handle) }), {
        abortSignal: signal,
      });
      return { size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isS3NotFound(err)) return null;
      this.fail(`stat ${handle}`, err, signal);
    }
  }

  async *list(signal?: AbortSignal): AsyncIterable<{ handle: string; size: number; mtimeMs?: number }> {
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.shardPrefix });
    try {
      for await (const page of pages) {
        if (signal?.aborted) throw abortErrorFrom(signal);
        for (const obj of page.Contents ?? []) {
          if (obj.Key === undefined || !obj.Key.startsWith(this.shardPrefix)) continue;
          const item: { handle: string; size: number; mtimeMs?: number } = {
            handle: obj.Key.slice(this.shardPrefix.length),
            size: obj.Size ?? 0,
          };
          if (obj.LastModified) item.mtimeMs = obj.LastModified.getTime();
          yield item;
        }
      }
    } catch (err) {
      this.fail('list', err, signal);
    }
  }

  async health(signal?: AbortSignal): Promise<NodeHealth> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
      return { ok: true };
    } catch (err) {
      const f = describeS3Failure(err);
      return { ok: false, reason: `${classifyS3Failure(err)}: ${f.status !== undefined ? `HTTP ${f.status} ` : ''}${f.code ?? f.name}` };
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.readClient.destroy();
  }
}
