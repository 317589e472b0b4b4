import type { ObjectManifest, ShardRef } from './manifest.js';

export interface BucketRecord {
  name: string;
  /** ms since epoch */
  createdAt: number;
  /** Access key of the creating user. */
  owner: string;
  region: string;
  /** Per-bucket erasure coding override, e.g. { k: 8, m: 4 }. */
  erasure?: { k: number; m: number };
}

export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';

export interface StoredChecksum {
  algorithm: ChecksumAlgorithm;
  /** base64, as S3 sends it; multipart composites carry the `-N` suffix. */
  value: string;
  type: 'FULL_OBJECT' | 'COMPOSITE';
}

/** Headers S3 stores with an object and returns on GET/HEAD. */
export interface ObjectHeaders {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
  /** x-amz-meta-* without the prefix, names lower-cased. */
  userMeta: Record<string, string>;
  storageClass?: string;
}

/** An ACL grant as S3 models it. Canonical users are named by canonical id (ownerId of an access key). */
export type AclPermission = 'FULL_CONTROL' | 'READ' | 'WRITE' | 'READ_ACP' | 'WRITE_ACP';
export type AclGrantee = { type: 'CanonicalUser'; id: string } | { type: 'Group'; group: 'AllUsers' | 'AuthenticatedUsers' };
export interface AclGrant {
  grantee: AclGrantee;
  permission: AclPermission;
}

export interface PartSummary {
  partNumber: number;
  size: number;
  etag: string;
  checksum?: StoredChecksum;
}

export type HotState = 'cold' | 'promoting' | 'hot';

export interface ObjectRecord {
  bucket: string;
  key: string;
  /** Same as manifest.objectId. */
  objectId: string;
  size: number;
  /** Quoted, as S3 returns it: "md5hex" or "md5hex-N". */
  etag: string;
  /** ms since epoch */
  lastModified: number;
  headers: ObjectHeaders;
  tags: Record<string, string>;
  checksum?: StoredChecksum;
  /** Present for multipart objects: the part layout (for GET ?partNumber and composite checksums). */
  parts?: PartSummary[];
  manifest: ObjectManifest;
  hot: HotState;
  /** Bytes this object occupies in the hot tier when hot (ciphertext is larger than plaintext). */
  hotBytes: number;
  pinned: boolean;
  /** ms since epoch of the last read, for LRU. */
  lastAccess: number;
  /** Access key of the object's owner; absent: the bucket's owner. */
  owner?: string;
  /** The object's ACL; absent: the owner's FULL_CONTROL alone (S3's private). */
  grants?: AclGrant[];
  /** S3's version id, set by the store at commit in a bucket with versioning; absent: the null version. */
  versionId?: string;
  /** Object Lock: retention and legal hold of this version (absent: neither). */
  lock?: ObjectLock;
  /**
   * SHA-256 of the plaintext (hex): computed at PUT for single-request objects; for a multipart object, by reading it
   * once in the background after completion (the parts cannot be combined into it), or by the first snapshot of it.
   */
  sha256?: string;
}

export type RetentionMode = 'GOVERNANCE' | 'COMPLIANCE';

/** A version's Object Lock state; `until` is ms since epoch. A version is protected while either holds. */
export interface ObjectLock {
  retention?: { mode: RetentionMode; until: number };
  /** true: ON; false: turned OFF (GetObjectLegalHold answers OFF); absent: never set. */
  legalHold?: boolean;
}

/** A change of a version's Object Lock state: absent fields stay as they are; retention null removes it. */
export interface LockChange {
  retention?: ObjectLock['retention'] | null;
  legalHold?: boolean;
}

/** A bucket's Object Lock configuration (stored as the 'object-lock' setting); once enabled it stays enabled. */
export interface ObjectLockConfig {
  enabled: true;
  defaultRetention?: { mode: RetentionMode; days?: number; years?: number };
}

/** A bucket's versioning state once set; a bucket that never had one keeps only the latest bytes of a key. */
export type VersioningStatus = 'Enabled' | 'Suspended';

/** The version id S3 gives the objects of an unversioned bucket and those written while versioning is suspended. */
export const NULL_VERSION_ID = 'null';

/** A delete marker: the latest "version" of a key deleted in a versioned bucket (GET answers 404 while it is latest). */
export interface DeleteMarkerRecord {
  bucket: string;
  key: string;
  /** 'null' for a marker written while versioning was suspended. */
  versionId: string;
  /** ms since epoch */
  lastModified: number;
  /** Access key of the user that deleted. */
  owner?: string;
  /** Where encrypted copies of the marker live on nodes (for recover-index); absent on markers of older versions. */
  copies?: ShardRef[];
}

/** What a delete did: the object removed for good (its shards queued as garbage) and/or the delete marker written. */
export interface DeleteOutcome {
  removed: ObjectRecord | null;
  /** Written by a delete without a version id in a versioned bucket, or removed by a delete of the marker's version. */
  marker?: DeleteMarkerRecord;
}

