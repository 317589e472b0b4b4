#!/usr/bin/env node
// Self and inclusive time of one V8 .cpuprofile within a window of its wall time, plus a per-second busy timeline.
// A bench profile also holds its rows' untimed set-up (seed PUTs, promoting reads): read the timeline, then pick the
// window of the trials themselves.  Usage: node bench/profile-window.mjs FILE.cpuprofile [FROM=0] [TO=1]  (fractions)
import { readFileSync } from 'node:fs';
const [file, fromFrac, toFrac] = [process.argv[2], Number(process.argv[3] ?? 0), Number(process.argv[4] ?? 1)];
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
let t = p.startTime; const times = [];
for (const d of p.timeDeltas) { t += d; times.push(t); }
const T0 = p.startTime, T1 = p.endTime, a = T0 + (T1 - T0) * fromFrac, b = T0 + (T1 - T0) * toFrac;
// print a coarse timeline of busy fraction per second
const buckets = new Map();
const self = new Map(), incl = new Map(); let n = 0, idle = 0;
for (let i = 0; i < p.samples.length; i++) {
  const sec = Math.floor((times[i] - T0) / 1e6);
  const node = byId.get(p.samples[i]);
  const isIdle = node.callFrame.functionName === '(idle)';
  const bk = buckets.get(sec) ?? [0, 0]; bk[0]++; if (!isIdle) bk[1]++; buckets.set(sec, bk);
  if (times[i] < a || times[i] > b) continue;
  n++; if (isIdle) { idle++; continue; }
  const key = (nd) => `${nd.callFrame.functionName || '(anon)'} ${nd.callFrame.url.split('/').slice(-2).join('/')}:${nd.callFrame.lineNumber}`;
  self.set(key(node), (self.get(key(node)) ?? 0) + 1);
  const seen = new Set();
  for (let id = node.id; id !== undefined; id = parent.get(id)) { const k = key(byId.get(id)); if (seen.has(k)) continue; seen.add(k); incl.set(k, (incl.get(k) ?? 0) + 1); }
}
console.log('timeline busy% per s:', [...buckets].map(([s, [all, busy]]) => `${s}:${Math.round(100 * busy / all)}`).join(' '));
console.log(`window samples ${n}, idle ${(100 * idle / n).toFixed(1)}%`);
const busy = n - idle;
console.log('--- self'); for (const [k, v] of [...self].sort((x, y) => y[1] - x[1]).slice(0, 25)) console.log((100 * v / busy).toFixed(1).padStart(5), k);
console.log('--- inclusive'); for (const [k, v] of [...incl].sort((x, y) => y[1] - x[1]).slice(0, 45)) console.log((100 * v / busy).toFixed(1).padStart(5), k);
