import { createHash } from 'node:crypto';

/**
 * Which nodes hold a segment's shards: weighted rendezvous (highest-random-weight) hashing. Every node gets a score
 * `-weight / ln(h)` with h = hash(segId, nodeName) mapped into (0, 1); nodes are taken in descending score order.
 * This picks node i first with probability weight_i / sum(weights), needs no shared state, and adding or removing a
 * node only moves the segments whose ranking that node enters or leaves.
 */
export interface PlacementNode {
  name: string;
  weight: number;
  healthy: boolean;
}

const TWO_POW_53 = 2 ** 53;

/** A uniform value in the open interval (0, 1), deterministic in (segId, nodeName). */
export function hash01(segId: string, nodeName: string): number {
  // NUL separator: ("ab","c") and ("a","bc") must not collide.
  const digest = createHash('sha256').update(segId).update('\0').update(nodeName).digest();
  const high = digest.readUInt32BE(0) >>> 5; // 27 bits
  const low = digest.readUInt32BE(4) >>> 6; // 26 bits
  const n = high * 2 ** 26 + low; // 53 bits, exact in a double
  return (n + 0.5) / TWO_POW_53;
}

export function rendezvousScore(segId: string, node: { name: string; weight: number }): number {
  return -node.weight / Math.log(hash01(segId, node.name));
}

/**
 * Every node with a positive weight, healthy or not, best first. Repair walks this order to find replacement nodes
 * (skipping unhealthy ones and ones already holding a shard of the segment), so replacements are as stable as
 * first placements. Duplicate names keep their first entry.
 */
export function rankNodes(segId: string, nodes: ReadonlyArray<{ name: string; weight: number }>): string[] {
  const seen = new Set<string>();
  const scored: Array<{ name: string; score: number }> = [];
  for (const node of nodes) {
    if (seen.has(node.name)) continue;
    seen.add(node.name);
    if (!(node.weight > 0) || !Number.isFinite(node.weight)) continue;
    scored.push({ name: node.name, score: rendezvousScore(segId, node) });
  }
  scored.sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return scored.map((s) => s.name);
}

/**
 * The `count` best distinct healthy nodes for a segment. Fewer when fewer are healthy: the caller decides whether
 * that still satisfies its write quorum.
 */
export function placeShards(segId: string, nodes: ReadonlyArray<PlacementNode>, count: number): string[] {
  if (!(count > 0)) return [];
  // Scores are per node, so dropping unhealthy nodes never reorders the healthy ones.
  const ranked = rankNodes(
    segId,
    nodes.filter((n) => n.healthy),
  );
  return ranked.slice(0, count);
}
