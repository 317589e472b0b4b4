import type { PricesConfig } from '../config/types.js';
import type { Inventory } from './inventory.js';

const GiB = 2 ** 30;

export interface CostLine {
  bucket: string;
  logicalBytes: number;
  storedBytes: number;
  hotBytes: number;
  localCacheBytes: number;
  /** Monthly, in prices.currency: the nodes' share plus the hot tier's (and the local cache's). */
  monthly: number;
  /** The same logical bytes kept as 3 full replicas on nodes at the default node price. */
  replication3x: number;
  /** The same logical bytes kept entirely in the hot tier. */
  allHot: number;
}

export interface CostReport {
  currency: string;
  prices: PricesConfig;
  buckets: CostLine[];
  total: CostLine;
}

/**
 * Monthly cost per bucket and in total from the inventory and the configured prices. A bucket's node cost uses the
 * average price of the nodes weighted by where the bytes are (shards are spread over all nodes alike); the total uses
 * each node's own bytes and price exactly.
 */
export function costReport(inv: Inventory, prices: PricesConfig): CostReport {
  const nodePrice = (name: string): number => prices.nodes[name] ?? prices.nodePerGiBMonth;
  const nodeBytes = Object.values(inv.storedByNode).reduce((a, b) => a + b, 0);
  const nodeCost = Object.entries(inv.storedByNode).reduce((sum, [name, bytes]) => sum + (bytes / GiB) * nodePrice(name), 0);
  const perStoredByte = nodeBytes > 0 ? nodeCost / nodeBytes : prices.nodePerGiBMonth / GiB;
  const line = (bucket: string, b: { logicalBytes: number; storedBytes: number; hotBytes: number }): CostLine => ({
    bucket,
    logicalBytes: b.logicalBytes,
    storedBytes: b.storedBytes,
    hotBytes: b.hotBytes,
    // No local cache tier yet: its bytes are 0 and its price is there for when it comes.
    localCacheBytes: 0,
    monthly: b.storedBytes * perStoredByte + (b.hotBytes / GiB) * prices.hotPerGiBMonth,
    replication3x: ((3 * b.logicalBytes) / GiB) * prices.nodePerGiBMonth,
    allHot: (b.logicalBytes / GiB) * prices.hotPerGiBMonth,
  });
  return {
    currency: prices.currency,
    prices,
    buckets: inv.buckets.map((b) => line(b.bucket, b)),
    total: line('(total)', inv.total),
  };
}
