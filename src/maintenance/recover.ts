/**
 * Maintenance that works from the encrypted record copies and wrapped keys:
 * - recover-index: rebuild an empty metadata store from the nodes and the master keys alone;
 * - rotate-key: rewrap every object's data key under the current master key (data is not rewritten) and reseal
 *   its record copies.
 */
import type { MetaStore } from '../meta/store.js';
import type { ObjectRecord } from '../model/records.js';
import type { Logger } from '../util/logger.js';
import type { ColdStore } from '../cold/cold-store.js';
import type { Keyring, MasterKey } from '../cold/keys.js';
import type { ObjectManifest, ShardRef } from '../model/manifest.js';
import { openDocument, RECORD_MAGIC, sealedDigest } from '../cold/record-copy.js';
import { isMetaError } from '../meta/errors.js';
import { NULL_VERSION_ID, type DeleteMarkerRecord } from '../model/records.js';
import { withObjectLock } from './repair.js';

/** Smallest possible record copy: magic, version, id length, nonce, tag. */
const MIN_RECORD_BYTES = 4 + 2 + 12 + 16;
/** Records are small JSON documents; a blob this large is a shard, whatever its first bytes say. */
const MAX_RECORD_BYTES = 64 * 2 ** 20;

async function readStream(stream: AsyncIterable<Buffer | string>, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const p of stream) {
    const b = typeof p === 'string' ? Buffer.from(p) : p;
    total += b.length;
    if (total > limit) throw new Error('blob larger than expected');
    parts.push(b);
  }
  return Buffer.concat(parts);
}

export interface RecoverOptions {
  /** Run even though the store has objects: only keys that are absent, or older than the recovered record, are written. */
  force?: boolean;
  /** Owner (access key) of buckets that must be created. */
  owner: string;
  region: string;
  log?: Logger;
  onProgress?: (s: RecoverSummary) => void;
}

export interface RecoverSummary {
  nodes: number;
  unlistedNodes: string[];
  blobs: number;
  /** Blobs that are record copies (several per object). */
  copies: number;
  /** Record copies that could not be opened (unknown master key, damaged). */
  unreadable: number;
  /** Distinct objects (by id) found in copies. */
  records: number;
  /** Object versions written to the store. */
  recovered: number;
  /** Delete markers written to the store. */
  markers: number;
  /** Versions (objects or markers) a tombstone says were deleted for good: not restored. */
  deleted: number;
  /** Records of a version that a newer record of the same version replaced (the null version of a key). */
  superseded: number;
  /** Records whose data can no longer be read (a segment has fewer than k shards left). */
  lost: number;
  /** Keys the store already had (with --force). */
  kept: number;
  bucketsCreated: string[];
}

export class StoreNotEmptyError extends Error {
  constructor(objects: number) {
    super(`the metadata store already holds ${objects} objects; recover-index rebuilds an empty store (use --force to merge)`);
    this.name = 'StoreNotEmptyError';
  }
}

interface Found {
  record: ObjectRecord;
  json: string;
  ref: ShardRef;
}

function refKey(node: string, handle: string): string {
  return `${node}\0${handle}`;
}

/** Number of segments that keep fewer than k shards that exist (or might: their node could not be listed). */
function lostSegments(manifest: ObjectManifest, present: Set<string>, unlisted: Set<string>): number {
  let lost = 0;
  for (const seg of manifest.segments) {
    // An inline segment travels in the record copy that was just found.
    if (seg.inline !== undefined) continue;
    const alive = seg.shards.filter((s) => s.handle !== '' && (unlisted.has(s.node) || present.has(refKey(s.node, s.handle)))).length;
    if (alive < seg.k) lost++;
  }
  return lost;
}

function newer(a: ObjectRecord, b: ObjectRecord): boolean {
  return a.lastModified !== b.lastModified ? a.lastModified > b.lastModified : a.objectId > b.objectId;
}

