import type Database from 'better-sqlite3';
import {
  OBJECT_COLUMNS,
  PART_COLUMNS,
  UPLOAD_COLUMNS,
  type BucketRow,
  type ObjectRow,
  type PartRow,
  type UploadRow,
  MARKER_COLUMNS,
  type MarkerRow,
} from './sqlite-rows.js';
import type { RawSummaryRow } from './listing-objects.js';
import { versionStreamQueries, type VersionRow, type VersionStream } from './listing-versions.js';

/** Key as TEXT: SQLite hands the UTF-8 bytes to V8 directly, with no Buffer per row and no decode in JS. */
const RAW_SUMMARY_COLUMNS = 'CAST(key AS TEXT), size, etag, last_modified, checksum, storage_class, owner';

/** Every statement the store runs, prepared once per connection. */
export function prepareStatements(db: Database.Database) {
  return {
    ping: db.prepare<[], { one: number }>('SELECT 1 AS one'),

    // Buckets
    insertBucket: db.prepare<BucketRow>(
      'INSERT INTO buckets (name, created_at, owner, region, erasure) VALUES (@name, @created_at, @owner, @region, @erasure)',
    ),
    bucketByName: db.prepare<[string], BucketRow>('SELECT name, created_at, owner, region, erasure FROM buckets WHERE name = ?'),
    allBuckets: db.prepare<[], BucketRow>('SELECT name, created_at, owner, region, erasure FROM buckets ORDER BY name'),
    deleteBucket: db.prepare<[string]>('DELETE FROM buckets WHERE name = ?'),
    // Any version or delete marker keeps a bucket from being deleted, as in S3.
    anyObjectInBucket: db.prepare<{ bucket: string }, { one: number }>(
      `SELECT 1 AS one FROM objects WHERE bucket = @bucket AND current = 1 UNION ALL SELECT 1 FROM objects WHERE bucket = @bucket AND current = 0
        UNION ALL SELECT 1 FROM delete_markers WHERE bucket = @bucket LIMIT 1`,
    ),

    // Objects
    objectByKey: db.prepare<[string, Buffer], ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ? AND current = 1`),
    objectsAfterKey: db.prepare<[string, Buffer, number], ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key > ? AND current = 1 ORDER BY key LIMIT ?`),
    objectById: db.prepare<[string], ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE object_id = ?`),
    insertObject: db.prepare<ObjectRow>(
      `INSERT INTO objects (${OBJECT_COLUMNS}) VALUES (@bucket, @key, @size, @etag, @last_modified, @checksum, @storage_class,
        @object_id, @headers, @tags, @parts, @manifest, @hot_state, @hot_bytes, @pinned, @last_access, @owner, @grants, @version_id, @seq, @current, @object_lock, @content_sha256)`,
    ),
    deleteObjectByKey: db.prepare<[string, Buffer]>('DELETE FROM objects WHERE bucket = ? AND key = ? AND current = 1'),
    // Listing: raw rows with the key as text, read from the covering index objects_listing_current (see listing-objects.ts).
    summaryPageFrom: db
      .prepare<[string, Buffer, number], RawSummaryRow>(`SELECT ${RAW_SUMMARY_COLUMNS} FROM objects WHERE bucket = ? AND key >= ? AND current = 1 ORDER BY key LIMIT ?`)
      .raw(true),
    summaryPageBetween: db
      .prepare<[string, Buffer, Buffer, number], RawSummaryRow>(
        `SELECT ${RAW_SUMMARY_COLUMNS} FROM objects WHERE bucket = ? AND key >= ? AND key < ? AND current = 1 ORDER BY key LIMIT ?`,
      )
      .raw(true),
    summaryScanFrom: db
      .prepare<[string, Buffer], RawSummaryRow>(`SELECT ${RAW_SUMMARY_COLUMNS} FROM objects WHERE bucket = ? AND key >= ? AND current = 1 ORDER BY key`)
      .raw(true),
    summaryScanBetween: db
      .prepare<[string, Buffer, Buffer], RawSummaryRow>(`SELECT ${RAW_SUMMARY_COLUMNS} FROM objects WHERE bucket = ? AND key >= ? AND key < ? AND current = 1 ORDER BY key`)
      .raw(true),
    setTags: db.prepare<[string, string, Buffer]>('UPDATE objects SET tags = ? WHERE bucket = ? AND key = ? AND current = 1'),
    setTagsIfId: db.prepare<[string, string, Buffer, string]>('UPDATE objects SET tags = ? WHERE bucket = ? AND key = ? AND object_id = ?'),
    setContentSha256: db.prepare<[string, string]>('UPDATE objects SET content_sha256 = ? WHERE object_id = ?'),
    setLockAndManifest: db.prepare<[string | null, string, string]>('UPDATE objects SET object_lock = ?, manifest = ? WHERE object_id = ?'),
    setGrantsIfId: db.prepare<[string | null, string, Buffer, string]>('UPDATE objects SET grants = ? WHERE bucket = ? AND key = ? AND object_id = ?'),
    updateManifest: db.prepare<[string, string]>('UPDATE objects SET manifest = ? WHERE object_id = ?'),
    objectManifestsAfter: db.prepare<[number, number], { id: number; object_id: string; bucket: string; key: Buffer; manifest: string }>(
      'SELECT id, object_id, bucket, key, manifest FROM objects WHERE id > ? ORDER BY id LIMIT ?',
    ),
    // Versions (issue 13)
    noncurrentVersion: db.prepare<[string, Buffer, string], ObjectRow>(
      `SELECT ${OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ? AND current = 0 AND version_id = ?`,
    ),
    newestNoncurrent: db.prepare<[string, Buffer], { version_id: string; seq: number }>(
      'SELECT version_id, seq FROM objects WHERE bucket = ? AND key = ? AND current = 0 ORDER BY seq DESC LIMIT 1',
    ),
    newestMarker: db.prepare<[string, Buffer], { version_id: string; seq: number }>(
      'SELECT version_id, seq FROM delete_markers WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1',
    ),
    markerCopiesAfter: db.prepare<[string, Buffer, string, number], { bucket: string; key: Buffer; version_id: string; copies: string }>(
      'SELECT bucket, key, version_id, copies FROM delete_markers WHERE (bucket, key, version_id) > (?, ?, ?) AND copies IS NOT NULL ORDER BY bucket, key, version_id LIMIT ?',
    ),
    markerVersion: db.prepare<[string, Buffer, string], MarkerRow>(`SELECT ${MARKER_COLUMNS} FROM delete_markers WHERE bucket = ? AND key = ? AND version_id = ?`),
    latestMarker: db.prepare<[string, Buffer], MarkerRow>(`SELECT ${MARKER_COLUMNS} FROM delete_markers WHERE bucket = ? AND key = ? AND latest = 1`),
    demoteCurrent: db.prepare<[string, Buffer]>('UPDATE objects SET current = 0 WHERE bucket = ? AND key = ? AND current = 1'),
    promoteVersion: db.prepare<[string]>('UPDATE objects SET current = 1 WHERE object_id = ?'),
    deleteVersion: db.prepare<[string]>('DELETE FROM objects WHERE object_id = ?'),
    clearLatestMarker: db.prepare<[string, Buffer]>('UPDATE delete_markers SET latest = 0 WHERE bucket = ? AND key = ? AND latest = 1'),
    markLatestMarker: db.prepare<[string, Buffer, string]>('UPDATE delete_markers SET latest = 1 WHERE bucket = ? AND key = ? AND version_id = ?'),
    insertMarker: db.prepare<MarkerRow>(
      `INSERT INTO delete_markers (${MARKER_COLUMNS}) VALUES (@bucket, @key, @version_id, @seq, @last_modified, @owner, @latest, @copies)`,
    ),
    deleteMarker: db.prepare<[string, Buffer, string]>('DELETE FROM delete_markers WHERE bucket = ? AND key = ? AND version_id = ?'),
    versioning: db.prepare<[string], { value: string }>("SELECT value FROM bucket_settings WHERE bucket = ? AND name = 'versioning'"),
    countAll: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM objects WHERE current = 1'),
    countInBucket: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM objects WHERE bucket = ? AND current = 1'),

    // Hot tier bookkeeping
    setHotState: db.prepare<[string, number, string]>('UPDATE objects SET hot_state = ?, hot_bytes = ? WHERE object_id = ?'),
    // Compare-and-set: concurrent promotions, evictions and readers (in this or another gateway) cannot undo each other.
    setHotStateFrom: db.prepare<[string, number, string, string]>('UPDATE objects SET hot_state = ?, hot_bytes = ? WHERE object_id = ? AND hot_state = ?'),
    // Never moves backwards, and skips the write entirely for a stale or duplicate touch.
    touch: db.prepare<[number, string, number]>('UPDATE objects SET last_access = ? WHERE object_id = ? AND last_access < ?'),
    setPinned: db.prepare<[number, string]>('UPDATE objects SET pinned = ? WHERE object_id = ?'),
    hotBytesTotal: db.prepare<[], { total: number | null }>(
      "SELECT SUM(hot_bytes) AS total FROM objects WHERE hot_state IN ('hot', 'promoting')",
    ),
    evictionCandidates: db.prepare<[number], { object_id: string; hot_bytes: number; last_access: number }>(
      "SELECT object_id, hot_bytes, last_access FROM objects WHERE hot_state = 'hot' AND pinned = 0 AND hot_bytes > 0 ORDER BY last_access LIMIT ?",
    ),
    notColdAfter: db.prepare<[string, number], { object_id: string; hot_state: string; hot_bytes: number }>(
      "SELECT object_id, hot_state, hot_bytes FROM objects WHERE hot_state <> 'cold' AND object_id > ? ORDER BY object_id LIMIT ?",
    ),

    // Multipart
    insertUpload: db.prepare<UploadRow>(
      `INSERT INTO uploads (${UPLOAD_COLUMNS}) VALUES (@upload_id, @bucket, @key, @initiated, @owner, @headers, @tags,
        @checksum_algorithm, @checksum_type, @object_id, @wrapped_key, @key_id, @object_owner, @grants, @object_lock)`,
    ),
    uploadById: db.prepare<[string], UploadRow>(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?`),
    deleteUpload: db.prepare<[string]>('DELETE FROM uploads WHERE upload_id = ?'),
    uploadIdsInBucket: db.prepare<[string], { upload_id: string }>('SELECT upload_id FROM uploads WHERE bucket = ?'),
    uploadsFrom: db.prepare<[string, Buffer], UploadRow>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key >= ? ORDER BY key, initiated, upload_id`,
    ),
    uploadsBetween: db.prepare<[string, Buffer, Buffer], UploadRow>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key, initiated, upload_id`,
    ),
    uploadsOfKeyAfterMarker: db.prepare<[string, Buffer, number, number, string], UploadRow>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key = ? AND (initiated > ? OR (initiated = ? AND upload_id > ?))
        ORDER BY initiated, upload_id`,
    ),
    uploadsOfKeyAfterId: db.prepare<[string, Buffer, string], UploadRow>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key = ? AND upload_id > ? ORDER BY initiated, upload_id`,
    ),

    insertPart: db.prepare<PartRow>(
      `INSERT INTO parts (${PART_COLUMNS}) VALUES (@upload_id, @part_number, @size, @etag, @checksum, @last_modified, @manifest)`,
    ),
    partManifest: db.prepare<[string, number], { manifest: string }>('SELECT manifest FROM parts WHERE upload_id = ? AND part_number = ?'),
    deletePart: db.prepare<[string, number]>('DELETE FROM parts WHERE upload_id = ? AND part_number = ?'),
    partByNumber: db.prepare<[string, number], PartRow>(`SELECT ${PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number = ?`),
    partsAfter: db.prepare<[string, number, number], PartRow>(
      `SELECT ${PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?`,
    ),
    partsOfUpload: db.prepare<[string], PartRow>(`SELECT ${PART_COLUMNS} FROM parts WHERE upload_id = ? ORDER BY part_number`),
    deletePartsOfUpload: db.prepare<[string]>('DELETE FROM parts WHERE upload_id = ?'),
    partManifestsAfter: db.prepare<
      [number, number],
      { id: number; object_id: string; bucket: string; key: Buffer; manifest: string; upload_id: string; part_number: number }
    >(
      `SELECT p.id AS id, u.object_id AS object_id, u.bucket AS bucket, u.key AS key, p.manifest AS manifest,
        p.upload_id AS upload_id, p.part_number AS part_number
        FROM parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE p.id > ? ORDER BY p.id LIMIT ?`,
    ),

    // Garbage queue
    insertGarbage: db.prepare<[string, number]>('INSERT INTO garbage (manifest, not_before) VALUES (?, ?)'),
    dueGarbage: db.prepare<[number, number], { id: number; manifest: string; not_before: number }>(
      'SELECT id, manifest, not_before FROM garbage WHERE not_before <= ? ORDER BY not_before, id LIMIT ?',
    ),
    deleteGarbage: db.prepare<[number]>('DELETE FROM garbage WHERE id = ?'),

    // Leases: one guarded upsert, so a lease held by someone else and not yet expired is never taken over.
    acquireLease: db.prepare<[string, string, number, number]>(
      `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
    ),
    releaseLease: db.prepare<[string, string]>('DELETE FROM leases WHERE name = ? AND holder = ?'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** ListObjectVersions' six statements (listing-versions.ts), with named parameters. */
export function prepareVersionStreams(db: Database.Database): Record<VersionStream, Database.Statement<Record<string, unknown>, VersionRow>> {
  const queries = versionStreamQueries((param) => `@${param}`);
  return Object.fromEntries(Object.entries(queries).map(([name, q]) => [name, db.prepare<Record<string, unknown>, VersionRow>(q.sql)])) as Record<
    VersionStream,
    Database.Statement<Record<string, unknown>, VersionRow>
  >;
}
