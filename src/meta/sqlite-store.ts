import { existsSync } from 'node:fs';
import { makePrivateDir, makePrivateFile } from '../util/private-files.js';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ObjectManifest, ShardRef } from '../model/manifest.js';
import { failedWriteCondition } from '../model/write-condition.js';
import { MetaError } from './errors.js';
import type { BucketSettingName, CommitOutcome, MetaStore, ProposedMarker } from './store.js';
import type {
  AclGrant,
  BucketRecord,
  DeleteMarkerRecord,
  DeleteOutcome,
  VersioningStatus,
  VersionListQuery,
  VersionListResult,
  GarbageItem,
  HotState,
  ListQuery,
  ListResult,
  ObjectRecord,
  SnapshotEntry,
  SnapshotRecord,
  PartRecord,
  UploadRecord,
  WriteCondition,
} from '../model/records.js';
import { NULL_VERSION_ID } from '../model/records.js';
import { configureConnection, ensureSchema } from './sqlite-schema.js';
import { prepareStatements, prepareVersionStreams, type Statements } from './sqlite-statements.js';
import { decodeKey, encodeKey, listingEntries, takePage } from './sqlite-listing.js';
import { listObjectPage } from './listing-objects.js';
import { canonicalJson, prepareClusterStatements, type ClusterStatements } from './sqlite-cluster.js';
import {
  bucketFromRow,
  bucketParams,
  objectFromRow,
  objectParams,
  partFromRow,
  partParams,
  uploadFromRow,
  uploadParams,
  type ObjectRow,
  type UploadRow,
  markerFromRow,
  markerParams,
  optionalJson,
  newMarker,
} from './sqlite-rows.js';
import { fetchVersions, listVersionPage } from './listing-versions.js';
import { chosenVersionId } from './version-id.js';
import { assertDestroyable, withLockChange } from './object-lock.js';
import { entryRange, prepareSnapshotStatements, snapshotEntryFromRow, snapshotFromRow, type SnapshotStatements } from './sqlite-snapshots.js';
import type { LockChange } from '../model/records.js';

/**
 * Used when a caller passes no grace period: a replaced object's shards stay readable this long, so GETs that
 * started before the replacement can finish. Collecting late is harmless; collecting early loses data.
 */
export const DEFAULT_GARBAGE_GRACE_MS = 60_000;
const BUSY_TIMEOUT_MS = 5_000;
/**
 * Busy timeout of background bookkeeping (read touches, leases, repair claims): better-sqlite3 waits for a lock
 * synchronously, so a lock held elsewhere would stall the whole process for the full timeout per statement. These
 * callers retry on their own schedule, so they give up quickly instead.
 */
const BACKGROUND_BUSY_TIMEOUT_MS = 200;
/** Rows per batch when iterating large tables, so no statement stays open across an await. */
const ITERATION_BATCH = 512;

export interface SqliteMetaStoreOptions {
  /** Clock for garbage notBefore and part replacement; tests may pin it. */
  now?: () => number;
  /** How long a write waits for another connection's lock before failing with 503 (default 5 s). */
  busyTimeoutMs?: number;
}

/**
 * Codes that say "the database cannot answer now" (another process holds the lock, the file or its disk is gone or
 * failing) rather than "this request is wrong": answered 503 with Retry-After, never a wrong answer.
 */
function unavailableKind(code: string): 'Busy' | 'Unavailable' | undefined {
  const is = (c: string): boolean => code === c || code.startsWith(`${c}_`);
  if (is('SQLITE_BUSY') || is('SQLITE_LOCKED')) return 'Busy';
  if (['SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_PROTOCOL', 'SQLITE_FULL', 'SQLITE_READONLY'].some(is)) return 'Unavailable';
  return undefined;
}

/** Evaluated inside the committing transaction, against the row that transaction will replace (both stores). */
export function checkWriteCondition(key: string, currentEtag: string | undefined, condition: WriteCondition | undefined): void {
  const failed = failedWriteCondition(currentEtag, condition);
  if (failed === 'NoSuchKey') throw new MetaError('NoSuchKey', key);
  if (failed !== undefined) throw new MetaError('PreconditionFailed', failed);
}

export function invalidPart(uploadId: string, partNumber: number): MetaError {
  return new MetaError('InvalidPart', String(partNumber), `part ${partNumber} of upload ${uploadId} is not stored as the completion read it`);
}

/** MetaStore on one SQLite file (better-sqlite3). Every method is one transaction; results are already-resolved promises. */
export class SqliteMetaStore implements MetaStore {
  private readonly db: Database.Database;
  private readonly s: Statements;
  private readonly c: ClusterStatements;
  private readonly v: ReturnType<typeof prepareVersionStreams>;
  private readonly snap: SnapshotStatements;
  private readonly busyTimeoutMs: number;
  private readonly now: () => number;
  /** One transaction wrapper for every write/read (better-sqlite3 compiles it; creating one per call was ~1% of a small PUT). */
  private readonly txn: Database.Transaction<(body: () => unknown) => unknown>;

