import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hash01, placeShards, rankNodes, type PlacementNode } from '../src/cold/placement.js';

const segIds = (n: number, salt = 'seg'): string[] =>
  Array.from({ length: n }, (_, i) => createHash('sha256').update(`${salt}-${i}`).digest('hex').slice(0, 32));

const nodes = (spec: Array<[string, number, boolean?]>): PlacementNode[] =>
  spec.map(([name, weight, healthy = true]) => ({ name, weight, healthy }));

describe('rendezvous placement', () => {
  const cluster = nodes([
    ['a', 1],
    ['b', 1],
    ['c', 2],
    ['d', 1],
    ['e', 3],
    ['f', 1],
  ]);

  it('hash01 stays inside (0, 1) and depends on both inputs', () => {
    for (const s of segIds(200)) {
      const h = hash01(s, 'node');
      expect(h).toBeGreaterThan(0);
      expect(h).toBeLessThan(1);
    }
    expect(hash01('ab', 'c')).not.toBe(hash01('a', 'bc'));
    expect(hash01('x', 'n1')).not.toBe(hash01('x', 'n2'));
  });

  it('returns distinct healthy nodes, deterministically, whatever the input order', () => {
    for (const seg of segIds(300)) {
      const picked = placeShards(seg, cluster, 4);
      expect(picked).toHaveLength(4);
      expect(new Set(picked).size).toBe(4);
      expect(placeShards(seg, [...cluster].reverse(), 4)).toEqual(picked);
      expect(placeShards(seg, cluster, 4)).toEqual(picked);
    }
  });

  it('skips unhealthy nodes without reordering the rest, and returns fewer when too few are healthy', () => {
    const someDown = cluster.map((n) => ({ ...n, healthy: n.name !== 'c' && n.name !== 'e' }));
    for (const seg of segIds(200)) {
      const full = rankNodes(seg, cluster);
      const picked = placeShards(seg, someDown, 3);
      expect(picked).toEqual(full.filter((n) => n !== 'c' && n !== 'e').slice(0, 3));
    }
    expect(placeShards('00', someDown, 10)).toHaveLength(4);
    expect(placeShards('00', cluster.map((n) => ({ ...n, healthy: false })), 3)).toEqual([]);
    expect(placeShards('00', cluster, 0)).toEqual([]);
  });

  it('rankNodes covers every positive-weight node once; placeShards is its healthy prefix', () => {
    const withZero = [...cluster, { name: 'z', weight: 0, healthy: true }, { name: 'a', weight: 5, healthy: true }];
    for (const seg of segIds(100)) {
      const ranked = rankNodes(seg, withZero);
      expect([...ranked].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
      expect(placeShards(seg, cluster, 6)).toEqual(rankNodes(seg, cluster));
    }
  });

  it('picks each node first in proportion to its weight', () => {
    const n = 30_000;
    const totalWeight = cluster.reduce((s, node) => s + node.weight, 0);
    const firsts = new Map<string, number>();
    for (const seg of segIds(n)) {
      const [first] = placeShards(seg, cluster, 1);
      firsts.set(first as string, (firsts.get(first as string) ?? 0) + 1);
    }
    for (const node of cluster) {
      const expected = node.weight / totalWeight;
      const observed = (firsts.get(node.name) ?? 0) / n;
      // ~4.5 standard deviations at n=30000 for p<=1/3: a correct implementation essentially never fails this
      expect(Math.abs(observed - expected)).toBeLessThan(0.012);
    }
  });

  it('a heavier node holds more shards when placing several per segment', () => {
    const counts = new Map<string, number>();
    for (const seg of segIds(10_000, 'multi')) {
      for (const name of placeShards(seg, cluster, 3)) counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const c = (name: string): number => counts.get(name) ?? 0;
    expect(c('e')).toBeGreaterThan(c('c'));
    expect(c('c')).toBeGreaterThan(c('a'));
    expect(c('c')).toBeGreaterThan(c('f'));
  });

  it('adding a node moves only what the new node takes', () => {
    const before = nodes([
      ['n1', 1],
      ['n2', 1],
      ['n3', 1],
      ['n4', 1],
      ['n5', 1],
      ['n6', 1],
    ]);
    const after = [...before, { name: 'n7', weight: 1, healthy: true }];
    const segs = segIds(10_000, 'move');
    let movedFirst = 0;
    for (const seg of segs) {
      const old = placeShards(seg, before, 4);
      const now = placeShards(seg, after, 4);
      if (old[0] !== now[0]) {
        movedFirst++;
        expect(now[0]).toBe('n7');
      }
      const lost = old.filter((x) => !now.includes(x));
      const gained = now.filter((x) => !old.includes(x));
      // at most one member changes, and only in favour of the new node
      expect(lost.length).toBeLessThanOrEqual(1);
      expect(gained).toEqual(lost.length === 1 ? ['n7'] : []);
    }
    // the new node should take about 1/7 of first places
    expect(Math.abs(movedFirst / segs.length - 1 / 7)).toBeLessThan(0.02);
  });
});
