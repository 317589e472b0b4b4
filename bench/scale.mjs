// Scale-out benchmark (issue 12): one machine's gateways against one, and PostgreSQL against SQLite, side by side.
//   npm run build && node bench/scale.mjs [--reps 3] [--duration 10] [--size 256MiB] [--concurrency 64] [--json]
// Rows (each interleaved A B A B ..., the two sides on the same data, nodes and hot tier):
//   hot-get-8streams     MB/s   `tessera serve --workers 2` vs 1 (SQLite WAL), 8 ranged GETs of one hot object at once
//   small-get-4KiB       ops/s  --workers 2 vs 1, 64 clients reading a hot pool of 256 objects
//   small-put-4KiB       ops/s  --workers 2 vs 1
//   small-put-4KiB-pg    ops/s  PostgreSQL store vs SQLite store, one gateway each
// The hot tier is a local directory (no RGW: the row measures the gateway, not the hot tier's server). Six
// `tessera node` processes hold the cold tier. PostgreSQL is a throwaway server from scripts/pg-up.sh.
// Writes bench/results/scale-<stamp>.json and prints a table of medians and ratios.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, load } from './lib/harness.mjs';
import { Gateway, NodeFleet, ROOT, run } from './lib/services.mjs';
import { summarize } from './lib/stats.mjs';
import { cpuShare } from './lib/cpu-share.mjs';

const USAGE = `node bench/scale.mjs [--reps N] [--duration SEC] [--size SIZE] [--concurrency N] [--only REGEX] [--keep]
  --reps N          interleaved repetitions per row (default 3)
  --duration SEC    small-object closed-loop duration per trial (default 10)
  --size SIZE       the hot object of hot-get-8streams (default 256MiB)
  --concurrency N   small-object clients (default 64)
  --only REGEX      run only the rows whose name matches
  --keep            keep the work directory`;

const MiB = 1 << 20;

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      reps: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      size: { type: 'string', default: '256MiB' },
      concurrency: { type: 'string', default: '64' },
      only: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const m = /^(\d+)(MiB|GiB)$/.exec(values.size);
  if (!m) throw new Error(`--size: like 256MiB or 1GiB (got ${values.size})`);
  return {
    reps: Number(values.reps),
    durationMs: Number(values.duration) * 1000,
    size: Number(m[1]) * (m[2] === 'GiB' ? 1024 * MiB : MiB),
    concurrency: Number(values.concurrency),
    only: values.only ? new RegExp(values.only) : undefined,
    keep: values.keep,
  };
}

/** A gateway variant: started for its trials, stopped after, so the two sides never run at once. */
function variant(work, nodes, name, { workers, meta, masterKey }) {
  const gw = new Gateway({ dir: path.join(work, name), nodes, workers, meta, hot: { driver: 'fs', budget: '64GiB', promote: 'always' } });
  gw.masterKey = masterKey;
  return gw;
}

async function withGateway(gw, fn) {
  await gw.start();
  try {
    return await fn(gw.target());
  } finally {
    await gw.stop();
  }
}

function cpuText(r) {
  const one = (side) => {
    const c = side.cpu;
    if (!c) return '';
    const by = Object.entries(c.coresBy).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
    return `${side.label}: machine ${(c.machineBusy * 100).toFixed(0)}% busy (cores: ${by})`;
  };
  return r.a.cpu ? `\n      cpu  ${one(r.a)}\n           ${one(r.b)}` : '';
}

async function row(rows, opts, spec) {
  if (opts.only && !opts.only.test(spec.name)) return;
  const a = [];
  const b = [];
  const errors = [];
  const cpu = { A: [], B: [] };
  for (let rep = 0; rep < opts.reps; rep++) {
    for (const [side, gw, out] of [['A', spec.a, a], ['B', spec.b, b]]) {
      const r = await withGateway(gw, async (t) => {
        const stop = cpuShare();
        const started = Date.now();
        const value = await spec.trial(t, rep);
        const share = stop();
        if (share) cpu[side].push({ seconds: (Date.now() - started) / 1000, ...share });
        return value;
      });
      out.push(r.value);
      if (r.errors) errors.push({ side, rep, errors: r.errors });
    }
  }
  const A = summarize(a);
  const B = summarize(b);
  // Where the CPU went (the machine's cores are shared by the gateway, the nodes and the load client).
  const cpuSummary = (list) => {
    if (list.length === 0) return undefined;
    const busy = list.reduce((x, c) => x + c.busyFraction, 0) / list.length;
    const per = {};
    for (const c of list) for (const [k, v] of Object.entries(c.cpuSeconds)) per[k] = (per[k] ?? 0) + v / c.seconds / list.length;
    return { machineBusy: busy, coresBy: per };
  };
  const r = {
    name: spec.name,
    unit: spec.unit,
    a: { label: spec.aLabel, ...A, cpu: cpuSummary(cpu.A) },
    b: { label: spec.bLabel, ...B, cpu: cpuSummary(cpu.B) },
    ratio: A.median / B.median,
    goal: spec.goal,
    ...(errors.length ? { errors } : {}),
  };
  rows.push(r);
  process.stdout.write(`  ${r.name.padEnd(20)} ${r.unit.padEnd(6)} ${spec.aLabel}: ${fmt(A.median)} [${fmt(A.min)}-${fmt(A.max)}]  ${spec.bLabel}: ${fmt(B.median)} [${fmt(B.min)}-${fmt(B.max)}]  ratio ${r.ratio.toFixed(2)} (goal >= ${spec.goal})${cpuText(r)}${errors.length ? `  ERRORS ${JSON.stringify(errors).slice(0, 200)}` : ''}\n`);
}

