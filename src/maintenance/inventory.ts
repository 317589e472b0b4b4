import type { MetaStore } from '../meta/store.js';
import { inlineCopiesWanted, type ObjectManifest } from '../model/manifest.js';

/** Where an object stands given the nodes that answer now: counted per object by its weakest segment. */
export type Redundancy = 'full' | 'degraded' | 'at-risk' | 'lost';

export interface BucketInventory {
  bucket: string;
  objects: number;
  /** Plaintext bytes of the committed objects. */
  logicalBytes: number;
  /** Bytes of every shard file written on nodes (headers, blocks and checksums; committed objects and parts). */
  storedBytes: number;
  /** Bytes of this bucket's objects in the hot tier. */
  hotBytes: number;
  /** Plaintext bytes of in-progress multipart uploads (their shards are in storedBytes). */
  uploadBytes: number;
  redundancy: Record<Redundancy, number>;
}

export interface Inventory {
  buckets: BucketInventory[];
  total: Omit<BucketInventory, 'bucket'>;
  /** Shard bytes per node name. */
  storedByNode: Record<string, number>;
}

function emptyBucket(bucket: string): BucketInventory {
  return { bucket, objects: 0, logicalBytes: 0, storedBytes: 0, hotBytes: 0, uploadBytes: 0, redundancy: { full: 0, degraded: 0, 'at-risk': 0, lost: 0 } };
}

/**
 * An object's redundancy: full when every segment has all k+m shards on answering nodes; degraded when some are
 * missing but more than k remain; at risk when exactly k remain (one more loss loses data); lost below k.
 */
export function redundancyOf(manifest: ObjectManifest, up: (node: string) => boolean): Redundancy {
  let worst: Redundancy = 'full';
  const rank: Record<Redundancy, number> = { full: 0, degraded: 1, 'at-risk': 2, lost: 3 };
  for (const s of manifest.segments) {
    // An inline segment has its record copies for shards: any one of them holds it whole.
    const inline = s.inline !== undefined;
    const refs = inline ? (manifest.copies ?? []) : s.shards;
    const present = refs.filter((r) => r.handle !== '' && up(r.node)).length;
    const need = inline ? 1 : s.k;
    const all = inline ? inlineCopiesWanted(s) : s.k + s.m;
    const r: Redundancy = present >= all ? 'full' : present > need ? 'degraded' : present === need ? 'at-risk' : 'lost';
    if (rank[r] > rank[worst]) worst = r;
  }
  return worst;
}

function addStored(manifest: ObjectManifest, byNode: Map<string, number>): number {
  let n = 0;
  for (const s of manifest.segments) {
    const inline = s.inline !== undefined;
    const size = inline ? Buffer.byteLength(s.inline!, 'base64') : s.shardSize;
    for (const r of inline ? (manifest.copies ?? []) : s.shards) {
      if (r.handle === '') continue;
      n += size;
      byNode.set(r.node, (byNode.get(r.node) ?? 0) + size);
    }
  }
  return n;
}

/**
 * One pass over the store: per bucket, what is stored, where, and how safely (given which nodes answer now). The
 * figures `tessera status` and `tessera cost` print; a full walk of the manifests, so a report, not a hot path.
 */
export async function takeInventory(meta: MetaStore, up: (node: string) => boolean, onObject?: () => void): Promise<Inventory> {
  const hotById = new Map<string, number>();
  for await (const h of meta.listHot()) if (h.hotBytes > 0) hotById.set(h.objectId, h.hotBytes);
  const byBucket = new Map<string, BucketInventory>();
  const byNode = new Map<string, number>();
  for (const b of await meta.listBuckets()) byBucket.set(b.name, emptyBucket(b.name));
  for await (const item of meta.iterateManifests()) {
    const inv = byBucket.get(item.bucket) ?? emptyBucket(item.bucket);
    byBucket.set(item.bucket, inv);
    inv.storedBytes += addStored(item.manifest, byNode);
    if (item.part) {
      inv.uploadBytes += item.manifest.size;
    } else {
      inv.objects++;
      inv.logicalBytes += item.manifest.size;
      inv.hotBytes += hotById.get(item.objectId) ?? 0;
      inv.redundancy[redundancyOf(item.manifest, up)]++;
    }
    onObject?.();
  }
  const buckets = [...byBucket.values()].sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));
  const total = emptyBucket('');
  for (const b of buckets) {
    total.objects += b.objects;
    total.logicalBytes += b.logicalBytes;
    total.storedBytes += b.storedBytes;
    total.hotBytes += b.hotBytes;
    total.uploadBytes += b.uploadBytes;
    for (const r of Object.keys(b.redundancy) as Redundancy[]) total.redundancy[r] += b.redundancy[r];
  }
  const { bucket: _omit, ...rest } = total;
  return { buckets, total: rest, storedByNode: Object.fromEntries(byNode) };
}
