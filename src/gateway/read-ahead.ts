import type { ObjectRecord } from '../model/records.js';

/** What read-ahead needs from the rest of the gateway. */
export interface ReadAheadDeps {
  /** The current objects after `after` under `prefix`, in key order, at most `n`. */
  next(bucket: string, prefix: string, after: string, n: number): Promise<ObjectRecord[]>;
  /** Whether the object is already in the fastest tier (nothing to fetch). */
  cached(record: ObjectRecord): boolean;
  /** Fetch the object into the local cache; resolves when done, stops early when `signal` aborts. */
  fetch(record: ObjectRecord, signal: AbortSignal): Promise<void>;
  onOutcome?(outcome: 'started' | 'cancelled'): void;
}

export interface ReadAheadOptions {
  /** Objects fetched ahead of the reader. */
  depth: number;
  /** Bytes being fetched at once, over every stream. */
  budgetBytes: number;
  /** Ascending reads in a row before fetching ahead. */
  trigger?: number;
  /** A stream without reads for this long is forgotten (its fetches keep going; they fill the cache). */
  idleMs?: number;
}

/** Keys remembered per stream: several workers reading one sequence interleave, slightly out of order. */
const RECENT = 32;

/** How far past the listing a key of a starting walk may be: interleaved workers skip a key now and then. */
const SLACK = 1;
/** Keys listed past the newest read: where the walk's next reads are expected. */
const WINDOW = 4;

interface Stream {
  lastKey: string;
  /** The last keys read, any order. */
  recent: string[];
  /** The current ascending run of reads, oldest first. */
  runKeys: string[];
  /** Once a walk is recognised: the keys its next reads are expected among. */
  predicted: Set<string>;
  /** Bumped when the walk stops, so a listing in flight for it is dropped. */
  gen: number;
  run: number;
  lastRead: number;
  inflight: Map<string, { ctl: AbortController; bytes: number }>;
}

/**
 * Fetches ahead of a reader that reads the objects of one prefix in key order (shard-000001.tar, shard-000002.tar,
 * ...), the way training loaders walk a dataset: after `trigger` reads in a row under one prefix (the key up to its
 * last '/') of neighbouring keys in the listing, the next `depth` objects are fetched into the local cache, within a
 * byte budget for fetches in flight, and each read among the keys expected next fetches further. A read that breaks
 * the walk (before every one of the stream's recent reads, or ahead but not where the walk goes) cancels that
 * stream's fetches: a loader that jumps around must not pay for objects it will not read.
 */
export class ReadAhead {
  private readonly streams = new Map<string, Stream>();
  private inflightBytes = 0;

  constructor(
    private readonly deps: ReadAheadDeps,
    private readonly o: ReadAheadOptions,
  ) {}

  get bytesInFlight(): number {
    return this.inflightBytes;
  }

  /** A client read the whole object (or its start). */
  noteRead(record: ObjectRecord, now = Date.now()): void {
    if (this.o.depth <= 0) return;
    this.forgetIdle(now);
    const slash = record.key.lastIndexOf('/');
    const prefix = slash >= 0 ? record.key.slice(0, slash + 1) : '';
    const id = `${record.bucket}\u0000${prefix}`;
    let s = this.streams.get(id);
    if (!s) {
      s = { lastKey: record.key, recent: [record.key], runKeys: [record.key], predicted: new Set(), gen: 0, run: 1, lastRead: now, inflight: new Map() };
      this.streams.set(id, s);
      return;
    }
    s.lastRead = now;
    if (record.key === s.lastKey) return;
    const oldest = s.recent.reduce((a, b) => (b < a ? b : a));
    s.recent.push(record.key);
    if (s.recent.length > RECENT) s.recent.shift();
    if (record.key < s.lastKey) {
      // Behind the newest read but not behind the window: another worker of the same sequence, a little late.
      if (record.key > oldest) return;
      this.restart(s, record.key);
      s.recent = [record.key];
      return;
    }
    s.lastKey = record.key;
    if (s.predicted.size > 0) {
      // On the walk: fetch further. Ascending but elsewhere: a jump, the walk stopped.
      if (s.predicted.has(record.key)) void this.ahead(record.bucket, prefix, record.key, s);
      else this.restart(s, record.key);
      return;
    }
    s.runKeys.push(record.key);
    s.run++;
    if (s.run >= (this.o.trigger ?? 3)) void this.recognise(record.bucket, prefix, s);
  }

  /** The walk stopped: cancel its fetches and start counting again from `key`. */
  private restart(s: Stream, key: string): void {
    this.cancel(s);
    s.gen++;
    s.predicted.clear();
    s.runKeys = [key];
    s.run = 1;
    s.lastKey = key;
  }

  /**
   * Ascending reads are a walk only if they follow one another in the listing (within SLACK): three keys of a
   * shuffled epoch are often ascending, but seldom neighbours.
   */
  private async recognise(bucket: string, prefix: string, s: Stream): Promise<void> {
    const trigger = this.o.trigger ?? 3;
    const run = s.runKeys.slice(-trigger);
    const gen = s.gen;
    let listed: ObjectRecord[];
    try {
      listed = await this.deps.next(bucket, prefix, run[0]!, trigger - 1 + SLACK);
    } catch {
      return;
    }
    if (s.gen !== gen || s.predicted.size > 0) return;
    const near = new Set(listed.map((r) => r.key));
    if (!run.slice(1).every((k) => near.has(k))) return;
    await this.ahead(bucket, prefix, s.lastKey, s);
  }

  private async ahead(bucket: string, prefix: string, from: string, s: Stream): Promise<void> {
    const gen = s.gen;
    let next: ObjectRecord[];
    try {
      next = await this.deps.next(bucket, prefix, from, this.o.depth + WINDOW);
    } catch {
      return;
    }
    // The walk may have stopped while listing.
    if (s.gen !== gen) return;
    s.predicted = new Set([...s.predicted, ...next.map((r) => r.key)].filter((k) => k > s.lastKey || k === from));
    for (const r of next.slice(0, this.o.depth)) {
      if (s.inflight.has(r.key) || this.deps.cached(r) || r.size === 0) continue;
      if (this.inflightBytes + r.size > this.o.budgetBytes) break;
      const ctl = new AbortController();
      const f = { ctl, bytes: r.size };
      s.inflight.set(r.key, f);
      this.inflightBytes += r.size;
      this.deps.onOutcome?.('started');
      void this.deps
        .fetch(r, ctl.signal)
        .catch(() => undefined)
        .finally(() => {
          if (s.inflight.get(r.key) === f) {
            s.inflight.delete(r.key);
            this.inflightBytes -= f.bytes;
          }
        });
    }
  }

  private stop(s: Stream, key: string, f: { ctl: AbortController; bytes: number }): void {
    s.inflight.delete(key);
    this.inflightBytes -= f.bytes;
    f.ctl.abort();
    this.deps.onOutcome?.('cancelled');
  }

  private cancel(s: Stream): void {
    for (const [key, f] of s.inflight) this.stop(s, key, f);
  }

  private forgetIdle(now: number): void {
    const idle = this.o.idleMs ?? 60_000;
    for (const [id, s] of this.streams) {
      if (now - s.lastRead > idle && s.inflight.size === 0) this.streams.delete(id);
    }
  }

  /** Cancels every fetch (shutdown). */
  close(): void {
    for (const s of this.streams.values()) this.cancel(s);
    this.streams.clear();
  }
}
