import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { TesseraConfig } from '../config/types.js';
import type { ObjectManifest, ShardRef } from '../model/manifest.js';
import type { ProposedMarker } from '../meta/store.js';
import { newVersionId } from '../meta/version-id.js';
import type { Keyring } from '../cold/keys.js';
import type { MetaStore } from '../meta/store.js';
import type {
  AclGrant,
  BucketConfigName,
  BucketRecord,
  DeleteMarkerRecord,
  DeleteOutcome,
  VersionListQuery,
  VersionListResult,
  ListQuery,
  ListResult,
  LockChange,
  ObjectLock,
  ObjectLockConfig,
  ObjectRecord,
  PartRecord,
  StoredChecksum,
  UploadRecord,
  WriteCondition,
} from '../model/records.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { GatewayError } from './errors.js';
import { fullObjectChecksum, supportsFullObject } from './crc-combine.js';
import { quoteEtag, unquoteEtag } from '../model/etag.js';
import { MAX_PART_NUMBER, MIN_PART_NUMBER } from '../model/limits.js';
import { failedWriteCondition, hasWriteCondition } from '../model/write-condition.js';
import { compositeChecksum } from './checksums.js';
import { checkCompletionParts } from './multipart-completion.js';
import type { ColdStore } from '../cold/cold-store.js';
import type { ObjectReader } from './object-reader.js';
import type { ByteRange, CompletePart, ObjectService, PutObjectInput, UploadPartInput } from './types.js';
import { Ingest } from './ingest.js';
import { Snapshots } from './snapshots.js';
import { ContentHasher } from './content-hasher.js';
import { NULL_VERSION_ID } from '../model/records.js';
import { lockOfNewVersion, parseLockConfig } from './object-lock.js';
import { applyLockChange } from '../meta/object-lock.js';
import { withObjectLock } from '../maintenance/repair.js';
import type { ReadAhead } from './read-ahead.js';

export interface ObjectServiceDeps {
  config: TesseraConfig;
  meta: MetaStore;
  cold: ColdStore;
  reader: ObjectReader;
  keyring: Keyring;
  logger: Logger;
  metrics: Metrics;
  /** Fetches ahead of readers walking a prefix in key order (with a local cache tier). */
  readAhead?: ReadAhead;
}

/** A delete marker where an object was asked for: the latest version (404) or the version named (405). */
function deleteMarkerError(marker: DeleteMarkerRecord, asked: 'latest' | 'by-version'): GatewayError {
  return new GatewayError('DeleteMarker', marker.key, { versionId: marker.versionId, lastModified: String(marker.lastModified), asked });
}

function newId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The gateway's object service: bytes go to the cold tier (durable truth) before metadata is committed, reads go
 * through the ObjectReader (hot tier, coalesced cold reconstruction, promotion). Every commit is one metadata-store
 * transaction, so a crash at any point leaves either the old object or the new one, never a mix; shards written by a
 * write that never committed are orphans that `tessera gc` removes.
 */
export class TesseraObjectService implements ObjectService {
  readonly snapshots: Snapshots;
  private readonly hasher: ContentHasher;

  constructor(private readonly d: ObjectServiceDeps) {
    // Hot copies read cheaply; a cold object is rebuilt without being promoted by this read.
    this.hasher = new ContentHasher((r) => (r.hot === 'hot' ? d.reader.open(r) : d.reader.openFromColdTier(r)), (id, sha) => d.meta.setContentSha256(id, sha), d.logger);
    this.snapshots = new Snapshots({
      meta: d.meta,
      cold: d.cold,
      open: (record) => d.reader.open(record),
      openCold: (record) => d.reader.openFromColdTier(record),
      log: d.logger,
    });
  }

  private get meta(): MetaStore {
    return this.d.meta;
  }

  async createBucket(name: string, owner: string, options: { objectLock?: boolean } = {}): Promise<void> {
    // Buckets and snapshots share one namespace: a snapshot is read as a bucket.
    if ((await this.meta.getSnapshot(name)) !== null) throw new GatewayError('NameTaken', name);
    const record: BucketRecord = { name, owner, createdAt: Date.now(), region: this.d.config.server.region };
    await this.meta.createBucket(record);
    if (options.objectLock === true) {
      // Object Lock needs versioning, and S3 turns it on with the lock.
      await this.meta.putBucketSetting(name, 'versioning', 'Enabled');
      await this.meta.putBucketSetting(name, 'object-lock', JSON.stringify({ enabled: true } satisfies ObjectLockConfig));
    }
  }