  private constructor(db: Database.Database, options: SqliteMetaStoreOptions) {
    this.db = db;
    this.now = options.now ?? Date.now;
    this.busyTimeoutMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? BUSY_TIMEOUT_MS));
    this.s = prepareStatements(db);
    this.c = prepareClusterStatements(db);
    this.v = prepareVersionStreams(db);
    this.snap = prepareSnapshotStatements(db);
    this.txn = db.transaction((body: () => unknown) => body());
  }

  /** Opens (creating the directory, file and schema when missing) a store at `path`. */
  static open(path: string, options: SqliteMetaStoreOptions = {}): SqliteMetaStore {
    makePrivateDir(dirname(path));
    // Object names, metadata and tags: owner-only. SQLite gives the -wal and -shm files the database file's mode.
    makePrivateFile(path);
    for (const side of [`${path}-wal`, `${path}-shm`]) if (existsSync(side)) makePrivateFile(side);
    const db = new Database(path);
    try {
      configureConnection(db, options.busyTimeoutMs ?? BUSY_TIMEOUT_MS);
      ensureSchema(db);
      return new SqliteMetaStore(db, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  // ---- Buckets

  async createBucket(bucket: BucketRecord): Promise<void> {
    this.write(() => {
      if (this.s.bucketByName.get(bucket.name) !== undefined) throw new MetaError('BucketExists', bucket.name);
      this.s.insertBucket.run(bucketParams(bucket));
    });
  }

  async getBucket(name: string): Promise<BucketRecord | null> {
    const row = this.s.bucketByName.get(name);
    return row === undefined ? null : bucketFromRow(row);
  }

  async deleteBucket(name: string): Promise<void> {
    this.write(() => {
      this.requireBucket(name);
      if (this.s.anyObjectInBucket.get({ bucket: name }) !== undefined) throw new MetaError('BucketNotEmpty', name);
      const notBefore = this.now() + DEFAULT_GARBAGE_GRACE_MS;
      for (const { upload_id } of this.s.uploadIdsInBucket.all(name)) this.dropUpload(upload_id, notBefore);
      this.db.prepare('DELETE FROM bucket_settings WHERE bucket = ?').run(name);
      this.s.deleteBucket.run(name);
    });
  }

  async listBuckets(): Promise<BucketRecord[]> {
    return this.s.allBuckets.all().map(bucketFromRow);
  }

  async getBucketSetting(bucket: string, name: BucketSettingName): Promise<string | null> {
    this.requireBucket(bucket);
    const row = this.db.prepare<[string, string], { value: string }>('SELECT value FROM bucket_settings WHERE bucket = ? AND name = ?').get(bucket, name);
    return row?.value ?? null;
  }

  async putBucketSetting(bucket: string, name: BucketSettingName, value: string | null): Promise<void> {
    this.write(() => {
      this.requireBucket(bucket);
      if (value === null) this.db.prepare('DELETE FROM bucket_settings WHERE bucket = ? AND name = ?').run(bucket, name);
      else this.db.prepare('INSERT INTO bucket_settings (bucket, name, value) VALUES (?, ?, ?) ON CONFLICT (bucket, name) DO UPDATE SET value = excluded.value').run(bucket, name, value);
    });
  }

  async bucketSettings(bucket: string): Promise<Record<string, string>> {
    const rows = this.db.prepare<[string], { name: string; value: string }>('SELECT name, value FROM bucket_settings WHERE bucket = ? ORDER BY name').all(bucket);
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }

  // ---- Objects

  async getObject(bucket: string, key: string): Promise<ObjectRecord | null> {
    const row = this.s.objectByKey.get(bucket, encodeKey(key));
    return row === undefined ? null : objectFromRow(row);
  }

  async getObjectById(objectId: string): Promise<ObjectRecord | null> {
    const row = this.s.objectById.get(objectId);
    return row === undefined ? null : objectFromRow(row);
  }

  async putObject(record: ObjectRecord, condition?: WriteCondition, graceMs?: number): Promise<CommitOutcome> {
    return this.write(() => this.commitObject(record, condition, this.notBefore(graceMs)));
  }

  /**
   * Bulk commit with putObject semantics (no conditions), all or nothing in one transaction. For rebuilding the store
   * from manifests (`recover-index`) and for loading large test fixtures; returns how many records were committed.
   */
  putObjects(records: Iterable<ObjectRecord>, graceMs?: number): number {
    return this.write(() => {
      const notBefore = this.notBefore(graceMs);
      let count = 0;
      for (const record of records) {
        this.commitObject(record, undefined, notBefore);
        count++;
      }
      return count;
    });
  }

  /**
   * Inserts records as they are (version id included) at keys that hold no latest version, in one transaction: the
   * bulk copy (`tessera meta copy`) and fixtures, as PostgresMetaStore.insertObjects does.
   */
  async insertObjects(records: Iterable<ObjectRecord>): Promise<number> {
    return this.write(() => {
      let count = 0;
      for (const record of records) {
        this.requireBucket(record.bucket);
        const params = objectParams(record);
        if (this.s.objectByKey.get(record.bucket, params.key) !== undefined) throw new Error(`insertObjects: ${record.bucket}/${record.key} already exists`);
        this.s.insertObject.run(params);
        count++;
      }
      return count;
    });
  }

  /** Full records of a bucket after `afterKey` (from the start when null), in key order: the bulk copy's reader. */
  async objectsAfter(bucket: string, afterKey: string | null, limit: number): Promise<ObjectRecord[]> {
    return this.s.objectsAfterKey.all(bucket, afterKey === null ? Buffer.alloc(0) : encodeKey(afterKey), limit).map(objectFromRow);
  }

  async deleteObject(bucket: string, key: string, graceMs?: number, owner?: string, proposed?: ProposedMarker): Promise<DeleteOutcome> {
    return this.write(() => {
      const keyBytes = encodeKey(key);
      const notBefore = this.notBefore(graceMs);
      const mode = this.versioning(bucket);
      const row = this.s.objectByKey.get(bucket, keyBytes);
      if (mode === undefined) {
        if (row === undefined) return { removed: null };
        this.assertRowDestroyable(row, false);
        this.s.deleteObjectByKey.run(bucket, keyBytes);
        this.s.insertGarbage.run(row.manifest, notBefore);
        return { removed: objectFromRow(row) };
      }
      const seq = this.nextSeq(bucket, keyBytes);
      this.s.demoteCurrent.run(bucket, keyBytes);
      this.s.clearLatestMarker.run(bucket, keyBytes);
      const versionId = mode === 'Enabled' ? chosenVersionId(proposed?.versionId) : NULL_VERSION_ID;
      const removed = versionId === NULL_VERSION_ID ? this.dropNullVersion(bucket, keyBytes, notBefore) : null;
      const marker = newMarker(bucket, key, versionId, proposed?.lastModified ?? this.now(), owner, proposed?.copies);
      this.s.insertMarker.run(markerParams(marker, keyBytes, seq, true));
      return { removed, marker };
    });
  }

  async restoreKeyHistory(bucket: string, key: string, history: ReadonlyArray<{ object: ObjectRecord } | { marker: DeleteMarkerRecord }>): Promise<void> {
    const keyBytes = encodeKey(key);
    this.write(() => {
      this.requireBucket(bucket);
      if (this.nextSeq(bucket, keyBytes) !== 1) throw new MetaError('BucketNotEmpty', key);
      history.forEach((entry, i) => {
        const latest = i === history.length - 1 ? 1 : 0;
        if ('object' in entry) {
          this.s.insertObject.run({ ...objectParams(entry.object), seq: i + 1, current: latest });
        } else {
          this.s.insertMarker.run(markerParams(entry.marker, keyBytes, i + 1, latest === 1));
        }
      });
    });
  }

  async *iterateMarkerCopies(): AsyncIterable<ShardRef> {
    let after: { bucket: string; key: Buffer; version_id: string } = { bucket: '', key: Buffer.alloc(0), version_id: '' };
    for (;;) {
      const batch = this.s.markerCopiesAfter.all(after.bucket, after.key, after.version_id, ITERATION_BATCH);
      for (const row of batch) for (const ref of JSON.parse(row.copies) as ShardRef[]) yield ref;
      const last = batch.at(-1);
      if (last === undefined || batch.length < ITERATION_BATCH) return;
      after = last;
    }
  }

  async getVersion(bucket: string, key: string, versionId: string): Promise<{ object: ObjectRecord } | { marker: DeleteMarkerRecord } | null> {
    const keyBytes = encodeKey(key);
    return this.read(() => {
      const row = this.versionRow(bucket, keyBytes, versionId);
      if (row !== undefined) return { object: objectFromRow(row) };
      const marker = this.s.markerVersion.get(bucket, keyBytes, versionId);
      return marker === undefined ? null : { marker: markerFromRow(marker) };
    });
  }

  async latestDeleteMarker(bucket: string, key: string): Promise<DeleteMarkerRecord | null> {
    const row = this.s.latestMarker.get(bucket, encodeKey(key));
    return row === undefined ? null : markerFromRow(row);
  }

  async deleteVersion(bucket: string, key: string, versionId: string, graceMs?: number, options: { bypassGovernance?: boolean } = {}): Promise<DeleteOutcome | null> {
    const keyBytes = encodeKey(key);
    return this.write(() => {
      this.requireBucket(bucket);
      const row = this.versionRow(bucket, keyBytes, versionId);
      let outcome: DeleteOutcome;
      if (row !== undefined) {
        this.assertRowDestroyable(row, options.bypassGovernance === true);
        this.s.deleteVersion.run(row.object_id);
        this.s.insertGarbage.run(row.manifest, this.notBefore(graceMs));
        outcome = { removed: objectFromRow(row) };
      } else {
        const marker = this.s.markerVersion.get(bucket, keyBytes, versionId);
        if (marker === undefined) return null;
        this.s.deleteMarker.run(bucket, keyBytes, versionId);
        outcome = { removed: null, marker: markerFromRow(marker) };
      }
      // The latest went: the newest remaining version (object or marker) is the latest now.
      if (row?.current === 1 || this.s.latestMarker.get(bucket, keyBytes) === undefined) {
        if (this.s.objectByKey.get(bucket, keyBytes) === undefined) {
          const object = this.s.newestNoncurrent.get(bucket, keyBytes);
          const marker = this.s.newestMarker.get(bucket, keyBytes);
          if (object !== undefined && (marker === undefined || object.seq > marker.seq)) {
            this.s.promoteVersion.run(this.s.noncurrentVersion.get(bucket, keyBytes, object.version_id)?.object_id ?? '');
          } else if (marker !== undefined) this.s.markLatestMarker.run(bucket, keyBytes, marker.version_id);
        }
      }
      return outcome;
    });
  }

  async listObjectVersions(bucket: string, query: VersionListQuery): Promise<VersionListResult> {
    this.read(() => this.requireBucket(bucket));
    return listVersionPage(
      query,
      fetchVersions(bucket, async (stream, values) => this.guard(() => this.v[stream].all(values))),
      async (key, versionId) => this.guard(() => this.versionRow(bucket, key, versionId)?.seq ?? this.s.markerVersion.get(bucket, key, versionId)?.seq ?? null),
    );
  }

  async listObjects(bucket: string, query: ListQuery): Promise<ListResult> {
    // A read transaction, so the bucket check and every seek of the page see one snapshot.
    return this.read(() => {
      this.requireBucket(bucket);
      return listObjectPage(
        {
          page: (lower, upper, limit) =>
            upper === null ? this.s.summaryPageFrom.all(bucket, lower, limit) : this.s.summaryPageBetween.all(bucket, lower, upper, limit),
          scan: (lower, upper) =>
            upper === null ? this.s.summaryScanFrom.iterate(bucket, lower) : this.s.summaryScanBetween.iterate(bucket, lower, upper),
        },
        query,
      );
    });
  }

  async setTags(bucket: string, key: string, tags: Record<string, string>, objectId?: string): Promise<boolean> {
    const tagsJson = JSON.stringify(tags);
    const keyBytes = encodeKey(key);
    const result =
      objectId === undefined
        ? this.guard(() => this.s.setTags.run(tagsJson, bucket, keyBytes))
        : this.guard(() => this.s.setTagsIfId.run(tagsJson, bucket, keyBytes, objectId));
    return result.changes > 0;
  }

  async setGrants(bucket: string, key: string, objectId: string, grants: AclGrant[] | null): Promise<boolean> {
    const json = grants === null ? null : JSON.stringify(grants);
    return this.guard(() => this.s.setGrantsIfId.run(json, bucket, encodeKey(key), objectId)).changes > 0;
  }

  async setContentSha256(objectId: string, sha256: string): Promise<boolean> {
    return this.guard(() => this.s.setContentSha256.run(sha256, objectId)).changes > 0;
  }

  async setObjectLock(
    bucket: string,
    key: string,
    objectId: string,
    change: LockChange,
    options: { bypassGovernance: boolean; copies?: ShardRef[] },
  ): Promise<ObjectRecord | null> {
    return this.write(() => {
      const row = this.s.objectById.get(objectId);
      if (row === undefined || row.bucket !== bucket || decodeKey(row.key) !== key) return null;
      const updated = withLockChange(objectFromRow(row), change, this.now(), options.bypassGovernance, options.copies);
      this.s.setLockAndManifest.run(optionalJson(updated.lock), JSON.stringify(updated.manifest), objectId);
      return updated;
    });
  }

  async updateManifest(objectId: string, manifest: ObjectManifest, expected?: ObjectManifest): Promise<boolean> {
    if (manifest.objectId !== objectId) throw new Error(`manifest of object ${manifest.objectId} given for object ${objectId}`);
    if (expected === undefined) return this.guard(() => this.s.updateManifest.run(JSON.stringify(manifest), objectId)).changes > 0;
    return this.write(() => {
      const row = this.c.manifestById.get(objectId);
      if (row === undefined || canonicalJson(JSON.parse(row.manifest)) !== canonicalJson(expected)) return false;
      return this.s.updateManifest.run(JSON.stringify(manifest), objectId).changes > 0;
    });
  }

  async updatePartManifest(uploadId: string, partNumber: number, manifest: ObjectManifest, expected: ObjectManifest): Promise<boolean> {
    return this.write(() => {
      const row = this.s.partManifest.get(uploadId, partNumber);
      if (row === undefined || canonicalJson(JSON.parse(row.manifest)) !== canonicalJson(expected)) return false;
      return this.c.updatePartManifest.run(JSON.stringify(manifest), uploadId, partNumber).changes > 0;
    });
  }

  /**
   * Parts of in-progress uploads, then committed objects, each in batches by never-reused rowid; not a snapshot, so
   * no statement stays open across a yield. Every manifest that exists when the walk starts is yielded or queued as
   * garbage: a part replaced or an object committed during the walk gets a rowid ahead of the cursor, and a completed
   * upload's parts become an object row after the parts phase saw them. Shards written after the walk started
   * (updateManifest after a repair) may be missed, so a collector only considers shards older than its start.
   */
  async *iterateManifests(): AsyncIterable<{
    objectId: string;
    manifest: ObjectManifest;
    bucket: string;
    key: string;
    part?: { uploadId: string; partNumber: number };
  }> {
    for (const source of [this.s.partManifestsAfter, this.s.objectManifestsAfter]) {
      let afterId = 0;
      for (;;) {
        const batch: Array<{ id: number; object_id: string; bucket: string; key: Buffer; manifest: string; upload_id?: string; part_number?: number }> = [
          ...source.iterate(afterId, ITERATION_BATCH),
        ];
        for (const row of batch) {
          const base = { objectId: row.object_id, manifest: JSON.parse(row.manifest) as ObjectManifest, bucket: row.bucket, key: decodeKey(row.key) };
          yield row.upload_id !== undefined && row.part_number !== undefined ? { ...base, part: { uploadId: row.upload_id, partNumber: row.part_number } } : base;
        }
        const last = batch.at(-1);
        if (last === undefined || batch.length < ITERATION_BATCH) break;
        afterId = last.id;
      }
    }
  }

  async countObjects(bucket?: string): Promise<number> {
    const row = bucket === undefined ? this.s.countAll.get() : this.s.countInBucket.get(bucket);
    return row?.n ?? 0;
  }

  // ---- Hot tier bookkeeping

  async setHotState(objectId: string, state: HotState, hotBytes: number, from?: HotState): Promise<boolean> {
    if (from !== undefined) return this.guard(() => this.s.setHotStateFrom.run(state, hotBytes, objectId, from)).changes > 0;
    return this.guard(() => this.s.setHotState.run(state, hotBytes, objectId)).changes > 0;
  }

  async touch(objectId: string, atMs: number): Promise<void> {
    this.guard(() => this.s.touch.run(atMs, objectId, atMs));
  }

  async touchMany(touches: ReadonlyArray<readonly [objectId: string, atMs: number]>): Promise<void> {
    if (touches.length === 0) return;
    this.writeBackground(() => {
      for (const [objectId, atMs] of touches) this.s.touch.run(atMs, objectId, atMs);
    });
  }

  async setPinned(objectId: string, pinned: boolean): Promise<boolean> {
    return this.guard(() => this.s.setPinned.run(pinned ? 1 : 0, objectId)).changes > 0;
  }

  async reserveHot(
    objectId: string,
    bytes: number,
    budgetBytes: number,
    nowMs: number,
  ): Promise<{ outcome: 'reserved' | 'over-budget' | 'not-cold'; usedBytes: number }> {
    // IMMEDIATE: the sum and the mark happen under the one write lock of the database, for every process sharing it.
    return this.write(() => {
      const usedBytes = this.s.hotBytesTotal.get()?.total ?? 0;
      if (usedBytes + bytes > budgetBytes) return { outcome: 'over-budget' as const, usedBytes };
      const marked = this.c.markPromoting.run(bytes, nowMs, objectId).changes > 0;
      return { outcome: marked ? ('reserved' as const) : ('not-cold' as const), usedBytes };
    });
  }

  async resetStalePromotions(startedBeforeMs: number): Promise<string[]> {
    return this.write(() => {
      const ids = this.c.stalePromotions.all(startedBeforeMs).map((row) => row.object_id);
      for (const id of ids) this.c.resetPromotion.run(id);
      return ids;
    });
  }

  async hotBytesTotal(): Promise<number> {
    return this.s.hotBytesTotal.get()?.total ?? 0;
  }

  async evictionCandidates(limit: number): Promise<Array<{ objectId: string; hotBytes: number; lastAccess: number }>> {
    if (limit <= 0) return [];
    return this.s.evictionCandidates.all(limit).map((row) => ({ objectId: row.object_id, hotBytes: row.hot_bytes, lastAccess: row.last_access }));
  }

  async *listHot(): AsyncIterable<{ objectId: string; state: HotState; hotBytes: number }> {
    let afterId = '';
    for (;;) {
      const batch = this.s.notColdAfter.all(afterId, ITERATION_BATCH);
      for (const row of batch) yield { objectId: row.object_id, state: row.hot_state as HotState, hotBytes: row.hot_bytes };
      const last = batch.at(-1);
      if (last === undefined || batch.length < ITERATION_BATCH) return;
      afterId = last.object_id;
    }
  }

  // ---- Multipart

  async createUpload(upload: UploadRecord): Promise<void> {
    this.write(() => {
      this.requireBucket(upload.bucket);
      this.s.insertUpload.run(uploadParams(upload));
    });
  }

  async getUpload(uploadId: string): Promise<UploadRecord | null> {
    const row = this.s.uploadById.get(uploadId);
    return row === undefined ? null : uploadFromRow(row);
  }

  async putPart(part: PartRecord): Promise<void> {
    this.write(() => {
      this.requireUpload(part.uploadId);
      const previous = this.s.partManifest.get(part.uploadId, part.partNumber);
      if (previous !== undefined) {
        this.s.deletePart.run(part.uploadId, part.partNumber);
        this.s.insertGarbage.run(previous.manifest, this.notBefore(undefined));
      }
      this.s.insertPart.run(partParams(part));
    });
  }

  async listParts(uploadId: string, afterPartNumber: number, maxParts: number): Promise<{ parts: PartRecord[]; isTruncated: boolean }> {
    return this.read(() => {
      this.requireUpload(uploadId);
      if (maxParts <= 0) return { parts: [], isTruncated: false };
      const rows = this.s.partsAfter.all(uploadId, afterPartNumber, maxParts + 1);
      return { parts: rows.slice(0, maxParts).map(partFromRow), isTruncated: rows.length > maxParts };
    });
  }

  /** The requested parts that exist, in the order requested. */
  async getParts(uploadId: string, partNumbers: number[]): Promise<PartRecord[]> {
    return this.read(() => {
      this.requireUpload(uploadId);
      const parts: PartRecord[] = [];
      for (const partNumber of partNumbers) {
        const row = this.s.partByNumber.get(uploadId, partNumber);
        if (row !== undefined) parts.push(partFromRow(row));
      }
      return parts;
    });
  }

  /**
   * Besides the interface contract, refuses (InvalidPart) a record that does not carry every segment of each used
   * part as stored now: a part re-uploaded after the caller read it was queued as garbage, and committing the old
   * segments would point the object at shards the collector will delete.
   */
  async completeUpload(
    uploadId: string,
    record: ObjectRecord,
    usedParts: number[],
    condition?: WriteCondition,
    graceMs?: number,
  ): Promise<CommitOutcome> {
    return this.write(() => {
      const upload = this.requireUpload(uploadId);
      if (upload.bucket !== record.bucket || !upload.key.equals(encodeKey(record.key)) || upload.object_id !== record.objectId) {
        throw new Error(`completeUpload: record ${record.bucket}/${record.objectId} does not belong to upload ${uploadId}`);
      }
      const used = new Set(usedParts);
      const recordSegments = new Set(record.manifest.segments.map((segment) => segment.segId));
      const parts = this.s.partsOfUpload.all(uploadId);
      const stored = new Set(parts.map((part) => part.part_number));
      for (const partNumber of used) if (!stored.has(partNumber)) throw invalidPart(uploadId, partNumber);
      for (const part of parts) {
        if (!used.has(part.part_number)) continue;
        const manifest = JSON.parse(part.manifest) as ObjectManifest;
        if (!manifest.segments.every((segment) => recordSegments.has(segment.segId))) throw invalidPart(uploadId, part.part_number);
      }

      const notBefore = this.notBefore(graceMs);
      const previous = this.commitObject(record, condition, notBefore);
      for (const part of parts) if (!used.has(part.part_number)) this.s.insertGarbage.run(part.manifest, notBefore);
      this.s.deletePartsOfUpload.run(uploadId);
      this.s.deleteUpload.run(uploadId);
      return previous;
    });
  }

  async rewrapUpload(uploadId: string, fromKeyId: string, wrapped: { keyId: string; wrappedKey: string }): Promise<boolean> {
    return this.write(() => {
      if (this.c.rewrapUpload.run(wrapped.keyId, wrapped.wrappedKey, uploadId, fromKeyId).changes === 0) return false;
      for (const part of this.c.partManifestsOfUpload.all(uploadId)) {
        const manifest = { ...(JSON.parse(part.manifest) as ObjectManifest), keyId: wrapped.keyId, wrappedKey: wrapped.wrappedKey };
        this.c.updatePartManifest.run(JSON.stringify(manifest), uploadId, part.part_number);
      }
      return true;
    });
  }

  async abortUpload(uploadId: string): Promise<void> {
    this.write(() => {
      this.requireUpload(uploadId);
      this.dropUpload(uploadId, this.notBefore(undefined));
    });
  }

  /**
   * Ordered by key (byte order), then initiation time, then upload id. With a key marker, uploads of keys after it;
   * with an upload-id marker as well, also the marker key's uploads after that upload (if the marker upload is gone,
   * those with a greater upload id, as AWS describes).
   */
  async listUploads(
    bucket: string,
    query: { prefix?: string; delimiter?: string; keyMarker?: string; uploadIdMarker?: string; maxUploads: number },
  ): Promise<{ uploads: UploadRecord[]; commonPrefixes: string[]; isTruncated: boolean }> {
    return this.read(() => {
      this.requireBucket(bucket);
      const after = query.keyMarker === undefined || query.keyMarker === '' ? null : encodeKey(query.keyMarker);
      let leading: UploadRow[] = [];
      if (after !== null && query.uploadIdMarker !== undefined && query.uploadIdMarker !== '') {
        const marker = this.s.uploadById.get(query.uploadIdMarker);
        leading =
          marker !== undefined && marker.bucket === bucket && marker.key.equals(after)
            ? this.s.uploadsOfKeyAfterMarker.all(bucket, after, marker.initiated, marker.initiated, marker.upload_id)
            : this.s.uploadsOfKeyAfterId.all(bucket, after, query.uploadIdMarker);
      }
      const entries = listingEntries<UploadRow>({
        prefix: encodeKey(query.prefix ?? ''),
        delimiter: encodeKey(query.delimiter ?? ''),
        after,
        leading,
        seek: (lower, upper) =>
          upper === null ? this.s.uploadsFrom.iterate(bucket, lower) : this.s.uploadsBetween.iterate(bucket, lower, upper),
      });
      const { page, isTruncated } = takePage(entries, query.maxUploads);
      const uploads: UploadRecord[] = [];
      const commonPrefixes: string[] = [];
      for (const entry of page) {
        if (entry.kind === 'row') uploads.push(uploadFromRow(entry.row));
        else commonPrefixes.push(decodeKey(entry.prefix));
      }
      return { uploads, commonPrefixes, isTruncated };
    });
  }

  // ---- Garbage queue

  async enqueueGarbage(manifest: ObjectManifest, notBefore: number): Promise<void> {
    this.guard(() => this.s.insertGarbage.run(JSON.stringify(manifest), notBefore));
  }

  async dueGarbage(nowMs: number, limit: number): Promise<GarbageItem[]> {
    if (limit <= 0) return [];
    return this.s.dueGarbage
      .all(nowMs, limit)
      .map((row) => ({ id: row.id, manifest: JSON.parse(row.manifest) as ObjectManifest, notBefore: row.not_before }));
  }

  async removeGarbage(ids: number[]): Promise<void> {
    this.write(() => {
      for (const id of ids) this.s.deleteGarbage.run(id);
    });
  }

  // ---- Cluster coordination. SQLite has no clock of its own: the processes sharing the file share the machine's.

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    // Held by someone else and not expired: answered from a read, without queueing for the write lock (every
    // gateway polls every lease; only the holder's renewals need to write).
    const current = this.guard(() => this.c.leaseHolder.get(name));
    if (current !== undefined && current.holder !== holder && current.expires_at > now) return false;
    return this.writeBackground(() => this.c.takeLease.run({ name, holder, expires: now + ttlMs, now }).changes > 0);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.writeBackground(() => this.c.releaseLease.run(name, holder));
  }

  async queueRepair(objectId: string, segId: string, maxPending: number): Promise<boolean> {
    return this.writeBackground(() => {
      if ((this.c.countRepairs.get()?.n ?? 0) >= maxPending) return false;
      this.c.queueRepair.run(objectId, segId);
      return true;
    });
  }

  async claimRepairs(holder: string, limit: number, claimMs: number): Promise<Array<{ id: number; objectId: string; segId: string }>> {
    if (limit <= 0) return [];
    const now = this.now();
    // Idle gateways poll the queue: an empty one is answered by a read, without taking the write lock.
    if (this.guard(() => this.c.anyClaimable.get(now)) === undefined) return [];
    return this.writeBackground(() =>
      this.c.claimRepairs.all(holder, now + claimMs, now, limit).map((row) => ({ id: row.id, objectId: row.object_id, segId: row.seg_id })),
    );
  }

  async finishRepair(id: number, holder: string): Promise<void> {
    this.writeBackground(() => this.c.finishRepair.run(id, holder));
  }

  async repairBacklog(): Promise<number> {
    return this.c.countRepairs.get()?.n ?? 0;
  }

  async ping(): Promise<void> {
    this.guard(() => this.s.ping.get());
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  // ---- Transactions

  /**
   * A write transaction, taken IMMEDIATE so that two connections never both read under a shared lock and then
   * deadlock upgrading it. A lock held past busy_timeout by another process becomes a retryable 503.
   */
  private write<T>(body: () => T): T {
    return this.guard(() => this.txn.immediate(body) as T);
  }

  /** A write transaction of background bookkeeping: gives up on a lock after BACKGROUND_BUSY_TIMEOUT_MS. */
  private writeBackground<T>(body: () => T): T {
    this.db.pragma(`busy_timeout = ${Math.min(BACKGROUND_BUSY_TIMEOUT_MS, this.busyTimeoutMs)}`);
    try {
      return this.write(body);
    } finally {
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
  }

  /** A read transaction: every statement of a multi-statement read sees one snapshot. */
  private read<T>(body: () => T): T {
    return this.guard(() => this.txn.deferred(body) as T);
  }

  private guard<T>(body: () => T): T {
    try {
      return body();
    } catch (err) {
      const kind = err instanceof Database.SqliteError ? unavailableKind(err.code) : undefined;
      if (kind === 'Busy') throw new MetaError('Busy', '', 'The metadata store is busy. Please retry.');
      if (kind !== undefined) throw new MetaError('Unavailable', '', `The metadata store is unavailable (${(err as { code: string }).code}). Please retry.`);
      throw err;
    }
  }

  // ---- Helpers; each runs inside the caller's transaction.

  private notBefore(graceMs: number | undefined): number {
    return this.now() + (graceMs ?? DEFAULT_GARBAGE_GRACE_MS);
  }

  private requireBucket(name: string): void {
    if (this.s.bucketByName.get(name) === undefined) throw new MetaError('NoSuchBucket', name);
  }

  private requireUpload(uploadId: string): UploadRow {
    const row = this.s.uploadById.get(uploadId);
    if (row === undefined) throw new MetaError('NoSuchUpload', uploadId);
    return row;
  }

  /**
   * Commit the record as the key's latest version (see MetaStore.putObject for S3's rules per versioning state),
   * queueing what it replaces for good as garbage.
   */
  private commitObject(record: ObjectRecord, condition: WriteCondition | undefined, notBefore: number): CommitOutcome {
    this.requireBucket(record.bucket);
    const params = objectParams(record);
    const existing: ObjectRow | undefined = this.s.objectByKey.get(record.bucket, params.key);
    checkWriteCondition(record.key, existing?.etag, condition);
    const mode = this.versioning(record.bucket);
    // Re-committing the same object (a retried request) replaces it in place: no new version, and its own live shards
    // never go to the collector.
    if (existing !== undefined && (mode === undefined || existing.object_id === record.objectId)) {
      if (existing.object_id !== record.objectId) this.assertRowDestroyable(existing, false);
      this.s.deleteObjectByKey.run(record.bucket, params.key);
      if (existing.object_id !== record.objectId) this.s.insertGarbage.run(existing.manifest, notBefore);
      this.s.insertObject.run({ ...params, version_id: existing.version_id, seq: existing.seq });
      const versionId = mode === undefined ? {} : { versionId: existing.version_id };
      return { replaced: objectFromRow(existing), ...versionId };
    }
    if (mode === undefined) {
      this.s.insertObject.run({ ...params, version_id: NULL_VERSION_ID });
      return { replaced: null };
    }
    const seq = this.nextSeq(record.bucket, params.key);
    this.s.demoteCurrent.run(record.bucket, params.key);
    this.s.clearLatestMarker.run(record.bucket, params.key);
    const versionId = mode === 'Enabled' ? chosenVersionId(record.versionId) : NULL_VERSION_ID;
    const replaced = versionId === NULL_VERSION_ID ? this.dropNullVersion(record.bucket, params.key, notBefore) : null;
    this.s.insertObject.run({ ...params, version_id: versionId, seq, current: 1 });
    return { replaced, versionId };
  }

  /** The bucket's versioning state inside the caller's transaction; undefined when it never had one. */
  private versioning(bucket: string): VersioningStatus | undefined {
    const value = this.s.versioning.get(bucket)?.value;
    return value === 'Enabled' || value === 'Suspended' ? value : undefined;
  }

  private nextSeq(bucket: string, key: Buffer): number {
    const seqs = [this.s.objectByKey.get(bucket, key)?.seq, this.s.newestNoncurrent.get(bucket, key)?.seq, this.s.newestMarker.get(bucket, key)?.seq];
    return Math.max(0, ...seqs.filter((seq): seq is number => seq !== undefined)) + 1;
  }

  /** A version of the key by id: the latest or a noncurrent one (each index serves its half). */
  private versionRow(bucket: string, key: Buffer, versionId: string): ObjectRow | undefined {
    const current = this.s.objectByKey.get(bucket, key);
    return current?.version_id === versionId ? current : this.s.noncurrentVersion.get(bucket, key, versionId);
  }

  /** Object Lock's refusal of a version's permanent removal (a row without lock state parses nothing), and snapshots'. */
  private assertRowDestroyable(row: ObjectRow, bypassGovernance: boolean): void {
    if (row.object_lock !== null) assertDestroyable(decodeKey(row.key), objectFromRow(row).lock, this.now(), bypassGovernance);
    const held = this.snap.holding.get(row.object_id);
    if (held !== undefined) throw new MetaError('ObjectLocked', decodeKey(row.key), `the version is held by snapshot ${held.snapshot}`);
  }

  // ---- Dataset snapshots

  async createSnapshot(record: SnapshotRecord): Promise<void> {
    this.write(() => {
      if (this.snap.byName.get(record.name) !== undefined) throw new MetaError('SnapshotExists', record.name);
      this.requireBucket(record.bucket);
      this.snap.insert.run({
        name: record.name,
        bucket: record.bucket,
        prefix: record.prefix,
        created_at: record.createdAt,
        owner: record.owner ?? null,
        state: record.state,
        root: record.root ?? null,
        objects: record.objects,
        bytes: record.bytes,
      });
    });
  }

  async addSnapshotEntries(name: string, entries: ReadonlyArray<SnapshotEntry>): Promise<string[]> {
    return this.write(() => {
      const gone: string[] = [];
      for (const e of entries) {
        if (this.snap.objectExists.get(e.objectId) === undefined) {
          gone.push(e.key);
          continue;
        }
        this.snap.insertEntry.run(name, encodeKey(e.key), e.versionId, e.objectId, e.size, e.etag, e.sha256, e.lastModified);
      }
      return gone;
    });
  }

  async finishSnapshot(name: string, summary: { root: string; objects: number; bytes: number }): Promise<void> {
    this.write(() => this.snap.finish.run(summary.root, summary.objects, summary.bytes, name));
  }

  async getSnapshot(name: string): Promise<SnapshotRecord | null> {
    const row = this.snap.byName.get(name);
    return row === undefined ? null : snapshotFromRow(row);
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return this.snap.all.all().map(snapshotFromRow);
  }

  async snapshotEntries(name: string, query: { after?: string; prefix?: string; limit: number }): Promise<SnapshotEntry[]> {
    const { lower, inclusive, upper } = entryRange(query);
    const rows =
      upper === null
        ? (inclusive ? this.snap.entriesFrom : this.snap.entriesAfter).all(name, lower, query.limit)
        : (inclusive ? this.snap.entriesFromBelow : this.snap.entriesAfterBelow).all(name, lower, upper, query.limit);
    return rows.map(snapshotEntryFromRow);
  }

  async deleteSnapshot(name: string): Promise<boolean> {
    return this.write(() => {
      this.snap.deleteEntries.run(name);
      return this.snap.delete.run(name).changes > 0;
    });
  }

  /** Remove the key's null version (object or marker) for good: a suspended bucket's write replaces it. */
  private dropNullVersion(bucket: string, key: Buffer, notBefore: number): ObjectRecord | null {
    const row = this.versionRow(bucket, key, NULL_VERSION_ID);
    if (row !== undefined) this.assertRowDestroyable(row, false);
    this.s.deleteMarker.run(bucket, key, NULL_VERSION_ID);
    if (row === undefined) return null;
    this.s.deleteVersion.run(row.object_id);
    this.s.insertGarbage.run(row.manifest, notBefore);
    return objectFromRow(row);
  }

  /** Delete an upload and queue all its parts as garbage. */
  private dropUpload(uploadId: string, notBefore: number): void {
    for (const part of this.s.partsOfUpload.all(uploadId)) this.s.insertGarbage.run(part.manifest, notBefore);
    this.s.deletePartsOfUpload.run(uploadId);
    this.s.deleteUpload.run(uploadId);
  }
}
