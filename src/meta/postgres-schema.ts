import type { Pool, PoolClient } from 'pg';

/**
 * Versioned migrations of the PostgreSQL schema, applied in order at start and by `tessera meta migrate`. A migration
 * is never edited once released: a change is a new entry. Each runs in one transaction together with its row in
 * tessera_migrations, so a crash leaves the schema at a version boundary.
 *
 * Keys are bytea so that index order is byte order (S3's UTF-8 order) whatever the database collation. Objects have a
 * bigserial `id` renewed on every replacement, so a manifest committed during an id-ordered walk (iterateManifests)
 * lands ahead of the cursor, as SQLite's AUTOINCREMENT rowids do. Foreign keys to buckets and uploads make "the bucket
 * (upload) still exists" part of every insert: the key-share lock they take conflicts with a concurrent delete.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE buckets (
  name        text PRIMARY KEY,
  created_at  bigint NOT NULL,
  owner       text NOT NULL,
  region      text NOT NULL,
  erasure     text
);

CREATE TABLE objects (
  id            bigserial PRIMARY KEY,
  bucket        text NOT NULL REFERENCES buckets (name),
  key           bytea NOT NULL,
  object_id     text NOT NULL,
  size          bigint NOT NULL,
  etag          text NOT NULL,
  last_modified bigint NOT NULL,
  storage_class text,
  headers       text NOT NULL,
  tags          text NOT NULL,
  checksum      text,
  parts         text,
  manifest      text NOT NULL,
  hot_state     text NOT NULL DEFAULT 'cold',
  hot_bytes     bigint NOT NULL DEFAULT 0,
  pinned        smallint NOT NULL DEFAULT 0,
  last_access   bigint NOT NULL DEFAULT 0
);
-- The key index covers a listing page's columns: a page is an index-only range scan.
CREATE UNIQUE INDEX objects_bucket_key ON objects (bucket, key) INCLUDE (size, etag, last_modified, checksum, storage_class);
CREATE UNIQUE INDEX objects_object_id ON objects (object_id);
CREATE INDEX objects_eviction ON objects (hot_state, pinned, last_access) INCLUDE (hot_bytes, object_id);
CREATE INDEX objects_not_cold ON objects (object_id) WHERE hot_state <> 'cold';

CREATE TABLE uploads (
  upload_id          text PRIMARY KEY,
  bucket             text NOT NULL REFERENCES buckets (name),
  key                bytea NOT NULL,
  initiated          bigint NOT NULL,
  owner              text NOT NULL,
  headers            text NOT NULL,
  tags               text NOT NULL,
  checksum_algorithm text,
  checksum_type      text,
  object_id          text NOT NULL,
  wrapped_key        text NOT NULL,
  key_id             text NOT NULL
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id);

CREATE TABLE parts (
  id            bigserial PRIMARY KEY,
  upload_id     text NOT NULL REFERENCES uploads (upload_id),
  part_number   integer NOT NULL,
  size          bigint NOT NULL,
  etag          text NOT NULL,
  checksum      text,
  last_modified bigint NOT NULL,
  manifest      text NOT NULL
);
CREATE UNIQUE INDEX parts_by_number ON parts (upload_id, part_number);

CREATE TABLE garbage (
  id         bigserial PRIMARY KEY,
  manifest   text NOT NULL,
  not_before bigint NOT NULL
);
CREATE INDEX garbage_due ON garbage (not_before, id);

CREATE TABLE leases (
  name       text PRIMARY KEY,
  holder     text NOT NULL,
  expires_at timestamptz NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'repair queue shared by gateways; a lock row for the cluster-wide hot budget',
    sql: `
CREATE TABLE repair_queue (
  id            bigserial PRIMARY KEY,
  object_id     text NOT NULL,
  seg_id        text NOT NULL,
  claimed_by    text,
  claimed_until bigint NOT NULL DEFAULT 0,
  UNIQUE (object_id, seg_id)
);
CREATE INDEX repair_queue_claimable ON repair_queue (claimed_until, id);
-- reserveHot serializes on this row (SELECT ... FOR UPDATE): a plain row lock works on every engine the store is
-- designed for, where advisory locks do not exist (CockroachDB, YugabyteDB).
CREATE TABLE cluster_locks (name text PRIMARY KEY);
INSERT INTO cluster_locks (name) VALUES ('hot-budget');
`,
  },
  {
    version: 3,
    name: "a bucket's configurations (tagging and the S3 sub-resources to come), one document each",
    sql: `
CREATE TABLE bucket_settings (
  bucket text NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
  name   text NOT NULL,
  value  text NOT NULL,
  PRIMARY KEY (bucket, name)
);
`,
  },
  {
    version: 4,
    name: 'object owners and ACLs (NULL: the bucket owner, private); the listing index covers the owner',
    sql: `
ALTER TABLE objects ADD COLUMN owner text, ADD COLUMN grants text;
ALTER TABLE uploads ADD COLUMN object_owner text, ADD COLUMN grants text;
DROP INDEX objects_bucket_key;
CREATE UNIQUE INDEX objects_bucket_key ON objects (bucket, key) INCLUDE (size, etag, last_modified, checksum, storage_class, owner);
`,
  },
  {
    version: 5,
    name: 'object versions and delete markers; one latest version per key; a per-key lock row for versioned writes',
    sql: `
ALTER TABLE objects ADD COLUMN version_id text NOT NULL DEFAULT 'null', ADD COLUMN seq bigint NOT NULL DEFAULT 0,
  ADD COLUMN current smallint NOT NULL DEFAULT 1;
DROP INDEX objects_bucket_key;
CREATE UNIQUE INDEX objects_bucket_key ON objects (bucket, key) INCLUDE (size, etag, last_modified, checksum, storage_class, owner) WHERE current = 1;
CREATE INDEX objects_noncurrent ON objects (bucket, key, seq DESC) WHERE current = 0;
CREATE TABLE delete_markers (
  bucket        text NOT NULL REFERENCES buckets (name),
  key           bytea NOT NULL,
  version_id    text NOT NULL,
  seq           bigint NOT NULL,
  last_modified bigint NOT NULL,
  owner         text,
  latest        smallint NOT NULL,
  PRIMARY KEY (bucket, key, version_id)
);
CREATE INDEX delete_markers_order ON delete_markers (bucket, key, seq DESC);
-- Versioned writes of one key take this row's lock first: the latest flag spans two tables, which no index can guard.
CREATE TABLE version_heads (
  bucket text NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
  key    bytea NOT NULL,
  PRIMARY KEY (bucket, key)
);
`,
  },
  {
    version: 6,
    name: 'Object Lock: retention and legal hold of a version, and of an upload to complete; delete markers sealed on nodes; content SHA-256; dataset snapshots',
    sql: `
ALTER TABLE objects ADD COLUMN object_lock text, ADD COLUMN content_sha256 text;
ALTER TABLE uploads ADD COLUMN object_lock text;
-- Where the sealed copies of a delete marker live on nodes (recover-index restores markers from them).
ALTER TABLE delete_markers ADD COLUMN copies text;
-- Dataset snapshots: what they list, and so hold.
CREATE TABLE snapshots (
  name       text PRIMARY KEY,
  bucket     text NOT NULL,
  prefix     text NOT NULL,
  created_at bigint NOT NULL,
  owner      text,
  state      text NOT NULL,
  root       text,
  objects    bigint NOT NULL,
  bytes      bigint NOT NULL
);
CREATE TABLE snapshot_entries (
  snapshot      text NOT NULL,
  key           bytea NOT NULL,
  version_id    text NOT NULL,
  object_id     text NOT NULL,
  size          bigint NOT NULL,
  etag          text NOT NULL,
  sha256        text NOT NULL,
  last_modified bigint NOT NULL,
  PRIMARY KEY (snapshot, key)
);
CREATE INDEX snapshot_entries_object ON snapshot_entries (object_id);
`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS tessera_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** SQLSTATEs that mean another gateway ran the same migration at the same moment: look again. */
const RACE_CODES = new Set(['40001', '40P01', '23505', '42P07', '42710']);

