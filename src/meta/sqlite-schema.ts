import type Database from 'better-sqlite3';
import { CLUSTER_SCHEMA_SQL } from './sqlite-cluster.js';

export const SCHEMA_VERSION = 1;

/**
 * Covering index for listings: a page reads index pages only, in key order, instead of one table b-tree descent per
 * key (rows are in insertion order, keys are not), about half the SQL time of a page at 10^6 keys. It only changes on
 * insert and delete; tag, manifest and hot-tier updates leave it alone. IF NOT EXISTS: databases created before it
 * get it when first opened by this version (a few seconds per million objects, once).
 */
const LISTING_INDEX_SQL = `CREATE INDEX IF NOT EXISTS objects_listing_owner ON objects (bucket, key, size, etag, last_modified, checksum, storage_class, owner);`;

/**
 * Columns added after the first release, with the ALTER that adds each to an older database on open. Object owner
 * and ACL (issue 17): NULL is the bucket owner and S3's private. The listing index moved to one that covers the owner.
 */
const ADDED_COLUMNS: ReadonlyArray<{ table: string; column: string; sql: string }> = [
  { table: 'objects', column: 'owner', sql: 'ALTER TABLE objects ADD COLUMN owner TEXT' },
  { table: 'objects', column: 'grants', sql: 'ALTER TABLE objects ADD COLUMN grants TEXT' },
  { table: 'uploads', column: 'object_owner', sql: 'ALTER TABLE uploads ADD COLUMN object_owner TEXT' },
  { table: 'uploads', column: 'grants', sql: 'ALTER TABLE uploads ADD COLUMN grants TEXT' },
];

function addMissingColumns(db: Database.Database): void {
  for (const { table, column, sql } of ADDED_COLUMNS) {
    const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`).all();
    if (!columns.some((c) => c.name === column)) db.exec(sql);
  }
  db.exec('DROP INDEX IF EXISTS objects_listing');
}

/** Cluster-wide leases (acquireLease); IF NOT EXISTS, like the listing index, so older databases get it on open. */
const LEASES_SQL = `CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);`;

/** A bucket's configurations (tagging, and the S3 sub-resources to come), one document each; gone with the bucket. */
const BUCKET_SETTINGS_SQL = `CREATE TABLE IF NOT EXISTS bucket_settings (bucket TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (bucket, name)) WITHOUT ROWID;`;

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
  UNIQUE (bucket, key)
);
-- hot_bytes rides along so hotBytesTotal sums the index alone; touch and setHotState rewrite this entry anyway.
CREATE INDEX objects_eviction ON objects (hot_state, pinned, last_access, hot_bytes);
-- Small partial index: start-up reconciliation walks only the objects that are not cold.
CREATE INDEX objects_not_cold ON objects (object_id) WHERE hot_state <> 'cold';

${LISTING_INDEX_SQL}
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
  grants             TEXT
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
    if (version === SCHEMA_VERSION) {
      addMissingColumns(db);
      db.exec(LISTING_INDEX_SQL);
      db.exec(LEASES_SQL);
      db.exec(CLUSTER_SCHEMA_SQL);
      db.exec(BUCKET_SETTINGS_SQL);
      return;
    }
    if (version !== 0) throw new Error(`metadata store schema version ${version} is not supported (expected ${SCHEMA_VERSION})`);
    db.exec(SCHEMA_SQL);
    db.exec(CLUSTER_SCHEMA_SQL);
    db.exec(BUCKET_SETTINGS_SQL);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
