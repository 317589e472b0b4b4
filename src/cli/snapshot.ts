import { openGateway } from '../gateway/gateway.js';
import { isGatewayError } from '../gateway/errors.js';
import { isMetaError } from '../meta/errors.js';
import type { SnapshotRecord } from '../model/records.js';
import { createLogger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { UsageError } from '../util/cli-flags.js';
import { Progress, parseCommand } from './args.js';

const SUBCOMMANDS: Record<string, [number, number]> = { create: [2, 2], list: [0, 0], show: [1, 1], diff: [2, 2], export: [1, 1], delete: [1, 1], verify: [1, 1] };

function splitTarget(target: string): { bucket: string; prefix: string } {
  const slash = target.indexOf('/');
  return slash < 0 ? { bucket: target, prefix: '' } : { bucket: target.slice(0, slash), prefix: target.slice(slash + 1) };
}

function describe(s: SnapshotRecord): string {
  return [
    `name         ${s.name}`,
    `source       ${s.bucket}/${s.prefix}`,
    `created      ${new Date(s.createdAt).toISOString()}`,
    `state        ${s.state}`,
    `objects      ${s.objects}`,
    `bytes        ${s.bytes}`,
    `merkle root  ${s.root ?? '-'}`,
    `read it at   s3://${s.name}/ (read-only)`,
  ].join('\n');
}

function summary(s: SnapshotRecord): Record<string, unknown> {
  return { name: s.name, bucket: s.bucket, prefix: s.prefix, createdAt: new Date(s.createdAt).toISOString(), state: s.state, objects: s.objects, bytes: s.bytes, merkleRoot: s.root ?? null };
}

/** `tessera snapshot create|list|show|diff|export|delete|verify`: src/gateway/snapshots.ts. */
export async function snapshotMain(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const arity = sub === undefined ? undefined : SUBCOMMANDS[sub];
  if (sub === undefined || arity === undefined) throw new UsageError('snapshot', 'name a subcommand: create, list, show, diff, export, delete or verify');
  const { loaded, values, positionals } = parseCommand(`snapshot ${sub}`, rest, { json: { type: 'boolean' } }, { positionals: arity, missing: 'see tessera snapshot --help' });
  const asJson = values.json === true;
  const logger = createLogger(loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level);
  const g = await openGateway(loaded.config, { logger, metrics: createMetrics(), background: false, reconcile: false });
  const snaps = g.service.snapshots;
  const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  try {
    switch (sub) {
      case 'create': {
        const { bucket, prefix } = splitTarget(positionals[0]!);
        const bar = new Progress('snapshotting', 0);
        const s = await snaps.create(bucket, prefix, positionals[1]!, undefined, (p) => {
          bar.setTotal(p.objects);
          bar.update(p.objects, `${p.bytes} bytes`);
        });
        bar.done(`snapshot ${s.name}: ${s.objects} objects, ${s.bytes} bytes`);
        out(asJson ? JSON.stringify(summary(s), null, 2) : describe(s));
        return 0;
      }
      case 'list': {
        const all = await snaps.list();
        if (asJson) out(JSON.stringify(all.map(summary), null, 2));
        else if (all.length === 0) out('no snapshots');
        else for (const s of all) out(`${s.name}\t${s.bucket}/${s.prefix}\t${new Date(s.createdAt).toISOString()}\t${s.objects} objects\t${s.bytes} bytes\t${s.state}\t${s.root ?? '-'}`);
        return 0;
      }
      case 'show': {
        const s = await snaps.get(positionals[0]!);
        if (s === null) throw new UsageError('snapshot show', `no snapshot ${positionals[0]}`);
        out(asJson ? JSON.stringify(summary(s), null, 2) : describe(s));
        return 0;
      }
      case 'export': {
        for await (const chunk of snaps.exportJson(positionals[0]!)) {
          if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        }
        return 0;
      }
      case 'delete': {
        await snaps.delete(positionals[0]!);
        out(asJson ? JSON.stringify({ deleted: positionals[0] }) : `deleted snapshot ${positionals[0]} (its versions are no longer held by it)`);
        return 0;
      }
      case 'diff': {
        const d = await snaps.diff(positionals[0]!, positionals[1]!);
        if (asJson) {
          out(JSON.stringify({ added: d.added, removed: d.removed, changed: d.changed.map((c) => ({ key: c.key, from: c.from, to: c.to })) }, null, 2));
        } else {
          for (const e of d.added) out(`+ ${e.key}\t${e.size}\t${e.sha256}`);
          for (const e of d.removed) out(`- ${e.key}\t${e.size}\t${e.sha256}`);
          for (const c of d.changed) out(`~ ${c.key}\t${c.from.sha256} -> ${c.to.sha256}`);
          out(`${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed`);
        }
        return 0;
      }
      case 'verify': {
        const s = await snaps.get(positionals[0]!);
        const bar = new Progress('verifying', s?.objects ?? 0);
        const r = await snaps.verify(positionals[0]!, (p) => bar.update(p.objects, `${p.bytes} bytes`));
        const verdict = r.ok ? 'verified' : 'FAILED';
        bar.done(`${verdict}: ${r.objects} objects, ${r.bytes} bytes`);
        if (asJson) out(JSON.stringify(r, null, 2));
        else {
          out(`snapshot ${r.name}: ${verdict}; merkle root ${r.rootMatches ? 'matches' : 'DOES NOT MATCH'}`);
          out(`${r.objects} objects, ${r.bytes} bytes; ${r.mismatched.length} mismatched, ${r.missing.length} missing, ${r.unreadable.length} unreadable; ${r.damagedShards} damaged shards queued for repair`);
          for (const k of r.mismatched) out(`mismatch: ${k}`);
          for (const k of r.missing) out(`missing: ${k}`);
          for (const k of r.unreadable) out(`unreadable: ${k}`);
        }
        return r.ok ? 0 : 1;
      }
    }
    return 0;
  } catch (err) {
    if (!isGatewayError(err) && !isMetaError(err)) throw err;
    process.stderr.write(`tessera snapshot ${sub}: ${err.message === err.kind ? `${err.kind} ${err.subject}` : err.message}\n`);
    return 1;
  } finally {
    await g.close();
  }
}
