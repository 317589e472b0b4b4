import type { ColdStore } from '../cold/cold-store.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../util/logger.js';
import type { HotCache } from './hot-cache.js';

/**
 * Deletes what replaced, deleted and aborted objects left behind (shards, record copies, hot blobs), once their grace
 * period is over. The queue lives in the metadata store, so nothing is forgotten across restarts; an item is removed
 * only after every delete succeeded, so a node that is down simply gets its deletes later.
 */
export class GarbageCollector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly meta: MetaStore,
    private readonly cold: ColdStore,
    private readonly hot: HotCache,
    private readonly log: Logger,
  ) {}

  /** Run a pass every `intervalMs`; with `gate`, a pass runs only through it (the cluster-wide "gc" lease). */
  start(intervalMs: number, gate?: (pass: (signal: AbortSignal) => Promise<number>) => Promise<unknown>): void {
    const pass = (signal?: AbortSignal): Promise<number> => this.runOnce(Date.now(), signal);
    this.timer = setInterval(() => void (gate ? gate(pass) : pass()).catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  /** One pass over due items; returns how many were collected. Concurrent calls share one pass. */
  runOnce(now = Date.now(), signal?: AbortSignal): Promise<number> {
    this.running ??= this.collect(now, signal).finally(() => (this.running = undefined));
    return this.running;
  }

  private async collect(now: number, signal?: AbortSignal): Promise<number> {
    let total = 0;
    for (;;) {
      // The lease was lost: stop between batches (another gateway may be collecting now).
      if (signal?.aborted) return total;
      const due = await this.meta.dueGarbage(now, 64);
      if (due.length === 0) return total;
      const done: number[] = [];
      for (const item of due) {
        try {
          await this.cold.deleteManifest(item.manifest);
          // A replaced object's hot copy is keyed by its own object id; a failed completion shares the upload's
          // object id with live parts, so only delete the hot blob when the object id is no longer referenced.
          if (!(await this.meta.getObjectById(item.manifest.objectId))) await this.hot.tier.delete(item.manifest.objectId);
          done.push(item.id);
        } catch (err) {
          this.log.warn({ objectId: item.manifest.objectId, err: (err as Error).message }, 'garbage collection deferred');
        }
      }
      await this.meta.removeGarbage(done);
      total += done.length;
      if (done.length < due.length) return total;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
