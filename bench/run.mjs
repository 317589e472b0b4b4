// Tessera vs Ceph RGW, side by side, in one run. See docs/BENCHMARKS.md.
//   npm run bench -- [--full] [--scenarios large,ttfb,small,list,growth,train] [--size 1GiB] [--cpu-prof] ...
// Starts RGW (bluestore, EC 2+1), six `tessera node` processes and the gateway (hot tier on that RGW), runs each
// scenario against Tessera and against RGW directly, interleaved, and writes bench/results/<timestamp>.{json,svg}.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { load } from './lib/harness.mjs';
import { chartSvg, evaluateTargets, tableMarkdown, targetsMarkdown } from './lib/report.mjs';
import { SCENARIOS, setup } from './lib/scenarios.mjs';
import { Gateway, NodeFleet, ROOT, rgwPids, startRgw } from './lib/services.mjs';

const USAGE = `node bench/run.mjs [options]   (npm run bench -- [options])
  --full                 the reference run: 1 GiB objects, 30 s small-object runs, 50 TTFB samples,
                         listing at 10^4..10^6 keys (RGW up to 10^4: it takes
                         ~300 zero-byte PUTs/s here), 16 training objects
  --scenarios LIST       comma-separated, from: ${Object.keys(SCENARIOS).join(', ')} (default: all)
  --size SIZE            large-object size (default 64MiB; --full 1GiB); accepts KiB/MiB/GiB
  --streams N            parallel streams for the multi-stream rows (default 8)
  --reps N               interleaved repetitions per row (default 2)
  --duration SEC         small-object closed-loop duration per trial (default 5; --full 30)
  --concurrency N        small-object clients (default 64)
  --ttfb-n N             TTFB samples (default 10; --full 50)
  --list-counts LIST     listing bucket sizes (default 10000,100000; --full 10000,100000,1000000)
  --rgw-list-max N       largest listing bucket also populated in RGW (default 10000)
  --train-objects N      64 MiB objects in the training set (default 8; --full 16)
  --hot-latency MS       delay each way between the gateway and the hot tier in the remote rows (default 20)
  --epochs N             epochs per cache-admission row, the first counted out (default 4)
  --cpu-prof             run the gateway under node --cpu-prof (profiles land next to the results)
  --gateway-env K=V      extra environment for the gateway (repeatable), e.g. GLIBC_TUNABLES=...
  --rgw-dir DIR          reuse an RGW started with scripts/rgw-up.sh DIR (reads DIR/env) instead of starting one
  --dist DIR             run the gateway and its CLI from another build (A/B of a change), e.g.
                         npx tsc -p tsconfig.build.json --outDir bench/.dist-after; nodes stay on dist/
  --only REGEX           run only the rows whose name matches (setup steps of their scenario still run)
  --label TEXT           stored in the JSON
  --keep                 keep the work directory (gateway data, node shards, configs)`;

function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(String(s));
  if (!m) throw new Error(`bad size ${s}`);
  const mult = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase()];
  return Math.round(Number(m[1]) * mult);
}

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      full: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      size: { type: 'string' },
      streams: { type: 'string', default: '8' },
      reps: { type: 'string' },
      duration: { type: 'string' },
      concurrency: { type: 'string', default: '64' },
      'ttfb-n': { type: 'string' },
      'list-counts': { type: 'string' },
      'rgw-list-max': { type: 'string' },
      'train-objects': { type: 'string' },
      'hot-latency': { type: 'string', default: '20' },
      epochs: { type: 'string', default: '4' },
      'cpu-prof': { type: 'boolean', default: false },
      'gateway-env': { type: 'string', multiple: true, default: [] },
      'rgw-dir': { type: 'string' },
      label: { type: 'string', default: '' },
      only: { type: 'string' },
      dist: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const full = values.full;
  const pick = (v, quick, big) => (v !== undefined ? v : full ? big : quick);
  const scenarios = (values.scenarios ?? Object.keys(SCENARIOS).join(',')).split(',').filter(Boolean);
  for (const s of scenarios) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  return {
    full,
    scenarios,
    size: parseSize(pick(values.size, '64MiB', '1GiB')),
    streams: Number(values.streams),
    reps: Number(pick(values.reps, 2, 2)),
    durationMs: Number(pick(values.duration, 5, 30)) * 1000,
    smallReps: 1,
    smallPool: 256,
    concurrency: Number(values.concurrency),
    ttfbN: Number(pick(values['ttfb-n'], 10, 50)),
    listCounts: String(pick(values['list-counts'], '10000,100000', '10000,100000,1000000')).split(',').map(Number),
    rgwListMax: Number(pick(values['rgw-list-max'], 10000, 10000)),
    listSamples: full ? 50 : 20,
    growthN: full ? 100 : 50,
    trainObjects: Number(pick(values['train-objects'], 8, 16)),
    hotLatencyMs: Number(values['hot-latency']),
    epochs: Math.max(2, Number(values.epochs)),
    trainWorkers: 16,
    trainPerWorker: 1,
    cpuProf: values['cpu-prof'],
    gatewayEnv: Object.fromEntries(values['gateway-env'].map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
    rgwDir: values['rgw-dir'],
    label: values.label,
    only: values.only,
    dist: values.dist ? path.resolve(values.dist) : undefined,
    keep: values.keep,
  };
}

