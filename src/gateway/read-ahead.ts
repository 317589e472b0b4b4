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

interface Stream {
  lastKey: string;
  /** The last keys read, any order. */
  recent: string[];
  run: number;
  lastRead: number;
  inflight: Map<string, { ctl: AbortController; bytes: number }>;
}

/**
 * Fetches ahead of a reader that reads the objects of one prefix in key order (shard-000001.tar, shard-000002.tar,
 * ...), the way training loaders walk a dataset: after `trigger` ascending reads in a row under one prefix (the key up
 * to its last '/'), the next `depth` objects are fetched into the local cache, within a byte budget for fetches in
 * flight. A read that breaks the order (before every one of the stream's recent reads) cancels that stream's
 * fetches: a loader that jumps around must not pay for objects it will not read.
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
      s = { lastKey: record.key, recent: [record.key], run: 1, lastRead: now, inflight: new Map() };
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
      this.cancel(s);
      s.run = 1;
      s.recent = [record.key];
      s.lastKey = record.key;
      return;
    }
    s.run++;
    s.lastKey = record.key;
    if (s.run >= (this.o.trigger ?? 3)) void this.ahead(record.bucket, prefix, record.key, s);
  }

  private async ahead(bucket: string, prefix: string, from: string, s: Stream): Promise<void> {
    let next: ObjectRecord[];
    try {
      next = await this.deps.next(bucket, prefix, from, this.o.depth);
    } catch {
      return;
    }
    // The reader may have moved on (or away) while listing.
    if (s.lastKey !== from) return;
    for (const r of next) {
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
