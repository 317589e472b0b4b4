import type { Readable } from 'node:stream';
import type { HotTier } from '../hot/driver.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';

/**
 * The hot tier as a cache: a hard byte budget enforced at admission, least-recently-used eviction of unpinned
 * objects, and read bookkeeping. Which objects are hot lives in the metadata store (so it survives restarts and can
 * be shared); admission is serialized in-process so one gateway never overshoots its budget. Several gateways over
 * one store may transiently overshoot by their concurrent admissions (documented in ARCHITECTURE.md).
 */
export class HotCache {
  private admission: Promise<unknown> = Promise.resolve();
  private readonly touched = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly tier: HotTier,
    private readonly meta: MetaStore,
    readonly budgetBytes: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.flushTimer = setInterval(() => void this.flushTouches(), 1000);
    this.flushTimer.unref();
  }

  /** Runs `fn` after every earlier admission has finished. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.admission.then(fn, fn);
    this.admission = run.catch(() => undefined);
    return run;
  }

  /**
   * Reserve `bytes` for `objectId`, evicting least-recently-used objects as needed. False when the object can never
   * fit (larger than the whole budget, or pinned objects fill it) or is already hot/promoting.
   */
  admit(objectId: string, bytes: number): Promise<boolean> {
    return this.serialize(async () => {
      if (bytes > this.budgetBytes) return false;
      let used = await this.meta.hotBytesTotal();
      while (used + bytes > this.budgetBytes) {
        const victims = await this.meta.evictionCandidates(16);
        const candidates = victims.filter((v) => v.objectId !== objectId);
        if (candidates.length === 0) return false;
        for (const v of candidates) {
          await this.evictNow(v.objectId);
          used -= v.hotBytes;
          if (used + bytes <= this.budgetBytes) break;
        }
        used = await this.meta.hotBytesTotal();
      }
      // Only a cold object can be admitted: a second promotion of the same object (here or in another gateway) is
      // refused instead of sharing, and later clobbering, the first one's blob.
      const marked = await this.meta.setHotState(objectId, 'promoting', bytes, 'cold');
      if (marked) this.metrics.hotBytes.set(used + bytes);
      return marked;
    });
  }

  /** The blob is fully written: it may be served from now on. False when the object went away meanwhile. */
  async committed(objectId: string, bytes: number): Promise<boolean> {
    const ok = await this.meta.setHotState(objectId, 'hot', bytes, 'promoting');
    // The object was deleted or replaced while promoting: its blob is garbage.
    if (!ok) await this.tier.delete(objectId).catch(() => undefined);
    return ok;
  }

  /** A promotion failed: forget the reservation and any partial blob. */
  async failed(objectId: string): Promise<void> {
    await this.tier.delete(objectId).catch(() => undefined);
    await this.meta.setHotState(objectId, 'cold', 0, 'promoting');
  }

  /** Demote one object (the cold copy stays). */
  evict(objectId: string): Promise<void> {
    return this.serialize(() => this.evictNow(objectId));
  }

  private async evictNow(objectId: string): Promise<void> {
    // Mark cold first: a reader that sees 'cold' never opens a blob that is about to vanish. Only a hot object is
    // evicted; an in-flight promotion keeps its blob.
    if (!(await this.meta.setHotState(objectId, 'cold', 0, 'hot'))) return;
    await this.tier.delete(objectId);
    this.metrics.evictions.inc();
  }

  /** Read from the hot tier; null on a miss or on any hot-tier failure (the caller falls back to the cold tier). */
  async read(objectId: string, range?: { offset: number; length: number }): Promise<Readable | null> {
    try {
      const stream = await this.tier.get(objectId, range);
      if (stream === null) {
        // Metadata said hot but the blob is gone (lost disk, external deletion): treat as cold from now on.
        this.log.warn({ objectId }, 'hot tier blob missing; marking cold');
        await this.meta.setHotState(objectId, 'cold', 0, 'hot');
        return null;
      }
      return stream;
    } catch (err) {
      this.metrics.hotErrors.inc({ op: 'get' });
      this.log.warn({ objectId, err: (err as Error).message }, 'hot tier read failed; falling back to cold tier');
      return null;
    }
  }

  touch(objectId: string): void {
    this.touched.set(objectId, Date.now());
  }

  private async flushTouches(): Promise<void> {
    if (this.touched.size === 0) return;
    const batch = [...this.touched];
    this.touched.clear();
    // One transaction per flush rather than one commit per object read in the last second.
    await this.meta.touchMany(batch).catch(() => undefined);
  }

  /**
   * At start: blobs the store does not know are removed; objects the store thinks hot whose blob is missing become
   * cold; interrupted promotions are rolled back.
   */
  async reconcile(): Promise<{ removedBlobs: number; markedCold: number }> {
    const present = new Map<string, number>();
    for await (const blob of this.tier.list()) present.set(blob.id, blob.size);
    const known = new Set<string>();
    let markedCold = 0;
    for await (const entry of this.meta.listHot()) {
      known.add(entry.objectId);
      const size = present.get(entry.objectId);
      if (entry.state === 'promoting' || size === undefined || size !== entry.hotBytes) {
        await this.meta.setHotState(entry.objectId, 'cold', 0);
        markedCold++;
        known.delete(entry.objectId);
      }
    }
    let removedBlobs = 0;
    for (const id of present.keys()) {
      if (!known.has(id)) {
        await this.tier.delete(id).catch(() => undefined);
        removedBlobs++;
      }
    }
    this.metrics.hotBytes.set(await this.meta.hotBytesTotal());
    return { removedBlobs, markedCold };
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    await this.flushTouches();
    await this.admission;
  }
}
