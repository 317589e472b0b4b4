/** SQLite-only listing checks: the byte-order primitives and index use (EXPLAIN QUERY PLAN). The listing contract is meta-store-listing.test.ts. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKey, listingEntries, prefixSuccessor, takePage, type KeyedRow } from '../src/meta/sqlite-listing.js';
import { listObjectPage, type ObjectListingSource, type RawSummaryRow } from '../src/meta/listing-objects.js';
import { prepareStatements } from '../src/meta/sqlite-statements.js';
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

  it('object listing statements read only the covering index, which older databases get on open', async () => {
    const path = join(dir, 'covering.db');
    const first = SqliteMetaStore.open(path);
    await first.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
    await first.putObject(objectRecord('a/b', 'id-1'));
    await first.close();
    const raw = new Database(path);
    const plans = (db: Database.Database) =>
      ['summaryPageFrom', 'summaryPageBetween', 'summaryScanFrom', 'summaryScanBetween'].map((name) => {
        const statement = (prepareStatements(db) as unknown as Record<string, Database.Statement>)[name];
        if (statement === undefined) throw new Error(name);
        const params = new Array<null>((statement.source.match(/\?/g) ?? []).length).fill(null);
        return db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${statement.source}`).all(...params).map((r) => r.detail).join('; ');
      });
    try {
      for (const plan of plans(raw)) expect(plan).toMatch(/COVERING INDEX objects_listing_owner/);
      // A database written before the index and the owner / ACL columns existed.
      raw.exec('DROP INDEX objects_listing_owner');
      raw.exec('ALTER TABLE objects DROP COLUMN grants');
      raw.exec('ALTER TABLE uploads DROP COLUMN object_owner');
      raw.exec('ALTER TABLE uploads DROP COLUMN grants');
    } finally {
      raw.close();
    }
    const reopened = SqliteMetaStore.open(path);
    try {
      expect((await reopened.listObjects('bkt', { maxKeys: 10 })).objects.map((o) => o.key)).toEqual(['a/b']);
    } finally {
      await reopened.close();
    }
    const check = new Database(path, { readonly: true });
    try {
      for (const plan of plans(check)) expect(plan).toMatch(/COVERING INDEX objects_listing_owner/);
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
      for (const [name, statement] of Object.entries(prepareStatements(db))) {
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