  getBucket(name: string): Promise<BucketRecord | null> {
    return this.meta.getBucket(name);
  }

  deleteBucket(name: string): Promise<void> {
    return this.meta.deleteBucket(name);
  }

  listBuckets(): Promise<BucketRecord[]> {
    return this.meta.listBuckets();
  }

  async listObjects(bucket: string, query: ListQuery): Promise<ListResult> {
    await this.requireBucket(bucket);
    return this.meta.listObjects(bucket, query);
  }

  private async requireBucket(bucket: string): Promise<BucketRecord> {
    const b = await this.meta.getBucket(bucket);
    if (!b) throw new GatewayError('NoSuchBucket', bucket);
    return b;
  }

  /** What a write needs to know of its bucket, read once (two store reads): erasure, Object Lock, versioning. */
  private async writeState(bucket: string): Promise<WriteState> {
    const b = await this.requireBucket(bucket);
    const settings = await this.meta.bucketSettings(bucket);
    return {
      erasure: b.erasure ?? { k: this.d.config.cold.k, m: this.d.config.cold.m },
      lock: parseLockConfig(settings['object-lock'] ?? null),
      versioning: settings.versioning,
    };
  }

  private async lockConfig(bucket: string): Promise<ObjectLockConfig | null> {
    return parseLockConfig(await this.meta.getBucketSetting(bucket, 'object-lock'));
  }

  private async erasureFor(bucket: string): Promise<{ k: number; m: number }> {
    const b = await this.requireBucket(bucket);
    return b.erasure ?? { k: this.d.config.cold.k, m: this.d.config.cold.m };
  }

  /**
   * Early check of write conditions, so a doomed upload is refused before its body is stored. The same rule
   * (failedWriteCondition) runs again inside the committing transaction, which is what makes it hold under races.
   */
  private async precheck(bucket: string, key: string, condition?: WriteCondition): Promise<void> {
    if (!hasWriteCondition(condition)) return;
    const current = await this.meta.getObject(bucket, key);
    const failed = failedWriteCondition(current?.etag, condition);
    if (failed === 'NoSuchKey') throw new GatewayError('NoSuchKey', key);
    if (failed !== undefined) throw new GatewayError('PreconditionFailed', failed);
  }

  /** Streams a body into the cold tier and verifies its digests; the shards are durable when this resolves. */
  private async ingest(
    objectId: string,
    dk: Buffer,
    part: number,
    erasure: { k: number; m: number },
    body: Readable,
    size: number,
    contentMd5: string | undefined,
    expected: PutObjectInput['checksum'],
    hotSink?: import('./object-reader.js').HotSink,
    wholeObject = false,
  ): Promise<{ manifest: ObjectManifest['segments']; md5: Buffer; sha256?: Buffer; checksum?: StoredChecksum }> {
    const ingest = new Ingest(body, size, expected?.algorithm, wholeObject);
    let segments: ObjectManifest['segments'] = [];
    try {
      segments = await this.d.cold.writeData({ objectId, dk, part, size, erasure, source: ingest, mayInline: wholeObject, ...(hotSink ? { hotSink } : {}) });
      const digests = await ingest.finish();
      if (contentMd5 !== undefined && digests.md5.toString('base64') !== contentMd5) throw new GatewayError('DigestMismatch');
      let checksum: StoredChecksum | undefined;
      if (expected && digests.checksum !== undefined) {
        const claimed = expected.value();
        if (claimed !== undefined && claimed !== digests.checksum) {
          throw new GatewayError('DigestMismatch', expected.algorithm);
        }
        checksum = { algorithm: expected.algorithm, value: digests.checksum, type: 'FULL_OBJECT' };
      }
      return { manifest: segments, md5: digests.md5, ...(digests.sha256 ? { sha256: digests.sha256 } : {}), ...(checksum ? { checksum } : {}) };
    } catch (err) {
      await ingest.abandon();
      // Best effort now; anything left is an orphan for `tessera gc`.
      this.d.cold.deleteSegments(segments).catch(() => undefined);
      throw err;
    }
  }

