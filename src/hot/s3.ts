import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { S3ConnectionConfig } from '../config/types.js';
import type { HotTier } from './driver.js';
import {
  createS3Client,
  DEFAULT_PART_SIZE,
  DEFAULT_QUEUE_SIZE,
  DEFAULT_SINGLE_PUT_MAX_BYTES,
  describeS3Failure,
  isS3NotFound,
  openObjectStream,
  uploadStream,
  type S3UploadTuning,
} from '../util/s3-client.js';
import { LeanS3 } from '../util/lean-s3.js';

/** Hot tier blobs as objects `${prefix}${id}` in one bucket of an S3-compatible service. */
export class S3HotTier implements HotTier {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  /** For GetObject only: a blob is read at the pace of the client it is served to, so stalls are guarded per read. */
  private readonly readClient: S3Client;
  private readonly timeoutMs: number;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly singlePutMax: number;
  /**
   * GETs and single PUTs of blobs, when the endpoint and keys are configured (the SDK's provider chain, for
   * instance roles, stays with the SDK).
   */
  private readonly lean: LeanS3 | undefined;

  constructor(cfg: S3ConnectionConfig, tuning: S3UploadTuning = {}) {
    this.client = createS3Client(cfg);
    this.lean =
      cfg.endpoint !== undefined && cfg.credentials !== undefined
        ? new LeanS3({ endpoint: cfg.endpoint, region: cfg.region, forcePathStyle: cfg.forcePathStyle, credentials: cfg.credentials, timeoutMs: cfg.timeoutMs, maxAttempts: cfg.maxAttempts })
        : undefined;
    this.readClient = createS3Client(cfg, { bodyIdleTimeout: false });
    this.timeoutMs = cfg.timeoutMs;
    this.bucket = cfg.bucket;
    this.prefix = cfg.prefix;
    this.partSize = tuning.partSize ?? DEFAULT_PART_SIZE;
    this.queueSize = tuning.queueSize ?? DEFAULT_QUEUE_SIZE;
    this.singlePutMax = tuning.singlePutMax ?? DEFAULT_SINGLE_PUT_MAX_BYTES;
  }

  private key(id: string): string {
    return `${this.prefix}${id}`;
  }

  async put(id: string, body: Readable, length: number, signal?: AbortSignal): Promise<void> {
    if (this.lean && length <= this.singlePutMax) return this.lean.put(this.bucket, this.key(id), body, length, signal);
    await uploadStream(this.client, { bucket: this.bucket, key: this.key(id) }, body, length, { partSize: this.partSize, queueSize: this.queueSize, singlePutMax: this.singlePutMax }, signal);
  }

  async get(id: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable | null> {
    if (range && range.length === 0) {
      // S3 cannot express an empty range; only existence matters.
      return (await this.exists(id, signal)) ? Readable.from([]) : null;
    }
    if (this.lean) return this.lean.get(this.bucket, this.key(id), range, signal);
    try {
      const { body } = await openObjectStream(
        this.readClient,
        { bucket: this.bucket, key: this.key(id), ...(range ? { range } : {}) },
        {
          timeoutMs: this.timeoutMs,
          stallError: () => new Error(`hot tier: read of ${id} stalled for ${this.timeoutMs} ms`),
          ...(signal ? { signal } : {}),
        },
      );
      return body;
    } catch (err) {
      if (isS3NotFound(err)) return null;
      throw err;
    }
  }

  private async exists(id: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(id) }), { abortSignal: signal });
      return true;
    } catch (err) {
      if (isS3NotFound(err)) return false;
      throw err;
    }
  }

  async delete(id: string): Promise<void> {
    // S3 DeleteObject already succeeds on a missing key.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
  }

  async *list(): AsyncIterable<{ id: string; size: number }> {
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.prefix });
    for await (const page of pages) {
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined || !obj.Key.startsWith(this.prefix)) continue;
        yield { id: obj.Key.slice(this.prefix.length), size: obj.Size ?? 0 };
      }
    }
  }

  async health(): Promise<{ ok: boolean; reason?: string }> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return { ok: true };
    } catch (err) {
      const f = describeS3Failure(err);
      return { ok: false, reason: `bucket ${this.bucket}: ${f.status !== undefined ? `HTTP ${f.status} ` : ''}${f.code ?? f.name}: ${f.message}` };
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.readClient.destroy();
    this.lean?.close();
  }
}
