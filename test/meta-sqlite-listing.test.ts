/** SQLite-only listing checks: the byte-order primitives and index use (EXPLAIN QUERY PLAN). The listing contract is meta-store-listing.test.ts. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKey, listingEntries, prefixSuccessor, takePage, type KeyedRow } from '../src/meta/sqlite-listing.js';
import { listObjectPage, type ObjectListingSource, type RawSummaryRow } from '../src/meta/listing-objects.js';
import { prepareStatements, prepareVersionStreams } from '../src/meta/sqlite-statements.js';
import { SqliteMetaStore } from '../src/meta/sqlite-store.js';
import type { ObjectRecord } from '../src/model/records.js';

const NOW = 1_700_000_000_000;

function objectRecord(key: string, objectId: string): ObjectRecord {
  return {
    bucket: 'bkt',
    key,
    objectId,
    size: key.length,
    etag: `"${objectId}"`,
    lastModified: NOW,
    headers: { userMeta: {} },
    tags: {},
    manifest: { version: 1, objectId, wrappedKey: 'w', keyId: 'k', size: key.length, segments: [] },
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
  };
}





let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meta-list-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


describe('byte order', () => {
  it('computes byte-wise prefix successors', () => {
    expect(prefixSuccessor(Buffer.from([0x61, 0x62]))).toEqual(Buffer.from([0x61, 0x63]));
    expect(prefixSuccessor(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixSuccessor(Buffer.from([0x61, 0xbf]))).toEqual(Buffer.from([0x61, 0xc0]));
    expect(prefixSuccessor(Buffer.from([0xff]))).toBeNull();
    expect(prefixSuccessor(Buffer.alloc(0))).toBeNull();
  });
});


describe('index use', () => {
  it('a delimiter page reads one row per returned entry, however many keys the groups hold', () => {
    const keys = Array.from({ length: 20 }, (_, g) => Array.from({ length: 500 }, (_, i) => `g${String(g).padStart(2, '0')}/${String(i).padStart(4, '0')}`)).flat();
    const rows: KeyedRow[] = keys.map((key) => ({ key: encodeKey(key) })).sort((a, b) => Buffer.compare(a.key, b.key));
    let pulled = 0;
    let seeks = 0;
    function* seek(lower: Buffer, upper: Buffer | null): Generator<KeyedRow> {
      seeks++;
      for (const row of rows) {
        if (Buffer.compare(row.key, lower) < 0) continue; // an index seek lands here without reading
        if (upper !== null && Buffer.compare(row.key, upper) >= 0) return;
        pulled++;
        yield row;
      }
    }
    const { page, isTruncated } = takePage(listingEntries({ prefix: Buffer.alloc(0), delimiter: encodeKey('/'), after: encodeKey('g03/'), seek }), 5);
    expect(page.map((e) => (e.kind === 'prefix' ? e.prefix.toString() : 'row'))).toEqual(['g04/', 'g05/', 'g06/', 'g07/', 'g08/']);
    expect(isTruncated).toBe(true);
    expect(pulled).toBe(6);
    expect(seeks).toBe(6);
  });

  it('an object delimiter page reads one row per returned entry; a flat page is one bounded statement', () => {
    const keys = Array.from({ length: 20 }, (_, g) => Array.from({ length: 500 }, (_, i) => `g${String(g).padStart(2, '0')}/${String(i).padStart(4, '0')}`)).flat();
    const rows: RawSummaryRow[] = keys.sort().map((key) => [key, 1, '"e"', NOW, null, null, null]);
    const inRange = (row: RawSummaryRow, lower: Buffer, upper: Buffer | null) =>
      Buffer.compare(encodeKey(row[0]), lower) >= 0 && (upper === null || Buffer.compare(encodeKey(row[0]), upper) < 0);
    let pulled = 0;
    let seeks = 0;
    const pages: number[] = [];
    const source: ObjectListingSource = {
      page: (lower, upper, limit) => {
        pages.push(limit);
        return rows.filter((row) => inRange(row, lower, upper)).slice(0, limit);
      },
      *scan(lower, upper) {
        seeks++;
        for (const row of rows) {
          if (!inRange(row, lower, upper)) continue;
          pulled++;
          yield row;
        }
      },
    };
    const grouped = listObjectPage(source, { delimiter: '/', after: 'g03/', maxKeys: 5 });
    expect(grouped).toEqual({ objects: [], commonPrefixes: ['g04/', 'g05/', 'g06/', 'g07/', 'g08/'], isTruncated: true, lastReturned: 'g08/' });
    expect(pulled).toBe(6);
    expect(seeks).toBe(6);
    const flat = listObjectPage(source, { prefix: 'g01/', after: 'g01/0497', maxKeys: 3 });
    expect(flat.objects.map((o) => o.key)).toEqual(['g01/0498', 'g01/0499']);
    expect(flat.isTruncated).toBe(false);
    expect(flat.lastReturned).toBe('g01/0499');
    expect(pages).toEqual([4]);
    expect(seeks).toBe(6);
  });

  it('object listing statements read only the covering index of latest versions; a version-1 database is migrated on open', async () => {
    const plans = (db: Database.Database) =>
      ['summaryPageFrom', 'summaryPageBetween', 'summaryScanFrom', 'summaryScanBetween'].map((name) => {
        const statement = (prepareStatements(db) as unknown as Record<string, Database.Statement>)[name];
        if (statement === undefined) throw new Error(name);
        const params = new Array<null>((statement.source.match(/\?/g) ?? []).length).fill(null);
        return db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${statement.source}`).all(...params).map((r) => r.detail).join('; ');
      });
    // A database as the first release wrote it (schema version 1: UNIQUE (bucket, key), no owner / ACL / version
    // columns), with a deleted row so the AUTOINCREMENT high-water mark is above every id.
    const path = join(dir, 'v1.db');
    const v1 = new Database(path);
    try {
      v1.exec(`
        CREATE TABLE buckets (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL, owner TEXT NOT NULL, region TEXT NOT NULL, erasure TEXT);
        CREATE TABLE objects (id INTEGER PRIMARY KEY AUTOINCREMENT, bucket TEXT NOT NULL, key BLOB NOT NULL, object_id TEXT NOT NULL UNIQUE,
          size INTEGER NOT NULL, etag TEXT NOT NULL, last_modified INTEGER NOT NULL, storage_class TEXT, headers TEXT NOT NULL, tags TEXT NOT NULL,
          checksum TEXT, parts TEXT, manifest TEXT NOT NULL, hot_state TEXT NOT NULL DEFAULT 'cold', hot_bytes INTEGER NOT NULL DEFAULT 0,
          pinned INTEGER NOT NULL DEFAULT 0, last_access INTEGER NOT NULL DEFAULT 0, UNIQUE (bucket, key));
        CREATE INDEX objects_eviction ON objects (hot_state, pinned, last_access, hot_bytes);
        CREATE INDEX objects_not_cold ON objects (object_id) WHERE hot_state <> 'cold';
        CREATE INDEX objects_listing ON objects (bucket, key, size, etag, last_modified, checksum, storage_class);
        CREATE TABLE uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, initiated INTEGER NOT NULL, owner TEXT NOT NULL,
          headers TEXT NOT NULL, tags TEXT NOT NULL, checksum_algorithm TEXT, checksum_type TEXT, object_id TEXT NOT NULL, wrapped_key TEXT NOT NULL, key_id TEXT NOT NULL);
        CREATE TABLE parts (id INTEGER PRIMARY KEY AUTOINCREMENT, upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL,
          etag TEXT NOT NULL, checksum TEXT, last_modified INTEGER NOT NULL, manifest TEXT NOT NULL, UNIQUE (upload_id, part_number));
        CREATE TABLE garbage (id INTEGER PRIMARY KEY AUTOINCREMENT, manifest TEXT NOT NULL, not_before INTEGER NOT NULL);
        PRAGMA user_version = 1;
      `);
      v1.prepare("INSERT INTO buckets VALUES ('bkt', ?, 'o', 'r', NULL)").run(NOW);
      const insert = v1.prepare("INSERT INTO objects (bucket, key, object_id, size, etag, last_modified, headers, tags, manifest) VALUES ('bkt', ?, ?, 1, '\"e\"', ?, '{\"userMeta\":{}}', '{}', ?)");
      for (const [key, id] of [['a/b', 'id-1'], ['a/c', 'id-2'], ['gone', 'id-3']] as const) insert.run(Buffer.from(key), id, NOW, JSON.stringify({ ...objectRecord(key, id).manifest }));
      v1.exec("DELETE FROM objects WHERE object_id = 'id-3'");
    } finally {
      v1.close();
    }
    const store = SqliteMetaStore.open(path);
    try {
      expect((await store.listObjects('bkt', { maxKeys: 10 })).objects.map((o) => o.key)).toEqual(['a/b', 'a/c']);
      expect((await store.getObject('bkt', 'a/b'))?.objectId).toBe('id-1');
      // One key can hold versions now.
      await store.putBucketSetting('bkt', 'versioning', 'Enabled');
      await store.putObject(objectRecord('a/b', 'id-4'));
      expect((await store.listObjectVersions('bkt', { maxKeys: 10, prefix: 'a/b' })).entries.map((e) => e.versionId)).toHaveLength(2);
    } finally {
      await store.close();
    }
    const check = new Database(path, { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(2);
      for (const plan of plans(check)) expect(plan).toMatch(/COVERING INDEX objects_listing_current/);
      // Ids kept, and the high-water mark: the new row's id is above the deleted one's.
      const ids = check.prepare<[], { id: number; object_id: string }>('SELECT id, object_id FROM objects ORDER BY id').all();
      expect(ids.map((r) => [r.id, r.object_id])).toEqual([
        [1, 'id-1'],
        [2, 'id-2'],
        [4, 'id-4'],
      ]);
    } finally {
      check.close();
    }
  });

  it('every statement searches an index and none sorts in a temporary b-tree', async () => {
    const path = join(dir, 'plans.db');
    await SqliteMetaStore.open(path).close();
    const db = new Database(path, { readonly: true });
    try {
      // Whole-table answers by design: listing every bucket, counting every object.
      const fullScanAllowed = new Set(['allBuckets', 'countAll', 'ping']);
      for (const [name, statement] of Object.entries({ ...prepareStatements(db), ...prepareVersionStreams(db) })) {
        const named = [...statement.source.matchAll(/@(\w+)/g)].map((m) => m[1] ?? '');
        const explain = db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${statement.source}`);
        const plan = named.length > 0 ? explain.all(Object.fromEntries(named.map((n) => [n, null]))) : explain.all(...new Array<null>((statement.source.match(/\?/g) ?? []).length).fill(null));
        for (const { detail } of plan) {
          expect(detail, name).not.toMatch(/TEMP B-TREE/);
          if (!fullScanAllowed.has(name)) expect(detail, name).not.toMatch(/^SCAN /);
        }
      }
    } finally {
      db.close();
    }
  });
});