/** One row of ListObjectVersions: an object version or a delete marker, newest first within a key. */
export type VersionEntry =
  | (ObjectSummary & { kind: 'object'; versionId: string; isLatest: boolean })
  | { kind: 'marker'; key: string; versionId: string; isLatest: boolean; lastModified: number; owner?: string };

export interface VersionListQuery {
  prefix?: string;
  delimiter?: string;
  /** Start after this key, or, with versionIdMarker, after that version of this key. */
  keyMarker?: string;
  versionIdMarker?: string;
  maxKeys: number;
}

export interface VersionListResult {
  entries: VersionEntry[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last entry returned (a version, or a common prefix without versionId): where the next page starts. */
  last?: { key: string; versionId?: string };
}

/** What listings return per object: no manifest, so listing stays cheap. */
export type ObjectSummary = Pick<ObjectRecord, 'key' | 'size' | 'etag' | 'lastModified' | 'checksum'> & { storageClass?: string; owner?: string };

export interface ListQuery {
  prefix?: string;
  delimiter?: string;
  /** Exclusive lower bound: keys (and prefixes) strictly after this are returned. */
  after?: string;
  maxKeys: number;
}

export interface ListResult {
  /** In UTF-8 byte order, interleaved logically with commonPrefixes (each entry counts toward maxKeys). */
  objects: ObjectSummary[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned; the next page starts strictly after it. */
  lastReturned?: string;
}

export interface UploadRecord {
  uploadId: string;
  bucket: string;
  key: string;
  /** ms since epoch */
  initiated: number;
  owner: string;
  headers: ObjectHeaders;
  tags: Record<string, string>;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
  /** Object id and wrapped data key shared by every part, so the completed object needs no re-encryption. */
  objectId: string;
  wrappedKey: string;
  keyId: string;
  /** Owner and ACL the completed object takes (decided at CreateMultipartUpload); absent as on ObjectRecord. */
  objectOwner?: string;
  grants?: AclGrant[];
  /** Object Lock state the completed object takes (from CreateMultipartUpload's headers or the bucket's default). */
  lock?: ObjectLock;
}

export interface PartRecord extends PartSummary {
  uploadId: string;
  /** ms since epoch */
  lastModified: number;
  /** Segments of this part, manifest-shaped (objectId = the upload's objectId). */
  manifest: ObjectManifest;
}

export interface WriteCondition {
  /** If-None-Match: * — fail when the key exists. */
  ifNoneMatch?: boolean;
  /** If-Match: "etag" — fail unless the current object has this ETag. */
  ifMatch?: string;
}

/** Work left for the garbage collector: shards (and a hot copy) that no committed object references any more. */
export interface GarbageItem {
  id: number;
  manifest: ObjectManifest;
  /** ms since epoch; not collected before this, so in-flight reads of a replaced object can finish. */
  notBefore: number;
}

/** A bucket's configuration documents, stored by name (the S3 sub-resource each belongs to). */
export type BucketConfigName = 'tagging' | 'policy' | 'acl' | 'public-access-block' | 'cors' | 'ownership' | 'versioning' | 'object-lock' | 'lifecycle';

/**
 * One lifecycle rule (stored as JSON, the 'lifecycle' setting holds the list): what S3 calls Expiration,
 * NoncurrentVersionExpiration and AbortIncompleteMultipartUpload, for the keys under a prefix. Days count as S3
 * counts them: from the event, rounded up to the next midnight UTC.
 */
export interface LifecycleRule {
  id: string;
  prefix: string;
  /** How the rule named its prefix, so GET answers it as it was put: the legacy rule-level Prefix, or a Filter. */
  prefixForm?: 'rule' | 'filter' | 'empty-filter' | 'none';
  enabled: boolean;
  expiration?: { days: number } | { date: number } | { expiredObjectDeleteMarker: true };
  noncurrentExpiration?: { days: number; newerNoncurrentVersions?: number };
  abortIncompleteUploadDays?: number;
}

/**
 * A dataset snapshot: an immutable list of the current versions under a bucket prefix at one moment, with a Merkle
 * root over its entries (the dataset's content hash). While it exists, its versions cannot be deleted.
 */
export interface SnapshotRecord {
  name: string;
  bucket: string;
  prefix: string;
  /** ms since epoch */
  createdAt: number;
  owner?: string;
  /** 'creating' until every entry is in; only a ready snapshot is served or trusted. */
  state: 'creating' | 'ready';
  /** Merkle root (hex) over the entries in key order; set when ready. */
  root?: string;
  objects: number;
  bytes: number;
}

export interface SnapshotEntry {
  key: string;
  versionId: string;
  objectId: string;
  size: number;
  etag: string;
  /** SHA-256 of the plaintext (hex). */
  sha256: string;
  lastModified: number;
}
