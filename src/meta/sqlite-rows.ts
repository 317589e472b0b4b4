/** Row shapes of the SQLite schema and their mapping to the store's record types. */
import type { ObjectManifest, ShardRef } from '../model/manifest.js';
import type {
  AclGrant,
  BucketRecord,
  ChecksumAlgorithm,
  DeleteMarkerRecord,
  HotState,
  ObjectHeaders,
  ObjectLock,
  ObjectRecord,
  PartRecord,
  PartSummary,
  StoredChecksum,
  UploadRecord,
} from '../model/records.js';
import { NULL_VERSION_ID } from '../model/records.js';
import { decodeKey, encodeKey } from './sqlite-listing.js';

export interface BucketRow {
  name: string;
  created_at: number;
  owner: string;
  region: string;
  erasure: string | null;
}

export interface ObjectSummaryRow {
  key: Buffer;
  size: number;
  etag: string;
  last_modified: number;
  checksum: string | null;
  storage_class: string | null;
}

export interface ObjectRow extends ObjectSummaryRow {
  owner: string | null;
  grants: string | null;
  bucket: string;
  object_id: string;
  headers: string;
  tags: string;
  parts: string | null;
  manifest: string;
  hot_state: string;
  hot_bytes: number;
  pinned: number;
  last_access: number;
  /** 'null' for the null version. */
  version_id: string;
  /** Order of the key's versions and delete markers, newest highest. */
  seq: number;
  /** 1: the key's latest version (what GET without versionId reads, what listings show). */
  current: number;
  /** ObjectLock JSON; null: no retention, no legal hold. */
  object_lock: string | null;
  content_sha256: string | null;
}

export interface MarkerRow {
  bucket: string;
  key: Buffer;
  version_id: string;
  seq: number;
  last_modified: number;
  owner: string | null;
  latest: number;
  /** ShardRef[] JSON of the marker's sealed copies on nodes. */
  copies: string | null;
}

export interface UploadRow {
  upload_id: string;
  bucket: string;
  key: Buffer;
  initiated: number;
  owner: string;
  headers: string;
  tags: string;
  checksum_algorithm: string | null;
  checksum_type: string | null;
  object_id: string;
  wrapped_key: string;
  key_id: string;
  object_owner: string | null;
  grants: string | null;
  object_lock: string | null;
}

export interface PartRow {
  upload_id: string;
  part_number: number;
  size: number;
  etag: string;
  checksum: string | null;
  last_modified: number;
  manifest: string;
}

/** Column lists kept next to the row types so SELECTs and interfaces cannot drift apart. */
export const OBJECT_SUMMARY_COLUMNS = 'key, size, etag, last_modified, checksum, storage_class';
export const OBJECT_COLUMNS = `bucket, ${OBJECT_SUMMARY_COLUMNS}, object_id, headers, tags, parts, manifest, hot_state, hot_bytes, pinned, last_access, owner, grants, version_id, seq, current, object_lock, content_sha256`;
export const MARKER_COLUMNS = 'bucket, key, version_id, seq, last_modified, owner, latest, copies';
export const UPLOAD_COLUMNS = 'upload_id, bucket, key, initiated, owner, headers, tags, checksum_algorithm, checksum_type, object_id, wrapped_key, key_id, object_owner, grants, object_lock';
export const PART_COLUMNS = 'upload_id, part_number, size, etag, checksum, last_modified, manifest';

// The JSON columns are written only by this store from typed records, so parsing trusts their shape.
function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

function parseOptionalJson<T>(text: string | null): T | undefined {
  return text === null ? undefined : parseJson<T>(text);
}

export function optionalJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function bucketFromRow(row: BucketRow): BucketRecord {
  const erasure = parseOptionalJson<{ k: number; m: number }>(row.erasure);
  return {
    name: row.name,
    createdAt: row.created_at,
    owner: row.owner,
    region: row.region,
    ...(erasure !== undefined ? { erasure } : {}),
  };
}

export function bucketParams(bucket: BucketRecord): BucketRow {
  return {
    name: bucket.name,
    created_at: bucket.createdAt,
    owner: bucket.owner,
    region: bucket.region,
    erasure: optionalJson(bucket.erasure),
  };
}

export function objectFromRow(row: ObjectRow): ObjectRecord {
  const checksum = parseOptionalJson<StoredChecksum>(row.checksum);
  const parts = parseOptionalJson<PartSummary[]>(row.parts);
  return {
    bucket: row.bucket,
    key: decodeKey(row.key),
    objectId: row.object_id,
    size: row.size,
    etag: row.etag,
    lastModified: row.last_modified,
    headers: parseJson<ObjectHeaders>(row.headers),
    tags: parseJson<Record<string, string>>(row.tags),
    ...(checksum !== undefined ? { checksum } : {}),
    ...(parts !== undefined ? { parts } : {}),
    manifest: parseJson<ObjectManifest>(row.manifest),
    hot: row.hot_state as HotState,
    hotBytes: row.hot_bytes,
    pinned: row.pinned !== 0,
    lastAccess: row.last_access,
    ...(row.owner !== null ? { owner: row.owner } : {}),
    ...(row.grants !== null ? { grants: parseJson<AclGrant[]>(row.grants) } : {}),
    ...(row.version_id !== NULL_VERSION_ID ? { versionId: row.version_id } : {}),
    ...(row.object_lock !== null ? { lock: parseJson<ObjectLock>(row.object_lock) } : {}),
    ...(row.content_sha256 !== null ? { sha256: row.content_sha256 } : {}),
  };
}