function rgwFromDir(dir) {
  const env = Object.fromEntries(
    readFileSync(path.join(dir, 'env'), 'utf8')
      .split('\n')
      .map((l) => /^export (\w+)=(.*)$/.exec(l))
      .filter(Boolean)
      .map((m) => [m[1], m[2]]),
  );
  return { endpoint: env.S3_ENDPOINT, accessKey: env.AWS_ACCESS_KEY_ID, secretKey: env.AWS_SECRET_ACCESS_KEY, dir, stop: async () => {} };
}

async function main() {
  const opts = options(process.argv.slice(2));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const work = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
  const log = (s) => process.stdout.write(`${s}\n`);
  log(`work dir ${work}; scenarios ${opts.scenarios.join(', ')}; large size ${opts.size} B`);

  let rgw;
  let nodes;
  let gw;
  try {
    rgw = opts.rgwDir ? rgwFromDir(opts.rgwDir) : await startRgw(path.join(work, 'rgw'));
    log(`RGW ${rgw.endpoint} (bluestore, EC 2+1)`);
    nodes = new NodeFleet(path.join(work, 'nodes'));
    await nodes.start();
    const cpuProfDir = opts.cpuProf ? path.join(resultsDir, `prof-${stamp}`) : undefined;
    gw = new Gateway({ dir: path.join(work, 'gateway'), rgw, nodes, cpuProfDir, env: opts.gatewayEnv, dist: opts.dist });
    const R = { endpoint: rgw.endpoint, accessKey: rgw.accessKey, secretKey: rgw.secretKey };
    await load(R, { op: 'mkbucket', bucket: 'tessera-hot' });
    await gw.start();
    log(`gateway ${gw.endpoint} pid ${gw.pid}${cpuProfDir ? `, CPU profiles in ${path.relative(ROOT, cpuProfDir)}` : ''}`);
    const ctx = { opts, T: gw.target(), R, gw, nodes, rows: [], log, rgwPids: rgwPids(rgw.dir) };
    await setup(ctx);
    const started = Date.now();
    const failures = [];
    for (const name of opts.scenarios) {
      log(`== ${name}`);
      const t0 = Date.now();
      try {
        await SCENARIOS[name](ctx);
      } catch (err) {
        // A scenario's set-up failing (e.g. populating) must not lose the rows measured so far.
        failures.push({ scenario: name, message: err.message.slice(0, 500), gatewayLog: gw.logTail() });
        log(`   scenario ${name} failed: ${err.message.slice(0, 300)}`);
      }
      log(`   (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
    const targets = evaluateTargets(ctx.rows, opts);
    const result = {
      stamp,
      label: opts.label,
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      options: { ...opts, gatewayEnv: Object.keys(opts.gatewayEnv) },
      durationSeconds: (Date.now() - started) / 1000,
      rows: ctx.rows,
      ...(failures.length ? { failures } : {}),
      targets,
    };
    const base = path.join(resultsDir, stamp);
    writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
    writeFileSync(`${base}.svg`, chartSvg(ctx.rows, `Tessera vs Ceph RGW (EC 2+1, bluestore), ${stamp}${opts.label ? ` — ${opts.label}` : ''}`));
    log('\n' + tableMarkdown(ctx.rows) + '\n\n' + targetsMarkdown(targets) + '\n');
    log(`wrote ${path.relative(ROOT, base)}.json and .svg`);
  } finally {
    await gw?.stop().catch((e) => log(`gateway stop: ${e.message}`));
    await nodes?.stop().catch((e) => log(`nodes stop: ${e.message}`));
    await rgw?.stop().catch((e) => log(`rgw stop: ${e.message}`));
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
