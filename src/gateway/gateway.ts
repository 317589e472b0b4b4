import { ColdStore } from '../cold/cold-store.js';
import { Keyring } from '../cold/keys.js';
import { RepairQueue } from '../maintenance/repair-queue.js';
import { createNodeDriver } from '../cold/nodes/factory.js';
import type { TesseraConfig } from '../config/types.js';
import type { HotTier } from '../hot/driver.js';
import { FsHotTier } from '../hot/fs.js';
import { openMetaStore } from '../meta/open.js';
import type { MetaStore } from '../meta/store.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { GarbageCollector } from './garbage.js';
import { HotCache } from './hot-cache.js';
import { ObjectReader } from './object-reader.js';
import { TesseraObjectService } from './object-service.js';

/** Everything one gateway process runs, for the S3 server and the CLI's maintenance commands. */
export interface Gateway {
  service: TesseraObjectService;
  meta: MetaStore;
  cold: ColdStore;
  hot: HotCache;
  reader: ObjectReader;
  keyring: Keyring;
  garbage: GarbageCollector;
  repair: RepairQueue;
  close(): Promise<void>;
}

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
  /** Reconcile the hot tier with the store at start (default true). */
  reconcile?: boolean;
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
  if (opts.reconcile !== false) {
    try {
      const r = await hot.reconcile();
      if (r.removedBlobs || r.markedCold) logger.info(r, 'hot tier reconciled');
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'hot tier reconciliation failed; continuing (reads fall back to the cold tier)');
    }
  }
  const reader = new ObjectReader(hot, cold, meta, keyring, config.hot, metrics, logger);
  const garbage = new GarbageCollector(meta, cold, hot, logger);
  const repair = new RepairQueue({ meta, cold, metrics, logger, repair: config.cold.repair });
  // Heal on read: a reader that met a missing or corrupt shard queues its segment for repair.
  cold.onProblem = (objectId, segment, shard, kind) => repair.report(objectId, segment.segId, shard, kind);
  if (opts.background !== false) {
    cold.startProbing();
    garbage.start(5_000);
    repair.start();
  }
  const service = new TesseraObjectService({ config, meta, cold, reader, keyring, logger, metrics });
  return {
    service,
    meta,
    cold,
    hot,
    reader,
    keyring,
    garbage,
    repair,
    async close() {
      await garbage.stop();
      await repair.stop();
      await reader.drain();
      await hot.close();
      await tier.close();
      await cold.close();
      await meta.close();
    },
  };
}
