import type { Readable } from 'node:stream';
import type {
  AclGrant,
  BucketConfigName,
  BucketRecord,
  ChecksumAlgorithm,
  DeleteOutcome,
  VersionListQuery,
  VersionListResult,
  ListQuery,
  ListResult,
  ObjectHeaders,
  ObjectLock,
  ObjectRecord,
  PartRecord,
  StoredChecksum,
  UploadRecord,
  WriteCondition,
} from '../model/records.js';
import type { LockChange } from '../model/records.js';
import type { Snapshots } from './snapshots.js';

/** A checksum the client asked us to verify: from a header (value known now) or an aws-chunked trailer (known at end). */
export interface ExpectedChecksum {
  algorithm: ChecksumAlgorithm;
  /** Called once the body has been fully read; undefined means the client sent none (then we only compute it). */
  value: () => string | undefined;
}

export interface PutObjectInput {
  bucket: string;
  key: string;
  /** Exactly `size` plaintext bytes (already de-chunked and signature-checked by the protocol layer). */
  body: Readable;
  size: number;
  headers: ObjectHeaders;
  tags: Record<string, string>;
  /** Content-MD5 header (base64), verified against the body before commit. */
  contentMd5?: string;
  checksum?: ExpectedChecksum;
  condition?: WriteCondition;
  /** The new object's owner and ACL (absent: the bucket owner's, private). */
  owner?: string;
  grants?: AclGrant[];
  /** Object Lock asked for by the request (x-amz-object-lock-*); the bucket's default retention fills in the rest. */
  lock?: ObjectLock;
}

export interface UploadPartInput {
  bucket: string;
  key: string;
  uploadId: string;
  partNumber: number;
  body: Readable;
  size: number;
  contentMd5?: string;
  checksum?: ExpectedChecksum;
}

export interface CompletePart {
  partNumber: number;
  etag: string;
  checksum?: string;
}

/** A resolved byte range: [offset, offset+length). */
export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * What the S3 protocol layer needs from the gateway. The protocol layer authenticates, authorizes, parses and
 * validates the request shape (names, header sizes, ranges against the record's size); this service owns bytes,
 * tiers and metadata.
 */
export interface ObjectService {
  /** Dataset snapshots: create, list, read, verify, diff, export, delete. */
  readonly snapshots: Snapshots;
  /** With objectLock, the bucket has Object Lock (and so versioning) enabled from the start. */
  createBucket(name: string, owner: string, options?: { objectLock?: boolean }): Promise<void>;
  getBucket(name: string): Promise<BucketRecord | null>;
  deleteBucket(name: string): Promise<void>;
  listBuckets(): Promise<BucketRecord[]>;
  listObjects(bucket: string, query: ListQuery): Promise<ListResult>;

  /** Streams the body to the cold tier; commits only after every segment is durable and every digest matched. */
  putObject(input: PutObjectInput): Promise<ObjectRecord>;
  /**
   * The committed record (the latest version, or the version named), or throws NoSuchBucket / NoSuchKey /
   * NoSuchVersion / DeleteMarker.
   */
  headObject(bucket: string, key: string, versionId?: string): Promise<ObjectRecord>;
  /** The key's record, or null (no NoSuchKey / NoSuchBucket): for the access decision's look at an object's ACL. */
  findObject(bucket: string, key: string): Promise<ObjectRecord | null>;
  /**
   * Plaintext bytes of a committed object (hot tier first, else reconstruction from the cold tier). The stream errors
   * (never ends early silently) if the bytes cannot be produced; throws ServiceUnavailable before the first byte when
   * fewer than k shards of the first needed segment can be had.
   */
  openObject(record: ObjectRecord, range?: ByteRange): Promise<Readable>;
  /**
   * DeleteObject: without versionId, the latest version as S3 does it per versioning state (removed, or hidden by a
   * new delete marker); with versionId, that version for good (a missing version is no error, as in S3).
   */
  deleteObject(bucket: string, key: string, options?: { versionId?: string; owner?: string; bypassGovernance?: boolean }): Promise<DeleteOutcome>;
  /**
   * Change a version's retention or legal hold by S3's rules (ObjectLocked when they refuse; ObjectLockNotEnabled in
   * a bucket without Object Lock), resealing its record copies on the nodes with the new state.
   */
  setObjectLock(bucket: string, key: string, versionId: string | undefined, change: LockChange, bypassGovernance: boolean): Promise<ObjectRecord>;
  listObjectVersions(bucket: string, query: VersionListQuery): Promise<VersionListResult>;
  /** Replaces the tag set of the latest version or of the one named; returns the version tagged. */
  putTags(bucket: string, key: string, tags: Record<string, string>, versionId?: string): Promise<ObjectRecord>;
  /** Replaces a version's ACL (null: its owner's FULL_CONTROL alone). NoSuchKey / NoSuchVersion / NoSuchBucket. */
  putObjectAcl(bucket: string, key: string, grants: AclGrant[] | null, versionId?: string): Promise<ObjectRecord>;
  /** A bucket configuration document (tagging, policy, acl, public-access-block); null when unset. NoSuchBucket. */
  getBucketConfig(bucket: string, name: BucketConfigName): Promise<string | null>;
  /** Every configuration document of a bucket, by name (one read; for the access decision's cache). */
  getBucketConfigs(bucket: string): Promise<Partial<Record<BucketConfigName, string>>>;
  /** Replaces (or with null removes) a bucket configuration document. */
  putBucketConfig(bucket: string, name: BucketConfigName, doc: string | null): Promise<void>;

  createUpload(input: {
    bucket: string;
    key: string;
    owner: string;
    headers: ObjectHeaders;
    tags: Record<string, string>;
    checksumAlgorithm?: ChecksumAlgorithm;
    checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
    objectOwner?: string;
    grants?: AclGrant[];
    lock?: ObjectLock;
  }): Promise<UploadRecord>;
  getUpload(bucket: string, key: string, uploadId: string): Promise<UploadRecord>;
  /**
   * A retried CompleteMultipartUpload (the first one succeeded, perhaps on another gateway, and the client did not
   * get the answer): the object the upload completed into, when it is still the key's current version and was
   * completed from exactly these parts; null otherwise.
   */
  completedUpload(bucket: string, key: string, uploadId: string, parts: CompletePart[]): Promise<ObjectRecord | null>;
  uploadPart(input: UploadPartInput): Promise<{ etag: string; checksum?: StoredChecksum }>;
  listParts(upload: UploadRecord, afterPartNumber: number, maxParts: number): Promise<{ parts: PartRecord[]; isTruncated: boolean }>;
  /** `expectedChecksum`: the whole object's checksum (the upload's algorithm) sent with the completion; DigestMismatch if it differs. */
  completeUpload(upload: UploadRecord, parts: CompletePart[], condition?: WriteCondition, expectedChecksum?: string): Promise<ObjectRecord>;
  abortUpload(bucket: string, key: string, uploadId: string): Promise<void>;
  listUploads(
    bucket: string,
    query: { prefix?: string; delimiter?: string; keyMarker?: string; uploadIdMarker?: string; maxUploads: number },
  ): Promise<{ uploads: UploadRecord[]; commonPrefixes: string[]; isTruncated: boolean }>;

  /** RestoreObject: start promoting a cold object. 'hot' = already hot (S3 answers 200), 'started' = 202. */
  restoreObject(record: ObjectRecord): Promise<'hot' | 'started' | 'in-progress'>;

  /** For /ready: metadata store answers, hot tier and enough nodes reachable. */
  readiness(): Promise<{ ok: boolean; checks: Record<string, string> }>;
  close(): Promise<void>;
}
