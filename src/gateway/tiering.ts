import { LocalCache } from './local-cache.js';
import type { ObjectRecord } from '../model/records.js';
import type { Gateway } from './gateway.js';

export type TieringAction = 'warm' | 'evict' | 'pin' | 'unpin';

export interface TieringTarget {
  bucket: string;
  /** Every object whose key starts with it; with `exactKey`, only the object of that key. */
  prefix: string;
  exactKey?: boolean;
}

export interface TieringProgress {
  seen: number;
  /** Objects under the target when the run started (an estimate for a prefix: the bucket's count). */
  total: number;
  changed: number;
  failed: number;
  bytes: number;
}

export interface TieringSummary extends TieringProgress {
  action: TieringAction;
}

export class NoSuchTarget extends Error {}

async function* objectsUnder(g: Gateway, bucket: string, prefix: string): AsyncGenerator<ObjectRecord> {
  let after: string | undefined;
  for (;;) {
    const page = await g.meta.listObjects(bucket, { prefix, maxKeys: 1000, ...(after !== undefined ? { after } : {}) });
    for (const o of page.objects) {
      const rec = await g.meta.getObject(bucket, o.key);
      if (rec) yield rec;
    }
    if (!page.isTruncated || page.lastReturned === undefined) return;
    after = page.lastReturned;
  }
}

async function dropLocalCopies(g: Gateway, objectId: string): Promise<void> {
  g.local?.forget(objectId);
  const { enabled, path } = g.config.cache.local;
  if (enabled) await LocalCache.dropEverywhere(path, [objectId]);
}

/** One object's change; true when something changed, false when it could not be (promotion refused). */
async function apply(g: Gateway, action: TieringAction, rec: ObjectRecord): Promise<boolean | 'unchanged'> {
  switch (action) {
    case 'warm':
      if (rec.hot === 'hot') return 'unchanged';
      return g.reader.promote(rec);
    case 'evict': {
      // The local cache tiers of running gateways (other processes) lose their copy too: an evicted object reads cold.
      await dropLocalCopies(g, rec.objectId);
      if (rec.hot === 'cold') return 'unchanged';
      await g.hot.evict(rec.objectId);
      return true;
    }
    case 'pin':
    case 'unpin': {
      const pin = action === 'pin';
      const changed = rec.pinned !== pin;
      if (changed) await g.meta.setPinned(rec.objectId, pin);
      // A pinned object belongs in the hot tier: pinning a cold one promotes it.
      if (pin && rec.hot !== 'hot') return g.reader.promote(rec);
      return changed ? true : 'unchanged';
    }
  }
}

/**
 * Warm, evict, pin or unpin the objects under a prefix: what `tessera warm|evict|pin|unpin` and the console's
 * actions both run. Throws NoSuchTarget for a missing bucket (or a missing key with `exactKey`).
 */
export async function applyTiering(g: Gateway, action: TieringAction, target: TieringTarget, onProgress?: (p: TieringProgress) => void): Promise<TieringSummary> {
  if (!(await g.meta.getBucket(target.bucket))) throw new NoSuchTarget(`no bucket ${target.bucket}`);
  const p: TieringProgress = { seen: 0, total: 0, changed: 0, failed: 0, bytes: 0 };
  let records: AsyncIterable<ObjectRecord> | ObjectRecord[];
  if (target.exactKey) {
    const rec = await g.meta.getObject(target.bucket, target.prefix);
    if (!rec) throw new NoSuchTarget(`no object ${target.bucket}/${target.prefix}`);
    records = [rec];
    p.total = 1;
  } else {
    records = objectsUnder(g, target.bucket, target.prefix);
    p.total = await g.meta.countObjects(target.bucket);
  }
  for await (const rec of records) {
    p.seen++;
    const outcome = await apply(g, action, rec);
    if (outcome === true) {
      p.changed++;
      p.bytes += rec.size;
    } else if (outcome === false) p.failed++;
    onProgress?.({ ...p });
  }
  p.total = p.seen;
  return { action, ...p };
}
