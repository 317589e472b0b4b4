import { openGateway, type Gateway } from '../gateway/gateway.js';
import { costReport, type CostLine } from '../maintenance/cost.js';
import { takeInventory, type Inventory } from '../maintenance/inventory.js';
import { createLogger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { formatBytes } from '../util/format-bytes.js';
import { Progress, parseCommand } from './args.js';

export interface NodeStatus {
  node: string;
  ok: boolean;
  reason?: string;
  latencyMs: number;
  storedBytes: number;
  capacityBytes?: number;
  freeBytes?: number;
}


function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')).join('\n');
}

async function probeNodes(g: Gateway, storedByNode: Record<string, number>, names: string[]): Promise<NodeStatus[]> {
  return Promise.all(
    names.map(async (name): Promise<NodeStatus> => {
      const node = g.cold.node(name);
      const started = Date.now();
      try {
        if (!node) throw new Error('not configured');
        const h = await node.health(AbortSignal.timeout(5000));
        return {
          node: name,
          ok: h.ok,
          ...(h.reason !== undefined ? { reason: h.reason } : {}),
          latencyMs: Date.now() - started,
          storedBytes: storedByNode[name] ?? 0,
          ...(h.capacityBytes !== undefined ? { capacityBytes: h.capacityBytes } : {}),
          ...(h.freeBytes !== undefined ? { freeBytes: h.freeBytes } : {}),
        };
      } catch (err) {
        return { node: name, ok: false, reason: (err as Error).message, latencyMs: Date.now() - started, storedBytes: storedByNode[name] ?? 0 };
      }
    }),
  );
}

/** Opens the configured gateway's stores (no background work) and walks them once, with a bar on a terminal. */
async function inventoryOf(command: string, argv: string[]) {
  const { loaded, values } = parseCommand(command, argv, { json: { type: 'boolean' } }, { positionals: [0, 0] });
  const config = loaded.config;
  const logger = createLogger(config.log.level === 'info' ? 'warn' : config.log.level);
  const g = await openGateway(config, { logger, metrics: createMetrics(), background: false, reconcile: false });
  return { g, config, json: values.json === true };
}

async function walk(g: Gateway, up: (node: string) => boolean): Promise<Inventory> {
  const total = await g.meta.countObjects();
  const bar = process.stderr.isTTY ? new Progress('reading the store', total) : undefined;
  let seen = 0;
  const inv = await takeInventory(g.meta, up, () => bar?.update(++seen));
  bar?.done(`read ${inv.total.objects} objects`);
  return inv;
}

/** `tessera status [--json]`: nodes, durability, tiers and the repair backlog. */
export async function statusMain(argv: string[]): Promise<number> {
  const { g, config, json } = await inventoryOf('status', argv);
  try {
    const names = config.cold.nodes.map((n) => n.name);
    const nodes = await probeNodes(g, {}, names);
    const upSet = new Set(nodes.filter((n) => n.ok).map((n) => n.node));
    const inv = await walk(g, (n) => upSet.has(n));
    for (const n of nodes) n.storedBytes = inv.storedByNode[n.node] ?? 0;
    const report = {
      nodes,
      durability: { objects: inv.total.objects, ...inv.total.redundancy },
      repairBacklog: await g.meta.repairBacklog(),
      tiers: {
        hot: { driver: config.hot.driver, bytes: await g.meta.hotBytesTotal(), budgetBytes: config.hot.budgetBytes },
      },
      buckets: inv.buckets.map((b) => ({ bucket: b.bucket, objects: b.objects, logicalBytes: b.logicalBytes, storedBytes: b.storedBytes, hotBytes: b.hotBytes })),
    };
    if (json) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    } else {
      const d = report.durability;
      const out = [
        `nodes: ${upSet.size} of ${names.length} answering`,
        table([
          ['node', 'state', 'latency', 'stored', 'free'],
          ...nodes.map((n) => [n.node, n.ok ? 'up' : `DOWN (${n.reason ?? 'no answer'})`, `${n.latencyMs} ms`, formatBytes(n.storedBytes), n.freeBytes !== undefined ? formatBytes(n.freeBytes) : '-']),
        ]),
        '',
        `durability: ${d.objects} objects: ${d.full} at full redundancy, ${d.degraded} degraded, ${d['at-risk']} at risk (one more loss loses data), ${d.lost} unreadable`,
        `repair backlog: ${report.repairBacklog} segments queued`,
        `hot tier (${config.hot.driver}): ${formatBytes(report.tiers.hot.bytes)} of ${formatBytes(report.tiers.hot.budgetBytes)} budget`,
        '',
        table([['bucket', 'objects', 'logical', 'on nodes', 'hot'], ...report.buckets.map((b) => [b.bucket, String(b.objects), formatBytes(b.logicalBytes), formatBytes(b.storedBytes), formatBytes(b.hotBytes)])]),
      ];
      process.stdout.write(out.join('\n') + '\n');
    }
    // Non-zero when data is at risk, so a cron job or a probe can alert on it.
    return inv.total.redundancy['at-risk'] > 0 || inv.total.redundancy.lost > 0 ? 2 : 0;
  } finally {
    await g.close();
  }
}

/** `tessera cost [--json]`: monthly cost per bucket and in total, against 3x replication and all-hot. */
export async function costMain(argv: string[]): Promise<number> {
  const { g, config, json } = await inventoryOf('cost', argv);
  try {
    const inv = await walk(g, () => true);
    const report = costReport(inv, config.prices);
    if (json) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      return 0;
    }
    const money = (v: number): string => `${v.toFixed(2)} ${report.currency}`;
    const row = (l: CostLine): string[] => [l.bucket, formatBytes(l.logicalBytes), formatBytes(l.storedBytes), formatBytes(l.hotBytes), money(l.monthly), money(l.replication3x), money(l.allHot)];
    process.stdout.write(
      [
        table([['bucket', 'logical', 'on nodes', 'hot', 'per month', '3x replicas', 'all hot'], ...report.buckets.map(row), row(report.total)]),
        '',
        `prices per GiB-month (config 'prices'; the defaults are examples, not quotes): nodes ${report.prices.nodePerGiBMonth}, hot tier ${report.prices.hotPerGiBMonth}, local cache ${report.prices.localCachePerGiBMonth} ${report.currency}`,
      ].join('\n') + '\n',
    );
    return 0;
  } finally {
    await g.close();
  }
}
