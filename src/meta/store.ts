import type { AclGrant, BucketConfigName, DeleteMarkerRecord, DeleteOutcome, SnapshotEntry, SnapshotRecord, VersionListQuery, VersionListResult } from '../model/records.js';
import type {
  BucketRecord,
  GarbageItem,
  HotState,
  ListQuery,
  ListResult,
  ObjectRecord,
  PartRecord,
  UploadRecord,
  WriteCondition,
} from '../model/records.js';
import type { ObjectManifest, ShardRef } from '../model/manifest.js';
import type { LockChange } from '../model/records.js';

/**
 * The metadata store. Every method is a single atomic operation in the store (a transaction or a conditional
 * update), so several gateways can share one store (PostgreSQL later): no in-memory locks carry correctness.
 * Failing conditions throw MetaError (src/meta/errors.ts: PreconditionFailed, NoSuchBucket, NoSuchUpload, ...).
 */
/** The bucket configurations kept as documents. */
export type BucketSettingName = BucketConfigName;

/** What a commit did: the object removed for good (null when none), and the version id it was given. */
/**
 * A delete marker the gateway sealed on nodes before asking for it: its version id (used while versioning is Enabled;
 * a suspended bucket's marker is always the null version), time and copies.
 */
export interface ProposedMarker {
  versionId: string;
  lastModified: number;
  copies: ShardRef[];
}

export interface CommitOutcome {
  replaced: ObjectRecord | null;
  versionId?: string;
}

export interface MetaStore {
  // Buckets
  /** Throws MetaError BucketExists when it exists. */
  createBucket(bucket: BucketRecord): Promise<void>;
  getBucket(name: string): Promise<BucketRecord | null>;
  /** Throws NoSuchBucket or BucketNotEmpty. In-progress multipart uploads are aborted and their parts queued as garbage. */
  deleteBucket(name: string): Promise<void>;
  listBuckets(): Promise<BucketRecord[]>;
  /** A bucket configuration document by name (e.g. 'tagging'); null when unset. Throws NoSuchBucket. */
  getBucketSetting(bucket: string, name: BucketSettingName): Promise<string | null>;
  /** Sets (or with null removes) a bucket configuration document. Throws NoSuchBucket. Removed with the bucket. */
  putBucketSetting(bucket: string, name: BucketSettingName, value: string | null): Promise<void>;
  /** Every configuration document of a bucket (for `tessera meta copy`). */
  bucketSettings(bucket: string): Promise<Record<string, string>>;

  // Objects
  getObject(bucket: string, key: string): Promise<ObjectRecord | null>;
  getObjectById(objectId: string): Promise<ObjectRecord | null>;
  /**
   * Commit an object as the key's latest version. In a bucket without versioning it replaces the object at the key;
   * with versioning Enabled it gets a new version id and the previous latest is kept as a noncurrent version; while
   * Suspended it is the 'null' version, replacing only an earlier null version (S3's rules). What is replaced has its
   * manifest queued as garbage (notBefore = now + graceMs) in the same transaction. A retried commit of the same
   * object id replaces it in place (returned as `replaced`, its shards not queued). `versionId` is the id given
   * (absent in a bucket that never had versioning). Throws NoSuchBucket, PreconditionFailed.
   */
  putObject(record: ObjectRecord, condition?: WriteCondition, graceMs?: number): Promise<CommitOutcome>;
  /**
   * Delete the key's latest version as S3's DeleteObject without a version id does: without versioning the object is
   * removed (its manifest queued as garbage); with versioning a delete marker by `owner` becomes the latest (while
   * Suspended it is the null version, and an earlier null version is removed).
   */
  deleteObject(bucket: string, key: string, graceMs?: number, owner?: string, proposed?: ProposedMarker): Promise<DeleteOutcome>;
  /**
   * Writes a key's whole history (recover-index) oldest first: objects with their version ids and lock state,
   * delete markers; the newest is the latest. Throws BucketNotEmpty (subject: the key) when the key has any version.
   */
  restoreKeyHistory(bucket: string, key: string, history: ReadonlyArray<{ object: ObjectRecord } | { marker: DeleteMarkerRecord }>): Promise<void>;
  /** The sealed copies of every delete marker, so the orphan sweep keeps them. */
  iterateMarkerCopies(): AsyncIterable<ShardRef>;
  /** One version (object or delete marker) by id; null when the key has no such version. */
  getVersion(bucket: string, key: string, versionId: string): Promise<{ object: ObjectRecord } | { marker: DeleteMarkerRecord } | null>;
  /** The delete marker that is the key's latest version, if it is one (GET answers 404 with x-amz-delete-marker). */
  latestDeleteMarker(bucket: string, key: string): Promise<DeleteMarkerRecord | null>;
  /**
   * Remove one version for good (an object's manifest is queued as garbage); when it was the latest, the newest
   * remaining version becomes the latest. Null when there is no such version. Throws ObjectLocked when Object Lock
   * protects it (GOVERNANCE yields to `bypassGovernance`; see object-lock.ts).
   */
  deleteVersion(bucket: string, key: string, versionId: string, graceMs?: number, options?: { bypassGovernance?: boolean }): Promise<DeleteOutcome | null>;
  /**
   * Change the Object Lock state of the version `objectId` of the key by S3's rules (object-lock.ts; ObjectLocked when
   * they refuse), and, when `copies` is given, swap the manifest's record copies for those (resealed with the new
   * state) in the same transaction. The updated record, or null when the version is gone.
   */
  // ---- Dataset snapshots (the rules: src/gateway/snapshots.ts)

