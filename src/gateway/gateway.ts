import path from 'node:path';
import { ColdStore } from '../cold/cold-store.js';
import { Keyring } from '../cold/keys.js';
import { RepairQueue } from '../maintenance/repair-queue.js';
import { createNodeDriver } from '../cold/nodes/factory.js';
import type { TesseraConfig } from '../config/types.js';
import type { HotTier } from '../hot/driver.js';
import { FsHotTier } from '../hot/fs.js';
import { LeasedJob, newHolderId } from '../meta/lease.js';
import { openMetaStore } from '../meta/open.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { GarbageCollector } from './garbage.js';
import { HotCache } from './hot-cache.js';
import { LocalCache } from './local-cache.js';
import { ReadAhead } from './read-ahead.js';
import { ObjectReader } from './object-reader.js';
import { TesseraObjectService } from './object-service.js';
import { runLifecycle } from './lifecycle.js';

/** Everything one gateway process runs, for the S3 server and the CLI's maintenance commands. */
export interface Gateway {
  config: TesseraConfig;
  service: TesseraObjectService;
  meta: MetaStore;
  cold: ColdStore;
  hot: HotCache;
  /** The local cache tier of this process (serving processes only). */
  local?: LocalCache;
  reader: ObjectReader;
  keyring: Keyring;
  garbage: GarbageCollector;
  repair: RepairQueue;
  /** This process's name in the store's leases and claims. */
  holder: string;
  close(): Promise<void>;
}

/** How often the cluster-wide background jobs try their lease and run a step (tests and chaos runs shorten them). */
export interface JobIntervals {
  gcMs: number;
  /** Hot budget enforcement. */
  hotBudgetMs: number;
  /** Hot tier / store reconciliation (lists the whole hot tier). */
  hotReconcileMs: number;
  /** Buckets' lifecycle rules. */
  lifecycleMs: number;
}

const DEFAULT_JOB_INTERVALS: JobIntervals = { gcMs: 5_000, hotBudgetMs: 30_000, hotReconcileMs: 5 * 60_000, lifecycleMs: 15 * 60_000 };

export async function openHotTier(config: TesseraConfig): Promise<HotTier> {
  if (config.hot.driver === 's3') {
    if (!config.hot.s3) throw new Error('hot.s3 is required when hot.driver is s3');
    // Loaded only when configured (the AWS SDK is large).
    const { S3HotTier } = await import('../hot/s3.js');
    return new S3HotTier(config.hot.s3);
  }
  return FsHotTier.open(config.hot.fs.path);
}

export interface OpenOptions {
  logger: Logger;
  metrics: Metrics;
  /** Run background work (garbage collection, repair). The CLI's one-shot commands turn it off. */
  background?: boolean;
  /** Reconcile the hot tier with the store at start (default true; skipped while another gateway holds the job). */
  reconcile?: boolean;
  /** Open the local cache tier when configured (default: with `background`; a one-shot command has no use for it). */
  localCache?: boolean;
  /** Gateway processes sharing this machine's local cache directory (`--workers`): each gets its share of the budget. */
  processesPerMachine?: number;
  jobIntervals?: Partial<JobIntervals>;
}

