/** The MetaStore contract, run against every engine (SQLite, PostgreSQL): buckets, objects, hot bookkeeping, garbage, walks. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ObjectManifest } from '../src/model/manifest.js';
import { DEFAULT_GARBAGE_GRACE_MS } from '../src/meta/sqlite-store.js';
import type { MetaStore } from '../src/meta/store.js';
import type { ObjectRecord } from '../src/model/records.js';
import { MetaError } from '../src/meta/errors.js';
import { bulkInsert, metaEngines, useEngine, type FreshStore } from './helpers/meta-engines.js';

const NOW = 1_700_000_000_000;

function manifest(objectId: string, segIds: string[] = [`${objectId}-s0`]): ObjectManifest {
  return {
    version: 1,
    objectId,
    wrappedKey: `wrapped-${objectId}`,
    keyId: 'k1',
    size: 10 * segIds.length,
    segments: segIds.map((segId, index) => ({
      segId,
      part: 1,
      index,
      plainSize: 10,
      chunkSize: 65536,
      k: 2,
      m: 1,
      coder: 'rs-cauchy',
      shardSize: 100,
      shards: [
        { node: 'n1', handle: `${segId}/0` },
        { node: 'n2', handle: `${segId}/1` },
        { node: 'n3', handle: '' },
      ],
    })),
  };
}

function objectRecord(key: string, objectId: string, extra: Partial<ObjectRecord> = {}): ObjectRecord {
  return {
    bucket: 'bkt',
    key,
    objectId,
    size: 10,
    etag: `"etag-${objectId}"`,
    lastModified: NOW,
    headers: { contentType: 'text/plain', userMeta: { a: '1' } },
    tags: {},
    manifest: manifest(objectId),
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
    ...extra,
  };
}

async function metaErrorKind(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof MetaError) return err.kind;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe.each(metaEngines({ serializable: true }))('%s store', (engineName) => {
  const engine = useEngine(engineName);
  let fresh: FreshStore;
  let store: MetaStore;

  beforeEach(async () => {
    fresh = await engine.fresh({ now: () => NOW });
    store = fresh.store;
    await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'AKIA1', region: 'us-east-1' });
  });

  describe('buckets', () => {
    it('creates, gets, lists and refuses duplicates', async () => {
      await store.createBucket({ name: 'alpha', createdAt: 5, owner: 'o', region: 'eu', erasure: { k: 8, m: 4 } });
      expect(await store.getBucket('alpha')).toEqual({ name: 'alpha', createdAt: 5, owner: 'o', region: 'eu', erasure: { k: 8, m: 4 } });
      expect(await store.getBucket('bkt')).toEqual({ name: 'bkt', createdAt: NOW, owner: 'AKIA1', region: 'us-east-1' });
      expect(await store.getBucket('nope')).toBeNull();
      expect((await store.listBuckets()).map((b) => b.name)).toEqual(['alpha', 'bkt']);
      expect(await metaErrorKind(store.createBucket({ name: 'alpha', createdAt: 6, owner: 'o', region: 'eu' }))).toBe('BucketExists');
    });

    it('deletes only existing, empty buckets', async () => {
      expect(await metaErrorKind(store.deleteBucket('nope'))).toBe('NoSuchBucket');
      await store.putObject(objectRecord('k', 'o1'));
      expect(await metaErrorKind(store.deleteBucket('bkt'))).toBe('BucketNotEmpty');
      await store.deleteObject('bkt', 'k');
      await store.deleteBucket('bkt');
      expect(await store.getBucket('bkt')).toBeNull();
      expect(await metaErrorKind(store.putObject(objectRecord('k', 'o2')))).toBe('NoSuchBucket');
      expect(await metaErrorKind(store.listObjects('bkt', { maxKeys: 10 }))).toBe('NoSuchBucket');
    });
  });

  describe('bucket settings', () => {
    it('sets, replaces and removes a document; NoSuchBucket for a missing bucket; gone with the bucket', async () => {
      expect(await store.getBucketSetting('bkt', 'tagging')).toBeNull();
      await store.putBucketSetting('bkt', 'tagging', '{"a":"1"}');
      expect(await store.getBucketSetting('bkt', 'tagging')).toBe('{"a":"1"}');
      await store.putBucketSetting('bkt', 'tagging', '{"b":"2"}');
      expect(await store.bucketSettings('bkt')).toEqual({ tagging: '{"b":"2"}' });
      await store.putBucketSetting('bkt', 'tagging', null);
      expect(await store.getBucketSetting('bkt', 'tagging')).toBeNull();
      await store.putBucketSetting('bkt', 'tagging', null);
      expect(await metaErrorKind(store.getBucketSetting('nope', 'tagging'))).toBe('NoSuchBucket');
      expect(await metaErrorKind(store.putBucketSetting('nope', 'tagging', '{}'))).toBe('NoSuchBucket');
      expect(await metaErrorKind(store.putBucketSetting('nope', 'tagging', null))).toBe('NoSuchBucket');
      await store.putBucketSetting('bkt', 'tagging', '{"c":"3"}');
      await store.deleteBucket('bkt');
      await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'AKIA1', region: 'us-east-1' });
      expect(await store.getBucketSetting('bkt', 'tagging')).toBeNull();
    });
  });

  describe('objects', () => {
    it('round-trips every field', async () => {
      const record = objectRecord('dir/ключ 🔑', 'o1', {
        size: 12345,
        headers: { contentType: 'a/b', cacheControl: 'no-cache', userMeta: { x: 'y' }, storageClass: 'STANDARD_IA' },
        tags: { t: 'v' },
        checksum: { algorithm: 'CRC32C', value: 'AAAAAA==', type: 'COMPOSITE' },
        parts: [{ partNumber: 1, size: 12345, etag: '"p1"' }],
        hot: 'hot',
        hotBytes: 20000,
        pinned: true,
        lastAccess: 77,
      });
      expect(await store.putObject(record)).toEqual({ replaced: null });
      expect(await store.getObject('bkt', 'dir/ключ 🔑')).toEqual(record);
      expect(await store.getObjectById('o1')).toEqual(record);
      expect(await store.getObject('bkt', 'dir/ключ')).toBeNull();
      expect(await store.getObjectById('missing')).toBeNull();
      const listed = await store.listObjects('bkt', { maxKeys: 10 });
      expect(listed.objects).toEqual([
        { key: 'dir/ключ 🔑', size: 12345, etag: record.etag, lastModified: NOW, checksum: record.checksum, storageClass: 'STANDARD_IA' },
      ]);
    });

    it('replacing queues the old manifest as garbage after the grace period, in the same commit', async () => {
      await store.putObject(objectRecord('k', 'o1'));
      const { replaced } = await store.putObject(objectRecord('k', 'o2'), undefined, 5_000);
      expect(replaced?.objectId).toBe('o1');
      expect(await store.getObjectById('o1')).toBeNull();
      expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o2');
      expect(await store.dueGarbage(NOW + 4_999, 10)).toEqual([]);
      const due = await store.dueGarbage(NOW + 5_000, 10);
      expect(due.map((g) => [g.manifest, g.notBefore])).toEqual([[manifest('o1'), NOW + 5_000]]);
      expect(await store.countObjects('bkt')).toBe(1);
    });

    it('re-committing the same object id does not queue its live manifest', async () => {
      await store.putObject(objectRecord('k', 'o1'));
      const { replaced } = await store.putObject(objectRecord('k', 'o1', { size: 11 }));
      expect(replaced?.size).toBe(10);
      expect(await store.dueGarbage(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    });

    it('deleting queues the manifest with the default grace and returns the record', async () => {
      expect(await store.deleteObject('bkt', 'missing')).toEqual({ removed: null });
      await store.putObject(objectRecord('k', 'o1'));
      expect((await store.deleteObject('bkt', 'k')).removed?.objectId).toBe('o1');
      expect(await store.getObject('bkt', 'k')).toBeNull();
      expect(await store.dueGarbage(NOW + DEFAULT_GARBAGE_GRACE_MS - 1, 10)).toEqual([]);
      expect((await store.dueGarbage(NOW + DEFAULT_GARBAGE_GRACE_MS, 10)).map((g) => g.manifest.objectId)).toEqual(['o1']);
    });

    it('evaluates If-None-Match and If-Match inside the commit', async () => {
      await store.putObject(objectRecord('k', 'o1'), { ifNoneMatch: true });
      expect(await metaErrorKind(store.putObject(objectRecord('k', 'o2'), { ifNoneMatch: true }))).toBe('PreconditionFailed');
      expect(await metaErrorKind(store.putObject(objectRecord('k', 'o2'), { ifMatch: '"wrong"' }))).toBe('PreconditionFailed');
      expect(await metaErrorKind(store.putObject(objectRecord('other', 'o2'), { ifMatch: '"etag-o1"' }))).toBe('NoSuchKey');
      expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o1');
      expect(await store.getObject('bkt', 'other')).toBeNull();
      expect(await store.dueGarbage(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);

      await store.putObject(objectRecord('k', 'o2'), { ifMatch: 'etag-o1' }); // unquoted matches quoted
      await store.putObject(objectRecord('k', 'o3'), { ifMatch: '"etag-o2"' });
      await store.putObject(objectRecord('k', 'o4'), { ifMatch: '*' });
      expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o4');
      const failed = await store.putObject(objectRecord('k', 'o5'), { ifMatch: '"etag-o3"' }).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(MetaError);
      expect(failed).toMatchObject({ kind: 'PreconditionFailed', subject: 'If-Match' });
    });

    it('sets tags, optionally only for a given object id', async () => {
      await store.putObject(objectRecord('k', 'o1'));
      expect(await store.setTags('bkt', 'k', { a: 'b' })).toBe(true);
      expect((await store.getObject('bkt', 'k'))?.tags).toEqual({ a: 'b' });
      expect(await store.setTags('bkt', 'k', { c: 'd' }, 'o-other')).toBe(false);
      expect(await store.setTags('bkt', 'k', { c: 'd' }, 'o1')).toBe(true);
      expect((await store.getObject('bkt', 'k'))?.tags).toEqual({ c: 'd' });
      expect(await store.setTags('bkt', 'missing', {})).toBe(false);
    });

    it("keeps an object's owner and ACL, lists the owner, replaces the ACL only for the same object id", async () => {
      const grants = [{ grantee: { type: 'Group' as const, group: 'AllUsers' as const }, permission: 'READ' as const }];
      await store.putObject(objectRecord('owned', 'o1', { owner: 'alice', grants }));
      await store.putObject(objectRecord('plain', 'o2'));
      const got = await store.getObject('bkt', 'owned');
      expect([got?.owner, got?.grants]).toEqual(['alice', grants]);
      const plain = await store.getObject('bkt', 'plain');
      expect([plain?.owner, plain?.grants]).toEqual([undefined, undefined]);
      expect((await store.listObjects('bkt', { maxKeys: 10 })).objects.map((o) => [o.key, o.owner])).toEqual([
        ['owned', 'alice'],
        ['plain', undefined],
      ]);
      expect((await store.listObjects('bkt', { maxKeys: 10, delimiter: '/' })).objects.map((o) => o.owner)).toEqual(['alice', undefined]);
      expect(await store.setGrants('bkt', 'owned', 'o-other', null)).toBe(false);
      expect(await store.setGrants('bkt', 'owned', 'o1', null)).toBe(true);
      expect((await store.getObject('bkt', 'owned'))?.grants).toBeUndefined();
    });

    it('updates a manifest only while the object exists', async () => {
      await store.putObject(objectRecord('k', 'o1'));
      const repaired = manifest('o1', ['moved-seg']);
      expect(await store.updateManifest('o1', repaired)).toBe(true);
      expect((await store.getObjectById('o1'))?.manifest).toEqual(repaired);
      await store.putObject(objectRecord('k', 'o2'));
      expect(await store.updateManifest('o1', repaired)).toBe(false);
      await expect(store.updateManifest('o2', repaired)).rejects.toThrow(/manifest of object o1/);
    });

    it('counts objects per bucket and overall', async () => {
      await store.createBucket({ name: 'b2', createdAt: NOW, owner: 'o', region: 'r' });
      await store.putObject(objectRecord('a', 'o1'));
      await store.putObject(objectRecord('b', 'o2'));
      await store.putObject({ ...objectRecord('a', 'o3'), bucket: 'b2' });
      expect(await store.countObjects('bkt')).toBe(2);
      expect(await store.countObjects('b2')).toBe(1);
      expect(await store.countObjects('none')).toBe(0);
      expect(await store.countObjects()).toBe(3);
    });
  });

  describe('keys and connections', () => {
    it('refuses keys with a lone surrogate instead of aliasing them to U+FFFD', async () => {
      await store.putObject(objectRecord('a\ufffd', 'o1'));
      expect(await metaErrorKind(store.putObject(objectRecord('a\ud800', 'o2')))).toBe('InvalidKey');
      expect(await metaErrorKind(store.getObject('bkt', 'a\udc00'))).toBe('InvalidKey');
      expect((await store.getObject('bkt', 'a\ufffd'))?.objectId).toBe('o1');
      await store.putObject(objectRecord('pair \ud83d\ude00', 'o3')); // a well-formed pair is fine
      expect((await store.getObject('bkt', 'pair 😀'))?.objectId).toBe('o3');
    });

    it('a second connection (another gateway) sees commits and conditions of the first', async () => {
      const other = await fresh.another({ now: () => NOW });
      try {
        await store.putObject(objectRecord('k', 'o1'), { ifNoneMatch: true });
        expect((await other.getObject('bkt', 'k'))?.objectId).toBe('o1');
        expect(await metaErrorKind(other.putObject(objectRecord('k', 'o2'), { ifNoneMatch: true }))).toBe('PreconditionFailed');
        await other.putObject(objectRecord('k', 'o3'), { ifMatch: '"etag-o1"' });
        expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o3');
        expect((await store.dueGarbage(Number.MAX_SAFE_INTEGER, 10)).map((g) => g.manifest.objectId)).toEqual(['o1']);
      } finally {
        await other.close();
      }
    });
  });

  describe('atomicity', () => {
    it('a commit that fails after deleting and queueing leaves nothing behind', async () => {
      await store.putObject(objectRecord('k1', 'o1'));
      await store.putObject(objectRecord('k2', 'o2'));
      // Reusing o2's id at k1 fails on the unique object_id only after k1's row was deleted and o1 queued as garbage.
      await expect(store.putObject(objectRecord('k1', 'o2'))).rejects.toThrow(/UNIQUE|duplicate key/);
      expect((await store.getObject('bkt', 'k1'))?.objectId).toBe('o1');
      expect((await store.getObject('bkt', 'k2'))?.objectId).toBe('o2');
      expect(await store.dueGarbage(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      expect(await store.countObjects()).toBe(2);
    });
  });

  describe('garbage queue', () => {
    it('returns due items oldest first, limited, and removes by id', async () => {
      await store.enqueueGarbage(manifest('g3'), 30);
      await store.enqueueGarbage(manifest('g1'), 10);
      await store.enqueueGarbage(manifest('g2'), 20);
      await store.enqueueGarbage(manifest('g4'), 40);
      expect((await store.dueGarbage(30, 10)).map((g) => g.manifest.objectId)).toEqual(['g1', 'g2', 'g3']);
      const firstTwo = await store.dueGarbage(100, 2);
      expect(firstTwo.map((g) => [g.manifest.objectId, g.notBefore])).toEqual([
        ['g1', 10],
        ['g2', 20],
      ]);
      await store.removeGarbage(firstTwo.map((g) => g.id));
      expect((await store.dueGarbage(100, 10)).map((g) => g.manifest.objectId)).toEqual(['g3', 'g4']);
      expect(await store.dueGarbage(100, 0)).toEqual([]);
    });
  });

  describe('hot tier bookkeeping', () => {
    it('tracks state, bytes, pins and LRU order', async () => {
      for (const [i, id] of ['o1', 'o2', 'o3', 'o4'].entries()) await store.putObject(objectRecord(`k${i}`, id));
      expect(await store.hotBytesTotal()).toBe(0);
      expect(await store.setHotState('o1', 'hot', 100)).toBe(true);
      expect(await store.setHotState('o2', 'hot', 200)).toBe(true);
      expect(await store.setHotState('o3', 'promoting', 300)).toBe(true);
      expect(await store.setHotState('missing', 'hot', 1)).toBe(false);
      expect(await store.hotBytesTotal()).toBe(600);

      await store.touch('o1', 50);
      await store.touch('o2', 40);
      await store.touch('o1', 10); // older touch never moves last access backwards
      expect(await store.evictionCandidates(10)).toEqual([
        { objectId: 'o2', hotBytes: 200, lastAccess: 40 },
        { objectId: 'o1', hotBytes: 100, lastAccess: 50 },
      ]);
      expect(await store.evictionCandidates(1)).toEqual([{ objectId: 'o2', hotBytes: 200, lastAccess: 40 }]);
      expect(await store.setPinned('o2', true)).toBe(true);
      expect(await store.setPinned('missing', true)).toBe(false);
      expect((await store.evictionCandidates(10)).map((c) => c.objectId)).toEqual(['o1']);
      expect((await store.getObjectById('o2'))?.pinned).toBe(true);
      await store.setPinned('o2', false);
      expect((await store.evictionCandidates(10)).map((c) => c.objectId)).toEqual(['o2', 'o1']);
      // A batch of touches in one transaction: same never-backwards rule, unknown ids ignored.
      await store.touchMany([
        ['o2', 60],
        ['o1', 45],
        ['missing', 70],
      ]);
      expect((await store.evictionCandidates(10)).map((c) => [c.objectId, c.lastAccess])).toEqual([
        ['o1', 50],
        ['o2', 60],
      ]);

      const hot: Array<{ objectId: string; state: string; hotBytes: number }> = [];
      for await (const item of store.listHot()) hot.push(item);
      expect(hot.sort((a, b) => a.objectId.localeCompare(b.objectId))).toEqual([
        { objectId: 'o1', state: 'hot', hotBytes: 100 },
        { objectId: 'o2', state: 'hot', hotBytes: 200 },
        { objectId: 'o3', state: 'promoting', hotBytes: 300 },
      ]);
      await store.setHotState('o1', 'cold', 0);
      expect(await store.hotBytesTotal()).toBe(500);
    });

    it('lists more hot objects than one batch', async () => {
      const ids = Array.from({ length: 1300 }, (_, i) => `obj-${String(i).padStart(5, '0')}`);
      await bulkInsert(store, ids.map((id, i) => objectRecord(`k${i}`, id, { hot: i % 2 === 0 ? 'hot' : 'cold', hotBytes: i % 2 === 0 ? 1 : 0 })));
      const seen: string[] = [];
      for await (const item of store.listHot()) seen.push(item.objectId);
      expect(seen).toEqual(ids.filter((_, i) => i % 2 === 0));
    });
  });

  describe('iterateManifests', () => {
    it('yields every committed object and every part of in-progress uploads, across batches', async () => {
      const count = 1200;
      await bulkInsert(store, Array.from({ length: count }, (_, i) => objectRecord(`k${i}`, `o${i}`)));
      await store.createUpload({
        uploadId: 'u1',
        bucket: 'bkt',
        key: 'mp',
        initiated: NOW,
        owner: 'o',
        headers: { userMeta: {} },
        tags: {},
        objectId: 'mpo',
        wrappedKey: 'w',
        keyId: 'k1',
      });
      for (const partNumber of [1, 2]) {
        await store.putPart({ uploadId: 'u1', partNumber, size: 5, etag: `"p${partNumber}"`, lastModified: NOW, manifest: manifest('mpo', [`mp-${partNumber}`]) });
      }
      const seen = new Map<string, string[]>();
      for await (const item of store.iterateManifests()) {
        expect(item.manifest.objectId).toBe(item.objectId);
        seen.set(item.objectId, [...(seen.get(item.objectId) ?? []), ...item.manifest.segments.map((s) => s.segId), `${item.bucket}/${item.key}`]);
      }
      expect(seen.size).toBe(count + 1);
      expect(seen.get('o777')).toEqual(['o777-s0', 'bkt/k777']);
      expect(seen.get('mpo')).toEqual(['mp-1', 'bkt/mp', 'mp-2', 'bkt/mp']);
    });

    it('does not lose manifests committed while it walks', async () => {
      await bulkInsert(store, Array.from({ length: 1100 }, (_, i) => objectRecord(`k${i}`, `o${i}`)));
      await store.createUpload({
        uploadId: 'u1',
        bucket: 'bkt',
        key: 'mp',
        initiated: NOW,
        owner: 'o',
        headers: { userMeta: {} },
        tags: {},
        objectId: 'mpo',
        wrappedKey: 'w',
        keyId: 'k1',
      });
      await store.createUpload({ ...(await store.getUpload('u1'))!, uploadId: 'u0', key: 'other', objectId: 'other-obj' });
      // More parts than one batch, so u1's part is not yet read when the walk is at u0's first part.
      for (let n = 1; n <= 600; n++) {
        await store.putPart({ uploadId: 'u0', partNumber: n, size: 5, etag: `"p${n}"`, lastModified: NOW, manifest: manifest('other-obj', [`o-${n}`]) });
      }
      const partManifest = manifest('mpo', ['mp-1']);
      await store.putPart({ uploadId: 'u1', partNumber: 1, size: 5, etag: '"p1"', lastModified: NOW, manifest: partManifest });
      const seen = new Set<string>();
      for await (const item of store.iterateManifests()) {
        if (item.objectId === 'other-obj' && !seen.has('other-obj')) {
          // u1 completes before the walk reached its part: the part is gone, and its object must still be walked.
          await store.completeUpload('u1', { ...objectRecord('mp', 'mpo'), manifest: partManifest }, [1]);
        }
        if (item.objectId === 'o1') {
          // Replace an object already walked past, and delete one not reached yet.
          await store.putObject(objectRecord('k0', 'o0-new'));
          await store.deleteObject('bkt', 'k1000');
        }
        seen.add(item.objectId);
      }
      expect(seen.has('mpo')).toBe(true);
      expect(seen.has('o0-new')).toBe(true);
      const queued = (await store.dueGarbage(Number.MAX_SAFE_INTEGER, 10)).map((g) => g.manifest.objectId).sort();
      expect(queued).toEqual(['o0', 'o1000']);
      expect(seen.size).toBe(1100 + 3 - 1); // objects, mpo, o0-new, other-obj's part; minus the deleted o1000
    });
  });
});
