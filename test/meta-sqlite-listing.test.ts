import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKey, listingEntries, prefixSuccessor, takePage, type KeyedRow } from '../src/meta/sqlite-listing.js';
import { listObjectPage, type ObjectListingSource, type RawSummaryRow } from '../src/meta/listing-objects.js';
import { prepareStatements } from '../src/meta/sqlite-statements.js';
import { SqliteMetaStore } from '../src/meta/sqlite-store.js';
import type { ListQuery, ObjectRecord } from '../src/model/records.js';

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

const byteCompare = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

type Entry = { kind: 'key' | 'prefix'; value: string };

/**
 * Reference semantics in plain JS over the whole key set: keys strictly after `after` under the prefix, grouped by
 * the first delimiter after the prefix; a group equal to `after` was already returned, so it is left out.
 */
function referenceEntries(sortedKeys: string[], query: Omit<ListQuery, 'maxKeys'>): Entry[] {
  const prefix = query.prefix ?? '';
  const delimiter = query.delimiter ?? '';
  const entries: Entry[] = [];
  for (const key of sortedKeys) {
    if (!key.startsWith(prefix)) continue;
    if (query.after !== undefined && byteCompare(key, query.after) <= 0) continue;
    const at = delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length);
    if (at < 0) {
      entries.push({ kind: 'key', value: key });
      continue;
    }
    const group = key.slice(0, at + delimiter.length);
    if (group === query.after || entries.at(-1)?.value === group) continue;
    entries.push({ kind: 'prefix', value: group });
  }
  return entries;
}

function entriesOfPage(page: { objects: Array<{ key: string }>; commonPrefixes: string[] }): Entry[] {
  const merged: Entry[] = [
    ...page.objects.map((o): Entry => ({ kind: 'key', value: o.key })),
    ...page.commonPrefixes.map((p): Entry => ({ kind: 'prefix', value: p })),
  ];
  return merged.sort((a, b) => byteCompare(a.value, b.value));
}

