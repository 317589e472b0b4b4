import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/logger.js';
import type { MetaStore } from './store.js';

/** A name for this process in leases and claims: readable in logs, unique across restarts and machines. */
export function newHolderId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** Lease time of background jobs: a killed holder is replaced within this long. */
export const DEFAULT_LEASE_TTL_MS = 15_000;

/**
 * One cluster-wide job ("gc", "repair-sweep", "hot-maintenance") that must run in one gateway at a time. Each step
 * runs only while this process holds the job's lease in the store; the lease is renewed during a long step, and a
 * step whose renewal fails is told to stop through its signal (another gateway may take over once the lease expires).
 * Every step is logged with its start and end, so a test can prove two gateways never ran one job at once.
 */
export class LeasedJob {
  private held = false;

  constructor(
    private readonly meta: MetaStore,
    readonly job: string,
    readonly holder: string,
    private readonly log: Logger,
    private readonly ttlMs: number = DEFAULT_LEASE_TTL_MS,
  ) {}

  /** Take or renew the lease; true when held afterwards. A store failure counts as not held. */
  async hold(): Promise<boolean> {
    let now: boolean;
    try {
      now = await this.meta.acquireLease(this.job, this.holder, this.ttlMs);
    } catch (err) {
      this.log.warn({ job: this.job, err: (err as Error).message }, 'lease could not be renewed');
      now = false;
    }
    if (now !== this.held) this.log.info({ job: this.job, holder: this.holder }, now ? 'lease acquired' : 'lease lost');
    this.held = now;
    return now;
  }

  /**
   * Run `step` if the lease is ours; returns undefined (without running it) when another gateway holds it. The
   * step's signal aborts when a renewal fails or `outer` aborts.
   */
  async run<T>(step: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T | undefined> {
    if (!(await this.hold())) return undefined;
    const stop = new AbortController();
    const onOuter = (): void => stop.abort(outer?.reason);
    outer?.addEventListener('abort', onOuter, { once: true });
    // Renew well before expiry; ttl/3 leaves two renewals' worth of slack for a slow store.
    const renew = setInterval(() => {
      void this.hold().then((ok) => {
        if (!ok) stop.abort(new Error(`lease ${this.job} lost`));
      });
    }, Math.max(50, Math.floor(this.ttlMs / 3)));
    renew.unref();
    const startedAt = Date.now();
    try {
      return await step(stop.signal);
    } finally {
      clearInterval(renew);
      outer?.removeEventListener('abort', onOuter);
      this.log.info({ job: this.job, holder: this.holder, startedAt, endedAt: Date.now() }, 'background step');
    }
  }

  /** Give the lease up (shutdown), so another gateway takes over at once rather than after the lease time. */
  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await this.meta.releaseLease(this.job, this.holder).catch(() => undefined);
  }
}