  /** Registers a snapshot in state 'creating'; throws SnapshotExists. */
  createSnapshot(record: SnapshotRecord): Promise<void>;
  /**
   * Adds entries (their versions are held from now on); returns the keys whose version no longer exists, which are
   * not added.
   */
  addSnapshotEntries(name: string, entries: ReadonlyArray<SnapshotEntry>): Promise<string[]>;
  /** The snapshot becomes ready with its root and totals. */
  finishSnapshot(name: string, summary: { root: string; objects: number; bytes: number }): Promise<void>;
  getSnapshot(name: string): Promise<SnapshotRecord | null>;
  listSnapshots(): Promise<SnapshotRecord[]>;
  /** Entries in key order after `after`, under `prefix`. */
  snapshotEntries(name: string, query: { after?: string; prefix?: string; limit: number }): Promise<SnapshotEntry[]>;
  /** Removes the snapshot and releases its versions; false when there was none. */
  deleteSnapshot(name: string): Promise<boolean>;

  /** Records the plaintext SHA-256 of an object version (computed after the fact); false when it is gone. */
  setContentSha256(objectId: string, sha256: string): Promise<boolean>;
  setObjectLock(
    bucket: string,
    key: string,
    objectId: string,
    change: LockChange,
    options: { bypassGovernance: boolean; copies?: ShardRef[] },
  ): Promise<ObjectRecord | null>;
  /** ListObjectVersions: versions and delete markers in key order, newest first within a key. Throws NoSuchBucket. */
  listObjectVersions(bucket: string, query: VersionListQuery): Promise<VersionListResult>;
  /** Lexicographic (UTF-8 byte order) listing with prefix/delimiter, at index speed (no scan of skipped keys). */
  listObjects(bucket: string, query: ListQuery): Promise<ListResult>;
  /** Replace the tag set of the latest version, or of the version `objectId` names; false when it is gone. */
  setTags(bucket: string, key: string, tags: Record<string, string>, objectId?: string): Promise<boolean>;
  /** Replace the ACL of the version `objectId` of the key (null: the owner's alone); false when it is gone. */
  setGrants(bucket: string, key: string, objectId: string, grants: AclGrant[] | null): Promise<boolean>;
  /**
   * Replace the manifest of an existing object (after repair moved shards); false when the object was replaced
   * meanwhile. With `expected`: compare-and-set, atomically, only when the stored manifest still equals `expected`
   * (compared as data, not by key order), so two gateways repairing one object cannot undo each other's switch.
   */
  updateManifest(objectId: string, manifest: ObjectManifest, expected?: ObjectManifest): Promise<boolean>;
  /**
   * Compare-and-set of an in-progress upload's part manifest (repair, key rotation): atomically, only when the part
   * still exists and its stored manifest equals `expected`. False otherwise (re-uploaded, completed or aborted).
   */
  updatePartManifest(uploadId: string, partNumber: number, manifest: ObjectManifest, expected: ObjectManifest): Promise<boolean>;
  /**
   * Every committed object and uploaded part's manifest (gc, scrub, repair); parts carry `part`. Every manifest
   * committed before the walk starts is yielded (or queued as garbage meanwhile) whatever order ids were assigned in:
   * on a store whose ids are not allocated in commit order (PostgreSQL sequences), walk one snapshot or by commit time.
   */
  iterateManifests(): AsyncIterable<{
    objectId: string;
    manifest: ObjectManifest;
    bucket: string;
    key: string;
    part?: { uploadId: string; partNumber: number };
  }>;
  countObjects(bucket?: string): Promise<number>;

