/**
 * Background repair for a running gateway:
 * - heal on read: readers report bad shards; each reported segment goes to the store's repair queue (shared by every
 *   gateway, deduplicated by object and segment, bounded), and is scrubbed and repaired soon after by whichever
 *   gateway claims it; a claim that expires (its gateway died) is handed out again;
 * - a slow sweep: every object and every part of an in-progress upload is scrubbed and repaired in turn at
 *   config.cold.repair.maxBytesPerSecond, with a pause of config.cold.repair.intervalMs between passes. The sweep
 *   runs under the cluster-wide lease "repair-sweep", so of many gateways only one sweeps at a time.
 * Reported segments always go before the sweep. One repair runs at a time in a process.
 */
import type { ColdConfig } from '../config/types.js';
import { LeasedJob, newHolderId } from '../meta/lease.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import type { ColdStore } from '../cold/cold-store.js';
import type { SegmentManifest } from '../model/manifest.js';
import { repairObject, repairPart, type RepairDeps } from './repair.js';
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
  /** This process's name in leases and claims (default: a fresh one). */
  holder?: string;
}

/** How long a claimed report stays ours: a gateway killed mid-repair has its segments repaired by another after this. */
const CLAIM_MS = 120_000;
/** How often an idle gateway looks for reports queued by others (and claims left by dead gateways). */
const POLL_MS = 2_000;
/** Held (as a cluster-wide timer) for config.cold.repair.intervalMs after a sweep pass ends. */
const REST_LEASE = 'repair-sweep-rest';
/** Objects per leased sweep step (each step renews the lease and is logged). */
const SWEEP_STEP_OBJECTS = 32;

interface Pending {
  objectId: string;
  /** Position in manifest.segments, or the segment id (resolved against the current manifest when processed). */
  segment: number | string;
}

type SweepItem = { objectId: string; part?: { uploadId: string; partNumber: number } };

export class RepairQueue {
  private readonly pending = new Map<string, Pending>();
  private readonly deps: RepairDeps;
  private readonly maxPending: number;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private sweepIntervalMs = 0;
  private sweep: AsyncIterator<SweepItem> | undefined;
  private readonly holder: string;
  private readonly sweepLease: LeasedJob;
  private nextSweepAt = Infinity;
  private pacer: BytePacer;
  /** Reports dropped because the queue was full. */
  dropped = 0;
  /** Segments processed from reports (for tests and status). */
  processed = 0;
  /** Objects and parts the sweep has visited in this process. */
  swept = 0;

  constructor(private readonly opts: RepairQueueOptions) {
    this.deps = { cold: opts.cold, meta: opts.meta, metrics: opts.metrics, log: opts.logger };
    this.maxPending = opts.maxPending ?? 10_000;
    this.pacer = new BytePacer(opts.repair.maxBytesPerSecond, this.abort.signal);
    this.holder = opts.holder ?? newHolderId();
    this.sweepLease = new LeasedJob(opts.meta, 'repair-sweep', this.holder, opts.logger);
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

  /** Stop after the current repair step; reports not yet handed to the store are forgotten (the sweep finds them again). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.loop;
    await this.sweepLease.release();
    this.loop = undefined;
    this.abort = new AbortController();
    this.pacer = new BytePacer(this.opts.repair.maxBytesPerSecond, this.abort.signal);
  }

  /** Process every pending report now, and every one queued in the store (tests; also usable without start()). */
  async drain(): Promise<void> {
    while (!this.abort.signal.aborted && (await this.processQueued()) > 0);
  }

  get size(): number {
    return this.pending.size;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if ((await this.processQueued()) > 0) continue;
        if (Date.now() >= this.nextSweepAt) {
          await this.sweepStep();
        } else {
          await this.idle(Math.min(POLL_MS, this.nextSweepAt - Date.now()));
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

  /** Hand local reports to the store, then claim and process a batch; returns how many were processed. */
  private async processQueued(): Promise<number> {
    for (const [key, item] of [...this.pending]) {
      if (typeof item.segment === 'number') {
        // A position, not an id: resolve it now against the current manifest (the queue holds segment ids).
        const record = await this.opts.meta.getObjectById(item.objectId);
        const segId = record?.manifest.segments[item.segment]?.segId;
        if (segId !== undefined && !(await this.opts.meta.queueRepair(item.objectId, segId, this.maxPending))) this.dropped++;
      } else if (!(await this.opts.meta.queueRepair(item.objectId, item.segment, this.maxPending))) {
        this.dropped++;
      }
      this.pending.delete(key);
    }
    const claimed = await this.opts.meta.claimRepairs(this.holder, 8, CLAIM_MS);
    for (const item of claimed) {
      if (this.abort.signal.aborted) break;
      try {
        await this.repairReported(item.objectId, item.segId);
      } finally {
        await this.opts.meta.finishRepair(item.id, this.holder);
      }
    }
    return claimed.length;
  }

  private async repairReported(objectId: string, segId: string): Promise<void> {
    const record = await this.opts.meta.getObjectById(objectId);
    const i = record?.manifest.segments.findIndex((s) => s.segId === segId) ?? -1;
    // The object was replaced or the segment repaired away meanwhile (or it is a part: the sweep covers parts).
    if (i < 0) return;
    await repairObject(this.deps, objectId, { segments: [i], pacer: this.pacer, signal: this.abort.signal });
    this.processed++;
  }

  /** Scrub and repair the next objects of the sweep under the sweep lease; when the pass ends, schedule the next one. */
  private async sweepStep(): Promise<void> {
    const ran = await this.sweepLease.run(async (signal) => {
      if (this.sweep === undefined) {
        // The pause between passes is the cluster's, not this process's: a pass that ended in another gateway (the
        // lease moved since) holds the "rest" lease for the interval. Taken under another holder name, it succeeds
        // only once that rest has expired.
        if (!(await this.opts.meta.acquireLease(REST_LEASE, `start:${this.holder}`, 1))) {
          this.nextSweepAt = Date.now() + Math.min(this.sweepIntervalMs, 15_000);
          return;
        }
        this.sweep = this.opts.meta.iterateManifests()[Symbol.asyncIterator]();
      }
      for (let n = 0; n < SWEEP_STEP_OBJECTS && !signal.aborted; n++) {
        const next = await this.sweep.next();
        if (next.done === true) {
          this.sweep = undefined;
          this.nextSweepAt = this.sweepIntervalMs > 0 ? Date.now() + this.sweepIntervalMs : Infinity;
          if (this.sweepIntervalMs > 0) await this.opts.meta.acquireLease(REST_LEASE, `rest:${this.holder}`, this.sweepIntervalMs);
          return;
        }
        const item: SweepItem = next.value;
        const o = { pacer: this.pacer, signal: this.abort.signal };
        if (item.part) await repairPart(this.deps, { objectId: item.objectId, ...item.part }, o);
        else await repairObject(this.deps, item.objectId, o);
        this.swept++;
      }
    }, this.abort.signal);
    if (ran === undefined) {
      // Another gateway sweeps: look again after a lease time (it may die), from the start of a fresh pass.
      this.sweep = undefined;
      this.nextSweepAt = Date.now() + 15_000;
    }
  }
}
