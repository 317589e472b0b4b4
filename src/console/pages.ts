import type { TesseraConfig } from '../config/types.js';
import type { CostReport } from '../maintenance/cost.js';
import type { ScrubRecord } from '../maintenance/scrub-record.js';
import { barChart, COLORS, lineChart, stackedBar, type Series } from './charts.js';
import type { InventoryFigure, NodeFigure } from './figures.js';
import { formatBytes } from '../util/format-bytes.js';
import { formatAge, h, raw, type Html } from './html.js';
import type { Job } from './jobs.js';
import type { Sample } from './sampler.js';

/** The page bodies. Figures carry data-figure names: the values a script (or the browser test) can read exactly. */

const pct = (v: number): string => `${(v * 100).toFixed(0)}%`;
const rate = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ms = (v: number): string => (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`);

function figure(name: string, value: string | number, cls = ''): Html {
  return h`<span data-figure="${name}" class="${cls}">${value}</span>`;
}

function series(samples: readonly Sample[], label: string, color: string, pick: (s: Sample) => number | undefined): Series {
  return { label, color, points: samples.flatMap((s) => { const v = pick(s); return v === undefined ? [] : [[s.t, v] as const]; }) };
}

function csrfField(csrf: string): Html {
  return h`<input type="hidden" name="csrf" value="${csrf}">`;
}

export function jobsTable(jobs: readonly Job[]): Html {
  if (jobs.length === 0) return h`<p class="muted">No jobs yet in this gateway process.</p>`;
  return h`<table data-jobs><tr><th>job</th><th>target</th><th>by</th><th>progress</th><th>state</th><th>outcome</th></tr>${jobs.map(
    (j) =>
      h`<tr data-job="${j.id}"${j.state === 'running' ? raw(' data-job-running') : raw('')}><td>${j.kind}</td><td>${j.target || '(all objects)'}</td><td>${j.by}</td><td><progress max="${Math.max(1, j.total)}" value="${j.done}"></progress> <span data-job-text>${j.done} / ${j.total}</span></td><td><span data-job-state class="pill ${j.state === 'done' ? 'ok' : j.state === 'failed' ? 'bad' : 'warn'}">${j.state}</span></td><td>${j.summary}</td></tr>`,
  )}</table>`;
}

export function loginBody(message?: string): Html {
  return h`<form method="post" action="/login" class="card login">
  <p class="muted">Sign in with the access key and secret key of an administrator (a user with <code>"*": admin</code>).</p>
  ${message !== undefined ? h`<p class="flash error" role="alert">${message}</p>` : raw('')}
  <label for="accessKey">Access key</label><input id="accessKey" name="accessKey" type="text" autocomplete="username" required>
  <label for="secretKey">Secret key</label><input id="secretKey" name="secretKey" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button></form>`;
}

export interface OverviewData {
  inv: InventoryFigure;
  backlog: number;
  hot: { driver: string; bytes: number; budgetBytes: number };
  scrub: ScrubRecord | undefined;
  samples: readonly Sample[];
  jobs: readonly Job[];
  csrf: string;
}

export function overviewBody(d: OverviewData): Html {
  const r = d.inv.inventory.total.redundancy;
  const objects = d.inv.inventory.total.objects;
  const state = r.lost > 0 ? ['bad', 'Data unreadable'] : r['at-risk'] > 0 ? ['bad', 'At risk'] : r.degraded > 0 ? ['warn', 'Degraded'] : ['ok', 'All data at full redundancy'];
  const scrub = d.scrub;
  const scrubProblems = scrub ? scrub.summary.missing + scrub.summary.corrupt + scrub.summary.unreachable : 0;
  return h`<div class="grid">
  <section class="card"><h2>Durability</h2>
    <p class="big ${state[0] ?? ''}" data-figure="durability-state">${state[1] ?? ''}</p>
    <p>${figure('objects', objects)} objects: ${figure('full', r.full, 'ok')} at full redundancy, ${figure('degraded', r.degraded, 'warn')} degraded,
      ${figure('at-risk', r['at-risk'], 'bad')} at risk of loss (one more loss loses data), ${figure('lost', r.lost, 'bad')} unreadable.</p>
    ${stackedBar('Objects by redundancy', [
      { label: 'full', value: r.full, color: '#1d8a4e' },
      { label: 'degraded', value: r.degraded, color: '#c47d00' },
      { label: 'at risk', value: r['at-risk'], color: '#c62f2f' },
      { label: 'unreadable', value: r.lost, color: '#5d1010' },
    ])}
    <p class="muted">Nodes answering: ${figure('nodes-up', d.inv.nodesUp)} of ${figure('nodes-total', d.inv.nodesTotal)}; figures of ${formatAge(Date.now() - d.inv.at)}.</p>
  </section>
  <section class="card"><h2>Repair</h2>
    <p><span class="big">${figure('repair-backlog', d.backlog)}</span> segments queued for repair</p>
    ${lineChart('Shards rebuilt per second', [series(d.samples, 'rebuilt/s', COLORS[1] ?? '', (s) => s.repairsPerSec)], rate)}
  </section>
  <section class="card"><h2>Last scrub</h2>
    ${
      scrub
        ? h`<p>${scrub.kind} finished ${formatAge(Date.now() - Date.parse(scrub.finishedAt))} (${(scrub.durationMs / 1000).toFixed(1)} s):
        ${figure('scrub-objects', scrub.summary.objects)} objects, ${scrub.summary.shards} shards, ${figure('scrub-ok', scrub.summary.ok, 'ok')} ok,
        ${figure('scrub-missing', scrub.summary.missing)} missing, ${figure('scrub-corrupt', scrub.summary.corrupt)} corrupt, ${figure('scrub-unreachable', scrub.summary.unreachable)} unreachable.</p>
        <p class="${scrubProblems > 0 ? 'bad' : 'ok'}">${scrubProblems > 0 ? 'Problems found: run a repair.' : 'No problems found.'}</p>`
        : h`<p class="muted" data-figure="scrub-none">No scrub has run from this data dir yet.</p>`
    }
  </section>
  <section class="card"><h2>Hot tier</h2>
    ${stackedBar(`${d.hot.driver} hot tier: bytes against budget`, [{ label: 'used', value: d.hot.bytes, color: COLORS[0] ?? '' }], formatBytes, d.hot.budgetBytes)}
    <p>${figure('hot-bytes', formatBytes(d.hot.bytes))} of ${formatBytes(d.hot.budgetBytes)}</p>
  </section></div>
  <section class="card"><h2>Scrub and repair</h2>
    <form method="post" action="/actions/maintenance" class="inline">${csrfField(d.csrf)}<input type="hidden" name="back" value="/">
      <button type="submit" name="kind" value="scrub">Start scrub</button><button type="submit" name="kind" value="repair">Start repair</button>
      <span class="muted">Scrub reads every shard and reports; repair rebuilds what is missing or corrupt (paced by cold.repair.maxBytesPerSecond).</span></form>
  </section>
  <section class="card" id="jobs"><h2>Jobs</h2>${jobsTable(d.jobs)}</section>`;
}

export function nodesBody(nodes: readonly NodeFigure[]): Html {
  const rows = nodes.map(
    (n) =>
      h`<tr data-node="${n.name}"><td>${n.name} <span class="muted">${n.kind}</span></td>
      <td><span data-figure="node-state" class="pill ${n.ok ? 'ok' : 'bad'}">${n.ok ? 'up' : 'down'}</span>${n.ok ? '' : h` <span class="muted">${n.reason ?? 'no answer'}</span>`}</td>
      <td data-figure="node-circuit">${n.circuit}</td><td>${n.latency.samples > 0 ? ms(n.latency.p50Ms) : '-'}</td><td>${n.latency.samples > 0 ? ms(n.latency.p99Ms) : '-'}</td>
      <td data-figure="node-stored">${formatBytes(n.storedBytes)}</td><td>${n.freeBytes !== undefined ? formatBytes(n.freeBytes) : '-'}</td><td>${n.failures}</td><td>${n.rejected}</td></tr>`,
  );
  const up = nodes.filter((n) => n.ok).length;
  return h`<section class="card"><p>${figure('nodes-up', up)} of ${nodes.length} nodes answering.</p>
  <table><tr><th>node</th><th>health</th><th>circuit</th><th>latency p50</th><th>p99</th><th>stored</th><th>free</th><th>errors</th><th>refused (open circuit)</th></tr>${rows}</table>
  <p class="muted">Latency over each node's last 512 answered calls from this gateway; errors count calls that failed as "node not there" since it started.</p></section>
  <section class="card">${barChart('Bytes stored per node', nodes.map((n, i) => ({ label: n.name, value: n.storedBytes, color: n.ok ? (COLORS[i % 2 === 0 ? 0 : 5] ?? '') : '#c62f2f' })), formatBytes)}</section>`;
}

export interface TiersData {
  hot: { driver: string; bytes: number; budgetBytes: number };
  samples: readonly Sample[];
  totals: { hotHits: number; hotMisses: number; promotions: number; evictions: number } | undefined;
  jobs: readonly Job[];
  csrf: string;
  buckets: string[];
}

export function tiersBody(d: TiersData): Html {
  const t = d.totals;
  const ratio = t && t.hotHits + t.hotMisses > 0 ? t.hotHits / (t.hotHits + t.hotMisses) : undefined;
  return h`<div class="grid">
  <section class="card"><h2>Local cache</h2><p class="muted" data-figure="local-cache">Not configured: reads go to the hot tier, then the cold tier.</p></section>
  <section class="card"><h2>Hot tier (${d.hot.driver})</h2>
    ${stackedBar('Bytes against budget', [{ label: 'used', value: d.hot.bytes, color: COLORS[0] ?? '' }], formatBytes, d.hot.budgetBytes)}
    <p>${figure('hot-bytes', formatBytes(d.hot.bytes))} of ${formatBytes(d.hot.budgetBytes)} (${figure('hot-bytes-exact', d.hot.bytes)} bytes)</p>
    <p>Since this gateway started: hit ratio ${figure('hit-ratio', ratio === undefined ? '-' : pct(ratio))}, ${figure('promotions', t?.promotions ?? 0)} promotions, ${figure('evictions', t?.evictions ?? 0)} evictions.</p>
  </section></div>
  <div class="grid">
  <section class="card">${lineChart('Hot-tier hit ratio', [series(d.samples, 'hits / reads', COLORS[1] ?? '', (s) => s.hotHitRatio)], pct, { max: 1 })}</section>
  <section class="card">${lineChart('Promotions and evictions per second', [series(d.samples, 'promotions/s', COLORS[0] ?? '', (s) => s.promotionsPerSec), series(d.samples, 'evictions/s', COLORS[2] ?? '', (s) => s.evictionsPerSec)], rate)}</section>
  </div>
  <section class="card"><h2>Warm, evict, pin</h2>
    <form method="post" action="/actions/tiering" class="inline">${csrfField(d.csrf)}<input type="hidden" name="back" value="/tiers">
      <select name="action" aria-label="action"><option value="warm">warm</option><option value="evict">evict</option><option value="pin">pin</option><option value="unpin">unpin</option></select>
      <select name="bucket" aria-label="bucket">${d.buckets.map((b) => h`<option value="${b}">${b}</option>`)}</select>
      <input type="text" name="prefix" placeholder="key prefix (empty: the whole bucket)" aria-label="prefix" size="36">
      <button type="submit">Run</button></form>
    <p class="muted">The same code as <code>tessera warm|evict|pin|unpin</code>; pin keeps objects in the hot tier (and promotes them).</p>
  </section>
  <section class="card" id="jobs"><h2>Jobs</h2>${jobsTable(d.jobs)}</section>`;
}

export function bucketsBody(inv: InventoryFigure, config: TesseraConfig, owners: Record<string, string>): Html {
  const grants = (bucket: string): string =>
    config.users
      .filter((u) => u.buckets[bucket] !== undefined || u.buckets['*'] !== undefined)
      .map((u) => `${u.accessKey} (${u.buckets[bucket] ?? u.buckets['*'] ?? ''})`)
      .join(', ');
  const rows = inv.inventory.buckets.map(
    (b) =>
      h`<tr data-bucket="${b.bucket}"><td>${b.bucket}</td><td data-figure="bucket-objects">${b.objects}</td><td data-figure="bucket-logical">${formatBytes(b.logicalBytes)}</td>
      <td>${formatBytes(b.storedBytes)}</td><td>${b.logicalBytes > 0 ? `${(b.storedBytes / b.logicalBytes).toFixed(2)}x` : '-'}</td><td data-figure="bucket-hot">${formatBytes(b.hotBytes)}</td>
      <td>${owners[b.bucket] ?? '-'}</td><td class="muted">${grants(b.bucket)}</td></tr>`,
  );
  return h`<section class="card"><table><tr><th>bucket</th><th>objects</th><th>logical</th><th>on nodes</th><th>cold overhead</th><th>hot</th><th>owner</th><th>access (config grants)</th></tr>${rows}</table>
  <p class="muted">Cold overhead: bytes on nodes (the (k+m)/k erasure code plus shard headers and checksums) per logical byte; in-progress uploads count on nodes.</p></section>
  <section class="card">${barChart('Logical bytes per bucket', inv.inventory.buckets.map((b, i) => ({ label: b.bucket, value: b.logicalBytes, color: COLORS[i % COLORS.length] ?? '' })), formatBytes)}</section>`;
}

export function requestsBody(samples: readonly Sample[], totals: Map<string, { all: number; c4: number; c5: number }> | undefined): Html {
  const ops = [...(totals?.entries() ?? [])].sort((a, b) => b[1].all - a[1].all);
  const top = ops.slice(0, 6).map(([op]) => op);
  const rows = ops.map(([op, r]) => h`<tr data-op="${op}"><td>${op}</td><td data-figure="op-requests">${r.all}</td><td>${r.c4}</td><td>${r.c5}</td></tr>`);
  return h`<div class="grid">
  <section class="card">${lineChart('Requests per second by operation', top.map((op, i) => series(samples, op, COLORS[i % COLORS.length] ?? '', (s) => s.byOp[op] ?? 0)), rate)}</section>
  <section class="card">${lineChart('Errors per second', [series(samples, '4xx', COLORS[2] ?? '', (s) => s.clientErrorsPerSec), series(samples, '5xx', COLORS[3] ?? '', (s) => s.serverErrorsPerSec)], rate)}</section>
  <section class="card">${lineChart('Latency', [series(samples, 'p50', COLORS[0] ?? '', (s) => s.p50Ms), series(samples, 'p99', COLORS[4] ?? '', (s) => s.p99Ms)], ms)}</section>
  </div>
  <section class="card"><h2>Since this gateway process started</h2><table><tr><th>operation</th><th>requests</th><th>4xx</th><th>5xx</th></tr>${rows}</table>
  <p class="muted">Figures of this gateway process; with several gateways or --workers, the Grafana dashboard (docs/MONITORING.md) sums them.</p></section>`;
}

export function costBody(c: CostReport): Html {
  const money = (v: number): string => `${v.toFixed(2)} ${c.currency}`;
  const line = (l: CostReport['total'], total = false): Html =>
    h`<tr${total ? raw(' data-cost-total') : h` data-cost-bucket="${l.bucket}"`}><td>${total ? 'total' : l.bucket}</td><td>${formatBytes(l.logicalBytes)}</td><td>${formatBytes(l.storedBytes)}</td><td>${formatBytes(l.hotBytes)}</td>
      <td data-figure="cost-monthly">${money(l.monthly)}</td><td data-figure="cost-3x">${money(l.replication3x)}</td><td data-figure="cost-all-hot">${money(l.allHot)}</td></tr>`;
  return h`<section class="card"><table><tr><th>bucket</th><th>logical</th><th>on nodes</th><th>hot</th><th>per month</th><th>3x replication</th><th>all in the hot tier</th></tr>
    ${c.buckets.map((l) => line(l))}${line(c.total, true)}</table>
  <p class="muted">Prices per GiB-month from the config's <code>prices</code> section (the defaults are examples, not quotes): nodes ${c.prices.nodePerGiBMonth},
  hot tier ${c.prices.hotPerGiBMonth}, local cache ${c.prices.localCachePerGiBMonth} ${c.currency}. The same figures as <code>tessera cost</code>.</p></section>
  <section class="card">${barChart('Monthly cost of the same data', [
    { label: 'Tessera', value: c.total.monthly, color: COLORS[1] ?? '' },
    { label: '3x replication', value: c.total.replication3x, color: COLORS[2] ?? '' },
    { label: 'all in the hot tier', value: c.total.allHot, color: COLORS[3] ?? '' },
  ], money)}</section>`;
}
