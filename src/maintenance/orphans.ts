/**
 * Orphan collection: shards and record copies on nodes that nothing references (writes that never committed, a
 * crashed repair, deletes that failed). Nodes are listed first and references gathered afterwards, so anything
 * committed while the listing ran is seen as referenced; blobs younger than `minAgeMs` are spared so the uploads
 * of a running gateway (written before their commit) survive.
 */
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../util/logger.js';
import type { ColdStore } from '../cold/cold-store.js';
import type { ObjectManifest } from '../model/manifest.js';

export const DEFAULT_ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;
/** "Due" by any date: every queued garbage item, whatever its grace period. */
const FAR_FUTURE_MS = 8.64e15;

export interface OrphanOptions {
  /** Blobs modified more recently than this are kept (default 1 h). Blobs whose node reports no mtime are kept unless this is 0. */
  minAgeMs?: number;
  /** Report, do not delete. */
  dryRun?: boolean;
  now?: number;
  log?: Logger;
  /** Called after each node is listed. */
  onProgress?: (s: OrphanSummary) => void;
}

export interface OrphanSummary {
  nodes: number;
  /** Nodes that could not be listed (down): their orphans wait for the next run. */
  unlistedNodes: string[];
  listed: number;
  referenced: number;
  orphans: number;
  orphanBytes: number;
  deleted: number;
  /** Orphans spared because they are young (or their age is unknown). */
  young: number;
  failed: number;
}

function refKey(node: string, handle: string): string {
  return `${node}\0${handle}`;
}

function addManifest(set: Set<string>, manifest: ObjectManifest): void {
  for (const seg of manifest.segments) for (const s of seg.shards) if (s.handle !== '') set.add(refKey(s.node, s.handle));
  for (const c of [...(manifest.copies ?? []), ...(manifest.tombstones ?? [])]) if (c.handle !== '') set.add(refKey(c.node, c.handle));
}

/** Every (node, handle) referenced by committed objects, delete markers, parts of in-progress uploads and the garbage queue. */
export async function referencedShards(meta: MetaStore): Promise<Set<string>> {
  const set = new Set<string>();
  for await (const item of meta.iterateManifests()) addManifest(set, item.manifest);
  for await (const c of meta.iterateMarkerCopies()) set.add(refKey(c.node, c.handle));
  // Queued garbage is collected by the garbage queue after its grace period (in-flight reads may still need it).
  for (const item of await meta.dueGarbage(FAR_FUTURE_MS, 2 ** 31 - 1)) addManifest(set, item.manifest);
  return set;
}

export async function collectOrphans(meta: MetaStore, cold: ColdStore, opts: OrphanOptions = {}): Promise<OrphanSummary> {
  const minAgeMs = opts.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS;
  const now = opts.now ?? Date.now();
  const summary: OrphanSummary = { nodes: 0, unlistedNodes: [], listed: 0, referenced: 0, orphans: 0, orphanBytes: 0, deleted: 0, young: 0, failed: 0 };
  const listed = new Map<string, Array<{ handle: string; size: number; mtimeMs?: number }>>();
  for (const node of cold.nodes.values()) {
    summary.nodes++;
    const items: Array<{ handle: string; size: number; mtimeMs?: number }> = [];
    try {
      // The inner driver's listing carries mtimes; the breaker's type does not expose them.
      for await (const item of node.inner.list()) {
        items.push(item);
        summary.listed++;
      }
      listed.set(node.name, items);
    } catch (err) {
      summary.unlistedNodes.push(node.name);
      opts.log?.warn({ node: node.name, err: (err as Error).message }, 'node could not be listed; its orphans are left for the next run');
    }
    opts.onProgress?.(summary);
  }
  const referenced = await referencedShards(meta);
  for (const [name, items] of listed) {
    const node = cold.node(name)!;
    for (const item of items) {
      if (referenced.has(refKey(name, item.handle))) {
        summary.referenced++;
        continue;
      }
      summary.orphans++;
      summary.orphanBytes += item.size;
      const oldEnough = minAgeMs <= 0 || (item.mtimeMs !== undefined && now - item.mtimeMs >= minAgeMs);
      if (!oldEnough) {
        summary.young++;
        continue;
      }
      if (opts.dryRun) continue;
      try {
        await node.delete(item.handle);
        summary.deleted++;
      } catch (err) {
        summary.failed++;
        opts.log?.warn({ node: name, err: (err as Error).message }, 'orphan delete failed');
      }
    }
  }
  return summary;
}