  async putObject(input: PutObjectInput): Promise<ObjectRecord> {
    let state: WriteState;
    let lock: ObjectLock | undefined;
    try {
      state = await this.writeState(input.bucket);
      lock = lockOfNewVersion(input.bucket, state.lock, input.lock, Date.now());
      await this.precheck(input.bucket, input.key, input.condition);
    } catch (err) {
      // The body will never be read: release it (for CopyObject it is an open source object with files behind it).
      input.body.destroy();
      throw err;
    }
    const objectId = newId();
    const dk = randomBytes(32);
    const { keyId, wrappedKey } = this.d.keyring.wrap(objectId, dk);
    // An object stored inline is read from its record: a hot copy would be a second copy of no use.
    const inline = this.d.cold.inlines({ size: input.size, part: 1, mayInline: true });
    // With write-through it counts as hot from the start, as a written-through object would (x-tessera-tier).
    const hotSink = this.d.config.hot.writeThrough && !inline ? await this.d.reader.openWriteThrough(objectId, input.size, this.d.config.cold.segmentSize, this.d.config.cold.chunkSize, state.erasure.k) : undefined;
    let data: Awaited<ReturnType<TesseraObjectService['ingest']>>;
    try {
      data = await this.ingest(objectId, dk, 1, state.erasure, input.body, input.size, input.contentMd5, input.checksum, hotSink, true);
    } catch (err) {
      await hotSink?.abort();
      throw err;
    }
    const now = Date.now();
    const record: ObjectRecord = {
      bucket: input.bucket,
      key: input.key,
      objectId,
      size: input.size,
      etag: quoteEtag(data.md5.toString('hex')),
      lastModified: now,
      headers: input.headers,
      tags: input.tags,
      ...(data.checksum ? { checksum: data.checksum } : {}),
      manifest: { version: 1, objectId, wrappedKey, keyId, size: input.size, segments: data.manifest },
      hot: inline && this.d.config.hot.writeThrough ? 'hot' : 'cold',
      hotBytes: 0,
      pinned: false,
      lastAccess: now,
      ...(input.owner !== undefined ? { owner: input.owner } : {}),
      ...(input.grants !== undefined ? { grants: input.grants } : {}),
      ...(lock !== undefined ? { lock } : {}),
      ...(data.sha256 ? { sha256: data.sha256.toString('hex') } : {}),
    };
    return this.commit(record, input.condition, state, hotSink);
  }

  /** Write the recovery copies, then commit in one store transaction; on failure the new shards become garbage. */
  private async commit(
    record: ObjectRecord,
    condition: WriteCondition | undefined,
    state: WriteState,
    hotSink?: import('./object-reader.js').HotSink,
    complete?: { uploadId: string; usedParts: number[] },
  ): Promise<ObjectRecord> {
    try {
      // The version id is chosen before the record copies are sealed, so recover-index restores it.
      if (record.versionId === undefined && state.versioning === 'Enabled') record.versionId = newVersionId();
      record.manifest.copies = await this.d.cold.writeRecordCopies(record, state.erasure.m);
      const grace = this.d.config.cold.gcGraceMs;
      const outcome = complete
        ? await this.meta.completeUpload(complete.uploadId, record, complete.usedParts, condition, grace)
        : await this.meta.putObject(record, condition, grace);
      if (outcome.versionId !== undefined) record.versionId = outcome.versionId;
      else delete record.versionId;
      // What the write replaced for good leaves the nodes' record too (off the request path: a PUT stays one commit).
      if (outcome.replaced !== null && outcome.replaced.objectId !== record.objectId) this.inBackground(this.forget({ object: outcome.replaced }));
    } catch (err) {
      await hotSink?.abort();
      if (!complete) {
        await this.meta.enqueueGarbage(record.manifest, Date.now()).catch(() => undefined);
      } else if (record.manifest.copies) {
        // The parts still belong to the upload; only the copies of this failed completion are garbage.
        await this.meta.enqueueGarbage({ ...record.manifest, segments: [] }, Date.now()).catch(() => undefined);
      }
      throw err;
    }
    // The object is committed: a hot-tier problem from here on must not turn the PUT into an error.
    if (hotSink) await hotSink.commit().catch((err: Error) => this.d.logger.warn({ objectId: record.objectId, err: err.message }, 'write-through to the hot tier failed'));
    return record;
  }

  findObject(bucket: string, key: string): Promise<ObjectRecord | null> {
    return this.meta.getObject(bucket, key);
  }

