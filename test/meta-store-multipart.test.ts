/** Multipart contract on every engine: uploads, parts, completion and abort, upload listings. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ObjectManifest, SegmentManifest } from '../src/model/manifest.js';
import type { MetaStore } from '../src/meta/store.js';
import type { ObjectRecord, PartRecord, UploadRecord } from '../src/model/records.js';
import { MetaError } from '../src/meta/errors.js';
import { metaEngines, useEngine } from './helpers/meta-engines.js';

const NOW = 1_700_000_000_000;
const GRACE = 1_000;

function segment(segId: string, part: number): SegmentManifest {
  return { segId, part, index: 0, plainSize: 5, chunkSize: 65536, k: 2, m: 1, coder: 'rs', shardSize: 50, shards: [{ node: 'n1', handle: segId }] };
}

function partManifest(objectId: string, partNumber: number, version = 'v1'): ObjectManifest {
  return { version: 1, objectId, wrappedKey: 'w', keyId: 'k1', size: 5, segments: [segment(`${objectId}-p${partNumber}-${version}`, partNumber)] };
}

function upload(uploadId: string, key: string, initiated = NOW, bucket = 'bkt'): UploadRecord {
  return {
    uploadId,
    bucket,
    key,
    initiated,
    owner: 'AKIA1',
    headers: { contentType: 'application/x', userMeta: { m: 'v' } },
    tags: { t: '1' },
    checksumAlgorithm: 'CRC32',
    checksumType: 'COMPOSITE',
    objectId: `obj-${uploadId}`,
    wrappedKey: 'w',
    keyId: 'k1',
  };
}

function part(uploadId: string, partNumber: number, version = 'v1'): PartRecord {
  return {
    uploadId,
    partNumber,
    size: 5,
    etag: `"${uploadId}-${partNumber}-${version}"`,
    lastModified: NOW,
    manifest: partManifest(`obj-${uploadId}`, partNumber, version),
  };
}

/** The object a gateway would build from the given parts of an upload. */
function completedRecord(up: UploadRecord, parts: PartRecord[]): ObjectRecord {
  const segments = parts.flatMap((p) => p.manifest.segments);
  return {
    bucket: up.bucket,
    key: up.key,
    objectId: up.objectId,
    size: 5 * parts.length,
    etag: `"mp-${parts.length}"`,
    lastModified: NOW,
    headers: up.headers,
    tags: up.tags,
    parts: parts.map((p) => ({ partNumber: p.partNumber, size: p.size, etag: p.etag })),
    manifest: { version: 1, objectId: up.objectId, wrappedKey: up.wrappedKey, keyId: up.keyId, size: 5 * parts.length, segments },
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
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
  let store: MetaStore;

  async function garbageSegIds(): Promise<string[]> {
    const due = await store.dueGarbage(Number.MAX_SAFE_INTEGER, 1000);
    return due.flatMap((g) => g.manifest.segments.map((s) => s.segId)).sort();
  }

  beforeEach(async () => {
    store = (await engine.fresh({ now: () => NOW })).store;
    await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'AKIA1', region: 'us-east-1' });
  });

  describe('uploads and parts', () => {
    it('creates and reads an upload; unknown buckets and uploads are refused', async () => {
      await store.createUpload(upload('u1', 'key 🎉'));
      expect(await store.getUpload('u1')).toEqual(upload('u1', 'key 🎉'));
      expect(await store.getUpload('nope')).toBeNull();
      expect(await metaErrorKind(store.createUpload(upload('u2', 'k', NOW, 'no-bucket')))).toBe('NoSuchBucket');
      expect(await metaErrorKind(store.putPart(part('nope', 1)))).toBe('NoSuchUpload');
      expect(await metaErrorKind(store.listParts('nope', 0, 10))).toBe('NoSuchUpload');
      expect(await metaErrorKind(store.getParts('nope', [1]))).toBe('NoSuchUpload');
      expect(await metaErrorKind(store.abortUpload('nope'))).toBe('NoSuchUpload');
    });

    it('replacing a part queues the old one; lists and gets parts', async () => {
      await store.createUpload(upload('u1', 'k'));
      for (const n of [3, 1, 2, 10]) await store.putPart(part('u1', n));
      await store.putPart(part('u1', 2, 'v2'));
      expect(await garbageSegIds()).toEqual(['obj-u1-p2-v1']);

      const page1 = await store.listParts('u1', 0, 2);
      expect(page1.parts.map((p) => p.partNumber)).toEqual([1, 2]);
      expect(page1.parts[1]).toEqual(part('u1', 2, 'v2'));
      expect(page1.isTruncated).toBe(true);
      const page2 = await store.listParts('u1', 2, 2);
      expect(page2).toEqual({ parts: [part('u1', 3), part('u1', 10)], isTruncated: false });
      expect(await store.listParts('u1', 10, 5)).toEqual({ parts: [], isTruncated: false });

      expect((await store.getParts('u1', [10, 4, 1])).map((p) => p.partNumber)).toEqual([10, 1]);
    });

    it('aborting deletes the upload and queues every part', async () => {
      await store.createUpload(upload('u1', 'k'));
      await store.putPart(part('u1', 1));
      await store.putPart(part('u1', 2));
      await store.abortUpload('u1');
      expect(await store.getUpload('u1')).toBeNull();
      expect(await garbageSegIds()).toEqual(['obj-u1-p1-v1', 'obj-u1-p2-v1']);
      expect(await metaErrorKind(store.putPart(part('u1', 3)))).toBe('NoSuchUpload');
    });
  });

  describe('completeUpload', () => {
    it('commits the object, deletes the upload, queues unused parts and the replaced object in one go', async () => {
      const up = upload('u1', 'k');
      await store.createUpload(up);
      const parts = [part('u1', 1), part('u1', 2), part('u1', 3)];
      for (const p of parts) await store.putPart(p);
      const old = completedRecord(upload('old', 'k'), [part('old', 1)]);
      await store.putObject(old);

      const record = completedRecord(up, [parts[0]!, parts[2]!]);
      const { replaced } = await store.completeUpload('u1', record, [1, 3], undefined, GRACE);
      expect(replaced?.objectId).toBe('obj-old');
      expect(await store.getObject('bkt', 'k')).toEqual(record);
      expect(await store.getUpload('u1')).toBeNull();
      expect(await metaErrorKind(store.listParts('u1', 0, 10))).toBe('NoSuchUpload');
      const due = await store.dueGarbage(NOW + GRACE, 10);
      expect(due.map((g) => g.manifest.segments[0]?.segId).sort()).toEqual(['obj-old-p1-v1', 'obj-u1-p2-v1']);
      expect(await store.dueGarbage(NOW + GRACE - 1, 10)).toEqual([]);
      expect(await metaErrorKind(store.completeUpload('u1', record, [1, 3]))).toBe('NoSuchUpload');
    });

    it('a failing condition changes nothing', async () => {
      const up = upload('u1', 'k');
      await store.createUpload(up);
      await store.putPart(part('u1', 1));
      await store.putObject(completedRecord(upload('old', 'k'), [part('old', 1)]));
      const record = completedRecord(up, [part('u1', 1)]);
      expect(await metaErrorKind(store.completeUpload('u1', record, [1], { ifNoneMatch: true }))).toBe('PreconditionFailed');
      expect(await metaErrorKind(store.completeUpload('u1', record, [1], { ifMatch: '"other"' }))).toBe('PreconditionFailed');
      expect((await store.getObject('bkt', 'k'))?.objectId).toBe('obj-old');
      expect(await store.getUpload('u1')).not.toBeNull();
      expect((await store.listParts('u1', 0, 10)).parts).toHaveLength(1);
      expect(await garbageSegIds()).toEqual([]);
      await store.completeUpload('u1', record, [1], { ifMatch: '"mp-1"' });
      expect((await store.getObject('bkt', 'k'))?.objectId).toBe('obj-u1');
    });

    it('refuses missing parts and parts re-uploaded after the record was built', async () => {
      const up = upload('u1', 'k');
      await store.createUpload(up);
      await store.putPart(part('u1', 1));
      await store.putPart(part('u1', 2));
      expect(await metaErrorKind(store.completeUpload('u1', completedRecord(up, [part('u1', 1), part('u1', 5)]), [1, 5]))).toBe('InvalidPart');
      const stale = completedRecord(up, [part('u1', 1), part('u1', 2)]);
      await store.putPart(part('u1', 2, 'v2'));
      expect(await metaErrorKind(store.completeUpload('u1', stale, [1, 2]))).toBe('InvalidPart');
      expect(await store.getObject('bkt', 'k')).toBeNull();
      await store.completeUpload('u1', completedRecord(up, [part('u1', 1), part('u1', 2, 'v2')]), [1, 2]);
      expect((await store.getObject('bkt', 'k'))?.manifest.segments.map((s) => s.segId)).toEqual(['obj-u1-p1-v1', 'obj-u1-p2-v2']);
      expect(await garbageSegIds()).toEqual(['obj-u1-p2-v1']);
    });

    it('refuses a record for another key or object', async () => {
      const up = upload('u1', 'k');
      await store.createUpload(up);
      await store.putPart(part('u1', 1));
      const record = completedRecord(up, [part('u1', 1)]);
      await expect(store.completeUpload('u1', { ...record, key: 'other' }, [1])).rejects.toThrow(/does not belong/);
      await expect(store.completeUpload('u1', { ...record, objectId: 'x' }, [1])).rejects.toThrow(/does not belong/);
      expect(await store.getUpload('u1')).not.toBeNull();
    });
  });

  describe('deleteBucket with uploads', () => {
    it('aborts in-progress uploads and queues their parts, but refuses while objects exist', async () => {
      await store.createUpload(upload('u1', 'a'));
      await store.createUpload(upload('u2', 'b'));
      await store.putPart(part('u1', 1));
      await store.putPart(part('u2', 1));
      await store.putPart(part('u2', 2));
      await store.putObject(completedRecord(upload('x', 'obj'), [part('x', 1)]));
      expect(await metaErrorKind(store.deleteBucket('bkt'))).toBe('BucketNotEmpty');
      expect(await store.getUpload('u1')).not.toBeNull();
      await store.deleteObject('bkt', 'obj');
      const queuedBefore = await garbageSegIds();
      await store.deleteBucket('bkt');
      expect(await store.getUpload('u1')).toBeNull();
      expect(await store.getUpload('u2')).toBeNull();
      expect(await garbageSegIds()).toEqual([...queuedBefore, 'obj-u1-p1-v1', 'obj-u2-p1-v1', 'obj-u2-p2-v1'].sort());
    });
  });

  describe('listUploads', () => {
    beforeEach(async () => {
      await store.createUpload(upload('u-b2', 'b', NOW + 2));
      await store.createUpload(upload('u-a', 'a', NOW));
      await store.createUpload(upload('u-b1', 'b', NOW + 5));
      await store.createUpload(upload('u-b0', 'b', NOW + 1));
      await store.createUpload(upload('u-d1', 'dir/x', NOW));
      await store.createUpload(upload('u-d2', 'dir/y', NOW));
      await store.createUpload(upload('u-e', 'e', NOW));
    });

    const ids = (r: { uploads: UploadRecord[] }): string[] => r.uploads.map((u) => u.uploadId);

    it('orders by key, then initiation time', async () => {
      const all = await store.listUploads('bkt', { maxUploads: 100 });
      expect(ids(all)).toEqual(['u-a', 'u-b0', 'u-b2', 'u-b1', 'u-d1', 'u-d2', 'u-e']);
      expect(all.isTruncated).toBe(false);
      expect(all.uploads[0]).toEqual(upload('u-a', 'a', NOW));
    });

    it('groups by delimiter and filters by prefix', async () => {
      const grouped = await store.listUploads('bkt', { delimiter: '/', maxUploads: 100 });
      expect(ids(grouped)).toEqual(['u-a', 'u-b0', 'u-b2', 'u-b1', 'u-e']);
      expect(grouped.commonPrefixes).toEqual(['dir/']);
      expect(ids(await store.listUploads('bkt', { prefix: 'dir/', delimiter: '/', maxUploads: 100 }))).toEqual(['u-d1', 'u-d2']);
      expect(ids(await store.listUploads('bkt', { prefix: 'b', maxUploads: 100 }))).toEqual(['u-b0', 'u-b2', 'u-b1']);
    });

    it('pages with key and upload-id markers', async () => {
      const page1 = await store.listUploads('bkt', { maxUploads: 2 });
      expect(ids(page1)).toEqual(['u-a', 'u-b0']);
      expect(page1.isTruncated).toBe(true);
      const page2 = await store.listUploads('bkt', { keyMarker: 'b', uploadIdMarker: 'u-b0', maxUploads: 2 });
      expect(ids(page2)).toEqual(['u-b2', 'u-b1']);
      expect(page2.isTruncated).toBe(true);
      const page3 = await store.listUploads('bkt', { keyMarker: 'b', uploadIdMarker: 'u-b1', maxUploads: 2, delimiter: '/' });
      expect(ids(page3)).toEqual(['u-e']);
      expect(page3.commonPrefixes).toEqual(['dir/']);
      expect(page3.isTruncated).toBe(false);
      // A key marker alone skips every upload of that key.
      expect(ids(await store.listUploads('bkt', { keyMarker: 'b', maxUploads: 100 }))).toEqual(['u-d1', 'u-d2', 'u-e']);
      // A common prefix as key marker skips everything under it.
      expect(ids(await store.listUploads('bkt', { keyMarker: 'dir/', delimiter: '/', maxUploads: 100 }))).toEqual(['u-e']);
      expect(await store.listUploads('bkt', { maxUploads: 0 })).toEqual({ uploads: [], commonPrefixes: [], isTruncated: false });
    });

    it('skips a key that equals the common-prefix key marker even with an upload-id marker', async () => {
      await store.createUpload(upload('u-ds1', 'dir/', NOW));
      await store.createUpload(upload('u-ds2', 'dir/', NOW + 1));
      const page = await store.listUploads('bkt', { keyMarker: 'dir/', uploadIdMarker: 'u-ds1', delimiter: '/', maxUploads: 100 });
      expect(ids(page)).toEqual(['u-e']);
      expect(page.commonPrefixes).toEqual([]);
      const undelimited = await store.listUploads('bkt', { keyMarker: 'dir/', uploadIdMarker: 'u-ds1', maxUploads: 100 });
      expect(ids(undelimited)).toEqual(['u-ds2', 'u-d1', 'u-d2', 'u-e']);
    });

    it('falls back to upload-id order when the marker upload is gone', async () => {
      await store.abortUpload('u-b2');
      const page = await store.listUploads('bkt', { keyMarker: 'b', uploadIdMarker: 'u-b2', maxUploads: 100 });
      expect(ids(page)).toEqual(['u-d1', 'u-d2', 'u-e']);
      const page2 = await store.listUploads('bkt', { keyMarker: 'b', uploadIdMarker: 'u-b0', maxUploads: 100 });
      expect(ids(page2)).toEqual(['u-b1', 'u-d1', 'u-d2', 'u-e']);
    });

    it('refuses an unknown bucket', async () => {
      expect(await metaErrorKind(store.listUploads('nope', { maxUploads: 10 }))).toBe('NoSuchBucket');
    });
  });
});