export async function recoverIndex(meta: MetaStore, cold: ColdStore, masterKeys: ReadonlyArray<MasterKey>, opts: RecoverOptions): Promise<RecoverSummary> {
  const existing = await meta.countObjects();
  if (existing > 0 && !opts.force) throw new StoreNotEmptyError(existing);
  const sum: RecoverSummary = {
    nodes: 0,
    unlistedNodes: [],
    blobs: 0,
    copies: 0,
    unreadable: 0,
    records: 0,
    recovered: 0,
    markers: 0,
    deleted: 0,
    superseded: 0,
    lost: 0,
    kept: 0,
    bucketsCreated: [],
  };
  const present = new Set<string>();
  const byObject = new Map<string, Found[]>();
  const markers = new Map<string, { marker: DeleteMarkerRecord; copies: ShardRef[] }>();
  const deletedObjects = new Set<string>();
  const deletedMarkers = new Set<string>();

  for (const node of cold.nodes.values()) {
    sum.nodes++;
    try {
      for await (const item of node.inner.list()) {
        sum.blobs++;
        present.add(refKey(node.name, item.handle));
        if (item.size < MIN_RECORD_BYTES || item.size > MAX_RECORD_BYTES) continue;
        let blob: Buffer;
        try {
          const head = await readStream(await node.get(item.handle, { offset: 0, length: RECORD_MAGIC.length }), RECORD_MAGIC.length);
          if (!head.equals(RECORD_MAGIC)) continue;
          blob = await readStream(await node.get(item.handle), item.size);
        } catch (err) {
          opts.log?.warn({ node: node.name, err: (err as Error).message }, 'blob could not be read');
          continue;
        }
        sum.copies++;
        try {
          const doc = openDocument(blob, masterKeys);
          if (doc === null) continue;
          const ref: ShardRef = { node: node.name, handle: item.handle, sha256: sealedDigest(blob) };
          if (doc.kind === 'marker') {
            const id = versionKey(doc.marker.bucket, doc.marker.key, doc.marker.versionId);
            const known = markers.get(id) ?? { marker: doc.marker, copies: [] };
            known.copies.push(ref);
            markers.set(id, known);
            continue;
          }
          if (doc.kind === 'tombstone') {
            const t = doc.tombstone;
            if (t.objectId !== undefined) deletedObjects.add(t.objectId);
            if (t.markerVersionId !== undefined) deletedMarkers.add(versionKey(t.bucket, t.key, t.markerVersionId));
            continue;
          }
          const record = doc.record;
          const found: Found = { record, json: JSON.stringify(record), ref };
          const list = byObject.get(record.objectId) ?? [];
          list.push(found);
          byObject.set(record.objectId, list);
        } catch (err) {
          sum.unreadable++;
          opts.log?.warn({ node: node.name, err: (err as Error).message }, 'record copy could not be opened');
        }
        if (sum.copies % 100 === 0) opts.onProgress?.(sum);
      }
    } catch (err) {
      sum.unlistedNodes.push(node.name);
      opts.log?.warn({ node: node.name, err: (err as Error).message }, 'node could not be listed');
    }
  }
  sum.records = byObject.size;
  const unlisted = new Set(sum.unlistedNodes);

  // One record per object: copies of the same object differ when a repair's or a lock change's cleanup of the old
  // copies has not run yet; the variant whose shards are most complete is the current one, and among those the most
  // protective lock state (a lock is only ever strengthened without a bypass). Its copies become the manifest's copies.
  const histories = new Map<string, Entry[]>();
  const add = (entry: Entry) => {
    const id = `${entry.bucket}\0${entry.key}`;
    histories.set(id, [...(histories.get(id) ?? []), entry]);
  };
  for (const variants of byObject.values()) {
    const distinct = new Map<string, Found[]>();
    for (const f of variants) distinct.set(f.json, [...(distinct.get(f.json) ?? []), f]);
    let best: Found[] | undefined;
    let bestLost = Infinity;
    for (const group of distinct.values()) {
      const lost = lostSegments(group[0]!.record.manifest, present, unlisted);
      if (lost < bestLost || (lost === bestLost && best !== undefined && moreProtected(group[0]!.record, best[0]!.record))) {
        best = group;
        bestLost = lost;
      }
    }
    const record = best![0]!.record;
    if (deletedObjects.has(record.objectId)) {
      sum.deleted++;
      continue;
    }
    if (bestLost > 0) {
      sum.lost++;
      opts.log?.warn({ bucket: record.bucket, key: record.key, objectId: record.objectId, lostSegments: bestLost }, 'record skipped: its data is gone');
      continue;
    }
    const restored: ObjectRecord = { ...record, hot: 'cold', hotBytes: 0, manifest: { ...record.manifest, copies: best!.map((f) => f.ref) } };
    add({ bucket: record.bucket, key: record.key, versionId: record.versionId ?? NULL_VERSION_ID, at: record.lastModified, tie: record.objectId, object: restored });
  }
  for (const [id, { marker, copies }] of markers) {
    if (deletedMarkers.has(id)) {
      sum.deleted++;
      continue;
    }
    add({ bucket: marker.bucket, key: marker.key, versionId: marker.versionId, at: marker.lastModified, tie: marker.versionId, marker: { ...marker, copies } });
  }

  for (const entries of histories.values()) {
    // Oldest first; a version id seen twice (the null version, rewritten) keeps its newest record.
    entries.sort((a, b) => (a.at !== b.at ? a.at - b.at : a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0));
    const byVersion = new Map<string, Entry>();
    for (const e of entries) {
      if (byVersion.has(e.versionId)) sum.superseded++;
      byVersion.delete(e.versionId);
      byVersion.set(e.versionId, e);
    }
    // Re-inserted at each later record, the map is in the order of each version's newest record: oldest first.
    const history = [...byVersion.values()];
    const { bucket, key } = history[0]!;
    if (!(await meta.getBucket(bucket))) {
      await meta.createBucket({ name: bucket, owner: opts.owner, region: opts.region, createdAt: Date.now() });
      sum.bucketsCreated.push(bucket);
    }
    try {
      await meta.restoreKeyHistory(bucket, key, history.map((e) => (e.object ? { object: e.object } : { marker: e.marker! })));
      for (const e of history) {
        if (e.object) sum.recovered++;
        else sum.markers++;
      }
    } catch (err) {
      if (!isMetaError(err, 'BucketNotEmpty')) throw err;
      // The store has this key already (--force): only a newer latest object than the store's replaces its latest.
      const latest = history.at(-1)!.object;
      const have = await meta.getObject(bucket, key);
      // Never replace an object by itself: the replaced manifest would be queued as garbage and its shards deleted.
      if (latest === undefined || (have && (have.objectId === latest.objectId || !newer(latest, have)))) {
        sum.kept++;
        continue;
      }
      await meta.putObject(latest);
      sum.recovered++;
    }
  }
  return sum;
}