  async headObject(bucket: string, key: string, versionId?: string): Promise<ObjectRecord> {
    if (versionId !== undefined) {
      const version = await this.meta.getVersion(bucket, key, versionId);
      if (version !== null && 'object' in version) return version.object;
      await this.requireBucket(bucket);
      if (version === null) throw new GatewayError('NoSuchVersion', key, { versionId });
      throw deleteMarkerError(version.marker, 'by-version');
    }
    const record = await this.meta.getObject(bucket, key);
    if (record) return record;
    await this.requireBucket(bucket);
    const marker = await this.meta.latestDeleteMarker(bucket, key);
    if (marker !== null) throw deleteMarkerError(marker, 'latest');
    throw new GatewayError('NoSuchKey', key);
  }

  openObject(record: ObjectRecord, range?: ByteRange): Promise<Readable> {
    // A read from the start (whole, or the first range of a sequential reader) moves a key-order walk forward.
    if (!range || range.offset === 0) this.d.readAhead?.noteRead(record);
    return this.d.reader.open(record, range);
  }

  async deleteObject(bucket: string, key: string, options: { versionId?: string; owner?: string; bypassGovernance?: boolean } = {}): Promise<DeleteOutcome> {
    const b = await this.requireBucket(bucket);
    const grace = this.d.config.cold.gcGraceMs;
    let outcome: DeleteOutcome;
    if (options.versionId === undefined) {
      const mode = await this.meta.getBucketSetting(bucket, 'versioning');
      // A delete marker is sealed on nodes first, so recover-index restores it (and hides what it hides).
      const proposed = mode === 'Enabled' || mode === 'Suspended' ? await this.sealMarker(bucket, key, mode, options.owner, b.erasure?.m) : undefined;
      try {
        outcome = await this.meta.deleteObject(bucket, key, grace, options.owner, proposed);
      } catch (err) {
        if (proposed) await this.meta.enqueueGarbage(loose(proposed.copies), Date.now()).catch(() => undefined);
        throw err;
      }
    } else {
      // S3 answers a delete of a version that does not exist with success.
      outcome = (await this.meta.deleteVersion(bucket, key, options.versionId, grace, { bypassGovernance: options.bypassGovernance === true })) ?? { removed: null };
      if (outcome.marker !== undefined) await this.forget({ marker: outcome.marker });
    }
    if (outcome.removed !== null) await this.forget({ object: outcome.removed });
    return outcome;
  }

  /** Clean-up the request does not wait for; close() does. */
  private readonly background = new Set<Promise<void>>();

  private inBackground(work: Promise<void>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }

  private async sealMarker(bucket: string, key: string, mode: string, owner: string | undefined, m: number | undefined): Promise<ProposedMarker> {
    const marker: DeleteMarkerRecord = { bucket, key, versionId: mode === 'Enabled' ? newVersionId() : NULL_VERSION_ID, lastModified: Date.now(), ...(owner !== undefined ? { owner } : {}) };
    const copies = await this.d.cold.writeMarkerCopies(marker, m ?? this.d.config.cold.m);
    return { versionId: marker.versionId, lastModified: marker.lastModified, copies };
  }

  /**
   * A version (object or delete marker) is gone for good: its record copies go from the nodes now, so recover-index
   * cannot bring it back; copies on nodes that do not answer are covered by tombstones until the collector deletes them.
   */
  private async forget(what: { object: ObjectRecord } | { marker: DeleteMarkerRecord }): Promise<void> {
    const copies = 'object' in what ? what.object.manifest.copies : what.marker.copies;
    if (copies === undefined || copies.length === 0) return;
    const { bucket, key } = 'object' in what ? what.object : what.marker;
    try {
      const left = await this.d.cold.forgetCopies(copies, {
        bucket,
        key,
        deletedAt: Date.now(),
        ...('object' in what ? { objectId: what.object.objectId } : { markerVersionId: what.marker.versionId }),
      });
      if (left !== null) await this.meta.enqueueGarbage({ ...loose(left.copies), tombstones: left.tombstones }, Date.now());
    } catch (err) {
      this.d.logger.warn({ bucket, err: (err as Error).message }, 'record copies of a deleted version could not be removed yet');
    }
  }

