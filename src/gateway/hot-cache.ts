import type { Readable } from 'node:stream';
import type { HotTier } from '../hot/driver.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { AccessFrequency } from './access-frequency.js';

/** A promotion still 'promoting' after this long belongs to a gateway that died; its reservation is released. */
export const STALE_PROMOTION_MS = 10 * 60_000;

/**
 * The hot tier as a cache: a hard byte budget enforced at admission, least-recently-used eviction of unpinned
 * objects, and read bookkeeping. Which objects are hot lives in the metadata store (so it survives restarts and is
 * shared): the budget is one budget for every gateway on the store, reserved atomically by MetaStore.reserveHot, and
 * every state change is a compare-and-set, so gateways never undo each other's promotions or evictions. Admission is
 * also serialized in-process, which only saves contention.
 */
export class HotCache {
  private admission: Promise<unknown> = Promise.resolve();
  private readonly touched = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** This gateway's reads, for the admission filter (another gateway's reads count there). */
  readonly frequency = new AccessFrequency();

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
   * fit (larger than the whole budget, or pinned objects fill it), is already hot/promoting, or (unless `forced`: an
   * operator's warm, a pin, RestoreObject, write-through) would displace objects this gateway read nearly as often
   * (AccessFrequency.admits: the newcomer needs a lead of two reads).
   */
  admit(objectId: string, bytes: number, forced = false): Promise<boolean> {
    return this.serialize(async () => {
      if (bytes > this.budgetBytes) return this.refused();
      for (;;) {
        const { outcome, usedBytes } = await this.meta.reserveHot(objectId, bytes, this.budgetBytes, Date.now());
        // Only a cold object can be admitted: a second promotion of the same object (here or in another gateway) is
        // refused instead of sharing, and later clobbering, the first one's blob.
        if (outcome === 'not-cold') return false;
        if (outcome === 'reserved') {
          this.metrics.hotBytes.set(usedBytes + bytes);
          return true;
        }
        if (!(await this.evictFor(objectId, usedBytes + bytes - this.budgetBytes, forced))) return this.refused();
      }
    });
  }

  private refused(): false {
    this.metrics.hotRefusals.inc();
    return false;
  }

  /**
   * Evict least-recently-used objects worth at least `excess` bytes (as far as this gateway's view goes: another
   * gateway may evict or admit meanwhile, so the caller re-checks the budget). False when nothing is evictable, or
   * when the admission filter prefers the victims (unless `forced`).
   */
  private async evictFor(objectId: string, excess: number, forced = true): Promise<boolean> {
    const candidates = (await this.meta.evictionCandidates(16)).filter((v) => v.objectId !== objectId);
    if (candidates.length === 0) return false;
    const victims = [];
    let freed = 0;
    for (const v of candidates) {
      victims.push(v);
      freed += v.hotBytes;
      if (freed >= excess) break;
    }
    if (!forced && !this.frequency.admits(objectId, Math.max(...victims.map((v) => this.frequency.of(v.objectId))))) return false;
    for (const v of victims) await this.evictNow(v.objectId);
    return true;
  }

  /**
   * Bring the hot tier back under its budget (it was lowered, or objects grew), evicting least recently used ones
   * first; for the cluster's hot-maintenance job. Returns the bytes in use afterwards.
   */
  async enforceBudget(signal?: AbortSignal): Promise<number> {
    return this.serialize(async () => {
      let used = await this.meta.hotBytesTotal();
      while (used > this.budgetBytes && !signal?.aborted) {
        if (!(await this.evictFor('', used - this.budgetBytes))) break;
        used = await this.meta.hotBytesTotal();
      }
      this.metrics.hotBytes.set(used);
      return used;
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

  /** Blobs not known to the store at the previous reconcile: removed if still unknown at the next one. */
  private suspects = new Set<string>();

  /**
   * Bring the hot tier and the store together while other gateways keep working on both: promotions older than
   * STALE_PROMOTION_MS are rolled back (their gateway died); objects the store thinks hot whose blob is missing or
   * of the wrong size become cold (compare-and-set, so a concurrent eviction or promotion is not undone); blobs the
   * store does not know are removed when they were unknown at the previous reconcile as well (a write-through blob
   * exists briefly before its PUT commits). Runs in the cluster's hot-maintenance job and once at start.
   */
  async reconcile(signal?: AbortSignal): Promise<{ removedBlobs: number; markedCold: number }> {
    let markedCold = 0;
    let removedBlobs = 0;
    for (const id of await this.meta.resetStalePromotions(Date.now() - STALE_PROMOTION_MS)) {
      await this.tier.delete(id).catch(() => undefined);
      markedCold++;
    }
    const present = new Map<string, number>();
    for await (const blob of this.tier.list()) {
      if (signal?.aborted) return { removedBlobs, markedCold };
      present.set(blob.id, blob.size);
    }
    const known = new Set<string>();
    for await (const entry of this.meta.listHot()) {
      known.add(entry.objectId);
      // An inline object is 'hot' with nothing in the tier (hotBytes 0): its record is its copy.
      if (entry.state !== 'hot' || entry.hotBytes === 0) continue;
      const size = present.get(entry.objectId);
      if (size === undefined || size !== entry.hotBytes) {
        if (await this.meta.setHotState(entry.objectId, 'cold', 0, 'hot')) markedCold++;
        // A wrong-size blob is no longer referenced: drop it now.
        if (size !== undefined) await this.tier.delete(entry.objectId).catch(() => undefined);
      }
    }
    const suspects = new Set<string>();
    for (const id of present.keys()) {
      if (known.has(id)) continue;
      if (!this.suspects.has(id)) {
        suspects.add(id);
        continue;
      }
      // Still unknown: unless its object was admitted in between, it is garbage.
      const record = await this.meta.getObjectById(id);
      if (record && record.hot !== 'cold') continue;
      await this.tier.delete(id).catch(() => undefined);
      removedBlobs++;
    }
    this.suspects = suspects;
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
