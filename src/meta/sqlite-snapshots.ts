import type Database from 'better-sqlite3';
import type { SnapshotEntry, SnapshotRecord } from '../model/records.js';
import { decodeKey, encodeKey, prefixSuccessor } from './sqlite-listing.js';

/** Dataset snapshots' tables (IF NOT EXISTS: older databases get them on open). */
export const SNAPSHOTS_SQL = `
CREATE TABLE IF NOT EXISTS snapshots (
  name       TEXT PRIMARY KEY,
  bucket     TEXT NOT NULL,
  prefix     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  owner      TEXT,
  state      TEXT NOT NULL,
  root       TEXT,
  objects    INTEGER NOT NULL,
  bytes      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshot_entries (
  snapshot      TEXT NOT NULL,
  key           BLOB NOT NULL,
  version_id    TEXT NOT NULL,
  object_id     TEXT NOT NULL,
  size          INTEGER NOT NULL,
  etag          TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  PRIMARY KEY (snapshot, key)
) WITHOUT ROWID;
-- What holds a version: every permanent delete asks.
CREATE INDEX IF NOT EXISTS snapshot_entries_object ON snapshot_entries (object_id);
`;

export interface SnapshotRow {
  name: string;
  bucket: string;
  prefix: string;
  created_at: number;
  owner: string | null;
  state: string;
  root: string | null;
  objects: number;
  bytes: number;
}

export interface SnapshotEntryRow {
  key: Buffer;
  version_id: string;
  object_id: string;
  size: number;
  etag: string;
  sha256: string;
  last_modified: number;
}

export function snapshotFromRow(r: SnapshotRow): SnapshotRecord {
  return {
    name: r.name,
    bucket: r.bucket,
    prefix: r.prefix,
    createdAt: r.created_at,
    ...(r.owner !== null ? { owner: r.owner } : {}),
    state: r.state === 'ready' ? 'ready' : 'creating',
    ...(r.root !== null ? { root: r.root } : {}),
    objects: r.objects,
    bytes: r.bytes,
  };
}

export function snapshotEntryFromRow(r: SnapshotEntryRow): SnapshotEntry {
  return { key: decodeKey(r.key), versionId: r.version_id, objectId: r.object_id, size: r.size, etag: r.etag, sha256: r.sha256, lastModified: r.last_modified };
}

/** The key range of a listing of entries: strictly after `after`, within `prefix`. */
export function entryRange(query: { after?: string; prefix?: string }): { lower: Buffer; inclusive: boolean; upper: Buffer | null } {
  const prefix = encodeKey(query.prefix ?? '');
  const after = query.after !== undefined ? encodeKey(query.after) : null;
  const upper = prefix.length > 0 ? prefixSuccessor(prefix) : null;
  if (after !== null && Buffer.compare(after, prefix) >= 0) return { lower: after, inclusive: false, upper };
  return { lower: prefix, inclusive: true, upper };
}

export function prepareSnapshotStatements(db: Database.Database) {
  const cols = 'key, version_id, object_id, size, etag, sha256, last_modified';
  return {
    insert: db.prepare<SnapshotRow>(
      'INSERT INTO snapshots (name, bucket, prefix, created_at, owner, state, root, objects, bytes) VALUES (@name, @bucket, @prefix, @created_at, @owner, @state, @root, @objects, @bytes)',
    ),
    byName: db.prepare<[string], SnapshotRow>('SELECT * FROM snapshots WHERE name = ?'),
    all: db.prepare<[], SnapshotRow>('SELECT * FROM snapshots ORDER BY name'),
    finish: db.prepare<[string, number, number, string]>("UPDATE snapshots SET state = 'ready', root = ?, objects = ?, bytes = ? WHERE name = ?"),
    insertEntry: db.prepare<[string, Buffer, string, string, number, string, string, number]>(
      `INSERT OR REPLACE INTO snapshot_entries (snapshot, ${cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    objectExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM objects WHERE object_id = ?'),
    entriesFrom: db.prepare<[string, Buffer, number], SnapshotEntryRow>(`SELECT ${cols} FROM snapshot_entries WHERE snapshot = ? AND key >= ? ORDER BY key LIMIT ?`),
    entriesAfter: db.prepare<[string, Buffer, number], SnapshotEntryRow>(`SELECT ${cols} FROM snapshot_entries WHERE snapshot = ? AND key > ? ORDER BY key LIMIT ?`),
    entriesFromBelow: db.prepare<[string, Buffer, Buffer, number], SnapshotEntryRow>(
      `SELECT ${cols} FROM snapshot_entries WHERE snapshot = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?`,
    ),
    entriesAfterBelow: db.prepare<[string, Buffer, Buffer, number], SnapshotEntryRow>(
      `SELECT ${cols} FROM snapshot_entries WHERE snapshot = ? AND key > ? AND key < ? ORDER BY key LIMIT ?`,
    ),
    deleteEntries: db.prepare<[string]>('DELETE FROM snapshot_entries WHERE snapshot = ?'),
    delete: db.prepare<[string]>('DELETE FROM snapshots WHERE name = ?'),
    holding: db.prepare<[string], { snapshot: string }>('SELECT snapshot FROM snapshot_entries WHERE object_id = ? LIMIT 1'),
  };
}

export type SnapshotStatements = ReturnType<typeof prepareSnapshotStatements>;