/** One version of a key found on the nodes: an object or a delete marker. */
interface Entry {
  bucket: string;
  key: string;
  versionId: string;
  at: number;
  tie: string;
  object?: ObjectRecord;
  marker?: DeleteMarkerRecord;
}

function versionKey(bucket: string, key: string, versionId: string): string {
  return `${bucket}\0${key}\0${versionId}`;
}

/** A legal hold, then the later retention, is the more protective lock state. */
function moreProtected(a: ObjectRecord, b: ObjectRecord): boolean {
  const hold = (r: ObjectRecord) => (r.lock?.legalHold === true ? 1 : 0);
  if (hold(a) !== hold(b)) return hold(a) > hold(b);
  return (a.lock?.retention?.until ?? 0) > (b.lock?.retention?.until ?? 0);
}

export interface RotateSummary {
  objects: number;
  rewrapped: number;
  /** Already under the current master key. */
  current: number;
  failed: number;
  /** In-progress uploads rewrapped (upload and parts' manifests). */
  rewrappedUploads: number;
  /** In-progress uploads that changed while being rewrapped (run rotate-key again). */
  pendingUploads: number;
}

/**
 * Rewrap every committed object's data key under the keyring's current master key and reseal its record copies
 * (with the cold store's master key, the same first configured key). Only the manifest changes; the shards do not.
 */
export async function rotateMasterKey(
  deps: { meta: MetaStore; cold: ColdStore; keyring: Keyring; log?: Logger },
  onProgress?: (s: RotateSummary) => void,
): Promise<RotateSummary> {
  const { meta, cold, keyring } = deps;
  const sum: RotateSummary = { objects: 0, rewrapped: 0, current: 0, failed: 0, rewrappedUploads: 0, pendingUploads: 0 };
  const uploads = new Set<string>();
  for await (const item of meta.iterateManifests()) {
    if (item.part) {
      if (keyring.needsRewrap(item.manifest.keyId)) uploads.add(item.part.uploadId);
      continue;
    }
    const record = await meta.getObjectById(item.objectId);
    if (!record) continue;
    sum.objects++;
    if (!keyring.needsRewrap(record.manifest.keyId)) {
      sum.current++;
      continue;
    }
    try {
      const done = await withObjectLock(record.objectId, () => rotateOne(meta, cold, keyring, record.objectId));
      if (done) sum.rewrapped++;
    } catch (err) {
      sum.failed++;
      deps.log?.warn({ objectId: record.objectId, err: (err as Error).message }, 'data key could not be rewrapped');
    }
    onProgress?.(sum);
  }
  // In-progress uploads: the data key on the upload (and its parts' manifests) is rewrapped; the shards stay.
  for (const uploadId of uploads) {
    const upload = await meta.getUpload(uploadId);
    if (!upload || !keyring.needsRewrap(upload.keyId)) continue;
    const wrapped = keyring.rewrap(upload.objectId, upload.keyId, upload.wrappedKey);
    if (!(await meta.rewrapUpload(uploadId, upload.keyId, wrapped))) sum.pendingUploads++;
    else sum.rewrappedUploads++;
  }
  return sum;
}

async function rotateOne(meta: MetaStore, cold: ColdStore, keyring: Keyring, objectId: string): Promise<boolean> {
  const fresh = await meta.getObjectById(objectId);
  if (!fresh || !keyring.needsRewrap(fresh.manifest.keyId)) return false;
  const wrapped = keyring.rewrap(objectId, fresh.manifest.keyId, fresh.manifest.wrappedKey);
  const manifest: ObjectManifest = { ...fresh.manifest, keyId: wrapped.keyId, wrappedKey: wrapped.wrappedKey };
  delete manifest.copies;
  const copies = await cold.writeRecordCopies({ ...fresh, manifest });
  // Compare-and-set: a repair committed meanwhile by another gateway must not be undone (its old shards are gone).
  if (!(await meta.updateManifest(objectId, { ...manifest, copies }, fresh.manifest))) {
    await cold.deleteShards(copies);
    return false;
  }
  // The old copies are sealed with the old master key; once it is retired they could not be opened anyway.
  if (fresh.manifest.copies) await cold.deleteShards(fresh.manifest.copies);
  return true;
}
