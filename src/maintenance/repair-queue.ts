/**
 * Background repair for a running gateway:
 * - heal on read: readers report bad shards; each reported segment is scrubbed and repaired soon after, once
 *   (reports are deduplicated by object and segment, and the queue is bounded so a storm of reports cannot grow it);
 * - a slow sweep: every object is scrubbed and repaired in turn at config.cold.repair.maxBytesPerSecond, with a
 *   pause of config.cold.repair.intervalMs between passes.
 * Reported segments always go before the sweep. One repair runs at a time.
 */
import type { ColdConfig } from '../config/types.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import type { ColdStore } from '../cold/cold-store.js';
import type { SegmentManifest } from '../model/manifest.js';
import { repairObject, type RepairDeps } from './repair.js';
import { sleep } from '../util/abortable-sleep.js';
import { BytePacer } from './scrub.js';

export interface RepairQueueOptions {
  meta: MetaStore;
  cold: ColdStore;
  metrics: Metrics;
  logger: Logger;
  /** config.cold.repair: sweep pause and byte rate. */
  repair: ColdConfig['repair'];
  /** Most distinct segments waiting; further reports are dropped (the sweep finds them later). Default 10 000. */
  maxPending?: number;
}

interface Pending {
  objectId: string;
  /** Position in manifest.segments, or the segment id (resolved against the current manifest when processed). */
  segment: number | string;
}

export class RepairQueue {
  private readonly pending = new Map<string, Pending>();
  private readonly deps: RepairDeps;
  private readonly maxPending: number;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private sweepIntervalMs = 0;
  private sweep: AsyncIterator<{ objectId: string }> | undefined;
  private nextSweepAt = Infinity;
  private pacer: BytePacer;
  /** Reports dropped because the queue was full. */
  dropped = 0;
  /** Segments processed from reports (for tests and status). */
  processed = 0;

  constructor(private readonly opts: RepairQueueOptions) {
    this.deps = { cold: opts.cold, meta: opts.meta, metrics: opts.metrics, log: opts.logger };
    this.maxPending = opts.maxPending ?? 10_000;
    this.pacer = new BytePacer(opts.repair.maxBytesPerSecond, this.abort.signal);
  }

  /**
   * A reader saw a bad shard. `segment` is the segment's position in manifest.segments or its segId; `shard` and
   * `kind` are informational (the whole segment is scrubbed again before anything is rebuilt).
   */
  report(objectId: string, segment: number | string, shard: number, kind: string): void {
    const key = `${objectId}:${segment}`;
    if (this.pending.has(key)) return;
    if (kind === 'slow') return; // a slow node is not a damaged shard
    if (this.pending.size >= this.maxPending) {
      this.dropped++;
      return;
    }
    this.pending.set(key, { objectId, segment });
    this.opts.logger.debug({ objectId, segment, shard, kind }, 'segment queued for repair');
    this.wake?.();
  }

  /** Drop-in for ColdStore.onProblem (src/cold/segment-reader.ts ShardProblemReporter). */
  readonly onProblem = (objectId: string, segment: SegmentManifest, shard: number, kind: string): void => {
    this.report(objectId, segment.segId, shard, kind);
  };

  /** Start processing reports; sweep every object every `intervalMs` (default config.cold.repair.intervalMs; <= 0: no sweep). */
  start(intervalMs: number = this.opts.repair.intervalMs): void {
    if (this.loop) return;
    this.sweepIntervalMs = intervalMs;
    this.nextSweepAt = intervalMs > 0 ? Date.now() + intervalMs : Infinity;
    this.loop = this.run().catch((err: unknown) => {
      this.opts.logger.error({ err: (err as Error).message }, 'repair queue stopped');
    });
  }

  /** Stop after the current repair step; pending reports are forgotten (the sweep finds the damage again). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    this.abort = new AbortController();
    this.pacer = new BytePacer(this.opts.repair.maxBytesPerSecond, this.abort.signal);
  }

  /** Process every pending report now (tests; also usable without start()). */
  async drain(): Promise<void> {
    while (this.pending.size > 0 && !this.abort.signal.aborted) await this.processNextReport();
  }

  get size(): number {
    return this.pending.size;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (this.pending.size > 0) {
          await this.processNextReport();
        } else if (Date.now() >= this.nextSweepAt) {
          await this.sweepStep();
        } else {
          await this.idle(this.nextSweepAt - Date.now());
        }
      } catch (err) {
        if (signal.aborted) return;
        this.opts.logger.warn({ err: (err as Error).message }, 'background repair step failed');
        await sleep(1000, signal, 'resolve');
      }
    }
  }

  /** Waits until the next sweep is due, or until wake() (a new report, stop). */
  private async idle(ms: number): Promise<void> {
    const woken = new AbortController();
    this.wake = () => woken.abort();
    try {
      await sleep(ms, woken.signal, 'resolve');
    } finally {
      this.wake = undefined;
    }
  }

  private async processNextReport(): Promise<void> {
    const [key, item] = this.pending.entries().next().value as [string, Pending];
    try {
      let segments: number[] | undefined;
      if (typeof item.segment === 'number') {
        segments = [item.segment];
      } else {
        const record = await this.opts.meta.getObjectById(item.objectId);
        const i = record?.manifest.segments.findIndex((s) => s.segId === item.segment) ?? -1;
        // The object was replaced or the segment repaired away meanwhile: nothing to do.
        if (i < 0) return;
        segments = [i];
      }
      await repairObject(this.deps, item.objectId, { segments, pacer: this.pacer, signal: this.abort.signal });
      this.processed++;
    } finally {
      this.pending.delete(key);
    }
  }

  /** Scrub and repair the next object of the sweep; when the pass ends, schedule the next one. */
  private async sweepStep(): Promise<void> {
    this.sweep ??= this.opts.meta.iterateManifests()[Symbol.asyncIterator]();
    const next = await this.sweep.next();
    if (next.done === true) {
      this.sweep = undefined;
      this.nextSweepAt = this.sweepIntervalMs > 0 ? Date.now() + this.sweepIntervalMs : Infinity;
      return;
    }
    // Parts of in-progress uploads are skipped: repairObject finds no committed object for them.
    await repairObject(this.deps, next.value.objectId, { pacer: this.pacer, signal: this.abort.signal });
  }
}