  async setObjectLock(bucket: string, key: string, versionId: string | undefined, change: LockChange, bypassGovernance: boolean): Promise<ObjectRecord> {
    if ((await this.lockConfig(bucket)) === null) {
      await this.requireBucket(bucket);
      throw new GatewayError('ObjectLockNotEnabled', bucket);
    }
    const { objectId } = await this.headObject(bucket, key, versionId);
    // One change of an object at a time in this process (repair and key rotation reseal its record copies too).
    return withObjectLock(objectId, async () => {
      const current = await this.meta.getObjectById(objectId);
      if (current === null) throw new GatewayError('NoSuchKey', key);
      // The store applies the same rule again, atomically; checked here first so a refused change writes nothing.
      const lock = applyLockChange(key, current.lock, change, Date.now(), bypassGovernance);
      // The record copies on the nodes carry the lock state, so recover-index restores it: reseal them first.
      const sealed: ObjectRecord = { ...current, manifest: { ...current.manifest } };
      delete sealed.manifest.copies;
      if (lock === undefined) delete sealed.lock;
      else sealed.lock = lock;
      const copies = await this.d.cold.writeRecordCopies(sealed, (await this.erasureFor(bucket)).m);
      let updated: ObjectRecord | null;
      try {
        updated = await this.meta.setObjectLock(bucket, key, objectId, change, { bypassGovernance, copies });
      } catch (err) {
        await this.meta.enqueueGarbage({ ...current.manifest, segments: [], copies }, Date.now()).catch(() => undefined);
        throw err;
      }
      const stale = updated === null ? copies : (current.manifest.copies ?? []);
      if (stale.length > 0) await this.meta.enqueueGarbage({ ...current.manifest, segments: [], copies: stale }, Date.now()).catch(() => undefined);
      if (updated === null) throw new GatewayError('NoSuchKey', key);
      return updated;
    });
  }

  async listObjectVersions(bucket: string, query: VersionListQuery): Promise<VersionListResult> {
    return this.meta.listObjectVersions(bucket, query);
  }

  async putTags(bucket: string, key: string, tags: Record<string, string>, versionId?: string): Promise<ObjectRecord> {
    const record = await this.headObject(bucket, key, versionId);
    if (!(await this.meta.setTags(bucket, key, tags, record.objectId))) throw new GatewayError('NoSuchKey', key);
    return record;
  }

  async putObjectAcl(bucket: string, key: string, grants: AclGrant[] | null, versionId?: string): Promise<ObjectRecord> {
    const record = await this.headObject(bucket, key, versionId);
    if (!(await this.meta.setGrants(bucket, key, record.objectId, grants))) throw new GatewayError('NoSuchKey', key);
    return record;
  }

  getBucketConfig(bucket: string, name: BucketConfigName): Promise<string | null> {
    return this.meta.getBucketSetting(bucket, name);
  }

  getBucketConfigs(bucket: string): Promise<Partial<Record<BucketConfigName, string>>> {
    return this.meta.bucketSettings(bucket);
  }

  async putBucketConfig(bucket: string, name: BucketConfigName, doc: string | null): Promise<void> {
    if (name === 'versioning' && doc !== 'Enabled' && (await this.lockConfig(bucket)) !== null) {
      throw new GatewayError('InvalidBucketState', bucket, {}, 'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.');
    }
    if (name === 'object-lock') {
      if (doc === null || parseLockConfig(doc) === null) throw new Error('Object Lock cannot be turned off');
      if ((await this.meta.getBucketSetting(bucket, 'versioning')) !== 'Enabled') {
        throw new GatewayError('InvalidBucketState', bucket, {}, 'Versioning must be \'Enabled\' on the bucket to apply a Object Lock configuration');
      }
    }
    return this.meta.putBucketSetting(bucket, name, doc);
  }

  async createUpload(input: Parameters<ObjectService['createUpload']>[0]): Promise<UploadRecord> {
    await this.requireBucket(input.bucket);
    // Refused now rather than at completion; the bucket's default retention is applied when the object is made.
    lockOfNewVersion(input.bucket, await this.lockConfig(input.bucket), input.lock, Date.now());
    const objectId = newId();
    const { keyId, wrappedKey } = this.d.keyring.wrap(objectId, randomBytes(32));
    const upload: UploadRecord = {
      // The upload id begins with the object id it will complete into: a retried completion, on any gateway, after
      // the upload row is gone, recognizes its own object (completedUpload).
      uploadId: objectId + newId(),
      bucket: input.bucket,
      key: input.key,
      initiated: Date.now(),
      owner: input.owner,
      headers: input.headers,
      tags: input.tags,
      ...(input.checksumAlgorithm ? { checksumAlgorithm: input.checksumAlgorithm } : {}),
      ...(input.checksumType ? { checksumType: input.checksumType } : {}),
      objectId,
      wrappedKey,
      keyId,
      ...(input.objectOwner !== undefined ? { objectOwner: input.objectOwner } : {}),
      ...(input.grants !== undefined ? { grants: input.grants } : {}),
      ...(input.lock !== undefined ? { lock: input.lock } : {}),
    };
    await this.meta.createUpload(upload);
    return upload;
  }

