import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteMetaStore } from '../src/meta/sqlite-store.js';
import type { ObjectRecord } from '../src/model/records.js';

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

/** 100 directories x 100 subdirectories x 100 files, plus loose objects that sort between the subdirectories. */
function* millionRecords(): Generator<ObjectRecord> {
  let id = 0;
  for (let d = 0; d < 100; d++) {
    for (let s = 0; s < 100; s++) {
      for (let f = 0; f < 100; f++) yield objectRecord(`dir-${pad(d)}/sub-${pad(s)}/file-${pad(f)}`, `o${id++}`);
    }
  }
  // '.' sorts before '/', 'x' after it: these land right before and right after a common prefix.
  yield objectRecord('dir-73/sub-41.txt', `o${id++}`);
  yield objectRecord('dir-73/sub-45x', `o${id}`);
}

describe('a million keys', () => {
  let dir: string;
  let store: SqliteMetaStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meta-million-'));
    store = SqliteMetaStore.open(join(dir, 'meta.db'), { now: () => NOW });
    await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
    expect(store.putObjects(millionRecords())).toBe(1_000_002);
  });

  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds every key', async () => {
    expect(await store.countObjects('bkt')).toBe(1_000_002);
  });

  it('returns a delimiter page deep in the keyspace', async () => {
    const page = await store.listObjects('bkt', { prefix: 'dir-73/', delimiter: '/', after: 'dir-73/sub-41/', maxKeys: 10 });
    expect(page.commonPrefixes).toEqual(['42', '43', '44', '45', '46', '47', '48', '49', '50'].map((s) => `dir-73/sub-${s}/`));
    expect(page.objects.map((o) => o.key)).toEqual(['dir-73/sub-45x']);
    expect(page.isTruncated).toBe(true);
    expect(page.lastReturned).toBe('dir-73/sub-50/');

    const last = await store.listObjects('bkt', { prefix: 'dir-73/', delimiter: '/', after: 'dir-73/sub-95/', maxKeys: 10 });
    expect(last.commonPrefixes).toEqual(['dir-73/sub-96/', 'dir-73/sub-97/', 'dir-73/sub-98/', 'dir-73/sub-99/']);
    expect(last.isTruncated).toBe(false);
  });

  it('returns top-level prefixes and a plain page inside one directory', async () => {
    const top = await store.listObjects('bkt', { delimiter: '/', after: 'dir-96/', maxKeys: 1000 });
    expect(top).toEqual({ objects: [], commonPrefixes: ['dir-97/', 'dir-98/', 'dir-99/'], isTruncated: false, lastReturned: 'dir-99/' });

    const files = await store.listObjects('bkt', { prefix: 'dir-50/sub-50/', after: 'dir-50/sub-50/file-90', maxKeys: 20 });
    expect(files.objects.map((o) => o.key)).toEqual(Array.from({ length: 9 }, (_, i) => `dir-50/sub-50/file-${91 + i}`));
    expect(files.commonPrefixes).toEqual([]);
    expect(files.isTruncated).toBe(false);

    const all = await store.listObjects('bkt', { delimiter: '/', maxKeys: 1000 });
    expect(all.commonPrefixes).toHaveLength(100);
    expect(all.isTruncated).toBe(false);
  });
});
