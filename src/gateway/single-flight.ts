/**
 * Coalesces concurrent work on the same key: the first caller runs `work`, later callers get the same promise until
 * it settles. In-process only by design: it saves duplicate work, it is not needed for correctness (two gateways
 * reconstructing the same object concurrently is merely wasteful).
 */
export class SingleFlight<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  /** Returns [promise, joined]; joined is true when the caller attached to work already in flight. */
  run(key: string, work: () => Promise<T>): [Promise<T>, boolean] {
    const existing = this.inflight.get(key);
    if (existing) return [existing, true];
    const p = work().finally(() => {
      if (this.inflight.get(key) === p) this.inflight.delete(key);
    });
    this.inflight.set(key, p);
    return [p, false];
  }

  has(key: string): boolean {
    return this.inflight.has(key);
  }

  get size(): number {
    return this.inflight.size;
  }
}