  async completedUpload(bucket: string, key: string, uploadId: string, parts: CompletePart[]): Promise<ObjectRecord | null> {
    if (!/^[0-9a-f]{64}$/.test(uploadId)) return null;
    // By object id: in a versioned bucket the completed object may no longer be the latest version, and is still it.
    const record = await this.meta.getObjectById(uploadId.slice(0, 32));
    if (!record || record.bucket !== bucket || record.key !== key || !record.parts || record.parts.length !== parts.length) return null;
    const same = parts.every((want, i) => {
      const have = record.parts![i]!;
      return have.partNumber === want.partNumber && unquoteEtag(have.etag) === unquoteEtag(want.etag);
    });
    return same ? record : null;
  }

  async getUpload(bucket: string, key: string, uploadId: string): Promise<UploadRecord> {
    const upload = await this.meta.getUpload(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key) {
      await this.requireBucket(bucket);
      throw new GatewayError('NoSuchUpload', uploadId);
    }
    return upload;
  }

  async uploadPart(input: UploadPartInput): Promise<{ etag: string; checksum?: StoredChecksum }> {
    if (!Number.isInteger(input.partNumber) || input.partNumber < MIN_PART_NUMBER || input.partNumber > MAX_PART_NUMBER) {
      throw new GatewayError('PartNumberOutOfRange', String(input.partNumber));
    }
    let upload: UploadRecord;
    let erasure: { k: number; m: number };
    let dk: Buffer;
    try {
      upload = await this.getUpload(input.bucket, input.key, input.uploadId);
      erasure = await this.erasureFor(input.bucket);
      dk = this.d.keyring.unwrap(upload.objectId, upload.keyId, upload.wrappedKey);
    } catch (err) {
      input.body.destroy();
      throw err;
    }
    // A part's checksum is the algorithm the upload was created with, unless the client sends another explicitly.
    const expected = input.checksum ?? (upload.checksumAlgorithm ? { algorithm: upload.checksumAlgorithm, value: () => undefined } : undefined);
    const data = await this.ingest(upload.objectId, dk, input.partNumber, erasure, input.body, input.size, input.contentMd5, expected);
    const etag = quoteEtag(data.md5.toString('hex'));
    const part: PartRecord = {
      uploadId: upload.uploadId,
      partNumber: input.partNumber,
      size: input.size,
      etag,
      ...(data.checksum ? { checksum: { ...data.checksum, type: upload.checksumType ?? 'COMPOSITE' } } : {}),
      lastModified: Date.now(),
      manifest: { version: 1, objectId: upload.objectId, wrappedKey: upload.wrappedKey, keyId: upload.keyId, size: input.size, segments: data.manifest },
    };
    try {
      await this.meta.putPart(part);
    } catch (err) {
      await this.meta.enqueueGarbage(part.manifest, Date.now()).catch(() => undefined);
      throw err;
    }
    return { etag, ...(part.checksum ? { checksum: part.checksum } : {}) };
  }

  listParts(upload: UploadRecord, afterPartNumber: number, maxParts: number): Promise<{ parts: PartRecord[]; isTruncated: boolean }> {
    return this.meta.listParts(upload.uploadId, afterPartNumber, maxParts);
  }

