/**
 * Per-client shares of the request slots: one access key or one source address cannot hold more than its share,
 * so a client that opens hundreds of requests and never sends their bodies leaves the other users served.
 * Counts are per gateway process, like server.maxConcurrentRequests.
 */
export class FairShare {
  private readonly held = new Map<string, number>();

  constructor(private readonly limit: number) {}

  /** Takes a slot for `who`; false (and nothing taken) when `who` already holds its share. */
  tryTake(who: string): boolean {
    const n = this.held.get(who) ?? 0;
    if (n >= this.limit) return false;
    this.held.set(who, n + 1);
    return true;
  }

  release(who: string): void {
    const n = this.held.get(who) ?? 0;
    if (n <= 1) this.held.delete(who);
    else this.held.set(who, n - 1);
  }

  holding(who: string): number {
    return this.held.get(who) ?? 0;
  }
}
