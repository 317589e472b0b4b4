import type { BucketSettingName, MetaStore } from './store.js';
import type { ObjectRecord, UploadRecord } from '../model/records.js';

/** What a store offers the copy besides the MetaStore interface (both stores implement it). */
export interface BulkMetaStore extends MetaStore {
  objectsAfter(bucket: string, afterKey: string | null, limit: number): Promise<ObjectRecord[]>;
  insertObjects(records: Iterable<ObjectRecord>): Promise<number>;
}

export interface CopySummary {
  buckets: number;
  objects: number;
  uploads: number;
  parts: number;
  garbage: number;
}

export class TargetNotEmptyError extends Error {
  constructor(what: string) {
    super(`the target store is not empty (${what}); copy only into an empty store`);
    this.name = 'TargetNotEmptyError';
  }
}

const PAGE = 1000;
/** The garbage queue has no cursor; a queue this long means gc has not run for a long time. */
const MAX_GARBAGE = 1_000_000;

/**
 * Copies every bucket, object (with its hot-tier state), in-progress upload with its parts, and garbage item from
 * `source` into an empty `target`. Leases are not copied (they are renewed by running gateways). Meant for a
 * stopped cluster: writes to the source during the copy may be missed. Objects go in batches of PAGE, each batch one
 * transaction; a copy that fails midway leaves a partial target: empty it and run again.
 */
export async function copyMetaStore(source: BulkMetaStore, target: BulkMetaStore, onProgress?: (s: CopySummary) => void): Promise<CopySummary> {
  const existing = await target.listBuckets();
  if (existing.length > 0) throw new TargetNotEmptyError(`${existing.length} buckets`);
  if ((await target.dueGarbage(Number.MAX_SAFE_INTEGER, 1)).length > 0) throw new TargetNotEmptyError('garbage queue');
  const garbage = await source.dueGarbage(Number.MAX_SAFE_INTEGER, MAX_GARBAGE + 1);
  if (garbage.length > MAX_GARBAGE) throw new Error(`the source's garbage queue holds more than ${MAX_GARBAGE} items: run \`tessera gc\` first`);

  const buckets = await source.listBuckets();
  for (const bucket of buckets) await refuseKeptVersions(source, bucket.name);
  // Snapshots hold versions: a copy without them would silently release what they pin.
  const snapshots = await source.listSnapshots();
  if (snapshots.length > 0) throw new VersionsNotCopiedError(snapshots[0]!.bucket, `snapshot ${snapshots[0]!.name}`);
  const sum: CopySummary = { buckets: 0, objects: 0, uploads: 0, parts: 0, garbage: 0 };
  for (const bucket of buckets) {
    await target.createBucket(bucket);
    for (const [name, value] of Object.entries(await source.bucketSettings(bucket.name))) await target.putBucketSetting(bucket.name, name as BucketSettingName, value);
    sum.buckets++;
    let after: string | null = null;
    for (;;) {
      const batch = await source.objectsAfter(bucket.name, after, PAGE);
      if (batch.length === 0) break;
      sum.objects += await target.insertObjects(batch);
      after = batch[batch.length - 1]!.key;
      onProgress?.(sum);
      if (batch.length < PAGE) break;
    }
    let markers: { keyMarker?: string; uploadIdMarker?: string } = {};
    for (;;) {
      const page = await source.listUploads(bucket.name, { maxUploads: PAGE, ...markers });
      for (const upload of page.uploads) await copyUpload(source, target, upload, sum);
      const last = page.uploads.at(-1);
      if (!page.isTruncated || last === undefined) break;
      markers = { keyMarker: last.key, uploadIdMarker: last.uploadId };
    }
  }
  for (const item of garbage) {
    await target.enqueueGarbage(item.manifest, item.notBefore);
    sum.garbage++;
  }
  onProgress?.(sum);
  return sum;
}

export class VersionsNotCopiedError extends Error {
  constructor(bucket: string, what = 'noncurrent versions or delete markers') {
    super(`bucket ${bucket} keeps ${what}, which the copy does not carry yet; nothing was copied`);
    this.name = 'VersionsNotCopiedError';
  }
}

/** The copy carries latest versions only: a bucket with more is refused before anything is written, never thinned. */
async function refuseKeptVersions(source: MetaStore, bucket: string): Promise<void> {
  if ((await source.getBucketSetting(bucket, 'versioning')) === null) return;
  let marker: { keyMarker?: string; versionIdMarker?: string } = {};
  for (;;) {
    const page = await source.listObjectVersions(bucket, { maxKeys: PAGE, ...marker });
    if (page.entries.some((e) => e.kind === 'marker' || !e.isLatest)) throw new VersionsNotCopiedError(bucket);
    if (!page.isTruncated || page.last?.versionId === undefined) return;
    marker = { keyMarker: page.last.key, versionIdMarker: page.last.versionId };
  }
}

async function copyUpload(source: MetaStore, target: MetaStore, upload: UploadRecord, sum: CopySummary): Promise<void> {
  await target.createUpload(upload);
  sum.uploads++;
  let afterPart = 0;
  for (;;) {
    const { parts, isTruncated } = await source.listParts(upload.uploadId, afterPart, PAGE);
    for (const part of parts) {
      await target.putPart(part);
      sum.parts++;
    }
    const last = parts.at(-1);
    if (!isTruncated || last === undefined) break;
    afterPart = last.partNumber;
  }
}