/** Small deterministic PRNG so a failure can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Code points chosen where UTF-16 order and UTF-8 byte order disagree (U+E000 vs U+10000), plus NUL, DEL/0x80
// boundary, U+FFFF/U+FFFD, the largest code point, and multi-byte delimiters.
const ALPHABET = ['a', 'a', 'b', 'b', '/', '/', '/', '-', '0', 'Z', '\u0000', '\u007f', '\u0080', 'é', '\ufffd', '\uffff', '\ue000', '😀', '\u{10000}', '\u{10ffff}'];
const DELIMITERS = ['', '/', '/', 'a', 'é', '😀', '\u0000', '\uffff', 'ab', '/b'];

let dir: string;
let store: SqliteMetaStore;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meta-list-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function openWithKeys(name: string, keys: string[]): Promise<SqliteMetaStore> {
  const opened = SqliteMetaStore.open(join(dir, `${name}.db`), { now: () => NOW });
  await opened.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
  opened.putObjects(keys.map((key, i) => objectRecord(key, `id${i}`)));
  return opened;
}

describe('byte order', () => {
  it('orders keys by their UTF-8 bytes, not UTF-16 units', async () => {
    const keys = ['a', 'a\u0000', 'a\u0000b', 'a\u0001', 'a\u007f', 'a\u0080', 'a\ufffd', 'a\uffff', 'a\ue000', 'a😀', 'a\u{10000}', 'a\u{10ffff}', 'b', ''.padEnd(3, 'z')];
    store = await openWithKeys('order', keys);
    const listed = (await store.listObjects('bkt', { maxKeys: 1000 })).objects.map((o) => o.key);
    const expected = [...keys].sort(byteCompare);
    expect(listed).toEqual(expected);
    expect(expected).not.toEqual([...keys].sort()); // the UTF-16 order differs, so this test can tell them apart
    // Keys with NUL survive the round trip intact.
    expect((await store.getObject('bkt', 'a\u0000b'))?.key).toBe('a\u0000b');
    expect(await store.getObject('bkt', 'a')).not.toBeNull();
    // Prefix filtering is a byte range, case-sensitive, with no LIKE wildcards.
    await store.putObject(objectRecord('A%_x', 'idA'));
    await store.putObject(objectRecord('A%_y', 'idB'));
    await store.putObject(objectRecord('AB_x', 'idC'));
    expect((await store.listObjects('bkt', { prefix: 'A%_', maxKeys: 10 })).objects.map((o) => o.key)).toEqual(['A%_x', 'A%_y']);
    expect((await store.listObjects('bkt', { prefix: 'a\uffff', maxKeys: 10 })).objects.map((o) => o.key)).toEqual(['a\uffff']);
    expect((await store.listObjects('bkt', { prefix: 'a\u0000', maxKeys: 10 })).objects.map((o) => o.key)).toEqual(['a\u0000', 'a\u0000b']);
    await store.close();
  });

  it('computes byte-wise prefix successors', () => {
    expect(prefixSuccessor(Buffer.from([0x61, 0x62]))).toEqual(Buffer.from([0x61, 0x63]));
    expect(prefixSuccessor(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixSuccessor(Buffer.from([0x61, 0xbf]))).toEqual(Buffer.from([0x61, 0xc0]));
    expect(prefixSuccessor(Buffer.from([0xff]))).toBeNull();
    expect(prefixSuccessor(Buffer.alloc(0))).toBeNull();
  });
});

describe('listing edge cases', () => {
  const keys = ['a', 'a/', 'a/1', 'a/2/x', 'a/2/y', 'a0', 'b/c', 'b/d', 'c', 'd//e'];

  beforeAll(async () => {
    store = await openWithKeys('edges', keys);
  });

  afterAll(async () => {
    await store.close();
  });

  it('groups, counts prefixes toward maxKeys and reports the last entry', async () => {
    const page = await store.listObjects('bkt', { delimiter: '/', maxKeys: 3 });
    expect(page.objects.map((o) => o.key)).toEqual(['a', 'a0']);
    expect(page.commonPrefixes).toEqual(['a/']);
    expect(page.isTruncated).toBe(true);
    expect(page.lastReturned).toBe('a0');
    const next = await store.listObjects('bkt', { delimiter: '/', maxKeys: 3, after: page.lastReturned });
    expect(next.objects.map((o) => o.key)).toEqual(['c']);
    expect(next.commonPrefixes).toEqual(['b/', 'd/']);
    expect(next.isTruncated).toBe(false);
    expect(next.lastReturned).toBe('d/');
  });

  it('skips everything under `after` when it is a common prefix, but not when it is inside one', async () => {
    const skipGroup = await store.listObjects('bkt', { delimiter: '/', maxKeys: 10, after: 'a/' });
    expect(skipGroup.commonPrefixes).toEqual(['b/', 'd/']);
    expect(skipGroup.objects.map((o) => o.key)).toEqual(['a0', 'c']);
    const inside = await store.listObjects('bkt', { delimiter: '/', maxKeys: 10, after: 'a/1' });
    expect(inside.commonPrefixes).toEqual(['a/', 'b/', 'd/']);
    const nested = await store.listObjects('bkt', { prefix: 'a/', delimiter: '/', maxKeys: 10, after: 'a/2/' });
    expect(nested).toEqual({ objects: [], commonPrefixes: [], isTruncated: false });
    const nestedAll = await store.listObjects('bkt', { prefix: 'a/', delimiter: '/', maxKeys: 10 });
    expect(nestedAll.objects.map((o) => o.key)).toEqual(['a/', 'a/1']);
    expect(nestedAll.commonPrefixes).toEqual(['a/2/']);
  });

  it('handles maxKeys 0, an empty result and an `after` before the prefix', async () => {
    expect(await store.listObjects('bkt', { maxKeys: 0 })).toEqual({ objects: [], commonPrefixes: [], isTruncated: false });
    expect(await store.listObjects('bkt', { prefix: 'zzz', maxKeys: 5 })).toEqual({ objects: [], commonPrefixes: [], isTruncated: false });
    expect(await store.listObjects('bkt', { prefix: 'b/', after: 'a', maxKeys: 5 })).toMatchObject({ isTruncated: false, lastReturned: 'b/d' });
    expect((await store.listObjects('bkt', { after: 'd//e', maxKeys: 5 })).objects).toEqual([]);
    const exact = await store.listObjects('bkt', { prefix: 'b/', maxKeys: 2 });
    expect(exact.objects.map((o) => o.key)).toEqual(['b/c', 'b/d']);
    expect(exact.isTruncated).toBe(false);
  });
});

describe('randomized comparison with a reference listing', () => {
  const seed = 20260601;
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const randomString = (maxLength: number): string => {
    const length = 1 + Math.floor(random() * maxLength);
    let s = '';
    for (let i = 0; i < length; i++) s += pick(ALPHABET);
    return s;
  };
  const keySet = new Set<string>();
  while (keySet.size < 4000) keySet.add(randomString(9));
  const sortedKeys = [...keySet].sort(byteCompare);

  beforeAll(async () => {
    store = await openWithKeys('random', [...keySet]);
  });

  afterAll(async () => {
    await store.close();
  });

  const randomPrefix = (): string => {
    const roll = random();
    if (roll < 0.3) return '';
    if (roll < 0.8) {
      const key = pick(sortedKeys);
      return [...key].slice(0, Math.floor(random() * 4)).join('');
    }
    return randomString(2);
  };

  it(`paging through the whole keyspace returns the reference listing (seed ${seed})`, async () => {
    for (let round = 0; round < 150; round++) {
      const prefix = randomPrefix();
      const delimiter = pick(DELIMITERS);
      const maxKeys = 1 + Math.floor(random() * (random() < 0.5 ? 7 : 300));
      const context = JSON.stringify({ round, prefix, delimiter, maxKeys });
      const expected = referenceEntries(sortedKeys, { prefix, delimiter });
      const walked: Entry[] = [];
      // Plain checks per page and one expect per walk: thousands of tiny pages would otherwise spend their time in expect.
      const pageProblems: string[] = [];
      let after: string | undefined;
      for (let pages = 0; pages <= expected.length; pages++) {
        const page = await store.listObjects('bkt', { prefix, delimiter, maxKeys, ...(after !== undefined ? { after } : {}) });
        const entries = entriesOfPage(page);
        const start = walked.length;
        walked.push(...entries);
        if (entries.length !== Math.min(maxKeys, expected.length - start)) pageProblems.push(`page ${pages}: ${entries.length} entries`);
        if (page.isTruncated !== walked.length < expected.length) pageProblems.push(`page ${pages}: isTruncated ${page.isTruncated}`);
        if (!page.isTruncated) break;
        after = page.lastReturned;
        if (after !== entries.at(-1)?.value) pageProblems.push(`page ${pages}: lastReturned ${after}`);
      }
      expect(pageProblems, context).toEqual([]);
      expect(walked, context).toEqual(expected);
    }
  });

  it('single pages from arbitrary `after` values match the reference', async () => {
    for (let round = 0; round < 600; round++) {
      const prefix = randomPrefix();
      const delimiter = pick(DELIMITERS);
      const maxKeys = 1 + Math.floor(random() * 40);
      const roll = random();
      const after = roll < 0.4 ? pick(sortedKeys) : roll < 0.7 ? randomString(6) : roll < 0.85 ? `${pick(sortedKeys)}${delimiter}` : prefix;
      const context = JSON.stringify({ round, prefix, delimiter, maxKeys, after });
      const expected = referenceEntries(sortedKeys, { prefix, delimiter, after });
      const page = await store.listObjects('bkt', { prefix, delimiter, maxKeys, after });
      expect(entriesOfPage(page), context).toEqual(expected.slice(0, maxKeys));
      expect(page.isTruncated, context).toBe(expected.length > maxKeys);
      expect(page.objects.every((o) => o.size === o.key.length && o.etag.startsWith('"id')), context).toBe(true);
    }
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
    const rows: RawSummaryRow[] = keys.sort().map((key) => [key, 1, '"e"', NOW, null, null]);
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
      for (const plan of plans(raw)) expect(plan).toMatch(/COVERING INDEX objects_listing/);
      // A database written before the index existed.
      raw.exec('DROP INDEX objects_listing');
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
      for (const plan of plans(check)) expect(plan).toMatch(/COVERING INDEX objects_listing/);
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

describe('randomized multipart upload listing', () => {
  it('paging with key and upload-id markers walks every upload once, in order', async () => {
    const random = mulberry32(777);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const uploadStore = SqliteMetaStore.open(join(dir, 'uploads.db'), { now: () => NOW });
    try {
      await uploadStore.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
      const keys = Array.from({ length: 150 }, () => Array.from({ length: 1 + Math.floor(random() * 5) }, () => pick(ALPHABET)).join(''));
      const uploads = Array.from({ length: 500 }, (_, i) => ({ uploadId: `u${String(Math.floor(random() * 1e6)).padStart(6, '0')}-${i}`, key: pick(keys), initiated: NOW + Math.floor(random() * 4) }));
      for (const u of uploads) {
        await uploadStore.createUpload({ ...u, bucket: 'bkt', owner: 'o', headers: { userMeta: {} }, tags: {}, objectId: `obj-${u.uploadId}`, wrappedKey: 'w', keyId: 'k' });
      }
      const sorted = [...uploads].sort((a, b) => byteCompare(a.key, b.key) || a.initiated - b.initiated || (a.uploadId < b.uploadId ? -1 : a.uploadId > b.uploadId ? 1 : 0));
      for (let round = 0; round < 40; round++) {
        const prefix = random() < 0.4 ? '' : [...pick(keys)].slice(0, 1 + Math.floor(random() * 2)).join('');
        const delimiter = pick(DELIMITERS);
        const maxUploads = 1 + Math.floor(random() * 25);
        const context = JSON.stringify({ round, prefix, delimiter, maxUploads });
        const expected: string[] = [];
        for (const u of sorted) {
          if (!u.key.startsWith(prefix)) continue;
          const at = delimiter === '' ? -1 : u.key.indexOf(delimiter, prefix.length);
          const entry = at < 0 ? u.uploadId : `prefix:${u.key.slice(0, at + delimiter.length)}`;
          if (expected.at(-1) !== entry) expected.push(entry);
        }
        const walked: string[] = [];
        let markers: { keyMarker?: string; uploadIdMarker?: string } = {};
        for (;;) {
          const page = await uploadStore.listUploads('bkt', { prefix, delimiter, maxUploads, ...markers });
          const entries = [
            ...page.uploads.map((u) => ({ sortKey: u.key, entry: u.uploadId, marker: { keyMarker: u.key, uploadIdMarker: u.uploadId } })),
            ...page.commonPrefixes.map((p) => ({ sortKey: p, entry: `prefix:${p}`, marker: { keyMarker: p } })),
          ];
          // Uploads of one key keep their listed order; a common prefix never shares a sort key with an upload.
          entries.sort((a, b) => byteCompare(a.sortKey, b.sortKey));
          expect(entries.length, context).toBeLessThanOrEqual(maxUploads);
          walked.push(...entries.map((e) => e.entry));
          expect(walked, context).toEqual(expected.slice(0, walked.length));
          if (!page.isTruncated) break;
          markers = entries.at(-1)?.marker ?? {};
        }
        expect(walked, context).toEqual(expected);
      }
    } finally {
      await uploadStore.close();
    }
  });
});