export async function openGateway(config: TesseraConfig, opts: OpenOptions): Promise<Gateway> {
  const { logger, metrics } = opts;
  const meta = await openMetaStore(config.meta);
  const keyring = new Keyring(config.keys.masterKeys);
  const master = config.keys.masterKeys[0];
  if (!master) throw new Error('no master key configured');
  const drivers = await Promise.all(config.cold.nodes.map((n) => createNodeDriver(n)));
  const cold = new ColdStore(drivers, config.cold, master, metrics, logger);
  const tier = await openHotTier(config);
  const hot = new HotCache(tier, meta, config.hot.budgetBytes, metrics, logger);
  const holder = newHolderId();
  metrics.gatewayInfo.set({ process: holder }, 1);
  const intervals = { ...DEFAULT_JOB_INTERVALS, ...opts.jobIntervals };
  // Background work that must run once per cluster, whatever the number of gateways on the store: each job runs under
  // its lease in the store (a killed holder is replaced within the lease time).
  const gcJob = new LeasedJob(meta, 'gc', holder, logger);
  const hotJob = new LeasedJob(meta, 'hot-maintenance', holder, logger);
  const reconcile = (signal?: AbortSignal): Promise<void> =>
    hot.reconcile(signal).then((r) => {
      if (r.removedBlobs || r.markedCold) logger.info(r, 'hot tier reconciled');
    });
  if (opts.reconcile !== false) {
    try {
      await hotJob.run((signal) => reconcile(signal));
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'hot tier reconciliation failed; continuing (reads fall back to the cold tier)');
    }
  }
  const localConfig = config.cache.local;
  const share = Math.floor(localConfig.budgetBytes / (opts.processesPerMachine ?? 1));
  const isLive = async (id: string): Promise<boolean> => (await meta.getObjectById(id)) !== null;
  const serving = opts.localCache ?? opts.background !== false;
  const local = localConfig.enabled && serving ? await LocalCache.open(localConfig.path, share, metrics, logger, isLive) : undefined;
  // Without a local cache, promotions that find every hot-tier writer busy wait in a spool in its directory.
  const spool = !local && serving ? await LocalCache.open(path.join(localConfig.path, 'spool'), share, metrics, logger, isLive, { spool: true }) : undefined;
  const reader = new ObjectReader(hot, cold, meta, keyring, config.hot, metrics, logger, local, spool);
  const garbage = new GarbageCollector(meta, cold, hot, logger);
  const repair = new RepairQueue({ meta, cold, metrics, logger, repair: config.cold.repair, holder });
  // Heal on read: a reader that met a missing or corrupt shard queues its segment for repair.
  cold.onProblem = (objectId, segment, shard, kind) => repair.report(objectId, segment.segId, shard, kind);
  const timers: NodeJS.Timeout[] = [];
  if (opts.background !== false) {
    cold.startProbing();
    garbage.start(intervals.gcMs, (pass) => gcJob.run(pass));
    repair.start();
    let lastReconcile = Date.now();
    const hotTick = (): Promise<unknown> =>
      hotJob.run(async (signal) => {
        await hot.enforceBudget(signal);
        if (Date.now() - lastReconcile >= intervals.hotReconcileMs) {
          lastReconcile = Date.now();
          await reconcile(signal);
        }
      });
    const t = setInterval(() => void hotTick().catch((err: Error) => logger.warn({ err: err.message }, 'hot maintenance failed')), intervals.hotBudgetMs);
    t.unref();
    timers.push(t);
  }
  const readAhead =
    local && localConfig.readAhead > 0
      ? new ReadAhead(
          {
            next: async (bucket, prefix, after, n) => {
              const page = await meta.listObjects(bucket, { prefix, after, maxKeys: n });
              const records = await Promise.all(page.objects.map((o) => meta.getObject(bucket, o.key)));
              return records.filter((r) => r !== null);
            },
            cached: (r) => reader.locallyCached(r),
            fetch: (r, signal) => reader.prefetch(r, signal),
            onOutcome: (outcome) => metrics.readAhead.inc({ outcome }),
          },
          { depth: localConfig.readAhead, budgetBytes: Math.min(localConfig.readAheadBytes, Math.floor(share / 2)) },
        )
      : undefined;
  const service = new TesseraObjectService({ config, meta, cold, reader, keyring, logger, metrics, ...(readAhead ? { readAhead } : {}) });
  const lifecycleJob = new LeasedJob(meta, 'lifecycle', holder, logger);
  if (opts.background !== false) {
    const tick = (): Promise<unknown> =>
      lifecycleJob.run(async (signal) => {
        const s = await runLifecycle(service, Date.now(), logger, signal);
        if (s.expired + s.noncurrentDeleted + s.markersRemoved + s.uploadsAborted + s.locked + s.failed > 0) logger.info(s, 'lifecycle rules applied');
      });
    const t = setInterval(() => void tick().catch((err: Error) => logger.warn({ err: err.message }, 'lifecycle job failed')), intervals.lifecycleMs);
    t.unref();
    timers.push(t);
  }
  return {
    config,
    service,
    meta,
    cold,
    hot,
    ...(local ? { local } : {}),
    reader,
    keyring,
    garbage,
    repair,
    holder,
    async close() {
      for (const t of timers) clearInterval(t);
      readAhead?.close();
      await service.close();
      await garbage.stop();
      await repair.stop();
      await gcJob.release();
      await hotJob.release();
      await lifecycleJob.release();
      await reader.drain();
      await hot.close();
      await local?.close();
      await spool?.close();
      await tier.close();
      await cold.close();
      await meta.close();
    },
  };
}