async function main() {
  const opts = options(process.argv.slice(2));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const work = mkdtempSync(path.join(os.tmpdir(), 'tessera-scale-'));
  const log = (s) => process.stdout.write(`${s}\n`);
  const rows = [];
  let nodes;
  let pgDir;
  try {
    nodes = new NodeFleet(path.join(work, 'nodes'));
    await nodes.start();
    // Directly under the temp dir: the server runs as the `postgres` user, who cannot enter our private work dir.
    pgDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-scale-pg-'));
    const up = await run('bash', [path.join(ROOT, 'scripts/pg-up.sh'), pgDir]);
    const url = /TESSERA_DATABASE_URL=['"]?([^'"\s]+)/.exec(up.stdout)?.[1];
    if (!url) throw new Error(`scripts/pg-up.sh printed no TESSERA_DATABASE_URL: ${up.stdout.slice(0, 300)}`);
    const masterKey = (await import('node:crypto')).randomBytes(32).toString('hex');
    // Both --workers sides share one data dir (SQLite WAL file, hot dir): the same objects, read by 1 or 2 processes.
    const one = variant(work, nodes, 'sqlite', { workers: 1, masterKey });
    const two = variant(work, nodes, 'sqlite', { workers: 2, masterKey });
    const pg = variant(work, nodes, 'pg', { workers: 1, masterKey, meta: { driver: 'postgres', postgres: { url } } });
    for (const gw of [one, two, pg]) gw.accessKey = 'benchscale';
    two.secretKey = pg.secretKey = one.secretKey;
    two.port = one.port = undefined;

    log(`work dir ${work}; populating`);
    await withGateway(one, async (t) => {
      await load(t, { op: 'mkbucket', bucket: 'scale' });
      await load(t, { op: 'put', bucket: 'scale', key: 'big', size: opts.size });
      await load(t, { op: 'get', bucket: 'scale', key: 'big', size: opts.size }); // promotes: the rows read it hot
      await load(t, { op: 'populate', bucket: 'scale', prefix: 'pool-', n: 256, size: 4096, concurrency: 32 });
      for (let i = 0; i < 2; i++) await load(t, { op: 'small', bucket: 'scale', mode: 'get', size: 4096, concurrency: 32, durationMs: 3000, prefix: 'pool-', pool: 256 });
    });
    await withGateway(pg, (t) => load(t, { op: 'mkbucket', bucket: 'scale' }));

    const small = (mode, prefix) => async (t) => {
      const r = await load(t, { op: 'small', bucket: 'scale', mode, size: 4096, concurrency: opts.concurrency, durationMs: opts.durationMs, prefix, pool: 256 });
      return { value: r.opsPerSec, errors: r.errors || undefined };
    };
    const w = { a: two, b: one, aLabel: 'workers 2', bLabel: 'workers 1', goal: 1.4 };
    await row(rows, opts, {
      name: 'hot-get-8streams',
      unit: 'MB/s',
      ...w,
      trial: async (t) => ({ value: (await load(t, { op: 'get', bucket: 'scale', key: 'big', size: opts.size, streams: 8 })).mbps }),
    });
    await row(rows, opts, { name: 'small-get-4KiB', unit: 'ops/s', ...w, trial: small('get', 'pool-') });
    await row(rows, opts, { name: 'small-put-4KiB', unit: 'ops/s', ...w, trial: small('put', 'new-') });
    await row(rows, opts, { name: 'small-put-4KiB-pg', unit: 'ops/s', a: pg, b: one, aLabel: 'PostgreSQL', bLabel: 'SQLite', goal: 0.8, trial: small('put', 'new-') });

    const result = { stamp, machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version }, options: { ...opts, only: opts.only?.source }, rows };
    const out = path.join(ROOT, 'bench/results', `scale-${stamp}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    log(`\n| row | A | B | A/B | goal |\n|---|---|---|---|---|`);
    for (const r of rows) log(`| ${r.name} | ${r.a.label} ${fmt(r.a.median)} ${r.unit} | ${r.b.label} ${fmt(r.b.median)} | ${r.ratio.toFixed(2)} | >= ${r.goal} |`);
    log(`wrote ${path.relative(ROOT, out)}`);
  } finally {
    await nodes?.stop().catch((e) => log(`nodes stop: ${e.message}`));
    if (pgDir) await run('bash', [path.join(ROOT, 'scripts/pg-down.sh'), pgDir]).catch((e) => log(`pg-down: ${e.message}`));
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
    if (pgDir && !opts.keep) rmSync(pgDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/scale: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
