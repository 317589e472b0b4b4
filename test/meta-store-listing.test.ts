/** Listing contract on every engine: UTF-8 byte order, delimiter edge cases, randomized pages and upload listings vs a reference. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetaStore } from '../src/meta/store.js';
import type { ListQuery, ObjectRecord } from '../src/model/records.js';
import { bulkInsert, metaEngines, useEngine } from './helpers/meta-engines.js';

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


describe.each(metaEngines())('%s store', (engineName) => {
  const engine = useEngine(engineName);
  let store: MetaStore;

  async function openWithKeys(_name: string, keys: string[]): Promise<MetaStore> {
    const opened = (await engine.fresh({ now: () => NOW })).store;
    await opened.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
    await bulkInsert(opened, keys.map((key, i) => objectRecord(key, `id${i}`)));
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

  describe('randomized multipart upload listing', () => {
    it('paging with key and upload-id markers walks every upload once, in order', async () => {
      const random = mulberry32(777);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      const uploadStore = (await engine.fresh({ now: () => NOW })).store;
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
});
