import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/util/metrics.js';

/** The committed Grafana dashboard only queries metrics the gateway exports (a rename would blank a panel). */
describe('docs/grafana/tessera-dashboard.json', () => {
  const file = path.join(import.meta.dirname, '..', 'docs', 'grafana', 'tessera-dashboard.json');
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };

  it('every tessera_* series in every panel exists in the metrics registry', async () => {
    const exported = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const used = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) for (const m of t.expr.matchAll(/tessera_[a-z0-9_]+/g)) used.add(m[0].replace(/_bucket$/, ''));
    }
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });
});
