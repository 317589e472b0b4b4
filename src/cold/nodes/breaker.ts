import type { Readable } from 'node:stream';
import { NodeError, type NodeDriver, type NodeErrorKind, type NodeHealth } from './driver.js';
import { isAbortError } from '../../util/abort.js';

/**
 * A per-node circuit breaker. After `failureThreshold` consecutive failures that say "the node is not there"
 * (unavailable, timeout, auth) the circuit opens: calls fail fast with NodeError('unavailable') and isHealthy() is
 * false, so placement and reads skip the node instead of waiting on timeouts. After `coolDownMs` the circuit is
 * half-open: exactly one call (any operation, health included, so a periodic health probe revives a node) goes
 * through as a trial; success closes the circuit, failure re-opens it for another cool-down. Calls arriving during
 * the trial wait for its outcome (then go through, or fail fast if it re-opened), and a half-open node counts as
 * healthy: otherwise the health probe's trial, right after nodes restart, made placement see too few nodes.
 *
 * Answers that prove the node is reachable (not-found, bad-request, full, too-large, corrupt) count as successes;
 * caller aborts count as nothing.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit; default 5. */
  failureThreshold?: number;
  /** How long an open circuit rejects calls before a trial; default 30 s. */
  coolDownMs?: number;
  /** Injected clock (tests). */
  now?: () => number;
}

export interface BreakerStateChange {
  node: string;
  from: BreakerState;
  to: BreakerState;
  /** The failure that caused an open transition. */
  cause?: NodeError;
}

export interface BreakerCounters {
  state: BreakerState;
  consecutiveFailures: number;
  /** Calls that reached the node and failed with a breaker-relevant kind. */
  failures: number;
  /** Calls that reached the node and got an answer. */
  successes: number;
  /** Calls refused without reaching the node because the circuit was open. */
  rejected: number;
  /** Times the circuit opened. */
  opens: number;
}

/** Recent call latencies kept per node for the console's p50/p99 (a ring: the figures follow the node's current state). */
const LATENCY_SAMPLES = 512;

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
}

const BREAKING_KINDS: ReadonlySet<NodeErrorKind> = new Set(['unavailable', 'timeout', 'auth']);

export function isBreakingFailure(err: unknown): err is NodeError {
  return err instanceof NodeError && BREAKING_KINDS.has(err.kind);
}

type Outcome = 'success' | 'failure' | 'ignored';

function outcomeOf(err: unknown): Outcome {
  if (isAbortError(err)) return 'ignored';
  if (isBreakingFailure(err)) return 'failure';
  // Non-NodeErrors are bugs or unexpected failures of the driver; treat them as the node being unusable.
  return err instanceof NodeError ? 'success' : 'failure';
}

export class GuardedNode implements NodeDriver {
  readonly name: string;
  readonly kind: NodeDriver['kind'];
  readonly weight: number;

  private state: BreakerState = 'closed';
  private openedAt = 0;
  private trialInFlight = false;
  /** Settles when the running trial does; calls that arrive meanwhile wait on it. */
  private trialDone: Promise<void> = Promise.resolve();
  private endTrial: () => void = () => undefined;
  private consecutiveFailures = 0;
  private counts = { failures: 0, successes: 0, rejected: 0, opens: 0 };
  private readonly latencies = new Float64Array(LATENCY_SAMPLES);
  private latencyCount = 0;
  private readonly listeners = new Set<(change: BreakerStateChange) => void>();
  private readonly threshold: number;
  private readonly coolDownMs: number;
  private readonly now: () => number;

  constructor(
    readonly inner: NodeDriver,
    opts: BreakerOptions = {},
  ) {
    this.name = inner.name;
    this.kind = inner.kind;
    this.weight = inner.weight;
    this.threshold = Math.max(1, opts.failureThreshold ?? 5);
    this.coolDownMs = opts.coolDownMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** True unless the circuit is open: closed, or half-open (a call goes through as the trial, or after it). */
  isHealthy(): boolean {
    this.maybeHalfOpen();
    return this.state !== 'open';
  }

  getState(): BreakerState {
    this.maybeHalfOpen();
    return this.state;
  }

  counters(): BreakerCounters {
    return { state: this.getState(), consecutiveFailures: this.consecutiveFailures, ...this.counts };
  }

  /**
   * Latency of the node's recent calls that got an answer (time to the answer: for a get, until its body starts
   * streaming), over the last LATENCY_SAMPLES of them.
   */
  latency(): LatencySummary {
    const n = Math.min(this.latencyCount, LATENCY_SAMPLES);
    if (n === 0) return { samples: 0, p50Ms: 0, p99Ms: 0 };
    const sorted = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] ?? 0;
    return { samples: n, p50Ms: at(0.5), p99Ms: at(0.99) };
  }

