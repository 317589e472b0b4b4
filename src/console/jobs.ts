import type { TesseraConfig } from '../config/types.js';
import type { Gateway } from '../gateway/gateway.js';
import { applyTiering, type TieringAction } from '../gateway/tiering.js';
import { remainingProblems, repairAll } from '../maintenance/repair.js';
import { recordScrub } from '../maintenance/scrub-record.js';
import { scrubAll } from '../maintenance/scrub.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';

export type JobKind = TieringAction | 'scrub' | 'repair';

export interface Job {
  id: number;
  kind: JobKind;
  /** BUCKET/PREFIX for tiering, '' for scrub and repair. */
  target: string;
  by: string;
  state: 'running' | 'done' | 'failed';
  startedAt: number;
  finishedAt?: number;
  done: number;
  total: number;
  summary: string;
}

/** Jobs kept for the list after they finished; and at most this many running at once. */
const KEEP = 20;
const MAX_RUNNING = 4;

/**
 * The console's actions, run in the gateway process with visible progress. They call what the CLI calls
 * (src/gateway/tiering.ts, scrubAll, repairAll); only one scrub or repair runs at a time.
 */
export class ConsoleJobs {
  private readonly jobs: Job[] = [];
  private nextId = 1;

  constructor(
    private readonly deps: { g: Gateway; config: TesseraConfig; metrics: Metrics; log: Logger; onFinish: () => void },
  ) {}

  list(): readonly Job[] {
    return this.jobs;
  }

  running(): number {
    return this.jobs.filter((j) => j.state === 'running').length;
  }

  /** Starts a job, or says why not (one line for the page). */
  start(kind: JobKind, target: { bucket: string; prefix: string } | undefined, by: string): Job | string {
    if (this.running() >= MAX_RUNNING) return `${MAX_RUNNING} jobs are running: wait for one to finish`;
    if ((kind === 'scrub' || kind === 'repair') && this.jobs.some((j) => j.state === 'running' && (j.kind === 'scrub' || j.kind === 'repair'))) {
      return 'a scrub or repair is running already';
    }
    if (kind !== 'scrub' && kind !== 'repair' && !target) return 'name a bucket';
    const job: Job = {
      id: this.nextId++,
      kind,
      target: target ? `${target.bucket}/${target.prefix}` : '',
      by,
      state: 'running',
      startedAt: Date.now(),
      done: 0,
      total: 0,
      summary: '',
    };
    this.jobs.unshift(job);
    while (this.jobs.length > KEEP) {
      const old = this.jobs.findLastIndex((j) => j.state !== 'running');
      if (old < 0) break;
      this.jobs.splice(old, 1);
    }
    this.deps.log.info({ job: job.id, kind, target: job.target, by }, 'console job started');
    void this.run(job, target).then(
      (summary) => this.finish(job, 'done', summary),
      (err: unknown) => this.finish(job, 'failed', err instanceof Error ? err.message : String(err)),
    );
    return job;
  }

  private finish(job: Job, state: 'done' | 'failed', summary: string): void {
    job.state = state;
    job.summary = summary;
    job.finishedAt = Date.now();
    this.deps.log.info({ job: job.id, kind: job.kind, state, summary }, 'console job finished');
    this.deps.onFinish();
  }

  private async run(job: Job, target: { bucket: string; prefix: string } | undefined): Promise<string> {
    const { g, config, metrics, log } = this.deps;
    const started = Date.now();
    if (job.kind === 'scrub') {
      job.total = await g.meta.countObjects();
      const s = await scrubAll(g.meta, g.cold, (p) => (job.done = p.objects));
      recordScrub(config.dataDir, { kind: 'scrub', finishedAt: new Date().toISOString(), durationMs: Date.now() - started, summary: s });
      return `${s.objects} objects, ${s.shards} shards: ${s.ok} ok, ${s.missing} missing, ${s.corrupt} corrupt, ${s.unreachable} unreachable`;
    }
    if (job.kind === 'repair') {
      job.total = await g.meta.countObjects();
      const s = await repairAll({ cold: g.cold, meta: g.meta, metrics, log }, { maxBytesPerSecond: config.cold.repair.maxBytesPerSecond, onProgress: (p) => (job.done = p.objects) });
      recordScrub(config.dataDir, { kind: 'repair', finishedAt: new Date().toISOString(), durationMs: Date.now() - started, summary: s });
      return `${s.objects} objects: ${s.rebuilt} shards rebuilt, ${s.failed} could not be rebuilt, ${remainingProblems(s)} problems left`;
    }
    if (!target) throw new Error('no target');
    const s = await applyTiering(g, job.kind, target, (p) => {
      job.done = p.seen;
      job.total = p.total;
    });
    job.done = s.seen;
    job.total = s.seen;
    const verb = { warm: 'warmed', evict: 'evicted', pin: 'pinned', unpin: 'unpinned' }[job.kind];
    return `${verb} ${s.changed} of ${s.seen} objects (${s.bytes} bytes)${s.failed ? `, ${s.failed} could not be promoted` : ''}`;
  }
}
