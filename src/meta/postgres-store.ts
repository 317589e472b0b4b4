import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { ObjectManifest, ShardRef } from '../model/manifest.js';
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
import { fetchVersions, listVersionPage, versionStreamQueries, type VersionRow } from './listing-versions.js';
import { chosenVersionId } from './version-id.js';
import { assertDestroyable, withLockChange } from './object-lock.js';
import { entryRange, snapshotEntryFromRow, snapshotFromRow, type SnapshotEntryRow, type SnapshotRow } from './sqlite-snapshots.js';
import type { LockChange } from '../model/records.js';
import { checkWriteCondition, DEFAULT_GARBAGE_GRACE_MS, invalidPart } from './sqlite-store.js';
import { decodeKey, encodeKey, prefixSuccessor, immediateSuccessor } from './sqlite-listing.js';
import {
  bucketFromRow,
  objectFromRow,
  objectParams,
  OBJECT_COLUMNS,
  partFromRow,
  partParams,
  PART_COLUMNS,
  uploadFromRow,
  uploadParams,
  UPLOAD_COLUMNS,
  type BucketRow,
  type ObjectRow,
  type PartRow,
  type UploadRow,
  MARKER_COLUMNS,
  markerFromRow,
  markerParams,
  optionalJson,
  newMarker,
  type MarkerRow,
} from './sqlite-rows.js';
import { DELIMITER_PAGE_SQL, FLAT_PAGE_SQL, KEY_CEILING, listObjectPagePg } from './postgres-listing.js';
import { migrate, SCHEMA_VERSION, sqlState } from './postgres-schema.js';
import { redactUrl } from './postgres-url.js';
import { canonicalJson } from './sqlite-cluster.js';

const ITERATION_BATCH = 512;
/** Rows per INSERT of a bulk load (21 parameters each, well under the protocol's 65535). */
const BULK_BATCH = 500;
const MAX_ATTEMPTS = 8;