/** Row values of a record; a versioned commit sets version_id, seq and current itself. */
export function objectParams(record: ObjectRecord): ObjectRow {
  return {
    bucket: record.bucket,
    key: encodeKey(record.key),
    object_id: record.objectId,
    size: record.size,
    etag: record.etag,
    last_modified: record.lastModified,
    checksum: optionalJson(record.checksum),
    storage_class: record.headers.storageClass ?? null,
    headers: JSON.stringify(record.headers),
    tags: JSON.stringify(record.tags),
    parts: optionalJson(record.parts),
    manifest: JSON.stringify(record.manifest),
    hot_state: record.hot,
    hot_bytes: record.hotBytes,
    pinned: record.pinned ? 1 : 0,
    last_access: record.lastAccess,
    owner: record.owner ?? null,
    grants: optionalJson(record.grants),
    version_id: record.versionId ?? NULL_VERSION_ID,
    seq: 0,
    current: 1,
    object_lock: optionalJson(record.lock),
    content_sha256: record.sha256 ?? null,
  };
}

export function uploadFromRow(row: UploadRow): UploadRecord {
  return {
    uploadId: row.upload_id,
    bucket: row.bucket,
    key: decodeKey(row.key),
    initiated: row.initiated,
    owner: row.owner,
    headers: parseJson<ObjectHeaders>(row.headers),
    tags: parseJson<Record<string, string>>(row.tags),
    ...(row.checksum_algorithm !== null ? { checksumAlgorithm: row.checksum_algorithm as ChecksumAlgorithm } : {}),
    ...(row.checksum_type !== null ? { checksumType: row.checksum_type as 'FULL_OBJECT' | 'COMPOSITE' } : {}),
    objectId: row.object_id,
    wrappedKey: row.wrapped_key,
    keyId: row.key_id,
    ...(row.object_owner !== null ? { objectOwner: row.object_owner } : {}),
    ...(row.grants !== null ? { grants: parseJson<AclGrant[]>(row.grants) } : {}),
    ...(row.object_lock !== null ? { lock: parseJson<ObjectLock>(row.object_lock) } : {}),
  };
}

export function uploadParams(upload: UploadRecord): UploadRow {
  return {
    upload_id: upload.uploadId,
    bucket: upload.bucket,
    key: encodeKey(upload.key),
    initiated: upload.initiated,
    owner: upload.owner,
    headers: JSON.stringify(upload.headers),
    tags: JSON.stringify(upload.tags),
    checksum_algorithm: upload.checksumAlgorithm ?? null,
    checksum_type: upload.checksumType ?? null,
    object_id: upload.objectId,
    wrapped_key: upload.wrappedKey,
    key_id: upload.keyId,
    object_owner: upload.objectOwner ?? null,
    grants: optionalJson(upload.grants),
    object_lock: optionalJson(upload.lock),
  };
}

export function partFromRow(row: PartRow): PartRecord {
  const checksum = parseOptionalJson<StoredChecksum>(row.checksum);
  return {
    uploadId: row.upload_id,
    partNumber: row.part_number,
    size: row.size,
    etag: row.etag,
    ...(checksum !== undefined ? { checksum } : {}),
    lastModified: row.last_modified,
    manifest: parseJson<ObjectManifest>(row.manifest),
  };
}

export function partParams(part: PartRecord): PartRow {
  return {
    upload_id: part.uploadId,
    part_number: part.partNumber,
    size: part.size,
    etag: part.etag,
    checksum: optionalJson(part.checksum),
    last_modified: part.lastModified,
    manifest: JSON.stringify(part.manifest),
  };
}

/** A delete marker written now (by a delete without version id). */
export function newMarker(bucket: string, key: string, versionId: string, lastModified: number, owner: string | undefined, copies: ShardRef[] | undefined): DeleteMarkerRecord {
  return { bucket, key, versionId, lastModified, ...(owner !== undefined ? { owner } : {}), ...(copies !== undefined ? { copies } : {}) };
}

/** The row of a marker at position `seq` of its key's history. */
export function markerParams(m: DeleteMarkerRecord, key: Buffer, seq: number, latest: boolean): MarkerRow {
  return { bucket: m.bucket, key, version_id: m.versionId, seq, last_modified: m.lastModified, owner: m.owner ?? null, latest: latest ? 1 : 0, copies: m.copies ? JSON.stringify(m.copies) : null };
}

export function markerFromRow(row: MarkerRow): DeleteMarkerRecord {
  return {
    bucket: row.bucket,
    key: decodeKey(row.key),
    versionId: row.version_id,
    lastModified: row.last_modified,
    ...(row.owner !== null ? { owner: row.owner } : {}),
    ...(row.copies !== null ? { copies: parseJson<ShardRef[]>(row.copies) } : {}),
  };
}
