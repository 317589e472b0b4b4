// Re-prints a stored run as markdown (table and targets) and rewrites its SVG chart.
// Usage: node bench/report.mjs bench/results/<stamp>.json
import { readFileSync, writeFileSync } from 'node:fs';
import { chartSvg, tableMarkdown, targetsMarkdown } from './lib/report.mjs';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node bench/report.mjs RESULT.json\n');
  process.exit(2);
}
const run = JSON.parse(readFileSync(file, 'utf8'));
writeFileSync(file.replace(/\.json$/, '.svg'), chartSvg(run.rows, `Tessera vs Ceph RGW (EC 2+1, bluestore), ${run.stamp}${run.label ? ` — ${run.label}` : ''}`));
process.stdout.write(`${tableMarkdown(run.rows)}\n\n${targetsMarkdown(run.targets)}\n`);
