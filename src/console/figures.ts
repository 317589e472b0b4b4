import type { BreakerState, LatencySummary } from '../cold/nodes/breaker.js';
import type { TesseraConfig } from '../config/types.js';
import type { Gateway } from '../gateway/gateway.js';
import { costReport, type CostReport } from '../maintenance/cost.js';
import { takeInventory, type Inventory } from '../maintenance/inventory.js';
import { lastScrub, type ScrubRecord } from '../maintenance/scrub-record.js';

export interface NodeFigure {
  name: string;
  kind: string;
  ok: boolean;
  reason?: string;
  circuit: BreakerState;
  latency: LatencySummary;
  /** The health call just made. */
  probeMs: number;
  storedBytes: number;
  capacityBytes?: number;
  freeBytes?: number;
  /** Calls that failed as "the node is not there", and calls the open circuit refused, since this gateway started. */
  failures: number;
  rejected: number;
  opens: number;
}

export interface InventoryFigure {
  inventory: Inventory;
  /** When the walk finished. */
  at: number;
  nodesUp: number;
  nodesTotal: number;
}

/** Node probes are cheap: at most this old. The inventory walks every manifest: reused for this long. */
const NODES_MAX_AGE_MS = 2_000;
const INVENTORY_MAX_AGE_MS = 10_000;
const PROBE_TIMEOUT_MS = 3_000;

/** Caches one in-flight or recent result; `invalidate` makes the next call compute anew. */
class Recent<T> {
  private value: { at: number; p: Promise<T> } | undefined;
  constructor(
    private readonly maxAgeMs: number,
    private readonly compute: () => Promise<T>,
  ) {}
  get(): Promise<T> {
    const now = Date.now();
    if (!this.value || now - this.value.at > this.maxAgeMs) {
      const p = this.compute();
      this.value = { at: now, p };
      p.catch(() => {
        if (this.value?.p === p) this.value = undefined;
      });
    }
    return this.value.p;
  }
  invalidate(): void {
    this.value = undefined;
  }
}

/**
 * What the console's pages show, read from the gateway's own stores and nodes: the same inventory and cost code as
 * `tessera status` and `tessera cost`.
 */
export class ConsoleFigures {
  private readonly nodesCache: Recent<NodeFigure[]>;
  private readonly inventoryCache: Recent<InventoryFigure>;

  constructor(
    private readonly g: Gateway,
    private readonly config: TesseraConfig,
  ) {
    this.nodesCache = new Recent(NODES_MAX_AGE_MS, () => this.probeNodes());
    this.inventoryCache = new Recent(INVENTORY_MAX_AGE_MS, () => this.walk());
  }

  nodes(): Promise<NodeFigure[]> {
    return this.nodesCache.get();
  }

  inventory(): Promise<InventoryFigure> {
    return this.inventoryCache.get();
  }

  /** After an action: the next page shows its effect. */
  invalidate(): void {
    this.nodesCache.invalidate();
    this.inventoryCache.invalidate();
  }

  async cost(): Promise<CostReport> {
    return costReport((await this.inventory()).inventory, this.config.prices);
  }

  async hotTier(): Promise<{ driver: string; bytes: number; budgetBytes: number }> {
    return { driver: this.config.hot.driver, bytes: await this.g.meta.hotBytesTotal(), budgetBytes: this.config.hot.budgetBytes };
  }

  repairBacklog(): Promise<number> {
    return this.g.meta.repairBacklog();
  }

  lastScrub(): ScrubRecord | undefined {
    return lastScrub(this.config.dataDir);
  }

  private async probeNodes(): Promise<NodeFigure[]> {
    const stored = (await this.inventoryCache.get().catch(() => undefined))?.inventory.storedByNode;
    return this.probe(stored ?? {});
  }

  private async probe(storedByNode: Record<string, number>): Promise<NodeFigure[]> {
    return Promise.all(
      [...this.g.cold.nodes.values()].map(async (node): Promise<NodeFigure> => {
        const started = performance.now();
        const health = await node.health(AbortSignal.timeout(PROBE_TIMEOUT_MS)).catch((err: unknown) => ({ ok: false, reason: err instanceof Error ? err.message : 'no answer' }) as const);
        const c = node.counters();
        return {
          name: node.name,
          kind: node.kind,
          ok: health.ok,
          ...(health.reason !== undefined ? { reason: health.reason } : {}),
          circuit: c.state,
          latency: node.latency(),
          probeMs: performance.now() - started,
          storedBytes: storedByNode[node.name] ?? 0,
          ...('capacityBytes' in health && health.capacityBytes !== undefined ? { capacityBytes: health.capacityBytes } : {}),
          ...('freeBytes' in health && health.freeBytes !== undefined ? { freeBytes: health.freeBytes } : {}),
          failures: c.failures,
          rejected: c.rejected,
          opens: c.opens,
        };
      }),
    );
  }

  private async walk(): Promise<InventoryFigure> {
    // Durability is judged by the nodes that answer now (as `tessera status` does).
    const nodes = await this.probe({});
    const up = new Set(nodes.filter((n) => n.ok).map((n) => n.name));
    const inventory = await takeInventory(this.g.meta, (n) => up.has(n));
    return { inventory, at: Date.now(), nodesUp: up.size, nodesTotal: nodes.length };
  }
}