export class SchemaVersionError extends Error {
  constructor(found: number) {
    super(`metadata store schema version ${found} is newer than this version of tessera supports (${SCHEMA_VERSION}); upgrade tessera`);
    this.name = 'SchemaVersionError';
  }
}

async function currentVersion(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM tessera_migrations');
  return rows[0]?.v ?? 0;
}

/**
 * Brings the schema up to SCHEMA_VERSION; returns the versions applied (empty when current). Gateways starting
 * together may race: each migration's row is the lock (a primary key), the loser's transaction fails and it looks
 * again. No advisory locks, so it also runs on engines without them.
 */
export async function migrate(pool: Pool): Promise<{ from: number; applied: number[] }> {
  const client = await pool.connect();
  // See PostgresMetaStore.run: an unheard 'error' on a checked-out client would kill the process.
  let broken = false;
  const onError = (): void => {
    broken = true;
  };
  client.on('error', onError);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(MIGRATIONS_TABLE_SQL);
        break;
      } catch (err) {
        if (attempt >= 5 || !RACE_CODES.has(sqlState(err))) throw err;
      }
    }
    const from = await currentVersion(client);
    if (from > SCHEMA_VERSION) throw new SchemaVersionError(from);
    const applied: number[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const version = await currentVersion(client);
      const next = MIGRATIONS.find((m) => m.version > version);
      if (next === undefined) return { from, applied };
      try {
        await client.query('BEGIN');
        await client.query('INSERT INTO tessera_migrations (version, name) VALUES ($1, $2)', [next.version, next.name]);
        await client.query(next.sql);
        await client.query('COMMIT');
        applied.push(next.version);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (!RACE_CODES.has(sqlState(err))) throw err;
      }
    }
    throw new Error('metadata store migrations did not settle (another process keeps migrating)');
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** The SQLSTATE of a driver error, '' for anything else. */
export function sqlState(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return '';
}
