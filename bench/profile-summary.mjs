// Summarizes V8 .cpuprofile files (from `npm run bench -- --cpu-prof`): where the gateway's CPU time went.
// Usage: node bench/profile-summary.mjs FILE_OR_DIR... [--top 25]
// Prints self time by function and by source file (node_modules and node: internals grouped by package), and the
// share of idle/GC/program time, so a miss can be attributed to a stage (MD5, AEAD, RS, HTTP, SDK, SQLite, ...).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const inputs = args.filter((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1));
const files = inputs.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(p, f)) : [p]));
if (files.length === 0) {
  process.stderr.write('usage: node bench/profile-summary.mjs FILE_OR_DIR... [--top N]\n');
  process.exit(2);
}

const byFn = new Map();
const byFile = new Map();
let total = 0;

function fileGroup(url) {
  if (!url) return '(native/vm)';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return `npm:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1) : url;
}

for (const f of files) {
  const prof = JSON.parse(readFileSync(f, 'utf8'));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    const d = prof.timeDeltas[i + 1] ?? 0;
    dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + d);
  }
  for (const [id, us] of dt) {
    const n = nodes.get(id);
    const cf = n.callFrame;
    const fn = `${cf.functionName || '(anonymous)'} ${fileGroup(cf.url)}:${cf.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    const g = fileGroup(cf.url);
    byFile.set(g, (byFile.get(g) ?? 0) + us);
    total += us;
  }
}

const print = (title, map) => {
  process.stdout.write(`\n${title}\n`);
  const busy = total - (byFn.get('(idle) (native/vm):0') ?? 0);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${(us / 1e6).toFixed(2).padStart(8)} s ${((100 * us) / total).toFixed(1).padStart(5)}% of all ${((100 * us) / busy).toFixed(1).padStart(5)}% of busy  ${k}\n`);
  }
};
process.stdout.write(`${files.length} profile(s), ${(total / 1e6).toFixed(1)} s sampled\n`);
print('self time by function', byFn);
print('self time by file / package', byFile);
