/** The MetaStore contract for versioning (S3's rules per state), on every engine: versions, delete markers, the null version, listing. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ObjectManifest } from '../src/model/manifest.js';
import type { MetaStore } from '../src/meta/store.js';
import type { ObjectRecord, VersionEntry } from '../src/model/records.js';
import { MetaError } from '../src/meta/errors.js';
import { metaEngines, useEngine } from './helpers/meta-engines.js';
import { copyMetaStore, VersionsNotCopiedError, type BulkMetaStore } from '../src/meta/copy.js';

const NOW = 1_700_000_000_000;

function manifest(objectId: string): ObjectManifest {
  return {
    version: 1,
    objectId,
    wrappedKey: `wrapped-${objectId}`,
    keyId: 'k1',
    size: 10,
    segments: [
      {
        segId: `${objectId}-s0`,
        part: 1,
        index: 0,
        plainSize: 10,
        chunkSize: 65536,
        k: 2,
        m: 1,
        coder: 'rs-cauchy',
        shardSize: 100,
        shards: [
          { node: 'n1', handle: `${objectId}/0` },
          { node: 'n2', handle: `${objectId}/1` },
          { node: 'n3', handle: `${objectId}/2` },
        ],
      },
    ],
  };
}

function record(key: string, objectId: string): ObjectRecord {
  return {
    bucket: 'bkt',
    key,
    objectId,
    size: 10,
    etag: `"etag-${objectId}"`,
    lastModified: NOW,
    headers: { userMeta: {} },
    tags: {},
    manifest: manifest(objectId),
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
  };
}

/** A listing as (key, version, kind, latest) rows, newest first within a key. */
function rows(entries: VersionEntry[]): string[] {
  return entries.map((e) => `${e.key}:${e.kind === 'object' ? e.etag.replace(/"etag-|"/g, '') : 'marker'}${e.isLatest ? '*' : ''}`);
}

async function garbageIds(store: MetaStore): Promise<string[]> {
  return (await store.dueGarbage(Number.MAX_SAFE_INTEGER, 100)).map((g) => g.manifest.objectId).sort();
}

