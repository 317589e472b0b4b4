/**
 * Listing deep in a large bucket, on every engine: 10^6 keys on SQLite; 10^5 on PostgreSQL (the load is a network
 * bulk insert there; npm test stays reasonable). The page costs are checked in bench/pg-listing.mjs, not here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetaStore } from '../src/meta/store.js';
import type { ObjectRecord } from '../src/model/records.js';
import { bulkInsert, metaEngines, useEngine } from './helpers/meta-engines.js';

const NOW = 1_700_000_000_000;
const pad = (n: number): string => String(n).padStart(2, '0');

function objectRecord(key: string, objectId: string): ObjectRecord {
  return {
    bucket: 'bkt',
    key,
    objectId,
    size: 1,
    etag: '"e"',
    lastModified: NOW,
    headers: { userMeta: {} },
    tags: {},
    manifest: { version: 1, objectId, wrappedKey: 'w', keyId: 'k', size: 1, segments: [] },
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
  };
}

/** `dirs` directories x 100 subdirectories x 100 files, plus loose objects that sort between the subdirectories of `deep`. */
function* records(dirs: number, deep: string): Generator<ObjectRecord> {
  let id = 0;
  for (let d = 0; d < dirs; d++) {
    for (let s = 0; s < 100; s++) {
      for (let f = 0; f < 100; f++) yield objectRecord(`dir-${pad(d)}/sub-${pad(s)}/file-${pad(f)}`, `o${id++}`);
    }
  }
  // '.' sorts before '/', 'x' after it: these land right before and right after a common prefix.
  yield objectRecord(`${deep}/sub-41.txt`, `o${id++}`);
  yield objectRecord(`${deep}/sub-45x`, `o${id}`);
}

describe.each(metaEngines())('%s store: a large bucket', (engineName) => {
  const engine = useEngine(engineName);
  const dirs = engineName === 'sqlite' ? 100 : 10;
  const total = dirs * 10_000 + 2;
  const deep = `dir-${pad(Math.floor(dirs * 0.73))}`;
  const last = dirs - 1;
  let store: MetaStore;

  beforeAll(async () => {
    store = (await engine.fresh({ now: () => NOW })).store;
    await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
    expect(await bulkInsert(store, records(dirs, deep))).toBe(total);
  }, 180_000);

  afterAll(async () => {
    await store.close();
  });

  it('holds every key', async () => {
    expect(await store.countObjects('bkt')).toBe(total);
  });

  it('returns a delimiter page deep in the keyspace', async () => {
    const page = await store.listObjects('bkt', { prefix: `${deep}/`, delimiter: '/', after: `${deep}/sub-41/`, maxKeys: 10 });
    expect(page.commonPrefixes).toEqual(['42', '43', '44', '45', '46', '47', '48', '49', '50'].map((s) => `${deep}/sub-${s}/`));
    expect(page.objects.map((o) => o.key)).toEqual([`${deep}/sub-45x`]);
    expect(page.isTruncated).toBe(true);
    expect(page.lastReturned).toBe(`${deep}/sub-50/`);

    const end = await store.listObjects('bkt', { prefix: `${deep}/`, delimiter: '/', after: `${deep}/sub-95/`, maxKeys: 10 });
    expect(end.commonPrefixes).toEqual([`${deep}/sub-96/`, `${deep}/sub-97/`, `${deep}/sub-98/`, `${deep}/sub-99/`]);
    expect(end.isTruncated).toBe(false);
  });

  it('returns top-level prefixes and a plain page inside one directory', async () => {
    const top = await store.listObjects('bkt', { delimiter: '/', after: `dir-${pad(last - 3)}/`, maxKeys: 1000 });
    expect(top).toEqual({
      objects: [],
      commonPrefixes: [last - 2, last - 1, last].map((d) => `dir-${pad(d)}/`),
      isTruncated: false,
      lastReturned: `dir-${pad(last)}/`,
    });

    const middle = `dir-${pad(Math.floor(dirs / 2))}/sub-50/`;
    const files = await store.listObjects('bkt', { prefix: middle, after: `${middle}file-90`, maxKeys: 20 });
    expect(files.objects.map((o) => o.key)).toEqual(Array.from({ length: 9 }, (_, i) => `${middle}file-${91 + i}`));
    expect(files.commonPrefixes).toEqual([]);
    expect(files.isTruncated).toBe(false);

    const all = await store.listObjects('bkt', { delimiter: '/', maxKeys: 1000 });
    expect(all.commonPrefixes).toHaveLength(dirs);
    expect(all.isTruncated).toBe(false);
  });
});
