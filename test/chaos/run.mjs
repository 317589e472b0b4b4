#!/usr/bin/env node
/**
 * `npm run chaos`: a real cluster (gateway + six `tessera node` processes, 4+2, behind fault proxies; RGW or a local
 * directory as hot tier) under a mixed S3 workload while faults are injected, then invariant checks. Loopback only.
 *
 *   node test/chaos/run.mjs [--duration 300] [--clients 16] [--hot rgw|fs] [--gateways 3] [--soak] [--keep]
 *
 * --gateways N: N gateway processes on one store (SQLite WAL file; PostgreSQL with CHAOS_META_YAML, e.g.
 * 'meta: { driver: postgres, url: "postgres://..." }', and CHAOS_DB_RESTART_CMD, a shell command that restarts the
 * database, which adds a db-restart fault) behind a round-robin client; faults then also kill a gateway mid-part, and
 * the run checks that every background job ran and that no two gateways ever ran one job at the same time.
 * --soak: 10 minutes of steady load without faults, sampling the gateway's RSS and open fds (not for CI).
 * Exit status 0 only when every invariant check passed. See docs/SECURITY.md and test/chaos/verify.mjs for the rules.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { backgroundJobReport } from './jobs.mjs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { Cluster, sleep } from './cluster.mjs';
import { FaultInjector } from './faults.mjs';
import { checkStates, countOrphans, listAllKeys, readFinalStates } from './verify.mjs';
import { BUCKET, OpLog, Workload } from './workload.mjs';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    clients: { type: 'string', default: '16' },
    hot: { type: 'string' },
    soak: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'max-large-mib': { type: 'string', default: '100' },
    gateways: { type: 'string', default: '1' },
  },
});

const soak = args.soak;
const durationS = Number(args.duration ?? (soak ? 600 : 240));
const clients = Number(args.clients);
const gateways = Number(args.gateways);
const canRgw = process.getuid?.() === 0 && existsSync('/usr/bin/radosgw');
const hot = args.hot ?? (canRgw ? 'rgw' : 'fs');
const T0 = Date.now();
const say = (s) => console.log(`[chaos ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${s}`);

const checks = [];
function check(name, ok, detail = '') {
  checks.push({ name, ok });
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `: ${detail}` : ''}`);
}

function sampleProcess(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return { rssMiB: Math.round(rssKb / 1024), fds };
  } catch {
    return undefined;
  }
}

// CI bound: whatever hangs, the run ends (failed) at duration + 12 minutes.
const watchdog = setTimeout(() => {
  console.log(`FAIL  chaos run exceeded its time bound (${durationS + 720} s)`);
  console.log(`${checks.filter((c) => c.ok).length} passed, ${checks.filter((c) => !c.ok).length + 1} failed`);
  process.exit(1);
}, (durationS + 720) * 1000);
watchdog.unref();

async function main() {
  const dir = path.join(os.tmpdir(), `tessera-chaos-${process.pid}`);
  say(`mode ${soak ? 'SOAK (no faults)' : 'chaos'}, ${durationS} s, ${clients} clients, hot tier: ${hot === 'rgw' ? 'Ceph RGW (S3) behind a fault proxy' : 'local fs directory (no hot-tier stop/start fault)'}, dir ${dir}`);
  const cluster = new Cluster({ dir, hot, log: say, gateways });
  const opLog = new OpLog();
  let workload;
  try {
    await cluster.start();
    say(`cluster up: ${gateways > 1 ? `${gateways} gateways ${cluster.gatewayUrls.join(' ')} (round robin)` : `gateway ${cluster.gatewayUrl}`}, 6 http nodes behind proxies, node6 disk: ${cluster.nodes[5].tmpfs ? 'tmpfs 1.5 GiB (real ENOSPC)' : 'proxy 507 (cannot mount)'}`);
    workload = new Workload({ endpoints: cluster.gatewayUrls, credentials: cluster.adminKey, clients, log: opLog, large: true, maxLargeMiB: Number(args['max-large-mib']) });
    await workload.client.send(new CreateBucketCommand({ Bucket: BUCKET }));

    const samples = [];
    const sampler = setInterval(() => {
      const s = sampleProcess(cluster.gateway.pid);
      if (s) {
        samples.push({ t: Math.round((Date.now() - T0) / 1000), ...s, ops: Object.values(opLog.counts).reduce((a, b) => a + b, 0) });
        if (soak) say(`gateway rss ${s.rssMiB} MiB, open fds ${s.fds}`);
      }
    }, soak ? 30_000 : 15_000);

    const deadline = Date.now() + durationS * 1000;
    const faults = new FaultInjector({ cluster, workload, opLog, say });
    const progress = setInterval(() => {
      say(`ops ${JSON.stringify(opLog.counts)} written ${(workload.bytesWritten / 2 ** 20).toFixed(0)} MiB read ${(workload.bytesRead / 2 ** 20).toFixed(0)} MiB anomalies ${opLog.anomalies.length}`);
    }, 30_000);
    await Promise.all([workload.run(deadline), soak ? Promise.resolve() : faults.run(deadline)]);
    clearInterval(progress);
    clearInterval(sampler);
    say(`workload done: ${JSON.stringify(opLog.counts)}`);

    // Every fault off before the invariant checks.
    for (const n of cluster.nodes) {
      await cluster.setProxyMode(n.name, 'pass');
      if (n.proc.exitCode !== null || n.proc.signalCode !== null) await cluster.startNode(n);
    }
    if (cluster.rgw) await cluster.setProxyMode('hot', 'pass');
    cluster.unfillDisk(cluster.nodes[5]);
    opLog.resolveOpenEnds();

    const stats = { objectsVerified: 0, bytesVerified: 0 };
    check('no anomaly seen by the workload (torn reads, lost acknowledged writes, impossible LIST entries)', opLog.anomalies.length === 0, `${opLog.anomalies.length} anomalies`);
    const ackedWrites = (opLog.counts['put.acked'] ?? 0) + (opLog.counts['multipart.acked'] ?? 0);
    // About 1.7 acknowledged writes per second in a 240 s run on 2 cores; a floor well under that, per second of run.
    const minAcked = Math.max(20, Math.round(durationS * 0.4));
    check(`the workload made progress under faults (>= ${minAcked} acknowledged writes)`, ackedWrites >= minAcked, `${ackedWrites} acknowledged writes`);

    say('reading back every key the run touched');
    const before = await readFinalStates(workload, opLog, stats);
    const problems = checkStates(before, opLog);
    for (const p of problems.slice(0, 20)) console.log(`  ${p}`);
    check('every key shows an allowed state: last acknowledged write wins, deletes stick, nothing torn', problems.length === 0, `${before.size} keys, ${problems.length} violations`);

    const listed = await listAllKeys(workload.client);
    const visible = [...before].filter(([, s]) => s !== 'absent' && !s.startsWith('error')).map(([k]) => k);
    const listMismatch = visible.filter((k) => !listed.has(k)).concat([...listed.keys()].filter((k) => !visible.includes(k)));
    check('LIST agrees with GET on every key', listMismatch.length === 0, `${listed.size} listed, ${visible.length} readable, mismatches ${listMismatch.slice(0, 5).join(', ')}`);

    const aborted = await workload.abortLeftoverUploads();
    say(`aborted ${aborted} leftover multipart uploads; waiting for the gateway's garbage collector (grace 2 s)`);
    await sleep(8_000);
    await cluster.stopGateway();

    const repair = await cluster.runCli(['repair']);
    say(`tessera repair -> exit ${repair.code}\n${repair.out.trim().split('\n').slice(-6).join('\n')}`);
    check('tessera repair succeeds', repair.code === 0, `exit ${repair.code}`);
    const scrub = await cluster.runCli(['scrub']);
    say(`tessera scrub -> exit ${scrub.code}\n${scrub.out.trim().split('\n').slice(-6).join('\n')}`);
    check('tessera scrub is clean after repair', scrub.code === 0, `exit ${scrub.code}`);
    const gc = await cluster.runCli(['gc', '--min-age', '0']);
    say(`tessera gc --min-age 0 -> exit ${gc.code}\n${gc.out.trim().split('\n').slice(-6).join('\n')}`);
    check('tessera gc --min-age 0 succeeds', gc.code === 0, `exit ${gc.code}`);
    const orphans = await countOrphans(cluster.configFile);
    check('no orphan shards after gc', orphans.orphans === 0, `${orphans.listed} shards on nodes, ${orphans.orphans} orphans ${orphans.examples.join(', ')}; ${orphans.queuedOnly} held only by the garbage queue`);

    await cluster.startGateway();
    const after = await readFinalStates(workload, opLog, { objectsVerified: 0, bytesVerified: 0 });
    const changed = [...before].filter(([k, s]) => after.get(k) !== s).map(([k, s]) => `${k}: ${s.slice(0, 12)} -> ${(after.get(k) ?? '?').slice(0, 12)}`);
    check('every object reads the same after repair, scrub and gc', changed.length === 0, `${changed.length} changed ${changed.slice(0, 5).join('; ')}`);
    check('the gateway never died except when the harness killed it', !cluster.unexpectedGatewayExit, '');
    if (gateways > 1) {
      const jobs = backgroundJobReport(gateways, (i) => cluster.gatewayLogFile(i));
      check('every background job ran (gc, repair-sweep, hot-maintenance)', jobs.missing.length === 0, `steps ${JSON.stringify(jobs.steps)}; holders ${JSON.stringify(jobs.holders)}${jobs.missing.length ? `; never ran: ${jobs.missing.join(', ')}` : ''}`);
      check('no background job ever ran in two gateways at once', jobs.overlaps.length === 0, jobs.overlaps.slice(0, 5).join('; '));
    }

    const proxyStats = await cluster.proxyStats();
    const operations = Object.entries(opLog.counts).filter(([k]) => !k.includes('.')).reduce((a, [, v]) => a + v, 0);
    console.log('\n==== chaos summary ====');
    console.log(`gateways:          ${gateways}${gateways > 1 ? ' (round-robin client, one store)' : ''}`);
    console.log(`hot tier:          ${hot === 'rgw' ? 'Ceph RGW via fault proxy' : 'fs'}`);
    console.log(`operations:        ${operations} ${JSON.stringify(opLog.counts)}`);
    console.log(`responses:         ${JSON.stringify(opLog.statuses)}`);
    console.log(`faults injected:   ${Object.values(faults.injected).reduce((a, b) => a + b, 0)} ${JSON.stringify(faults.injected)}${Object.keys(faults.skipped).length ? ` skipped ${JSON.stringify(faults.skipped)}` : ''}`);
    console.log(`proxy activity:    ${JSON.stringify(Object.fromEntries(Object.entries(proxyStats).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).filter(([, n]) => n > 0))])))}`);
    console.log(`objects verified:  ${stats.objectsVerified}`);
    console.log(`bytes verified:    ${stats.bytesVerified}`);
    console.log(`anomalies:         ${opLog.anomalies.length + problems.length}`);
    if (samples.length) {
      console.log(`gateway rss/fds:   ${samples.map((s) => `${s.t}s:${s.rssMiB}MiB/${s.fds}fd`).join(' ')}`);
      if (soak) {
        const third = Math.max(1, Math.floor(samples.length / 3));
        const avg = (xs, f) => xs.reduce((a, s) => a + f(s), 0) / xs.length;
        const early = samples.slice(1, 1 + third);
        const late = samples.slice(-third);
        console.log(`soak: rss early ${avg(early, (s) => s.rssMiB).toFixed(0)} MiB late ${avg(late, (s) => s.rssMiB).toFixed(0)} MiB; fds early ${avg(early, (s) => s.fds).toFixed(0)} late ${avg(late, (s) => s.fds).toFixed(0)}`);
      }
    }
  } catch (err) {
    check('chaos run completed without a harness error', false, err.stack ?? String(err));
  } finally {
    workload?.close();
    await cluster.stop().catch((err) => say(`cluster stop: ${err.message}`));
    if (args.keep) say(`kept ${dir}`);
    else cluster.cleanup();
  }
  const failed = checks.filter((c) => !c.ok).length;
  console.log(`${checks.length - failed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

void main();
