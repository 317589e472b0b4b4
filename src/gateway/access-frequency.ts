/**
 * How often each object was read lately, for the caches' admission filter (the TinyLFU idea): a cache that is full
 * admits a newcomer only when it has been read clearly more often than every object it would displace. Under a cyclic scan
 * larger than the cache (a training epoch) plain LRU evicts each object just before it is read again and hits
 * nothing; with the filter the cache keeps what it holds and hits budget/working-set of the reads. Counts are halved
 * every few passes over what is read, so a new working set that is read repeatedly outgrows an old one that is no
 * longer read: the cache follows the workload instead of freezing.
 *
 * Exact counts in a map rather than a count-min sketch: halving drops every object read once since the last halving,
 * so the map holds about the objects read since the last halving; a count saturates at 15, so a new working set
 * displaces an old one within 16 passes even if nothing halves meanwhile.
 */
/** Caps the map (a scan over ever new objects) at about this many entries, a dozen MB. */
const MAX_PERIOD = 1 << 17;

export class AccessFrequency {
  private readonly counts = new Map<string, number>();
  private sinceHalving = 0;

  /**
   * @param minPeriod fewest reads between two halvings; the period is otherwise four times the objects tracked, so a
   *   cyclic scan is counted over about four passes whatever its size
   */
  constructor(private readonly minPeriod = 256) {}

  record(id: string): void {
    this.counts.set(id, Math.min((this.counts.get(id) ?? 0) + 1, 15));
    if (++this.sinceHalving >= Math.min(Math.max(this.minPeriod, 4 * this.counts.size), MAX_PERIOD)) this.halve();
  }

  of(id: string): number {
    return this.counts.get(id) ?? 0;
  }

  /**
   * Whether `candidate` may displace objects read `victimFrequency` times (the most read of them): only with a lead
   * of two reads. Within one pass of a shuffled scan, an object not cached that was just read leads a cached one not
   * yet read by one: displacing it would trade a hit this pass for one next pass, and the cache would churn.
   */
  admits(candidate: string, victimFrequency: number): boolean {
    return this.of(candidate) >= victimFrequency + 2;
  }

  private halve(): void {
    this.sinceHalving = 0;
    for (const [id, n] of this.counts) {
      const half = n >> 1;
      if (half === 0) this.counts.delete(id);
      else this.counts.set(id, half);
    }
  }

  get size(): number {
    return this.counts.size;
  }
}