  private recordLatency(ms: number): void {
    this.latencies[this.latencyCount % LATENCY_SAMPLES] = ms;
    this.latencyCount++;
  }

  /** Subscribe to state transitions; returns the unsubscribe function. */
  onStateChange(listener: (change: BreakerStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  put(shardId: string, body: Readable, length: number, signal?: AbortSignal): Promise<string> {
    return this.guard(() => this.inner.put(shardId, body, length, signal), () => body.destroy());
  }

  async get(handle: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable> {
    const stream = await this.guard(() => this.inner.get(handle, range, signal));
    // A body that dies mid-way (node killed, stall) is a node failure too, reported after the call "succeeded".
    stream.once('error', (err) => {
      if (outcomeOf(err) === 'failure') this.recordFailure(err);
    });
    return stream;
  }

  delete(handle: string, signal?: AbortSignal): Promise<void> {
    return this.guard(() => this.inner.delete(handle, signal));
  }

  stat(handle: string, signal?: AbortSignal): Promise<{ size: number } | null> {
    return this.guard(() => this.inner.stat(handle, signal));
  }

  /** Passes through whatever extra fields (mtimeMs) the inner driver's items carry. */
  async *list(signal?: AbortSignal): AsyncGenerator<{ handle: string; size: number; mtimeMs?: number }> {
    const trial = await this.admit();
    try {
      for await (const item of this.inner.list(signal)) yield item;
      this.settle(trial, 'success');
    } catch (err) {
      this.settle(trial, outcomeOf(err), err);
      throw err;
    } finally {
      // An early break by the consumer leaves a trial neither won nor lost.
      if (trial && this.trialInFlight) this.finishTrial();
    }
  }

  async health(signal?: AbortSignal): Promise<NodeHealth> {
    let trial: boolean;
    try {
      trial = await this.admit();
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message : 'circuit open' };
    }
    const started = performance.now();
    const result = await this.inner.health(signal);
    if (result.ok) this.recordLatency(performance.now() - started);
    if (signal?.aborted) this.settle(trial, 'ignored');
    else if (result.ok) this.settle(trial, 'success');
    else this.settle(trial, 'failure', new NodeError(this.name, 'unavailable', result.reason ?? 'health check failed'));
    return result;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async guard<T>(call: () => Promise<T>, onRejected?: () => void): Promise<T> {
    let trial: boolean;
    try {
      trial = await this.admit();
    } catch (err) {
      onRejected?.();
      throw err;
    }
    const started = performance.now();
    try {
      const result = await call();
      this.recordLatency(performance.now() - started);
      this.settle(trial, 'success');
      return result;
    } catch (err) {
      this.settle(trial, outcomeOf(err), err);
      throw err;
    }
  }

  /** Lets a call through or throws; returns whether the call is the half-open trial. */
  private async admit(): Promise<boolean> {
    this.maybeHalfOpen();
    while (this.state === 'half-open' && this.trialInFlight) {
      await this.trialDone;
      this.maybeHalfOpen();
    }
    if (this.state === 'closed') return false;
    if (this.state === 'half-open') {
      this.trialInFlight = true;
      this.trialDone = new Promise((resolve) => (this.endTrial = resolve));
      return true;
    }
    this.counts.rejected++;
    const retryIn = Math.max(0, this.openedAt + this.coolDownMs - this.now());
    throw new NodeError(this.name, 'unavailable', `circuit open (retry in ${retryIn} ms)`);
  }

  private finishTrial(): void {
    this.trialInFlight = false;
    this.endTrial();
  }

  private settle(trial: boolean, outcome: Outcome, err?: unknown): void {
    if (trial) this.finishTrial();
    if (outcome === 'success') {
      this.counts.successes++;
      this.consecutiveFailures = 0;
      if (this.state !== 'closed') this.transition('closed');
    } else if (outcome === 'failure') {
      this.recordFailure(err);
    }
  }

  private recordFailure(err: unknown): void {
    this.counts.failures++;
    this.consecutiveFailures++;
    const cause =
      err instanceof NodeError ? err : new NodeError(this.name, 'unavailable', err instanceof Error ? err.message : 'failure');
    if (this.state === 'half-open' || (this.state === 'closed' && this.consecutiveFailures >= this.threshold)) {
      this.openedAt = this.now();
      this.counts.opens++;
      this.transition('open', cause);
    }
  }

  private maybeHalfOpen(): void {
    if (this.state === 'open' && this.now() - this.openedAt >= this.coolDownMs) this.transition('half-open');
  }

  private transition(to: BreakerState, cause?: NodeError): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    const change: BreakerStateChange = cause ? { node: this.name, from, to, cause } : { node: this.name, from, to };
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A broken listener must not break the data path.
      }
    }
  }
}
