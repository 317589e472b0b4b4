import type Database from 'better-sqlite3';
import { CLUSTER_SCHEMA_SQL } from './sqlite-cluster.js';
import { SNAPSHOTS_SQL } from './sqlite-snapshots.js';

export const SCHEMA_VERSION = 2;

/**
 * Covering index for listings: a page reads index pages only, in key order, instead of one table b-tree descent per
 * key (rows are in insertion order, keys are not), about half the SQL time of a page at 10^6 keys. It only changes on
 * insert, delete and a version becoming noncurrent; tag, manifest and hot-tier updates leave it alone. Partial: only
 * the latest version of each key, which is also how GET finds it.
 */
const LISTING_INDEX_SQL = `CREATE INDEX IF NOT EXISTS objects_listing_current ON objects (bucket, key, size, etag, last_modified, checksum, storage_class, owner) WHERE current = 1;`;

/**
 * Columns added after the first release, with the ALTER that adds each to an older database on open. Object owner
 * and ACL (issue 17): NULL is the bucket owner and S3's private. The listing index moved to one that covers the owner.
 */
const ADDED_COLUMNS: ReadonlyArray<{ table: string; column: string; sql: string }> = [
  { table: 'objects', column: 'owner', sql: 'ALTER TABLE objects ADD COLUMN owner TEXT' },
  { table: 'objects', column: 'grants', sql: 'ALTER TABLE objects ADD COLUMN grants TEXT' },
  { table: 'uploads', column: 'object_owner', sql: 'ALTER TABLE uploads ADD COLUMN object_owner TEXT' },
  { table: 'uploads', column: 'grants', sql: 'ALTER TABLE uploads ADD COLUMN grants TEXT' },
  { table: 'objects', column: 'object_lock', sql: 'ALTER TABLE objects ADD COLUMN object_lock TEXT' },
  { table: 'objects', column: 'content_sha256', sql: 'ALTER TABLE objects ADD COLUMN content_sha256 TEXT' },
  { table: 'delete_markers', column: 'copies', sql: 'ALTER TABLE delete_markers ADD COLUMN copies TEXT' },
  { table: 'uploads', column: 'object_lock', sql: 'ALTER TABLE uploads ADD COLUMN object_lock TEXT' },
];