  // Hot tier bookkeeping (by object id)
  /** Set the hot state; with `from`, only when the current state is `from` (compare-and-set). False when unchanged. */
  setHotState(objectId: string, state: HotState, hotBytes: number, from?: HotState): Promise<boolean>;
  /** Record a read for LRU. May be batched by the caller. */
  touch(objectId: string, atMs: number): Promise<void>;
  /** Many touches in one transaction (the hot cache flushes its batch of reads once a second). */
  touchMany(touches: ReadonlyArray<readonly [objectId: string, atMs: number]>): Promise<void>;
  setPinned(objectId: string, pinned: boolean): Promise<boolean>;
  /**
   * The cluster-wide hot budget: atomically (serialized against every other reserveHot and setHotState of any
   * gateway), when `bytes` fit under `budgetBytes` next to every object already 'hot' or 'promoting', move the object
   * from 'cold' to 'promoting' with `hotBytes` = bytes and lastAccess = max(lastAccess, nowMs) (a promotion's start
   * time, see resetStalePromotions). `usedBytes` is the sum it was checked against.
   */
  reserveHot(objectId: string, bytes: number, budgetBytes: number, nowMs: number): Promise<{ outcome: 'reserved' | 'over-budget' | 'not-cold'; usedBytes: number }>;
  /**
   * Promotions whose gateway died: atomically move every object 'promoting' since before `startedBeforeMs` (by
   * lastAccess) back to 'cold'; returns their ids (their partial blobs are garbage).
   */
  resetStalePromotions(startedBeforeMs: number): Promise<string[]>;
  /** Sum of hotBytes over objects in state 'hot' or 'promoting'. */
  hotBytesTotal(): Promise<number>;
  /** Least recently used hot, unpinned objects first. */
  evictionCandidates(limit: number): Promise<Array<{ objectId: string; hotBytes: number; lastAccess: number }>>;
  /** Objects in a state other than 'cold' (reconciliation at start). */
  listHot(): AsyncIterable<{ objectId: string; state: HotState; hotBytes: number }>;

  // Multipart
  createUpload(upload: UploadRecord): Promise<void>;
  getUpload(uploadId: string): Promise<UploadRecord | null>;
  /** Store a part; a replaced part of the same number is queued as garbage. Throws NoSuchUpload. */
  putPart(part: PartRecord): Promise<void>;
  listParts(uploadId: string, afterPartNumber: number, maxParts: number): Promise<{ parts: PartRecord[]; isTruncated: boolean }>;
  getParts(uploadId: string, partNumbers: number[]): Promise<PartRecord[]>;
  /**
   * Atomically: commit `record` (as putObject, with condition), delete the upload, and queue as garbage every part
   * of the upload that the record does not use. Throws NoSuchUpload, PreconditionFailed.
   */
  completeUpload(uploadId: string, record: ObjectRecord, usedParts: number[], condition?: WriteCondition, graceMs?: number): Promise<CommitOutcome>;
  /** Delete the upload and queue all its parts as garbage. Throws NoSuchUpload. */
  abortUpload(uploadId: string): Promise<void>;
  /**
   * Key rotation of an in-progress upload: atomically, when the upload's data key is still wrapped under
   * `fromKeyId`, store the rewrapped key on the upload and on every part's manifest. False when the upload is gone
   * or was rewrapped meanwhile.
   */
  rewrapUpload(uploadId: string, fromKeyId: string, wrapped: { keyId: string; wrappedKey: string }): Promise<boolean>;
  listUploads(
    bucket: string,
    query: { prefix?: string; delimiter?: string; keyMarker?: string; uploadIdMarker?: string; maxUploads: number },
  ): Promise<{ uploads: UploadRecord[]; commonPrefixes: string[]; isTruncated: boolean }>;

  // Garbage queue
  enqueueGarbage(manifest: ObjectManifest, notBefore: number): Promise<void>;
  /** Items whose notBefore has passed. */
  dueGarbage(nowMs: number, limit: number): Promise<GarbageItem[]>;
  removeGarbage(ids: number[]): Promise<void>;

  // Cluster coordination (one gateway runs a background job at a time; a shared repair queue)
  /** Take or renew the cluster-wide lease `name` for `holder` until now + ttlMs (the database's clock where it has one); true when `holder` holds it afterwards. Succeeds when the lease is free, expired, or already held by `holder`. */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Give the lease up if `holder` holds it. */
  releaseLease(name: string, holder: string): Promise<void>;
  /**
   * Heal-on-read repair queue shared by every gateway: queue a segment (atomic; a segment already queued is not
   * queued twice). False when the queue already holds `maxPending` items (the sweep finds the damage later).
   */
  queueRepair(objectId: string, segId: string, maxPending: number): Promise<boolean>;
  /**
   * Claim up to `limit` queued segments for `holder` until now + claimMs, atomically: an item claimed and not yet
   * expired is never handed to another claimer; an expired claim (its gateway died) is handed out again.
   */
  claimRepairs(holder: string, limit: number, claimMs: number): Promise<Array<{ id: number; objectId: string; segId: string }>>;
  /** Remove a claimed item once processed (only if `holder` still holds the claim). */
  finishRepair(id: number, holder: string): Promise<void>;
  /** Segments waiting in the repair queue (claimed or not): the backlog `tessera status` reports. */
  repairBacklog(): Promise<number>;

  /** A cheap query proving the store answers (for /ready). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