describe.each(metaEngines({ serializable: true }))('%s store: versioning', (engineName) => {
  const engine = useEngine(engineName);
  let store: MetaStore;

  beforeEach(async () => {
    store = (await engine.fresh({ now: () => NOW })).store;
    await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'AKIA1', region: 'us-east-1' });
  });

  const enable = (status: 'Enabled' | 'Suspended' = 'Enabled') => store.putBucketSetting('bkt', 'versioning', status);

  it('a bucket that never had versioning keeps one null version per key and gives no version ids', async () => {
    expect(await store.putObject(record('k', 'o1'))).toEqual({ replaced: null });
    const second = await store.putObject(record('k', 'o2'));
    expect([second.replaced?.objectId, second.versionId]).toEqual(['o1', undefined]);
    expect((await store.getObject('bkt', 'k'))?.versionId).toBeUndefined();
    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100 })).entries)).toEqual(['k:o2*']);
    expect(await garbageIds(store)).toEqual(['o1']);
  });

  it('with versioning Enabled every write is a new version; the older ones stay readable and nothing is garbage', async () => {
    await store.putObject(record('k', 'o0'));
    await enable();
    const v1 = await store.putObject(record('k', 'o1'));
    const v2 = await store.putObject(record('k', 'o2'));
    expect(v1.replaced).toBeNull();
    expect(v1.versionId).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(v2.versionId).not.toBe(v1.versionId);
    expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o2');
    const old = await store.getVersion('bkt', 'k', v1.versionId!);
    expect(old !== null && 'object' in old ? old.object.objectId : undefined).toBe('o1');
    const nullVersion = await store.getVersion('bkt', 'k', 'null');
    expect(nullVersion !== null && 'object' in nullVersion ? nullVersion.object.objectId : undefined).toBe('o0');
    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100 })).entries)).toEqual(['k:o2*', 'k:o1', 'k:o0']);
    expect(await garbageIds(store)).toEqual([]);
    expect((await store.listObjects('bkt', { maxKeys: 10 })).objects.map((o) => o.etag)).toEqual(['"etag-o2"']);
    expect(await store.countObjects('bkt')).toBe(1);
    // Every version's shards are walked, so gc, scrub and repair keep and cover them.
    const walked: string[] = [];
    for await (const m of store.iterateManifests()) walked.push(m.objectId);
    expect(walked.sort()).toEqual(['o0', 'o1', 'o2']);
  });

  it('a delete without version id writes a delete marker: the key is gone from GET and listings, its versions stay', async () => {
    await enable();
    const v1 = await store.putObject(record('k', 'o1'));
    const outcome = await store.deleteObject('bkt', 'k', undefined, 'AKIA2');
    expect(outcome.removed).toBeNull();
    expect(outcome.marker).toMatchObject({ key: 'k', owner: 'AKIA2' });
    expect(await store.getObject('bkt', 'k')).toBeNull();
    expect((await store.latestDeleteMarker('bkt', 'k'))?.versionId).toBe(outcome.marker?.versionId);
    expect((await store.listObjects('bkt', { maxKeys: 10 })).objects).toEqual([]);
    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100 })).entries)).toEqual(['k:marker*', 'k:o1']);
    expect(await garbageIds(store)).toEqual([]);
    // A bucket holding only versions and markers is not empty.
    expect(await store.deleteBucket('bkt').catch((err: MetaError) => err.kind)).toBe('BucketNotEmpty');
    // Removing the marker brings the previous version back as the latest.
    expect((await store.deleteVersion('bkt', 'k', outcome.marker!.versionId))?.marker?.versionId).toBe(outcome.marker?.versionId);
    expect((await store.getObject('bkt', 'k'))?.versionId).toBe(v1.versionId);
    expect(await store.latestDeleteMarker('bkt', 'k')).toBeNull();
  });

  it('deleting a version removes it for good; deleting the latest makes the next newest the latest', async () => {
    await enable();
    const v1 = await store.putObject(record('k', 'o1'));
    const v2 = await store.putObject(record('k', 'o2'));
    const v3 = await store.putObject(record('k', 'o3'));
    expect((await store.deleteVersion('bkt', 'k', v2.versionId!))?.removed?.objectId).toBe('o2');
    expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o3');
    expect((await store.deleteVersion('bkt', 'k', v3.versionId!))?.removed?.objectId).toBe('o3');
    expect((await store.getObject('bkt', 'k'))?.versionId).toBe(v1.versionId);
    expect(await store.deleteVersion('bkt', 'k', 'no-such-version')).toBeNull();
    expect(await garbageIds(store)).toEqual(['o2', 'o3']);
    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100 })).entries)).toEqual(['k:o1*']);
    expect((await store.deleteVersion('bkt', 'k', v1.versionId!))?.removed?.objectId).toBe('o1');
    expect(await store.getObject('bkt', 'k')).toBeNull();
    await store.deleteBucket('bkt');
  });

  it('while Suspended a write is the null version: it replaces only the earlier null version', async () => {
    await store.putObject(record('k', 'o0'));
    await enable();
    const v1 = await store.putObject(record('k', 'o1'));
    await enable('Suspended');
    const s1 = await store.putObject(record('k', 'o2'));
    expect([s1.versionId, s1.replaced?.objectId]).toEqual(['null', 'o0']);
    const s2 = await store.putObject(record('k', 'o3'));
    expect([s2.versionId, s2.replaced?.objectId]).toEqual(['null', 'o2']);
    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100 })).entries)).toEqual(['k:o3*', 'k:o1']);
    // A delete while Suspended removes the null version and leaves a null delete marker.
    const deleted = await store.deleteObject('bkt', 'k');
    expect([deleted.removed?.objectId, deleted.marker?.versionId]).toEqual(['o3', 'null']);
    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100 })).entries)).toEqual(['k:marker*', 'k:o1']);
    expect(await garbageIds(store)).toEqual(['o0', 'o2', 'o3']);
    const kept = await store.getVersion('bkt', 'k', v1.versionId!);
    expect(kept !== null && 'object' in kept).toBe(true);
  });

  it('a retried commit of the same object replaces it in place: no second version', async () => {
    await enable();
    const first = await store.putObject(record('k', 'o1'));
    const retry = await store.putObject(record('k', 'o1'));
    expect([retry.replaced?.objectId, retry.versionId]).toEqual(['o1', first.versionId]);
    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100 })).entries)).toEqual(['k:o1*']);
    expect(await garbageIds(store)).toEqual([]);
  });

  it('write conditions test the latest version; a delete marker is no object', async () => {
    await enable();
    await store.putObject(record('k', 'o1'));
    await store.deleteObject('bkt', 'k');
    expect(await store.putObject(record('k', 'o2'), { ifMatch: '"etag-o1"' }).catch((err: MetaError) => err.kind)).toBe('NoSuchKey');
    expect((await store.putObject(record('k', 'o3'), { ifNoneMatch: true })).replaced).toBeNull();
    expect(await store.putObject(record('k', 'o4'), { ifNoneMatch: true }).catch((err: MetaError) => err.kind)).toBe('PreconditionFailed');
  });

  it('lists versions in key order, newest first, with key and version-id markers, max-keys and delimiters', async () => {
    await enable();
    const ids: Record<string, string> = {};
    for (const [key, id] of [['a', 'a1'], ['b', 'b1'], ['a', 'a2'], ['dir/x', 'x1'], ['dir/y', 'y1'], ['b', 'b2'], ['c', 'c1']] as const) {
      ids[id] = (await store.putObject(record(key, id))).versionId!;
    }
    await store.deleteObject('bkt', 'c');
    const all = await store.listObjectVersions('bkt', { maxKeys: 100 });
    expect(rows(all.entries)).toEqual(['a:a2*', 'a:a1', 'b:b2*', 'b:b1', 'c:marker*', 'c:c1', 'dir/x:x1*', 'dir/y:y1*']);
    expect(all.isTruncated).toBe(false);

    // Walk in pages of 3 by NextKeyMarker / NextVersionIdMarker: the same entries, each once.
    const walked: string[] = [];
    let marker: { keyMarker?: string; versionIdMarker?: string } = {};
    for (let page = 0; page < 10; page++) {
      const result = await store.listObjectVersions('bkt', { maxKeys: 3, ...marker });
      walked.push(...rows(result.entries));
      if (!result.isTruncated) break;
      marker = { keyMarker: result.last!.key, ...(result.last!.versionId !== undefined ? { versionIdMarker: result.last!.versionId } : {}) };
    }
    expect(walked).toEqual(rows(all.entries));

    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100, keyMarker: 'a', versionIdMarker: ids.a2! })).entries)[0]).toBe('a:a1');
    expect(rows((await store.listObjectVersions('bkt', { maxKeys: 100, keyMarker: 'b' })).entries)[0]).toBe('c:marker*');
    const grouped = await store.listObjectVersions('bkt', { maxKeys: 100, delimiter: '/' });
    expect(grouped.commonPrefixes).toEqual(['dir/']);
    expect(rows(grouped.entries)).toEqual(['a:a2*', 'a:a1', 'b:b2*', 'b:b1', 'c:marker*', 'c:c1']);
    const under = await store.listObjectVersions('bkt', { maxKeys: 100, prefix: 'dir/' });
    expect(rows(under.entries)).toEqual(['dir/x:x1*', 'dir/y:y1*']);
    expect(await store.listObjectVersions('missing', { maxKeys: 1 }).catch((err: MetaError) => err.kind)).toBe('NoSuchBucket');
  });

  it('meta copy carries a versioned bucket whose keys have one version each, and refuses one that keeps more', async () => {
    await enable();
    const v1 = await store.putObject(record('k', 'o1'));
    const target = (await engine.fresh({ now: () => NOW })).store;
    await copyMetaStore(store as BulkMetaStore, target as BulkMetaStore);
    expect((await target.getObject('bkt', 'k'))?.versionId).toBe(v1.versionId);
    expect(await target.getBucketSetting('bkt', 'versioning')).toBe('Enabled');
    await store.putObject(record('k', 'o2'));
    const empty = (await engine.fresh({ now: () => NOW })).store;
    await expect(copyMetaStore(store as BulkMetaStore, empty as BulkMetaStore)).rejects.toBeInstanceOf(VersionsNotCopiedError);
    expect(await empty.listBuckets()).toEqual([]);
  });

  it('meta copy refuses a store with snapshots (they hold versions) rather than drop them', async () => {
    await enable();
    const v1 = await store.putObject(record('k', 'o1'));
    await store.createSnapshot({ name: 'snap', bucket: 'bkt', prefix: '', createdAt: NOW, state: 'creating', objects: 0, bytes: 0 });
    expect(await store.addSnapshotEntries('snap', [{ key: 'k', versionId: v1.versionId!, objectId: 'o1', size: 10, etag: '"etag-o1"', sha256: 'ab'.repeat(32), lastModified: NOW }])).toEqual([]);
    const empty = (await engine.fresh({ now: () => NOW })).store;
    await expect(copyMetaStore(store as BulkMetaStore, empty as BulkMetaStore)).rejects.toThrow(/snapshot snap/);
    expect(await empty.listBuckets()).toEqual([]);
  });

  it('concurrent writes and deletes of one key keep exactly one latest version', async () => {
    await enable();
    const writes = Array.from({ length: 12 }, (_, i) => (i % 4 === 3 ? store.deleteObject('bkt', 'k') : store.putObject(record('k', `o${i}`))));
    await Promise.all(writes);
    const entries = (await store.listObjectVersions('bkt', { maxKeys: 100 })).entries;
    expect(entries).toHaveLength(12);
    expect(entries.filter((e) => e.isLatest)).toHaveLength(1);
    expect(entries[0]?.isLatest).toBe(true);
    const latest = entries[0]!;
    const current = await store.getObject('bkt', 'k');
    if (latest.kind === 'object') expect(current?.versionId).toBe(latest.versionId);
    else expect([current, (await store.latestDeleteMarker('bkt', 'k'))?.versionId]).toEqual([null, latest.versionId]);
  });
});