function addMissingColumns(db: Database.Database): void {
  for (const { table, column, sql } of ADDED_COLUMNS) {
    const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`).all();
    // A table that does not exist yet is created later with every column.
    if (columns.length > 0 && !columns.some((c) => c.name === column)) db.exec(sql);
  }
  db.exec('DROP INDEX IF EXISTS objects_listing');
}

/**
 * The noncurrent versions of a key in order (ListObjectVersions, lookups by version id; a bucket that never had
 * versioning has none, so its writes pay nothing for this index) and the delete markers. A marker has no
 * data; 'latest' marks the one that hides the key. Per key, the latest of all rows of both tables is the highest seq.
 */
const VERSIONS_SQL = `
CREATE INDEX IF NOT EXISTS objects_noncurrent ON objects (bucket, key, seq DESC) WHERE current = 0;
CREATE TABLE IF NOT EXISTS delete_markers (
  bucket        TEXT NOT NULL,
  key           BLOB NOT NULL,
  version_id    TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  last_modified INTEGER NOT NULL,
  owner         TEXT,
  latest        INTEGER NOT NULL,
  copies        TEXT,
  PRIMARY KEY (bucket, key, version_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS delete_markers_order ON delete_markers (bucket, key, seq DESC);
`;

/**
 * Version 1 -> 2: objects lose UNIQUE (bucket, key), which SQLite cannot drop, so the table is rebuilt (once, a few
 * seconds per million objects), keeping ids and the AUTOINCREMENT high-water mark.
 */
function migrateToVersions(db: Database.Database): void {
  addMissingColumns(db);
  const highWater = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'objects'").get()?.seq ?? 0;
  const columns =
    'id, bucket, key, object_id, size, etag, last_modified, storage_class, headers, tags, checksum, parts, manifest, hot_state, hot_bytes, pinned, last_access, owner, grants';
  db.exec(OBJECTS_TABLE_SQL.replace('CREATE TABLE objects (', 'CREATE TABLE objects_v2 ('));
  db.exec(`INSERT INTO objects_v2 (${columns}) SELECT ${columns} FROM objects`);
  db.exec('DROP TABLE objects');
  db.exec('ALTER TABLE objects_v2 RENAME TO objects');
  db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'objects'").run(highWater);
  db.exec(OBJECT_INDEXES_SQL);
}

/** Cluster-wide leases (acquireLease); IF NOT EXISTS, like the listing index, so older databases get it on open. */
const LEASES_SQL = `CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);`;

/** A bucket's configurations (tagging, and the S3 sub-resources to come), one document each; gone with the bucket. */
const BUCKET_SETTINGS_SQL = `CREATE TABLE IF NOT EXISTS bucket_settings (bucket TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (bucket, name)) WITHOUT ROWID;`;

const OBJECTS_TABLE_SQL = `
CREATE TABLE objects (
  -- AUTOINCREMENT: a rowid is never reused, so a row committed during a rowid-ordered walk lands ahead of the cursor.
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  bucket        TEXT NOT NULL,
  key           BLOB NOT NULL,
  object_id     TEXT NOT NULL UNIQUE,
  size          INTEGER NOT NULL,
  etag          TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  storage_class TEXT,
  headers       TEXT NOT NULL,
  tags          TEXT NOT NULL,
  checksum      TEXT,
  parts         TEXT,
  manifest      TEXT NOT NULL,
  hot_state     TEXT NOT NULL DEFAULT 'cold',
  hot_bytes     INTEGER NOT NULL DEFAULT 0,
  pinned        INTEGER NOT NULL DEFAULT 0,
  last_access   INTEGER NOT NULL DEFAULT 0,
  owner         TEXT,
  grants        TEXT,
  -- Versions (issue 13): every version of a key is a row; 'current' marks the latest, at most one per key (the
  -- store's transactions keep that, one writer at a time). An unversioned bucket has one 'null' row per key.
  version_id    TEXT NOT NULL DEFAULT 'null',
  seq           INTEGER NOT NULL DEFAULT 0,
  current       INTEGER NOT NULL DEFAULT 1,
  -- Object Lock (issue 13): the version's retention and legal hold as JSON; NULL: neither.
  object_lock   TEXT,
  -- SHA-256 of the plaintext (hex), where known.
  content_sha256 TEXT
);
`;

const OBJECT_INDEXES_SQL = `-- hot_bytes rides along so hotBytesTotal sums the index alone; touch and setHotState rewrite this entry anyway.
CREATE INDEX IF NOT EXISTS objects_eviction ON objects (hot_state, pinned, last_access, hot_bytes);
-- Small partial index: start-up reconciliation walks only the objects that are not cold.
CREATE INDEX IF NOT EXISTS objects_not_cold ON objects (object_id) WHERE hot_state <> 'cold';

${LISTING_INDEX_SQL}
${VERSIONS_SQL}
`;

/**
 * Keys are BLOBs of UTF-8 so that index order is byte order (see sqlite-listing.ts). Objects and parts are rowid
 * tables rather than WITHOUT ROWID because their manifest JSON can be large; listing reads the summary columns through
 * the (bucket, key) index and never touches the manifest.
 */
const SCHEMA_SQL = `
CREATE TABLE buckets (
  name        TEXT PRIMARY KEY,
  created_at  INTEGER NOT NULL,
  owner       TEXT NOT NULL,
  region      TEXT NOT NULL,
  erasure     TEXT
);

${OBJECTS_TABLE_SQL}
${OBJECT_INDEXES_SQL}
${LEASES_SQL}

CREATE TABLE uploads (
  upload_id          TEXT PRIMARY KEY,
  bucket             TEXT NOT NULL,
  key                BLOB NOT NULL,
  initiated          INTEGER NOT NULL,
  owner              TEXT NOT NULL,
  headers            TEXT NOT NULL,
  tags               TEXT NOT NULL,
  checksum_algorithm TEXT,
  checksum_type      TEXT,
  object_id          TEXT NOT NULL,
  wrapped_key        TEXT NOT NULL,
  key_id             TEXT NOT NULL,
  object_owner       TEXT,
  grants             TEXT,
  object_lock        TEXT
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id);

CREATE TABLE parts (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  upload_id     TEXT NOT NULL,
  part_number   INTEGER NOT NULL,
  size          INTEGER NOT NULL,
  etag          TEXT NOT NULL,
  checksum      TEXT,
  last_modified INTEGER NOT NULL,
  manifest      TEXT NOT NULL,
  UNIQUE (upload_id, part_number)
);

CREATE TABLE garbage (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  manifest   TEXT NOT NULL,
  not_before INTEGER NOT NULL
);
CREATE INDEX garbage_due ON garbage (not_before, id);
`;

/** WAL so readers never block the writer; NORMAL sync is durable across process crashes (not power loss) in WAL. */
export function configureConnection(db: Database.Database, busyTimeoutMs: number): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  // 64 MiB of page cache (the default is 2 MiB): the upper levels of the key and object-id indexes of a few million
  // objects stay in memory, so a lookup or an insert touches the OS page cache for leaves only.
  db.pragma('cache_size = -65536');
}

/** Creates the schema in an empty database; refuses a database written by a newer version. */
export function ensureSchema(db: Database.Database): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === 1) {
      migrateToVersions(db);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    if (version === 1 || version === SCHEMA_VERSION) {
      addMissingColumns(db);
      db.exec(LISTING_INDEX_SQL);
      db.exec(LEASES_SQL);
      db.exec(CLUSTER_SCHEMA_SQL);
      db.exec(BUCKET_SETTINGS_SQL);
      db.exec(SNAPSHOTS_SQL);
      return;
    }
    if (version !== 0) throw new Error(`metadata store schema version ${version} is not supported (expected ${SCHEMA_VERSION})`);
    db.exec(SCHEMA_SQL);
    db.exec(CLUSTER_SCHEMA_SQL);
    db.exec(BUCKET_SETTINGS_SQL);
    db.exec(SNAPSHOTS_SQL);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
