import { collectOrphans, DEFAULT_ORPHAN_MIN_AGE_MS } from '../maintenance/orphans.js';
import { recoverIndex, rotateMasterKey, StoreNotEmptyError } from '../maintenance/recover.js';
import { remainingProblems, repairAll } from '../maintenance/repair.js';
import { scrubAll, type ScrubSummary } from '../maintenance/scrub.js';
import { recordScrub } from '../maintenance/scrub-record.js';
import { DEFAULT_ADMIN_ACCESS_KEY } from '../config/load.js';
import type { TesseraConfig } from '../config/types.js';
import { parseDuration } from '../config/units.js';
import { openGateway, type Gateway } from '../gateway/gateway.js';
import { createLogger, type Logger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { Progress, parseCommand } from './args.js';
import { UsageError, type FlagSpec } from '../util/cli-flags.js';

export type DurabilityCommand = 'scrub' | 'repair' | 'gc' | 'recover-index' | 'rotate-key';

export interface DurabilityFlags {
  /** gc: spare blobs younger than this (ms). */
  minAgeMs?: number;
  /** gc: report only. */
  dryRun?: boolean;
  /** recover-index: merge into a store that already has objects. */
  force?: boolean;
}

export interface DurabilityResult {
  /** Process exit code: 0 clean, 1 problems remain. */
  code: number;
  /** The one-line summary that was printed. */
  summary: string;
}

function shardCounts(s: ScrubSummary): string {
  return `${s.objects} objects, ${s.segments} segments, ${s.shards} shards: ${s.ok} ok, ${s.missing} missing, ${s.corrupt} corrupt, ${s.unreachable} unreachable`;
}

/** Runs one maintenance command against an open gateway (the CLI entry below; tests call it directly). */
export async function runDurabilityCommand(
  command: DurabilityCommand,
  g: Gateway,
  config: TesseraConfig,
  flags: DurabilityFlags = {},
  log?: Logger,
): Promise<DurabilityResult> {
  const finish = (bar: Progress, code: number, summary: string): DurabilityResult => {
    bar.done(summary);
    return { code, summary };
  };
  switch (command) {
    case 'scrub': {
      const bar = new Progress('scrubbing', await g.meta.countObjects());
      const started = Date.now();
      const s = await scrubAll(g.meta, g.cold, (p) => bar.update(p.objects));
      recordScrub(config.dataDir, { kind: 'scrub', finishedAt: new Date().toISOString(), durationMs: Date.now() - started, summary: s });
      const problems = s.missing + s.corrupt + s.unreachable;
      return finish(bar, problems > 0 ? 1 : 0, `scrub: ${shardCounts(s)}${problems > 0 ? ' — run `tessera repair`' : ''}`);
    }
    case 'repair': {
      const bar = new Progress('repairing', await g.meta.countObjects());
      const deps = { cold: g.cold, meta: g.meta, metrics: createMetrics(), log: log ?? createLogger('silent') };
      const started = Date.now();
      const s = await repairAll(deps, { maxBytesPerSecond: config.cold.repair.maxBytesPerSecond, onProgress: (p) => bar.update(p.objects, `${p.rebuilt} rebuilt`) });
      recordScrub(config.dataDir, { kind: 'repair', finishedAt: new Date().toISOString(), durationMs: Date.now() - started, summary: s });
      const left = remainingProblems(s);
      const parts = s.unrepairedParts > 0 ? `, ${s.unrepairedParts} damaged shards of in-progress uploads could not be rebuilt` : '';
      return finish(bar, left > 0 ? 1 : 0, `repair: ${shardCounts(s)}; ${s.rebuilt} rebuilt, ${s.failed} could not be rebuilt${parts}${s.stale ? `, ${s.stale} skipped (object changed)` : ''}`);
    }
    case 'gc': {
      const bar = new Progress('collecting', config.cold.nodes.length);
      const queued = flags.dryRun ? 0 : await g.garbage.runOnce();
      const s = await collectOrphans(g.meta, g.cold, {
        minAgeMs: flags.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS,
        ...(flags.dryRun ? { dryRun: true } : {}),
        ...(log ? { log } : {}),
        onProgress: (p) => bar.update(p.nodes),
      });
      const unlisted = s.unlistedNodes.length > 0 ? `, nodes not listed: ${s.unlistedNodes.join(', ')}` : '';
      return finish(
        bar,
        s.failed > 0 || s.unlistedNodes.length > 0 ? 1 : 0,
        `gc: ${queued} queued garbage items collected; ${s.listed} blobs on ${s.nodes} nodes, ${s.referenced} referenced, ${s.orphans} orphans (${s.orphanBytes} bytes): ${flags.dryRun ? 'dry run, ' : ''}${s.deleted} deleted, ${s.young} too young or of unknown age, ${s.failed} failed${unlisted}`,
      );
    }
    case 'recover-index': {
      // No user yet: the embedded default's admin, whose credentials `tessera serve` creates on its first start.
      const owner = config.users[0]?.accessKey ?? DEFAULT_ADMIN_ACCESS_KEY;
      const bar = new Progress('listing nodes', config.cold.nodes.length);
      const s = await recoverIndex(g.meta, g.cold, config.keys.masterKeys, {
        owner,
        region: config.server.region,
        ...(flags.force ? { force: true } : {}),
        ...(log ? { log } : {}),
        onProgress: (p) => bar.update(p.nodes, `${p.copies} record copies`),
      });
      const problems = s.unreadable + s.lost + s.unlistedNodes.length;
      return finish(
        bar,
        problems > 0 ? 1 : 0,
        `recover-index: ${s.blobs} blobs on ${s.nodes} nodes, ${s.copies} record copies of ${s.records} objects; ${s.recovered} object versions and ${s.markers} delete markers restored, ${s.deleted} deleted versions left out, ${s.superseded} rewritten null versions ignored, ${s.kept} already present, ${s.lost} lost (data gone), ${s.unreadable} unreadable copies${s.bucketsCreated.length ? `; buckets created: ${s.bucketsCreated.join(', ')}` : ''}${s.unlistedNodes.length ? `; nodes not listed: ${s.unlistedNodes.join(', ')}` : ''}`,
      );
    }
    case 'rotate-key': {
      const bar = new Progress('rewrapping', await g.meta.countObjects());
      const s = await rotateMasterKey({ meta: g.meta, cold: g.cold, keyring: g.keyring, ...(log ? { log } : {}) }, (p) => bar.update(p.objects));
      const pending =
        (s.rewrappedUploads > 0 ? `; ${s.rewrappedUploads} in-progress uploads rewrapped` : '') +
        (s.pendingUploads > 0 ? `; ${s.pendingUploads} in-progress uploads changed meanwhile (run again)` : '');
      return finish(
        bar,
        s.failed > 0 || s.pendingUploads > 0 ? 1 : 0,
        `rotate-key: ${s.objects} objects, ${s.rewrapped} rewrapped under ${g.keyring.currentKeyId}, ${s.current} already current, ${s.failed} failed${pending}`,
      );
    }
  }
}

/** `tessera scrub|repair|gc|recover-index|rotate-key`. */
export async function durabilityMain(command: DurabilityCommand, argv: string[]): Promise<number> {
  // Each command takes only the flags its usage shows.
  const own: Record<DurabilityCommand, FlagSpec> = {
    scrub: {},
    repair: {},
    gc: { 'min-age': { type: 'string' }, 'dry-run': { type: 'boolean' } },
    'recover-index': { force: { type: 'boolean' } },
    'rotate-key': {},
  };
  const flags: DurabilityFlags = {};
  const { loaded, values } = parseCommand(command, argv, own[command], {
    validate: (_, v) => {
      if (typeof v['min-age'] !== 'string') return;
      const ms = parseDuration(v['min-age']);
      if (ms === undefined) throw new UsageError(command, '--min-age must be a duration such as 0, 30m or 1h');
      flags.minAgeMs = ms;
    },
  });
  if (values['dry-run'] === true) flags.dryRun = true;
  if (values.force === true) flags.force = true;
  const level = loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level;
  const logger = createLogger(level);
  const g = await openGateway(loaded.config, { logger, metrics: createMetrics(), background: false, reconcile: false });
  try {
    return (await runDurabilityCommand(command, g, loaded.config, flags, logger)).code;
  } catch (err) {
    if (err instanceof StoreNotEmptyError) {
      process.stderr.write(`tessera ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await g.close();
  }
}
