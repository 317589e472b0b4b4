import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { S3NodeConfig } from '../../config/types.js';
import { NodeError, type NodeDriver, type NodeErrorKind, type NodeHealth } from './driver.js';
import {
  byteRangeHeader,
  createS3Client,
  DEFAULT_PART_SIZE,
  DEFAULT_QUEUE_SIZE,
  describeS3Failure,
  isAbortError,
  isS3NotFound,
  uploadStream,
  type S3UploadTuning,
} from '../../util/s3-client.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const AUTH_CODES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken']);

/** Which NodeError kind an S3 SDK failure is, so the cold tier can decide: retry elsewhere, mark unhealthy, heal. */
export function classifyS3Failure(err: unknown): NodeErrorKind {
  const f = describeS3Failure(err);
  const code = f.code ?? f.name;
  if (isS3NotFound(err)) return 'not-found';
  if (code === 'QuotaExceeded' || code === 'InsufficientStorage' || f.status === 507) return 'full';
  if (code === 'EntityTooLarge' || f.status === 413) return 'too-large';
  if (AUTH_CODES.has(code) || f.status === 401 || f.status === 403) return 'auth';
  if (f.name === 'TimeoutError' || code === 'ETIMEDOUT' || code === 'RequestTimeout' || code === 'TimeoutError') return 'timeout';
  if (NETWORK_CODES.has(code) || f.status === undefined || f.status >= 500 || f.status === 429) return 'unavailable';
  if (code === 'NoSuchBucket') return 'unavailable';
  return 'bad-request';
}

/** Shards as objects `${prefix}shards/${shardId}` in an S3-compatible bucket; the handle is the shard id. */
export class S3NodeDriver implements NodeDriver {
  readonly name: string;
  readonly kind = 's3' as const;
  readonly weight: number;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly shardPrefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(cfg: S3NodeConfig, tuning: S3UploadTuning = {}) {
    this.name = cfg.name;
    this.weight = cfg.weight;
    this.client = createS3Client(cfg);
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
    try {
      await uploadStream(this.client, { bucket: this.bucket, key: this.key(shardId) }, body, length, { partSize: this.partSize, queueSize: this.queueSize }, signal);
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
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: byteRangeHeader(range) } : {}) }),
        { abortSignal: signal },
      );
      if (!(out.Body instanceof Readable)) throw new Error('S3 GetObject returned no Node.js stream body');
      return out.Body;
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
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
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
  }
}