  async completeUpload(upload: UploadRecord, parts: CompletePart[], condition?: WriteCondition, expectedChecksum?: string): Promise<ObjectRecord> {
    const stored = new Map((await this.meta.getParts(upload.uploadId, parts.map((p) => p.partNumber))).map((p) => [p.partNumber, p]));
    // Parts first, then the condition: a list naming a missing part is InvalidPart whatever the key's state.
    const used = checkCompletionParts(parts, stored);
    await this.precheck(upload.bucket, upload.key, condition);
    const md5s = Buffer.concat(used.map((p) => Buffer.from(unquoteEtag(p.etag), 'hex')));
    const size = used.reduce((n, p) => n + p.size, 0);
    let checksum: StoredChecksum | undefined;
    const algorithm = upload.checksumAlgorithm;
    if (algorithm && used.every((p) => p.checksum?.algorithm === algorithm)) {
      checksum =
        upload.checksumType === 'FULL_OBJECT' && supportsFullObject(algorithm)
          ? { algorithm, value: fullObjectChecksum(algorithm, used.map((p) => ({ value: p.checksum!.value, size: p.size }))), type: 'FULL_OBJECT' }
          : { algorithm, value: compositeChecksum(algorithm, used.map((p) => p.checksum!.value)), type: 'COMPOSITE' };
    }
    // The whole object's checksum the client sent with the completion must be the one its parts make.
    const bare = (v: string | undefined): string | undefined => v?.replace(/-\d+$/, '');
    if (expectedChecksum !== undefined && algorithm && bare(expectedChecksum) !== bare(checksum?.value)) throw new GatewayError('DigestMismatch', algorithm);
    const now = Date.now();
    const state = await this.writeState(upload.bucket);
    const lock = lockOfNewVersion(upload.bucket, state.lock, upload.lock, now);
    const record: ObjectRecord = {
      bucket: upload.bucket,
      key: upload.key,
      objectId: upload.objectId,
      size,
      etag: quoteEtag(`${createHash('md5').update(md5s).digest('hex')}-${used.length}`),
      lastModified: now,
      headers: upload.headers,
      tags: upload.tags,
      ...(checksum ? { checksum } : {}),
      parts: used.map((p) => ({ partNumber: p.partNumber, size: p.size, etag: p.etag, ...(p.checksum ? { checksum: p.checksum } : {}) })),
      manifest: {
        version: 1,
        objectId: upload.objectId,
        wrappedKey: upload.wrappedKey,
        keyId: upload.keyId,
        size,
        segments: used.flatMap((p) => p.manifest.segments),
      },
      hot: 'cold',
      hotBytes: 0,
      pinned: false,
      lastAccess: now,
      ...(upload.objectOwner !== undefined ? { owner: upload.objectOwner } : {}),
      ...(upload.grants !== undefined ? { grants: upload.grants } : {}),
      ...(lock !== undefined ? { lock } : {}),
    };
    const committed = await this.commit(record, condition, state, undefined, { uploadId: upload.uploadId, usedParts: used.map((p) => p.partNumber) });
    this.hasher.enqueue(committed);
    return committed;
  }

  async abortUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.getUpload(bucket, key, uploadId);
    await this.meta.abortUpload(uploadId);
  }

  async listUploads(
    bucket: string,
    query: { prefix?: string; delimiter?: string; keyMarker?: string; uploadIdMarker?: string; maxUploads: number },
  ): Promise<{ uploads: UploadRecord[]; commonPrefixes: string[]; isTruncated: boolean }> {
    await this.requireBucket(bucket);
    return this.meta.listUploads(bucket, query);
  }

  restoreObject(record: ObjectRecord): Promise<'hot' | 'started' | 'in-progress'> {
    return this.d.reader.restore(record);
  }

  async readiness(): Promise<{ ok: boolean; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    let ok = true;
    try {
      await this.meta.ping();
      checks.meta = 'ok';
    } catch (err) {
      ok = false;
      checks.meta = `error: ${(err as Error).message}`;
    }
    const hot = await this.d.reader.hotHealth();
    // A hot tier outage degrades reads to the cold tier; the gateway still serves, so it stays ready.
    checks.hot = hot.ok ? 'ok' : `degraded: ${hot.reason ?? 'unreachable'}`;
    const nodes = await this.d.cold.healthSummary();
    checks.nodes = `${nodes.healthy}/${nodes.total} healthy`;
    if (nodes.healthy < nodes.minimum) ok = false;
    return { ok, checks };
  }

  async close(): Promise<void> {
    // The stores and tiers are owned and closed by the gateway assembly (src/gateway/gateway.ts); what is this
    // service's own is the clean-up still running, and the content hashing (let go: a snapshot computes what is left).
    await this.hasher.close();
    await Promise.all([...this.background]);
  }
}

/** A garbage item for blobs that belong to no object (a marker's copies, copies left by a delete): no data, no key. */
function loose(copies: ShardRef[]): ObjectManifest {
  return { version: 1, objectId: newId(), wrappedKey: '', keyId: '', size: 0, segments: [], copies };
}

/** A write's view of its bucket (see writeState). */
interface WriteState {
  erasure: { k: number; m: number };
  lock: ObjectLockConfig | null;
  versioning: string | undefined;
}
