// Runs one comparison row: Tessera (A) and direct RGW (B), interleaved A B A B ..., with the gateway's CPU seconds
// (A trials only) and peak RSS (whole row) taken from /proc.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ProcWatch, ROOT, cpuOf, cpuSeconds } from './services.mjs';
import { latencySummary, quantile, summarize } from './stats.mjs';

const LOAD = path.join(ROOT, 'bench/load.mjs');

/** Runs one load-generator process and returns its JSON result. */
export function load(target, task) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, JSON.stringify({ ...task, target })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      if (err.trim()) process.stderr.write(err.replace(/^/gm, '    load: '));
      if (code !== 0) return reject(new Error(`load ${task.op} failed (exit ${code}): ${err.split('\n').slice(-5).join(' ')}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (e) {
        reject(new Error(`load ${task.op}: unreadable output ${out.slice(0, 200)}: ${e.message}`));
      }
    });
  });
}

/** A trial returns one number, or { values: number[], samples?: number[] } (samples feed p50/p99). */
function valuesOf(r) {
  return typeof r === 'number' ? { values: [r], samples: [] } : { values: r.values, samples: r.samples ?? [] };
}

/**
 * @param ctx {{ gw, rgwPids: number[], rows: object[], log: (s: string) => void }}
 * @param spec {{ name, unit, better: 'higher'|'lower', reps, group, tessera: (rep) => Promise, rgw?: (rep) => Promise,
 *                beforeTessera?: (rep) => Promise, note?: string }}
 */
export async function compare(ctx, spec) {
  // --only REGEX: profile or re-measure a few rows without the whole scenario's rows.
  if (ctx.opts.only && !new RegExp(ctx.opts.only).test(spec.name)) return null;
  const watch = new ProcWatch(ctx.gw.pid);
  const a = { values: [], samples: [] };
  const b = { values: [], samples: [] };
  let gwCpu = 0;
  let rgwCpu = 0;
  const errors = [];
  // A failed trial is recorded (with the gateway log's tail) and the row goes on: one 500 must not void a long run.
  const attempt = async (side, fn, rep) => {
    try {
      return valuesOf(await fn(rep));
    } catch (err) {
      errors.push({ side, rep, message: err.message.slice(0, 400), ...(side === 'tessera' ? { gatewayLog: ctx.gw.logTail?.() } : {}) });
      ctx.log(`  ! ${spec.name} ${side} rep ${rep}: ${err.message.slice(0, 200)}`);
      return { values: [], samples: [] };
    }
  };
  for (let rep = 0; rep < spec.reps; rep++) {
    if (spec.beforeTessera) await spec.beforeTessera(rep);
    const c0 = cpuSeconds(ctx.gw.pid);
    const ra = await attempt('tessera', spec.tessera, rep);
    gwCpu += cpuSeconds(ctx.gw.pid) - c0;
    a.values.push(...ra.values);
    a.samples.push(...ra.samples);
    if (spec.rgw) {
      const r0 = cpuOf(ctx.rgwPids);
      const rb = await attempt('rgw', spec.rgw, rep);
      rgwCpu += cpuOf(ctx.rgwPids) - r0;
      b.values.push(...rb.values);
      b.samples.push(...rb.samples);
    }
  }
  const { peakRssMB } = watch.stop();
  const row = {
    name: spec.name,
    group: spec.group,
    unit: spec.unit,
    better: spec.better,
    tessera: { ...summarize(a.values), ...(a.samples.length ? { latency: latencySummary(a.samples) } : {}) },
    rgw: spec.rgw ? { ...summarize(b.values), ...(b.samples.length ? { latency: latencySummary(b.samples) } : {}) } : null,
    gateway: { cpuSeconds: gwCpu, cpuSecondsPerRep: gwCpu / spec.reps, peakRssMB },
    rgwCpuSecondsPerRep: spec.rgw ? rgwCpu / spec.reps : null,
    ...(spec.note ? { note: spec.note } : {}),
    ...(errors.length ? { errors } : {}),
  };
  row.ratio = row.rgw && row.tessera.median != null && row.rgw.median != null ? row.tessera.median / row.rgw.median : null;
  ctx.rows.push(row);
  ctx.log(formatRowLine(row));
  return row;
}

export function formatRowLine(r) {
  const f = (s) => (s ? `${fmt(s.median)} [${fmt(s.min)}-${fmt(s.max)}]` : '-');
  return `  ${r.name.padEnd(26)} ${r.unit.padEnd(6)} T ${f(r.tessera).padEnd(26)} RGW ${f(r.rgw).padEnd(26)} ratio ${r.ratio == null ? '-' : r.ratio.toFixed(2)}  gw ${r.gateway.cpuSecondsPerRep.toFixed(1)} cpu-s/rep, ${r.gateway.peakRssMB.toFixed(0)} MB`;
}

export function fmt(x) {
  if (x == null || Number.isNaN(x)) return '-';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export { quantile };