/** SQLSTATEs after which the whole transaction is run again: serialization failure, deadlock. */
const RETRY_CODES = new Set(['40001', '40P01']);
/** Statement timeout, lock timeout, too many connections, the server going away: the client may retry later. */
const UNAVAILABLE_CODES = new Set(['57014', '55P03', '53300', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);

export type PostgresSsl = 'disable' | 'require' | 'verify-full';

export interface PostgresMetaStoreOptions {
  url: string;
  /** Connections per gateway (default 10). */
  poolSize?: number;
  /** Server-side limit per statement in ms (default 30 s); a statement over it fails with 503. */
  statementTimeoutMs?: number;
  /** TLS to the server; absent: as the URL's sslmode says. */
  ssl?: PostgresSsl;
  /** PEM file of the CA that signed the server's certificate (with ssl verify-full). */
  sslCaFile?: string;
  /** Clock for garbage notBefore; tests may pin it. Leases use the database's clock. */
  now?: () => number;
  /** Run every transaction at this isolation level (tests prove the store under SERIALIZABLE). Default: the server's. */
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /** Apply pending migrations when opening (default true; `tessera meta migrate` does it explicitly). */
  migrate?: boolean;
}

/** Thrown inside a transaction when a concurrent insert won a race the transaction cannot see: run it again. */
class RaceLost extends Error {}

const INT8_OID = 20;
/** int8 as a JS number (sizes and ms timestamps stay far below 2^53), without touching pg's global parsers. */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

function sslOption(options: PostgresMetaStoreOptions): pg.PoolConfig['ssl'] | undefined {
  switch (options.ssl) {
    case undefined:
      return undefined;
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-full':
      return { rejectUnauthorized: true, ...(options.sslCaFile !== undefined ? { ca: readFileSync(options.sslCaFile, 'utf8') } : {}) };
  }
}

type Query = (text: string, values?: unknown[], name?: string) => Promise<pg.QueryResult>;

const OBJECT_SELECT = OBJECT_COLUMNS;
const OBJECT_COLUMN_COUNT = OBJECT_COLUMNS.split(', ').length;
const GARBAGE_PARAM = OBJECT_COLUMN_COUNT + 1;
const OBJECT_VALUES = Array.from({ length: OBJECT_COLUMN_COUNT }, (_, i) => `$${i + 1}`).join(', ');
/** Where seq sits in objectValues (a versioned commit sets it). */
const SEQ_INDEX = OBJECT_COLUMNS.split(', ').indexOf('seq');
const CURRENT_INDEX = OBJECT_COLUMNS.split(', ').indexOf('current');
/** ListObjectVersions' six statements (listing-versions.ts), numbered placeholders. */
const VERSION_STREAMS = versionStreamQueries((param, position) => (param === 'key' || param === 'upper' ? `$${position}::bytea` : `$${position}`));
/**
 * A version by id ($1 bucket, $2 key, $3 version id): the latest and the noncurrent ones are in two partial indexes,
 * and a query must name `current` for the planner to use them.
 */
const VERSION_BY_ID = (columns: string): string =>
  `SELECT ${columns} FROM objects WHERE bucket = $1 AND key = $2 AND current = 1 AND version_id = $3
  UNION ALL SELECT ${columns} FROM objects WHERE bucket = $1 AND key = $2 AND current = 0 AND version_id = $3`;
/** `column = $n` for every column but bucket and key, numbered as in objectValues ($3..$21). */
const OBJECT_REPLACE_SET = OBJECT_COLUMNS.split(', ')
  .slice(2)
  .map((column, i) => `${column} = $${i + 3}`)
  .join(', ');

/**
 * Unconditional replacement in one statement ($1..$18 as objectValues, $19 the garbage notBefore). `old` locks the
 * row (under READ COMMITTED a concurrent writer's newer version is re-read once its lock is released); the garbage
 * insert and the update run after it and use the locked version. No row: nothing happens and the caller inserts.
 */
const REPLACE_OBJECT_SQL = `WITH old AS (SELECT ${OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2 AND current = 1 FOR UPDATE),
  g AS (INSERT INTO garbage (manifest, not_before) SELECT manifest, $${GARBAGE_PARAM} FROM old WHERE object_id <> $8),
  u AS (UPDATE objects SET ${OBJECT_REPLACE_SET}, id = DEFAULT WHERE bucket = $1 AND key = $2 AND current = 1 AND EXISTS (SELECT 1 FROM old))
SELECT * FROM old`;

function markerValues(m: MarkerRow): unknown[] {
  return [m.bucket, m.key, m.version_id, m.seq, m.last_modified, m.owner, m.latest, m.copies];
}

function objectValues(record: ObjectRecord): unknown[] {
  const p = objectParams(record);
  return [p.bucket, p.key, p.size, p.etag, p.last_modified, p.checksum, p.storage_class, p.object_id, p.headers, p.tags, p.parts, p.manifest, p.hot_state, p.hot_bytes, p.pinned, p.last_access, p.owner, p.grants, p.version_id, p.seq, p.current, p.object_lock, p.content_sha256];
}

/**
 * MetaStore on PostgreSQL (node-postgres pool), for several gateways sharing one store. Every method is one
 * transaction or one statement, run again on serialization failures and deadlocks. Conditional writes lock the row
 * they test (SELECT ... FOR UPDATE) or are a single guarded statement, so they hold across gateways; nothing relies on
 * LISTEN/NOTIFY or advisory locks, and every transaction is correct under READ COMMITTED and under SERIALIZABLE.
 */
export class PostgresMetaStore implements MetaStore {
  private readonly now: () => number;
  private readonly begin: string;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    options: PostgresMetaStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.begin = options.isolation === undefined ? 'BEGIN' : `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}`;
  }

  /** Connects, checks the server answers and (unless told not to) applies pending migrations. */
  static async open(options: PostgresMetaStoreOptions): Promise<PostgresMetaStore> {
    const ssl = sslOption(options);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      application_name: 'tessera',
      types: TYPES,
      connectionTimeoutMillis: 10_000,
      ...(ssl !== undefined ? { ssl } : {}),
      // The session default as well, so single statements outside a transaction run at that level too.
      ...(options.isolation !== undefined ? { options: `-c default_transaction_isolation=${options.isolation.replaceAll(' ', '\\ ')}` } : {}),
    });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    try {
      if (options.migrate !== false) await migrate(pool);
      else await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`metadata store ${redactUrl(options.url)}: ${errorText(err)}`, { cause: err });
    }
    return new PostgresMetaStore(pool, options);
  }

  // ---- Buckets

  async createBucket(bucket: BucketRecord): Promise<void> {
    const created = await this.statement(
      'INSERT INTO buckets (name, created_at, owner, region, erasure) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING',
      [bucket.name, bucket.createdAt, bucket.owner, bucket.region, bucket.erasure === undefined ? null : JSON.stringify(bucket.erasure)],
    );
    if (created.rowCount === 0) throw new MetaError('BucketExists', bucket.name);
  }

  async getBucket(name: string): Promise<BucketRecord | null> {
    const { rows } = await this.statement('SELECT name, created_at, owner, region, erasure FROM buckets WHERE name = $1', [name], 'bucket');
    const row = rows[0] as BucketRow | undefined;
    return row === undefined ? null : bucketFromRow(row);
  }

  async deleteBucket(name: string): Promise<void> {
    try {
      await this.transaction(async (q) => {
        // The bucket row lock waits for inserts that reference it (their foreign-key check holds a key-share lock).
        if ((await q('SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE', [name])).rowCount === 0) throw new MetaError('NoSuchBucket', name);
        const anyVersion = `SELECT 1 FROM objects WHERE bucket = $1 AND current = 1 UNION ALL SELECT 1 FROM objects WHERE bucket = $1 AND current = 0
          UNION ALL SELECT 1 FROM delete_markers WHERE bucket = $1 LIMIT 1`;
        if ((await q(anyVersion, [name])).rowCount !== 0) {
          throw new MetaError('BucketNotEmpty', name);
        }
        await q(
          `WITH g AS (INSERT INTO garbage (manifest, not_before)
              SELECT p.manifest, $2 FROM parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE u.bucket = $1),
            d AS (DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = $1))
          SELECT 1`,
          [name, this.notBefore(undefined)],
        );
        await q('DELETE FROM uploads WHERE bucket = $1', [name]);
        await q('DELETE FROM buckets WHERE name = $1', [name]);
      });
    } catch (err) {
      // An object committed between the emptiness check and the delete (only possible at a lower isolation).
      if (sqlState(err) === '23503') throw new MetaError('BucketNotEmpty', name);
      throw err;
    }
  }

  async listBuckets(): Promise<BucketRecord[]> {
    const { rows } = await this.statement('SELECT name, created_at, owner, region, erasure FROM buckets ORDER BY name');
    return (rows as BucketRow[]).map(bucketFromRow);
  }

  async getBucketSetting(bucket: string, name: BucketSettingName): Promise<string | null> {
    const { rows } = await this.statement(
      'SELECT b.name AS bucket, s.value FROM buckets b LEFT JOIN bucket_settings s ON s.bucket = b.name AND s.name = $2 WHERE b.name = $1',
      [bucket, name],
      'bucketSetting',
    );
    const row = rows[0] as { bucket: string; value: string | null } | undefined;
    if (row === undefined) throw new MetaError('NoSuchBucket', bucket);
    return row.value;
  }

  async putBucketSetting(bucket: string, name: BucketSettingName, value: string | null): Promise<void> {
    if (value === null) {
      const { rows } = await this.statement(
        'WITH d AS (DELETE FROM bucket_settings WHERE bucket = $1 AND name = $2) SELECT 1 FROM buckets WHERE name = $1',
        [bucket, name],
      );
      if (rows.length === 0) throw new MetaError('NoSuchBucket', bucket);
      return;
    }
    try {
      await this.statement(
        'INSERT INTO bucket_settings (bucket, name, value) VALUES ($1, $2, $3) ON CONFLICT (bucket, name) DO UPDATE SET value = excluded.value',
        [bucket, name, value],
      );
    } catch (err) {
      if (sqlState(err) === '23503') throw new MetaError('NoSuchBucket', bucket);
      throw err;
    }
  }

  async bucketSettings(bucket: string): Promise<Record<string, string>> {
    const { rows } = await this.statement('SELECT name, value FROM bucket_settings WHERE bucket = $1 ORDER BY name', [bucket]);
    return Object.fromEntries((rows as Array<{ name: string; value: string }>).map((r) => [r.name, r.value]));
  }

  // ---- Objects

  async getObject(bucket: string, key: string): Promise<ObjectRecord | null> {
    const { rows } = await this.statement(`SELECT ${OBJECT_SELECT} FROM objects WHERE bucket = $1 AND key = $2 AND current = 1`, [bucket, encodeKey(key)], 'objectByKey');
    const row = rows[0] as ObjectRow | undefined;
    return row === undefined ? null : objectFromRow(row);
  }

  async getObjectById(objectId: string): Promise<ObjectRecord | null> {
    const { rows } = await this.statement(`SELECT ${OBJECT_SELECT} FROM objects WHERE object_id = $1`, [objectId], 'objectById');
    const row = rows[0] as ObjectRow | undefined;
    return row === undefined ? null : objectFromRow(row);
  }

  async putObject(record: ObjectRecord, condition?: WriteCondition, graceMs?: number): Promise<CommitOutcome> {
    const values = objectValues(record);
    const notBefore = this.notBefore(graceMs);
    // A bucket with versioning writes in a transaction that re-reads the state (see commitObject).
    if (condition?.ifMatch === undefined && (await this.versioningOf(record.bucket)) === undefined) {
      // The common cases are one statement each: a new key is a guarded insert; an unconditional replacement locks
      // the row, queues its manifest and rewrites it in one statement. Only If-Match takes a transaction.
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const inserted = await this.guardBucket(record.bucket, () => this.statement(this.insertObjectSql(), values, 'insertObject'));
        if (inserted.rowCount === 1) return { replaced: null };
        if (condition?.ifNoneMatch === true) throw new MetaError('PreconditionFailed', 'If-None-Match');
        const replaced = await this.statement(REPLACE_OBJECT_SQL, [...values, notBefore], 'replaceObjectLocked');
        const row = replaced.rows[0] as ObjectRow | undefined;
        if (row !== undefined) return { replaced: objectFromRow(row) };
        // Deleted between the two statements: insert again.
      }
      throw new MetaError('Busy', '', 'The metadata store is busy. Please retry.');
    }
    return this.guardBucket(record.bucket, () => this.transaction((q) => this.commitObject(q, record, values, condition, notBefore)));
  }

  async deleteObject(bucket: string, key: string, graceMs?: number, owner?: string, proposed?: ProposedMarker): Promise<DeleteOutcome> {
    const keyBytes = encodeKey(key);
    const notBefore = this.notBefore(graceMs);
    if ((await this.versioningOf(bucket)) === undefined) {
      const { rows } = await this.statement(
        `WITH d AS (DELETE FROM objects WHERE bucket = $1 AND key = $2 AND current = 1 RETURNING ${OBJECT_SELECT}),
          g AS (INSERT INTO garbage (manifest, not_before) SELECT manifest, $3 FROM d)
        SELECT * FROM d`,
        [bucket, keyBytes, notBefore],
        'deleteObject',
      );
      const row = rows[0] as ObjectRow | undefined;
      return { removed: row === undefined ? null : objectFromRow(row) };
    }
    return this.guardBucket(bucket, () =>
      this.transaction(async (q) => {
        const mode = await this.lockVersionedKey(q, bucket, keyBytes);
        // Versioning cannot be unset once set; a bucket deleted and re-created meanwhile is written again from the top.
        if (mode === undefined) throw new RaceLost();
        const seq = await this.nextSeq(q, bucket, keyBytes);
        await q('UPDATE objects SET current = 0 WHERE bucket = $1 AND key = $2 AND current = 1', [bucket, keyBytes], 'demoteCurrent');
        await q('UPDATE delete_markers SET latest = 0 WHERE bucket = $1 AND key = $2 AND latest = 1', [bucket, keyBytes], 'clearLatestMarker');
        const versionId = mode === 'Enabled' ? chosenVersionId(proposed?.versionId) : NULL_VERSION_ID;
        const removed = versionId === NULL_VERSION_ID ? await this.dropNullVersion(q, bucket, keyBytes, notBefore) : null;
        const marker = newMarker(bucket, key, versionId, proposed?.lastModified ?? this.now(), owner, proposed?.copies);
        await q(`INSERT INTO delete_markers (${MARKER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, markerValues(markerParams(marker, keyBytes, seq, true)), 'insertMarker');
        return { removed, marker };
      }),
    );
  }

  async restoreKeyHistory(bucket: string, key: string, history: ReadonlyArray<{ object: ObjectRecord } | { marker: DeleteMarkerRecord }>): Promise<void> {
    const keyBytes = encodeKey(key);
    await this.guardBucket(bucket, () =>
      this.transaction(async (q) => {
        await q('INSERT INTO version_heads (bucket, key) VALUES ($1, $2) ON CONFLICT (bucket, key) DO UPDATE SET key = EXCLUDED.key', [bucket, keyBytes], 'lockHead');
        if ((await this.nextSeq(q, bucket, keyBytes)) !== 1) throw new MetaError('BucketNotEmpty', key);
        for (const [i, entry] of history.entries()) {
          const latest = i === history.length - 1 ? 1 : 0;
          if ('object' in entry) {
            const values = objectValues(entry.object);
            values[SEQ_INDEX] = i + 1;
            values[CURRENT_INDEX] = latest;
            await q(`INSERT INTO objects (${OBJECT_COLUMNS}) VALUES (${OBJECT_VALUES})`, values, 'restoreObject');
          } else {
            await q(`INSERT INTO delete_markers (${MARKER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, markerValues(markerParams(entry.marker, keyBytes, i + 1, latest === 1)), 'insertMarker');
          }
        }
      }),
    );
  }

  async *iterateMarkerCopies(): AsyncIterable<ShardRef> {
    let after: unknown[] = ['', Buffer.alloc(0), ''];
    for (;;) {
      const { rows } = await this.statement(
        'SELECT bucket, key, version_id, copies FROM delete_markers WHERE (bucket, key, version_id) > ($1, $2, $3) AND copies IS NOT NULL ORDER BY bucket, key, version_id LIMIT 1000',
        after,
        'markerCopiesAfter',
      );
      const batch = rows as Array<{ bucket: string; key: Buffer; version_id: string; copies: string }>;
      for (const row of batch) for (const ref of JSON.parse(row.copies) as ShardRef[]) yield ref;
      const last = batch.at(-1);
      if (last === undefined || batch.length < 1000) return;
      after = [last.bucket, last.key, last.version_id];
    }
  }

  async getVersion(bucket: string, key: string, versionId: string): Promise<{ object: ObjectRecord } | { marker: DeleteMarkerRecord } | null> {
    const keyBytes = encodeKey(key);
    const { rows } = await this.statement(VERSION_BY_ID(OBJECT_SELECT), [bucket, keyBytes, versionId], 'objectVersion');
    const row = rows[0] as ObjectRow | undefined;
    if (row !== undefined) return { object: objectFromRow(row) };
    const markers = await this.statement(`SELECT ${MARKER_COLUMNS} FROM delete_markers WHERE bucket = $1 AND key = $2 AND version_id = $3`, [bucket, keyBytes, versionId], 'markerVersion');
    const marker = markers.rows[0] as MarkerRow | undefined;
    return marker === undefined ? null : { marker: markerFromRow(marker) };
  }

  async latestDeleteMarker(bucket: string, key: string): Promise<DeleteMarkerRecord | null> {
    const { rows } = await this.statement(`SELECT ${MARKER_COLUMNS} FROM delete_markers WHERE bucket = $1 AND key = $2 AND latest = 1`, [bucket, encodeKey(key)], 'latestMarker');
    const row = rows[0] as MarkerRow | undefined;
    return row === undefined ? null : markerFromRow(row);
  }

  async deleteVersion(bucket: string, key: string, versionId: string, graceMs?: number, options: { bypassGovernance?: boolean } = {}): Promise<DeleteOutcome | null> {
    const keyBytes = encodeKey(key);
    const notBefore = this.notBefore(graceMs);
    return this.transaction(async (q) => {
      if ((await q('SELECT 1 FROM buckets WHERE name = $1', [bucket], 'bucketExists')).rowCount === 0) throw new MetaError('NoSuchBucket', bucket);
      await this.lockVersionedKey(q, bucket, keyBytes);
      const deleted = await q(
        `WITH d AS (DELETE FROM objects WHERE object_id IN (${VERSION_BY_ID('object_id')}) RETURNING ${OBJECT_SELECT}),
          g AS (INSERT INTO garbage (manifest, not_before) SELECT manifest, $4 FROM d)
        SELECT * FROM d`,
        [bucket, keyBytes, versionId, notBefore],
        'deleteVersion',
      );
      const row = deleted.rows[0] as ObjectRow | undefined;
      let outcome: DeleteOutcome;
      let wasLatest: boolean;
      if (row !== undefined) {
        // Refused after the delete: throwing rolls the transaction (and the garbage insert) back.
        await this.assertRowDestroyable(q, row, options.bypassGovernance === true);
        outcome = { removed: objectFromRow(row) };
        wasLatest = row.current === 1;
      } else {
        const markers = await q(
          `DELETE FROM delete_markers WHERE bucket = $1 AND key = $2 AND version_id = $3 RETURNING ${MARKER_COLUMNS}`,
          [bucket, keyBytes, versionId],
          'deleteMarker',
        );
        const marker = markers.rows[0] as MarkerRow | undefined;
        if (marker === undefined) return null;
        outcome = { removed: null, marker: markerFromRow(marker) };
        wasLatest = marker.latest === 1;
      }
      if (wasLatest) {
        // The newest remaining version (object or marker) is the latest now.
        const newest = (
          await q(
            `SELECT version_id, seq, 0 AS marker FROM objects WHERE bucket = $1 AND key = $2 AND current = 0
              UNION ALL SELECT version_id, seq, 1 FROM delete_markers WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1`,
            [bucket, keyBytes],
            'newestVersion',
          )
        ).rows[0] as { version_id: string; marker: number } | undefined;
        if (newest?.marker === 0) {
          await q('UPDATE objects SET current = 1 WHERE bucket = $1 AND key = $2 AND current = 0 AND version_id = $3', [bucket, keyBytes, newest.version_id], 'promoteVersion');
        } else if (newest?.marker === 1) {
          await q('UPDATE delete_markers SET latest = 1 WHERE bucket = $1 AND key = $2 AND version_id = $3', [bucket, keyBytes, newest.version_id], 'markLatest');
        }
      }
      return outcome;
    });
  }

  async listObjectVersions(bucket: string, query: VersionListQuery): Promise<VersionListResult> {
    if ((await this.getBucket(bucket)) === null) throw new MetaError('NoSuchBucket', bucket);
    return listVersionPage(
      query,
      fetchVersions(bucket, async (stream, values) => {
        const { sql, params } = VERSION_STREAMS[stream];
        return (await this.statement(sql, params.map((p) => values[p]), `versions-${stream}`)).rows as VersionRow[];
      }),
      async (key, versionId) => {
        const { rows } = await this.statement(
          `${VERSION_BY_ID('seq')} UNION ALL SELECT seq FROM delete_markers WHERE bucket = $1 AND key = $2 AND version_id = $3`,
          [bucket, key, versionId],
          'versionSeq',
        );
        return (rows[0] as { seq: number } | undefined)?.seq ?? null;
      },
    );
  }

  async listObjects(bucket: string, query: ListQuery): Promise<ListResult> {
    const page = await listObjectPagePg(bucket, query, async (kind, values) => {
      const result = await this.run((client) =>
        client.query({ name: kind === 'flat' ? 'pageFlat' : 'pageDelimiter', text: kind === 'flat' ? FLAT_PAGE_SQL : DELIMITER_PAGE_SQL, values, rowMode: 'array' }),
      );
      return result.rows as unknown[][];
    });
    // An empty page is the only one that may be of a bucket that does not exist.
    if (page.objects.length === 0 && page.commonPrefixes.length === 0 && (await this.getBucket(bucket)) === null) throw new MetaError('NoSuchBucket', bucket);
    return page;
  }

  async setTags(bucket: string, key: string, tags: Record<string, string>, objectId?: string): Promise<boolean> {
    const result =
      objectId === undefined
        ? await this.statement('UPDATE objects SET tags = $1 WHERE bucket = $2 AND key = $3 AND current = 1', [JSON.stringify(tags), bucket, encodeKey(key)])
        : await this.statement('UPDATE objects SET tags = $1 WHERE bucket = $2 AND key = $3 AND object_id = $4', [JSON.stringify(tags), bucket, encodeKey(key), objectId]);
    return (result.rowCount ?? 0) > 0;
  }

  async setGrants(bucket: string, key: string, objectId: string, grants: AclGrant[] | null): Promise<boolean> {
    const json = grants === null ? null : JSON.stringify(grants);
    const result = await this.statement('UPDATE objects SET grants = $1 WHERE bucket = $2 AND key = $3 AND object_id = $4', [json, bucket, encodeKey(key), objectId]);
    return (result.rowCount ?? 0) > 0;
  }

  async setContentSha256(objectId: string, sha256: string): Promise<boolean> {
    return ((await this.statement('UPDATE objects SET content_sha256 = $1 WHERE object_id = $2', [sha256, objectId], 'setContentSha256')).rowCount ?? 0) > 0;
  }

  async setObjectLock(
    bucket: string,
    key: string,
    objectId: string,
    change: LockChange,
    options: { bypassGovernance: boolean; copies?: ShardRef[] },
  ): Promise<ObjectRecord | null> {
    return this.transaction(async (q) => {
      const { rows } = await q(`SELECT ${OBJECT_SELECT} FROM objects WHERE object_id = $1 FOR UPDATE`, [objectId], 'lockObjectById');
      const row = rows[0] as ObjectRow | undefined;
      if (row === undefined || row.bucket !== bucket || decodeKey(row.key) !== key) return null;
      const updated = withLockChange(objectFromRow(row), change, this.now(), options.bypassGovernance, options.copies);
      await q('UPDATE objects SET object_lock = $1, manifest = $2 WHERE object_id = $3', [optionalJson(updated.lock), JSON.stringify(updated.manifest), objectId], 'setObjectLock');
      return updated;
    });
  }

  async updateManifest(objectId: string, manifest: ObjectManifest, expected?: ObjectManifest): Promise<boolean> {
    if (manifest.objectId !== objectId) throw new Error(`manifest of object ${manifest.objectId} given for object ${objectId}`);
    if (expected === undefined) {
      const result = await this.statement('UPDATE objects SET manifest = $1 WHERE object_id = $2', [JSON.stringify(manifest), objectId]);
      return (result.rowCount ?? 0) > 0;
    }
    // Compare-and-set under the row lock.
    return this.transaction(async (q) => {
      const { rows } = await q('SELECT manifest FROM objects WHERE object_id = $1 FOR UPDATE', [objectId]);
      const row = rows[0] as { manifest: string } | undefined;
      if (row === undefined || canonicalJson(JSON.parse(row.manifest)) !== canonicalJson(expected)) return false;
      await q('UPDATE objects SET manifest = $1 WHERE object_id = $2', [JSON.stringify(manifest), objectId]);
      return true;
    });
  }

  async updatePartManifest(uploadId: string, partNumber: number, manifest: ObjectManifest, expected: ObjectManifest): Promise<boolean> {
    return this.transaction(async (q) => {
      const { rows } = await q('SELECT manifest FROM parts WHERE upload_id = $1 AND part_number = $2 FOR UPDATE', [uploadId, partNumber]);
      const row = rows[0] as { manifest: string } | undefined;
      if (row === undefined || canonicalJson(JSON.parse(row.manifest)) !== canonicalJson(expected)) return false;
      await q('UPDATE parts SET manifest = $1 WHERE upload_id = $2 AND part_number = $3', [JSON.stringify(manifest), uploadId, partNumber]);
      return true;
    });
  }

  /**
   * As SqliteMetaStore.iterateManifests: parts, then objects, in batches by never-reused id (renewed on replacement).
   * Unlike SQLite's single writer, ids come from a sequence, so a commit can land behind the cursor when its
   * transaction drew its id before the walk passed it and committed after: only a transaction in flight when the walk
   * reaches its id, bounded by the statement timeout. The orphan collector spares shards younger than its minimum age
   * (an hour by default), which such a transaction's shards always are.
   */
  async *iterateManifests(): AsyncIterable<{
    objectId: string;
    manifest: ObjectManifest;
    bucket: string;
    key: string;
    part?: { uploadId: string; partNumber: number };
  }> {
    const sources = [
      `SELECT p.id, u.object_id, u.bucket, u.key, p.manifest, p.upload_id, p.part_number FROM parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE p.id > $1 ORDER BY p.id LIMIT $2`,
      `SELECT id, object_id, bucket, key, manifest FROM objects WHERE id > $1 ORDER BY id LIMIT $2`,
    ];
    for (const sql of sources) {
      let afterId = 0;
      for (;;) {
        const { rows } = await this.statement(sql, [afterId, ITERATION_BATCH]);
        const batch = rows as Array<{ id: number; object_id: string; bucket: string; key: Buffer; manifest: string; upload_id?: string; part_number?: number }>;
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
    const { rows } =
      bucket === undefined
        ? await this.statement('SELECT count(*) AS n FROM objects WHERE current = 1')
        : await this.statement('SELECT count(*) AS n FROM objects WHERE bucket = $1 AND current = 1', [bucket]);
    return (rows[0] as { n: number } | undefined)?.n ?? 0;
  }

  // ---- Hot tier bookkeeping

  async setHotState(objectId: string, state: HotState, hotBytes: number, from?: HotState): Promise<boolean> {
    const result =
      from === undefined
        ? await this.statement('UPDATE objects SET hot_state = $1, hot_bytes = $2 WHERE object_id = $3', [state, hotBytes, objectId], 'setHot')
        : await this.statement('UPDATE objects SET hot_state = $1, hot_bytes = $2 WHERE object_id = $3 AND hot_state = $4', [state, hotBytes, objectId, from], 'setHotFrom');
    return (result.rowCount ?? 0) > 0;
  }

  async touch(objectId: string, atMs: number): Promise<void> {
    await this.statement('UPDATE objects SET last_access = $1 WHERE object_id = $2 AND last_access < $1', [atMs, objectId], 'touch');
  }

  async touchMany(touches: ReadonlyArray<readonly [objectId: string, atMs: number]>): Promise<void> {
    if (touches.length === 0) return;
    const latest = new Map<string, number>();
    for (const [objectId, atMs] of touches) latest.set(objectId, Math.max(atMs, latest.get(objectId) ?? 0));
    // Sorted, so two gateways flushing overlapping batches lock rows in the same order.
    const ids = [...latest.keys()].sort();
    await this.statement(
      `UPDATE objects o SET last_access = t.at FROM unnest($1::text[], $2::bigint[]) AS t (id, at)
        WHERE o.object_id = t.id AND o.last_access < t.at`,
      [ids, ids.map((id) => latest.get(id))],
      'touchMany',
    );
  }

  async setPinned(objectId: string, pinned: boolean): Promise<boolean> {
    const result = await this.statement('UPDATE objects SET pinned = $1 WHERE object_id = $2', [pinned ? 1 : 0, objectId]);
    return (result.rowCount ?? 0) > 0;
  }

  async reserveHot(
    objectId: string,
    bytes: number,
    budgetBytes: number,
    nowMs: number,
  ): Promise<{ outcome: 'reserved' | 'over-budget' | 'not-cold'; usedBytes: number }> {
    // One reservation at a time across every gateway: the budget's lock row is held around the sum and the mark.
    return this.transaction(async (q) => {
      await q("SELECT name FROM cluster_locks WHERE name = 'hot-budget' FOR UPDATE");
      const { rows } = await q("SELECT coalesce(sum(hot_bytes), 0)::bigint AS total FROM objects WHERE hot_state IN ('hot', 'promoting')");
      const usedBytes = Number((rows[0] as { total: number | string } | undefined)?.total ?? 0);
      if (usedBytes + bytes > budgetBytes) return { outcome: 'over-budget' as const, usedBytes };
      const marked = await q(
        "UPDATE objects SET hot_state = 'promoting', hot_bytes = $1, last_access = greatest(last_access, $2) WHERE object_id = $3 AND hot_state = 'cold'",
        [bytes, nowMs, objectId],
      );
      return { outcome: (marked.rowCount ?? 0) > 0 ? ('reserved' as const) : ('not-cold' as const), usedBytes };
    });
  }

  async resetStalePromotions(startedBeforeMs: number): Promise<string[]> {
    const { rows } = await this.statement(
      "UPDATE objects SET hot_state = 'cold', hot_bytes = 0 WHERE hot_state = 'promoting' AND last_access < $1 RETURNING object_id",
      [startedBeforeMs],
    );
    return (rows as Array<{ object_id: string }>).map((r) => r.object_id);
  }

  async hotBytesTotal(): Promise<number> {
    const { rows } = await this.statement("SELECT coalesce(sum(hot_bytes), 0)::bigint AS total FROM objects WHERE hot_state IN ('hot', 'promoting')");
    return (rows[0] as { total: number } | undefined)?.total ?? 0;
  }

  async evictionCandidates(limit: number): Promise<Array<{ objectId: string; hotBytes: number; lastAccess: number }>> {
    if (limit <= 0) return [];
    const { rows } = await this.statement(
      "SELECT object_id, hot_bytes, last_access FROM objects WHERE hot_state = 'hot' AND pinned = 0 AND hot_bytes > 0 ORDER BY last_access LIMIT $1",
      [limit],
    );
    return (rows as Array<{ object_id: string; hot_bytes: number; last_access: number }>).map((r) => ({ objectId: r.object_id, hotBytes: r.hot_bytes, lastAccess: r.last_access }));
  }

  async *listHot(): AsyncIterable<{ objectId: string; state: HotState; hotBytes: number }> {
    let afterId = '';
    for (;;) {
      const { rows } = await this.statement(
        "SELECT object_id, hot_state, hot_bytes FROM objects WHERE hot_state <> 'cold' AND object_id > $1 ORDER BY object_id LIMIT $2",
        [afterId, ITERATION_BATCH],
      );
      const batch = rows as Array<{ object_id: string; hot_state: string; hot_bytes: number }>;
      for (const row of batch) yield { objectId: row.object_id, state: row.hot_state as HotState, hotBytes: row.hot_bytes };
      const last = batch.at(-1);
      if (last === undefined || batch.length < ITERATION_BATCH) return;
      afterId = last.object_id;
    }
  }

  // ---- Multipart

  async createUpload(upload: UploadRecord): Promise<void> {
    const p = uploadParams(upload);
    await this.guardBucket(upload.bucket, () =>
      this.statement(`INSERT INTO uploads (${UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, [
        p.upload_id, p.bucket, p.key, p.initiated, p.owner, p.headers, p.tags, p.checksum_algorithm, p.checksum_type, p.object_id, p.wrapped_key, p.key_id, p.object_owner, p.grants, p.object_lock,
      ]),
    );
  }

  async getUpload(uploadId: string): Promise<UploadRecord | null> {
    const { rows } = await this.statement(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $1`, [uploadId], 'uploadById');
    const row = rows[0] as UploadRow | undefined;
    return row === undefined ? null : uploadFromRow(row);
  }

  async putPart(part: PartRecord): Promise<void> {
    const p = partParams(part);
    const notBefore = this.notBefore(undefined);
    await this.transaction(async (q) => {
      // The upload row lock orders this part against completion, abort and other uploads of the same part number.
      if ((await q('SELECT 1 FROM uploads WHERE upload_id = $1 FOR UPDATE', [part.uploadId], 'lockUpload')).rowCount === 0) throw new MetaError('NoSuchUpload', part.uploadId);
      await q(
        `WITH g AS (INSERT INTO garbage (manifest, not_before) SELECT manifest, $8 FROM parts WHERE upload_id = $1 AND part_number = $2)
        INSERT INTO parts (${PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (upload_id, part_number) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, checksum = EXCLUDED.checksum,
          last_modified = EXCLUDED.last_modified, manifest = EXCLUDED.manifest, id = DEFAULT`,
        [p.upload_id, p.part_number, p.size, p.etag, p.checksum, p.last_modified, p.manifest, notBefore],
        'upsertPart',
      );
    });
  }

  async listParts(uploadId: string, afterPartNumber: number, maxParts: number): Promise<{ parts: PartRecord[]; isTruncated: boolean }> {
    const { rows } = await this.statement(
      `SELECT u.upload_id AS upload_exists, p.* FROM uploads u LEFT JOIN LATERAL (
        SELECT ${PART_COLUMNS} FROM parts WHERE upload_id = u.upload_id AND part_number > $2 ORDER BY part_number LIMIT $3) p ON true
      WHERE u.upload_id = $1 ORDER BY p.part_number`,
      [uploadId, afterPartNumber, Math.max(0, maxParts) + 1],
    );
    if (rows.length === 0) throw new MetaError('NoSuchUpload', uploadId);
    if (maxParts <= 0) return { parts: [], isTruncated: false };
    const parts = (rows as PartRow[]).filter((r) => r.part_number !== null);
    return { parts: parts.slice(0, maxParts).map(partFromRow), isTruncated: parts.length > maxParts };
  }

  async getParts(uploadId: string, partNumbers: number[]): Promise<PartRecord[]> {
    const { rows } = await this.statement(
      `SELECT u.upload_id AS upload_exists, p.* FROM uploads u LEFT JOIN LATERAL (
        SELECT ${PART_COLUMNS} FROM parts WHERE upload_id = u.upload_id AND part_number = ANY($2::int[])) p ON true
      WHERE u.upload_id = $1`,
      [uploadId, partNumbers],
    );
    if (rows.length === 0) throw new MetaError('NoSuchUpload', uploadId);
    const byNumber = new Map((rows as PartRow[]).filter((r) => r.part_number !== null).map((r) => [r.part_number, r]));
    const parts: PartRecord[] = [];
    for (const partNumber of partNumbers) {
      const row = byNumber.get(partNumber);
      if (row !== undefined) parts.push(partFromRow(row));
    }
    return parts;
  }

  /** As SqliteMetaStore.completeUpload, including its InvalidPart check against parts re-uploaded meanwhile. */
  async completeUpload(
    uploadId: string,
    record: ObjectRecord,
    usedParts: number[],
    condition?: WriteCondition,
    graceMs?: number,
  ): Promise<CommitOutcome> {
    const values = objectValues(record);
    const notBefore = this.notBefore(graceMs);
    return this.transaction(async (q) => {
      const upload = (await q(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $1 FOR UPDATE`, [uploadId], 'lockUploadRow')).rows[0] as UploadRow | undefined;
      if (upload === undefined) throw new MetaError('NoSuchUpload', uploadId);
      if (upload.bucket !== record.bucket || !upload.key.equals(encodeKey(record.key)) || upload.object_id !== record.objectId) {
        throw new Error(`completeUpload: record ${record.bucket}/${record.objectId} does not belong to upload ${uploadId}`);
      }
      const parts = (await q('SELECT part_number, manifest FROM parts WHERE upload_id = $1 ORDER BY part_number', [uploadId], 'partsOfUpload')).rows as Array<{
        part_number: number;
        manifest: string;
      }>;
      const used = new Set(usedParts);
      const recordSegments = new Set(record.manifest.segments.map((segment) => segment.segId));
      const stored = new Set(parts.map((part) => part.part_number));
      for (const partNumber of used) if (!stored.has(partNumber)) throw invalidPart(uploadId, partNumber);
      for (const part of parts) {
        if (!used.has(part.part_number)) continue;
        const manifest = JSON.parse(part.manifest) as ObjectManifest;
        if (!manifest.segments.every((segment) => recordSegments.has(segment.segId))) throw invalidPart(uploadId, part.part_number);
      }
      const previous = await this.commitObject(q, record, values, condition, notBefore);
      await q(
        `WITH g AS (INSERT INTO garbage (manifest, not_before) SELECT manifest, $2 FROM parts WHERE upload_id = $1 AND NOT (part_number = ANY($3::int[])))
        DELETE FROM parts WHERE upload_id = $1`,
        [uploadId, notBefore, [...used]],
        'dropParts',
      );
      await q('DELETE FROM uploads WHERE upload_id = $1', [uploadId], 'deleteUpload');
      return previous;
    });
  }

  async rewrapUpload(uploadId: string, fromKeyId: string, wrapped: { keyId: string; wrappedKey: string }): Promise<boolean> {
    return this.transaction(async (q) => {
      const updated = await q('UPDATE uploads SET key_id = $1, wrapped_key = $2 WHERE upload_id = $3 AND key_id = $4', [wrapped.keyId, wrapped.wrappedKey, uploadId, fromKeyId]);
      if ((updated.rowCount ?? 0) === 0) return false;
      const { rows } = await q('SELECT part_number, manifest FROM parts WHERE upload_id = $1 ORDER BY part_number FOR UPDATE', [uploadId]);
      for (const part of rows as Array<{ part_number: number; manifest: string }>) {
        const manifest = { ...(JSON.parse(part.manifest) as ObjectManifest), keyId: wrapped.keyId, wrappedKey: wrapped.wrappedKey };
        await q('UPDATE parts SET manifest = $1 WHERE upload_id = $2 AND part_number = $3', [JSON.stringify(manifest), uploadId, part.part_number]);
      }
      return true;
    });
  }

  async abortUpload(uploadId: string): Promise<void> {
    const notBefore = this.notBefore(undefined);
    await this.transaction(async (q) => {
      if ((await q('SELECT 1 FROM uploads WHERE upload_id = $1 FOR UPDATE', [uploadId], 'lockUpload')).rowCount === 0) throw new MetaError('NoSuchUpload', uploadId);
      await q(
        `WITH g AS (INSERT INTO garbage (manifest, not_before) SELECT manifest, $2 FROM parts WHERE upload_id = $1)
        DELETE FROM parts WHERE upload_id = $1`,
        [uploadId, notBefore],
        'dropAllParts',
      );
      await q('DELETE FROM uploads WHERE upload_id = $1', [uploadId], 'deleteUpload');
    });
  }

  /** As SqliteMetaStore.listUploads; one read-only snapshot, seeking past each common prefix. */
  async listUploads(
    bucket: string,
    query: { prefix?: string; delimiter?: string; keyMarker?: string; uploadIdMarker?: string; maxUploads: number },
  ): Promise<{ uploads: UploadRecord[]; commonPrefixes: string[]; isTruncated: boolean }> {
    return this.transaction(
      async (q) => {
        if ((await q('SELECT 1 FROM buckets WHERE name = $1', [bucket])).rowCount === 0) throw new MetaError('NoSuchBucket', bucket);
        const uploads: UploadRecord[] = [];
        const commonPrefixes: string[] = [];
        const limit = query.maxUploads;
        if (limit <= 0) return { uploads, commonPrefixes, isTruncated: false };
        const prefix = encodeKey(query.prefix ?? '');
        const delimiter = encodeKey(query.delimiter ?? '');
        const upper = prefixSuccessor(prefix) ?? KEY_CEILING;
        const after = query.keyMarker === undefined || query.keyMarker === '' ? null : encodeKey(query.keyMarker);
        const inRange = (key: Buffer): boolean => key.length >= prefix.length && key.subarray(0, prefix.length).equals(prefix) && Buffer.compare(key, upper) < 0;
        const groupOf = (key: Buffer): Buffer | null => {
          if (delimiter.length === 0) return null;
          const at = key.indexOf(delimiter, prefix.length);
          return at < 0 ? null : key.subarray(0, at + delimiter.length);
        };
        let count = 0;
        let truncated = false;
        /** Adds an entry; false once the page is full (and one more entry exists). */
        const add = (entry: { upload: UploadRow } | { prefix: Buffer }): boolean => {
          if (count === limit) {
            truncated = true;
            return false;
          }
          count++;
          if ('upload' in entry) uploads.push(uploadFromRow(entry.upload));
          else commonPrefixes.push(decodeKey(entry.prefix));
          return true;
        };

        let lower = prefix;
        let lastPrefix: Buffer | null = null;
        if (after !== null) {
          const afterGroup = inRange(after) ? groupOf(after) : null;
          const afterBound = afterGroup !== null && afterGroup.equals(after) ? prefixSuccessor(after) : immediateSuccessor(after);
          if (afterBound === null) return { uploads, commonPrefixes, isTruncated: false };
          if (Buffer.compare(afterBound, lower) > 0) lower = afterBound;
          if (query.uploadIdMarker !== undefined && query.uploadIdMarker !== '' && inRange(after)) {
            const marker = (await q(`SELECT initiated, upload_id, bucket, key FROM uploads WHERE upload_id = $1`, [query.uploadIdMarker])).rows[0] as UploadRow | undefined;
            const leading = (
              marker !== undefined && marker.bucket === bucket && marker.key.equals(after)
                ? await q(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = $1 AND key = $2 AND (initiated > $3 OR (initiated = $3 AND upload_id > $4)) ORDER BY initiated, upload_id LIMIT $5`, [bucket, after, marker.initiated, marker.upload_id, limit + 1])
                : await q(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = $1 AND key = $2 AND upload_id > $3 ORDER BY initiated, upload_id LIMIT $4`, [bucket, after, query.uploadIdMarker, limit + 1])
            ).rows as UploadRow[];
            for (const row of leading) {
              const group = groupOf(row.key);
              if (group === null) {
                if (!add({ upload: row })) return { uploads, commonPrefixes, isTruncated: truncated };
                continue;
              }
              if (group.equals(after) || (lastPrefix !== null && group.equals(lastPrefix))) continue;
              lastPrefix = group;
              if (!add({ prefix: group })) return { uploads, commonPrefixes, isTruncated: truncated };
              const beyond = prefixSuccessor(group);
              if (beyond === null) return { uploads, commonPrefixes, isTruncated: false };
              if (Buffer.compare(beyond, lower) > 0) lower = beyond;
            }
          }
        }

        // Batches of the rows still needed; a common prefix ends the batch and the next seek starts past it.
        let afterRow: { key: Buffer; initiated: number; upload_id: string } | null = null;
        while (Buffer.compare(lower, upper) < 0) {
          const want = limit - count + 1;
          const rows = (
            afterRow === null
              ? await q(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = $1 AND key >= $2 AND key < $3 ORDER BY key, initiated, upload_id LIMIT $4`, [bucket, lower, upper, want])
              : await q(
                  `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE bucket = $1 AND (key, initiated, upload_id) > ($2, $3, $4) AND key < $5 ORDER BY key, initiated, upload_id LIMIT $6`,
                  [bucket, afterRow.key, afterRow.initiated, afterRow.upload_id, upper, want],
                )
          ).rows as UploadRow[];
          let next: Buffer | null = null;
          for (const row of rows) {
            const group = groupOf(row.key);
            if (group === null) {
              if (!add({ upload: row })) return { uploads, commonPrefixes, isTruncated: true };
              afterRow = row;
              continue;
            }
            if (!add({ prefix: group })) return { uploads, commonPrefixes, isTruncated: true };
            next = prefixSuccessor(group);
            break;
          }
          if (next !== null) {
            lower = next;
            afterRow = null;
            continue;
          }
          if (rows.length < want) break;
        }
        return { uploads, commonPrefixes, isTruncated: truncated };
      },
      { readOnly: true },
    );
  }

  // ---- Garbage queue

  async enqueueGarbage(manifest: ObjectManifest, notBefore: number): Promise<void> {
    await this.statement('INSERT INTO garbage (manifest, not_before) VALUES ($1, $2)', [JSON.stringify(manifest), notBefore]);
  }

  async dueGarbage(nowMs: number, limit: number): Promise<GarbageItem[]> {
    if (limit <= 0) return [];
    const { rows } = await this.statement('SELECT id, manifest, not_before FROM garbage WHERE not_before <= $1 ORDER BY not_before, id LIMIT $2', [
      Math.min(nowMs, Number.MAX_SAFE_INTEGER),
      limit,
    ]);
    return (rows as Array<{ id: number; manifest: string; not_before: number }>).map((row) => ({
      id: row.id,
      manifest: JSON.parse(row.manifest) as ObjectManifest,
      notBefore: row.not_before,
    }));
  }

  async removeGarbage(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.statement('DELETE FROM garbage WHERE id = ANY($1::bigint[])', [ids]);
  }

  // ---- Cluster-wide leases (the database's clock: gateways' clocks may disagree)

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.statement(
      `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
        ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
        WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= now()`,
      [name, holder, Math.max(0, ttlMs)],
      'acquireLease',
    );
    return rowCount === 1;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.statement('DELETE FROM leases WHERE name = $1 AND holder = $2', [name, holder]);
  }

  // ---- Heal-on-read repair queue (claims use the gateways' clock: a claim only needs to outlive its repair)

  async queueRepair(objectId: string, segId: string, maxPending: number): Promise<boolean> {
    const { rowCount } = await this.statement(
      `INSERT INTO repair_queue (object_id, seg_id) SELECT $1, $2 WHERE (SELECT count(*) FROM repair_queue) < $3
        ON CONFLICT (object_id, seg_id) DO NOTHING`,
      [objectId, segId, maxPending],
    );
    if ((rowCount ?? 0) > 0) return true;
    // Not inserted: either already queued (fine) or the queue is full.
    const { rows } = await this.statement('SELECT 1 FROM repair_queue WHERE object_id = $1 AND seg_id = $2', [objectId, segId]);
    return rows.length > 0;
  }

  async claimRepairs(holder: string, limit: number, claimMs: number): Promise<Array<{ id: number; objectId: string; segId: string }>> {
    if (limit <= 0) return [];
    const now = this.now();
    // SKIP LOCKED: two gateways claiming at once take different rows, never the same one.
    const { rows } = await this.statement(
      `UPDATE repair_queue SET claimed_by = $1, claimed_until = $2
        WHERE id IN (SELECT id FROM repair_queue WHERE claimed_until <= $3 ORDER BY claimed_until, id LIMIT $4 FOR UPDATE SKIP LOCKED)
        RETURNING id, object_id, seg_id`,
      [holder, now + claimMs, now, limit],
    );
    return (rows as Array<{ id: number | string; object_id: string; seg_id: string }>).map((r) => ({ id: Number(r.id), objectId: r.object_id, segId: r.seg_id }));
  }

  async finishRepair(id: number, holder: string): Promise<void> {
    await this.statement('DELETE FROM repair_queue WHERE id = $1 AND claimed_by = $2', [id, holder]);
  }

  async repairBacklog(): Promise<number> {
    const { rows } = await this.statement('SELECT count(*) AS n FROM repair_queue');
    return Number((rows[0] as { n: string } | undefined)?.n ?? 0);
  }

  async ping(): Promise<void> {
    await this.statement('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  // ---- Bulk load (meta copy, recover-index into an empty store, test fixtures)

  /** Inserts records at keys that hold no object (fails otherwise), in batches, all in one transaction. */
  async insertObjects(records: Iterable<ObjectRecord>): Promise<number> {
    return this.transaction(async (q) => {
      let count = 0;
      let batch: unknown[] = [];
      let rows = 0;
      const flush = async (): Promise<void> => {
        if (rows === 0) return;
        const tuples = Array.from({ length: rows }, (_, r) => `(${Array.from({ length: OBJECT_COLUMN_COUNT }, (_, c) => `$${r * OBJECT_COLUMN_COUNT + c + 1}`).join(', ')})`);
        await q(`INSERT INTO objects (${OBJECT_COLUMNS}) VALUES ${tuples.join(', ')}`, batch);
        count += rows;
        batch = [];
        rows = 0;
      };
      for (const record of records) {
        batch.push(...objectValues(record));
        if (++rows === BULK_BATCH) await flush();
      }
      await flush();
      return count;
    });
  }

  /** Full records of a bucket after `afterKey` (from the start when null), in key order: the bulk copy's reader. */
  async objectsAfter(bucket: string, afterKey: string | null, limit: number): Promise<ObjectRecord[]> {
    const { rows } = await this.statement(`SELECT ${OBJECT_SELECT} FROM objects WHERE bucket = $1 AND key > $2 AND current = 1 ORDER BY key LIMIT $3`, [
      bucket,
      afterKey === null ? Buffer.alloc(0) : encodeKey(afterKey),
      limit,
    ]);
    return (rows as ObjectRow[]).map(objectFromRow);
  }

  /** Applies pending migrations and reports them (`tessera meta migrate`). */
  static async migrate(options: PostgresMetaStoreOptions): Promise<{ from: number; applied: number[]; version: number }> {
    const store = await PostgresMetaStore.open({ ...options, migrate: false });
    try {
      const result = await migrate(store.pool);
      return { ...result, version: SCHEMA_VERSION };
    } finally {
      await store.close();
    }
  }

  // ---- Transactions

  private insertObjectSql(): string {
    return `INSERT INTO objects (${OBJECT_COLUMNS}) VALUES (${OBJECT_VALUES}) ON CONFLICT (bucket, key) WHERE current = 1 DO NOTHING`;
  }

  /**
   * Replace or create the object at the record's key inside the caller's transaction. The existing row is locked
   * before the condition is evaluated, so a concurrent writer waits (or, under SERIALIZABLE, one of them is retried).
   * With no row to lock, the insert is guarded: a concurrent insert that won makes this transaction run again.
   */
  private async commitObject(q: Query, record: ObjectRecord, values: unknown[], condition: WriteCondition | undefined, notBefore: number): Promise<CommitOutcome> {
    const keyBytes = values[1] as Buffer;
    const mode = await this.lockVersionedKey(q, record.bucket, keyBytes);
    const existing = (await q(`SELECT ${OBJECT_SELECT} FROM objects WHERE bucket = $1 AND key = $2 AND current = 1 FOR UPDATE`, [values[0], keyBytes], 'lockObject')).rows[0] as
      | ObjectRow
      | undefined;
    checkWriteCondition(record.key, existing?.etag, condition);
    // Re-committing the same object (a retried request) replaces it in place: no new version, and its own live
    // shards never go to the collector.
    if (existing !== undefined && (mode === undefined || existing.object_id === record.objectId)) {
      const inPlace = objectValues(existing.version_id === NULL_VERSION_ID ? record : { ...record, versionId: existing.version_id });
      inPlace[SEQ_INDEX] = existing.seq;
      await q(
        `WITH g AS (INSERT INTO garbage (manifest, not_before) SELECT manifest, $${GARBAGE_PARAM} FROM objects WHERE bucket = $1 AND key = $2 AND current = 1 AND object_id <> $8)
        UPDATE objects SET ${OBJECT_REPLACE_SET}, id = DEFAULT
        WHERE bucket = $1 AND key = $2 AND current = 1`,
        [...inPlace, notBefore],
        'replaceObject',
      );
      const replaced = objectFromRow(existing);
      return mode === undefined ? { replaced } : { replaced, versionId: existing.version_id };
    }
    if (mode === undefined) {
      if ((await q(this.insertObjectSql(), values, 'insertObject')).rowCount !== 1) throw new RaceLost();
      return { replaced: null };
    }
    const seq = await this.nextSeq(q, record.bucket, keyBytes);
    await q('UPDATE objects SET current = 0 WHERE bucket = $1 AND key = $2 AND current = 1', [record.bucket, keyBytes], 'demoteCurrent');
    await q('UPDATE delete_markers SET latest = 0 WHERE bucket = $1 AND key = $2 AND latest = 1', [record.bucket, keyBytes], 'clearLatestMarker');
    const versionId = mode === 'Enabled' ? chosenVersionId(record.versionId) : NULL_VERSION_ID;
    const replaced = versionId === NULL_VERSION_ID ? await this.dropNullVersion(q, record.bucket, keyBytes, notBefore) : null;
    const versioned = objectValues({ ...record, versionId });
    versioned[SEQ_INDEX] = seq;
    if ((await q(this.insertObjectSql(), versioned, 'insertObject')).rowCount !== 1) throw new RaceLost();
    return { replaced, versionId };
  }

  /** The bucket's versioning state; undefined when it never had one. */
  private async versioningOf(bucket: string, q?: Query): Promise<VersioningStatus | undefined> {
    const sql = "SELECT value FROM bucket_settings WHERE bucket = $1 AND name = 'versioning'";
    const { rows } = q === undefined ? await this.statement(sql, [bucket], 'versioning') : await q(sql, [bucket], 'versioning');
    const value = (rows[0] as { value: string } | undefined)?.value;
    return value === 'Enabled' || value === 'Suspended' ? value : undefined;
  }

  /**
   * In a bucket with versioning, serializes the key's writers on its version_heads row (the latest flag spans objects
   * and delete markers, which no unique index can guard), then reads the state under that lock.
   */
  private async lockVersionedKey(q: Query, bucket: string, key: Buffer): Promise<VersioningStatus | undefined> {
    const mode = await this.versioningOf(bucket, q);
    if (mode === undefined) return undefined;
    await q('INSERT INTO version_heads (bucket, key) VALUES ($1, $2) ON CONFLICT (bucket, key) DO UPDATE SET key = EXCLUDED.key', [bucket, key], 'lockHead');
    return mode;
  }

  private async nextSeq(q: Query, bucket: string, key: Buffer): Promise<number> {
    const { rows } = await q(
      `SELECT coalesce(greatest((SELECT max(seq) FROM objects WHERE bucket = $1 AND key = $2 AND current = 1),
        (SELECT max(seq) FROM objects WHERE bucket = $1 AND key = $2 AND current = 0),
        (SELECT max(seq) FROM delete_markers WHERE bucket = $1 AND key = $2)), 0)::bigint AS seq`,
      [bucket, key],
      'maxSeq',
    );
    return ((rows[0] as { seq: number } | undefined)?.seq ?? 0) + 1;
  }

  /**
   * Remove the key's null version (object or marker) for good: a suspended bucket's write replaces it. Called after
   * the latest version was demoted, so the null version is a noncurrent one.
   */
  private async dropNullVersion(q: Query, bucket: string, key: Buffer, notBefore: number): Promise<ObjectRecord | null> {
    await q("DELETE FROM delete_markers WHERE bucket = $1 AND key = $2 AND version_id = 'null'", [bucket, key], 'dropNullMarker');
    const { rows } = await q(
      `WITH d AS (DELETE FROM objects WHERE bucket = $1 AND key = $2 AND current = 0 AND version_id = 'null' RETURNING ${OBJECT_SELECT}),
        g AS (INSERT INTO garbage (manifest, not_before) SELECT manifest, $3 FROM d)
      SELECT * FROM d`,
      [bucket, key, notBefore],
      'dropNullVersion',
    );
    const row = rows[0] as ObjectRow | undefined;
    if (row !== undefined) await this.assertRowDestroyable(q, row, false);
    return row === undefined ? null : objectFromRow(row);
  }

  /**
   * Object Lock's refusal of a version's permanent removal, inside the transaction that removes it. The one-statement
   * paths of buckets that never had versioning need none: Object Lock needs versioning, which cannot be unset.
   */
  private async assertRowDestroyable(q: Query, row: ObjectRow, bypassGovernance: boolean): Promise<void> {
    if (row.object_lock !== null) assertDestroyable(decodeKey(row.key), objectFromRow(row).lock, this.now(), bypassGovernance);
    const held = (await q('SELECT snapshot FROM snapshot_entries WHERE object_id = $1 LIMIT 1', [row.object_id], 'snapshotHolding')).rows[0] as { snapshot: string } | undefined;
    if (held !== undefined) throw new MetaError('ObjectLocked', decodeKey(row.key), `the version is held by snapshot ${held.snapshot}`);
  }

  // ---- Dataset snapshots

  async createSnapshot(record: SnapshotRecord): Promise<void> {
    if ((await this.statement('SELECT 1 FROM buckets WHERE name = $1', [record.bucket], 'bucketExists')).rowCount === 0) throw new MetaError('NoSuchBucket', record.bucket);
    try {
      await this.statement('INSERT INTO snapshots (name, bucket, prefix, created_at, owner, state, root, objects, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
        record.name,
        record.bucket,
        record.prefix,
        record.createdAt,
        record.owner ?? null,
        record.state,
        record.root ?? null,
        record.objects,
        record.bytes,
      ]);
    } catch (err) {
      if (sqlState(err) === '23505') throw new MetaError('SnapshotExists', record.name);
      throw err;
    }
  }

  async addSnapshotEntries(name: string, entries: ReadonlyArray<SnapshotEntry>): Promise<string[]> {
    return this.transaction(async (q) => {
      const gone: string[] = [];
      for (const e of entries) {
        // FOR SHARE: a concurrent permanent delete of the version waits for this entry (and then sees it).
        if ((await q('SELECT 1 FROM objects WHERE object_id = $1 FOR SHARE', [e.objectId], 'objectExistsShare')).rowCount === 0) {
          gone.push(e.key);
          continue;
        }
        await q(
          `INSERT INTO snapshot_entries (snapshot, key, version_id, object_id, size, etag, sha256, last_modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (snapshot, key) DO UPDATE SET version_id = EXCLUDED.version_id, object_id = EXCLUDED.object_id, size = EXCLUDED.size,
            etag = EXCLUDED.etag, sha256 = EXCLUDED.sha256, last_modified = EXCLUDED.last_modified`,
          [name, encodeKey(e.key), e.versionId, e.objectId, e.size, e.etag, e.sha256, e.lastModified],
          'insertSnapshotEntry',
        );
      }
      return gone;
    });
  }

  async finishSnapshot(name: string, summary: { root: string; objects: number; bytes: number }): Promise<void> {
    await this.statement("UPDATE snapshots SET state = 'ready', root = $1, objects = $2, bytes = $3 WHERE name = $4", [summary.root, summary.objects, summary.bytes, name]);
  }

  async getSnapshot(name: string): Promise<SnapshotRecord | null> {
    const { rows } = await this.statement('SELECT * FROM snapshots WHERE name = $1', [name], 'snapshotByName');
    const row = rows[0] as SnapshotRow | undefined;
    return row === undefined ? null : snapshotFromRow(pgSnapshotRow(row));
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    const { rows } = await this.statement('SELECT * FROM snapshots ORDER BY name');
    return (rows as SnapshotRow[]).map((r) => snapshotFromRow(pgSnapshotRow(r)));
  }

  async snapshotEntries(name: string, query: { after?: string; prefix?: string; limit: number }): Promise<SnapshotEntry[]> {
    const { lower, inclusive, upper } = entryRange(query);
    const cols = 'key, version_id, object_id, size, etag, sha256, last_modified';
    const cmp = inclusive ? '>=' : '>';
    const { rows } =
      upper === null
        ? await this.statement(`SELECT ${cols} FROM snapshot_entries WHERE snapshot = $1 AND key ${cmp} $2 ORDER BY key LIMIT $3`, [name, lower, query.limit])
        : await this.statement(`SELECT ${cols} FROM snapshot_entries WHERE snapshot = $1 AND key ${cmp} $2 AND key < $3 ORDER BY key LIMIT $4`, [name, lower, upper, query.limit]);
    return (rows as SnapshotEntryRow[]).map((r) => snapshotEntryFromRow({ ...r, size: Number(r.size), last_modified: Number(r.last_modified) }));
  }

  async deleteSnapshot(name: string): Promise<boolean> {
    return this.transaction(async (q) => {
      await q('DELETE FROM snapshot_entries WHERE snapshot = $1', [name]);
      return ((await q('DELETE FROM snapshots WHERE name = $1', [name])).rowCount ?? 0) > 0;
    });
  }

  private notBefore(graceMs: number | undefined): number {
    return this.now() + (graceMs ?? DEFAULT_GARBAGE_GRACE_MS);
  }

  /** A foreign-key failure on the bucket of an insert means the bucket does not exist (or was just deleted). */
  private async guardBucket<T>(bucket: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      if (sqlState(err) === '23503') throw new MetaError('NoSuchBucket', bucket);
      throw err;
    }
  }

  /** One autocommit statement, run again on serialization failures and deadlocks. */
  private statement(text: string, values?: unknown[], name?: string): Promise<pg.QueryResult> {
    return this.run((client) => client.query(name === undefined ? { text, ...(values ? { values } : {}) } : { name, text, ...(values ? { values } : {}) }));
  }

  /** One transaction on one connection, run again (from the start) on serialization failures, deadlocks and lost races. */
  private async transaction<T>(body: (q: Query) => Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> {
    const begin = opts.readOnly === true ? `${this.begin === 'BEGIN' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ' : this.begin} READ ONLY` : this.begin;
    return this.run(async (client) => {
      await client.query(begin);
      try {
        const q: Query = (text, values, name) => client.query(name === undefined ? { text, ...(values ? { values } : {}) } : { name, text, ...(values ? { values } : {}) });
        const result = await body(q);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Runs `work` on a pooled connection with retries; driver and server failures become S3-level errors. */
  private async run<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw unavailable(err);
      }
      let broken = false;
      // A checked-out client has no pool listener: a server that ends the connection between two statements (a
      // restart, a failover) emits 'error' on it, which unheard would kill the process. Marked broken, it is dropped.
      const onError = (): void => {
        broken = true;
      };
      client.on('error', onError);
      try {
        return await work(client);
      } catch (err) {
        const code = sqlState(err);
        if ((err instanceof RaceLost || RETRY_CODES.has(code)) && attempt < MAX_ATTEMPTS) {
          await sleep(Math.random() * Math.min(100, 2 ** attempt));
          continue;
        }
        if (err instanceof RaceLost || RETRY_CODES.has(code)) throw new MetaError('Busy', '', 'The metadata store is busy. Please retry.');
        if (UNAVAILABLE_CODES.has(code) || NETWORK_CODES.has(code) || isConnectionError(err)) {
          broken = true;
          throw unavailable(err);
        }
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }
}

function isConnectionError(err: unknown): boolean {
  return err instanceof Error && /Connection terminated|connection timeout|Client has encountered a connection error/i.test(err.message);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function unavailable(err: unknown): Error {
  const e = new MetaError('Busy', '', 'The metadata store is unavailable. Please retry.');
  (e as Error & { cause?: unknown }).cause = errorText(err);
  return e;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** bigint columns arrive as strings from node-postgres. */
function pgSnapshotRow(r: SnapshotRow): SnapshotRow {
  return { ...r, created_at: Number(r.created_at), objects: Number(r.objects), bytes: Number(r.bytes) };
}
