import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { FsHotTier } from '../hot/fs.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { makePrivateDir } from '../util/private-files.js';
import { waitDrainOrClose } from '../util/drain.js';
import { AccessFrequency } from './access-frequency.js';

interface Entry {
  bytes: number;
  /** Being written (not readable, not evictable). */
  filling: boolean;
  /** Hot-tier uploads reading the file (not evictable). */
  pins: number;
}

/** Receives a blob's bytes in order; see LocalCache.admit. */
export interface LocalFill {
  readonly cache: LocalCache;
  write(chunk: Buffer): Promise<void>;
  /** All bytes written: true when the blob is stored and readable. */
  commit(): Promise<boolean>;
  abort(): Promise<void>;
}

/** A process's directory under the cache root: `p<PID>`. */
const PROCESS_DIR = /^p(\d+)$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The local cache tier: blobs (the hot tier's form, ciphertext by default) on the gateway machine's own disk, in
 * front of the remote hot tier. Each gateway process owns a directory of its own (`ROOT/p<PID>`) and keeps its index
 * in memory: the budget is enforced at admission (bytes are reserved before the first byte is written, and victims'
 * files are deleted before the reservation counts), so the directory never holds more than the budget. Eviction is
 * least recently used among objects not being written or uploaded; admission, when something must be evicted, asks
 * the access-frequency filter. Blobs are named by object id, which is never reused for other bytes (an overwrite is
 * a new object id), so an entry can be stale only as garbage: a read is always asked for the id its record names.
 */
export class LocalCache {
  /** Least recently used first (a Map keeps insertion order; a hit re-inserts). */
  private readonly entries = new Map<string, Entry>();
  private usedBytes = 0;
  private readonly deleting = new Set<Promise<void>>();
  private admission: Promise<unknown> = Promise.resolve();
  readonly frequency = new AccessFrequency();

  private constructor(
    private readonly files: FsHotTier,
    readonly budgetBytes: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Whether an object still exists: a deleted or overwritten object's blob never holds off a newcomer. */
    private readonly isLive: (objectId: string) => Promise<boolean>,
    /** A spool stages blobs for the hot tier only: it admits what fits, evicts nothing, counts no hits. */
    private readonly spool: boolean,
  ) {
    if (!spool) metrics.localBytes.set(0);
  }

  /**
   * Open this process's directory under `root`, emptied (a previous process's blobs are not in anyone's index), and
   * remove the directories of processes that are gone.
   */
  static async open(root: string, budgetBytes: number, metrics: Metrics, log: Logger, isLive: (objectId: string) => Promise<boolean>, opts: { spool?: boolean } = {}): Promise<LocalCache> {
    makePrivateDir(root);
    for (const name of await fsp.readdir(root)) {
      const m = PROCESS_DIR.exec(name);
      if (m && (Number(m[1]) === process.pid || !processAlive(Number(m[1])))) await fsp.rm(path.join(root, name), { recursive: true, force: true });
    }
    const files = await FsHotTier.open(path.join(root, `p${process.pid}`));
    return new LocalCache(files, budgetBytes, metrics, log, isLive, opts.spool === true);
  }

  /**
   * Remove these objects' blobs from every process's directory under `root` (`tessera evict` beside running
   * gateways): their next read finds the file gone, counts a miss and forgets the entry.
   */
  static async dropEverywhere(root: string, objectIds: Iterable<string>): Promise<void> {
    let dirs: string[];
    try {
      dirs = (await fsp.readdir(root)).filter((n) => PROCESS_DIR.test(n));
    } catch {
      return;
    }
    const ids = [...objectIds];
    for (const d of dirs) {
      await Promise.all(ids.map((id) => fsp.rm(path.join(root, d, id), { force: true })));
    }
  }

  get bytes(): number {
    return this.usedBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  has(objectId: string): boolean {
    const e = this.entries.get(objectId);
    return e !== undefined && !e.filling;
  }

  /** A read of this object (hit or miss), for the admission filter. */
  noteRead(objectId: string): void {
    this.frequency.record(objectId);
  }

  /** The blob, or a range of it; null on a miss (counted). A hit makes the object the most recently used. */
  async read(objectId: string, range?: { offset: number; length: number }): Promise<Readable | null> {
    const e = this.entries.get(objectId);
    if (e === undefined || e.filling) {
      this.metrics.localMisses.inc();
      return null;
    }
    let stream: Readable | null = null;
    try {
      stream = await this.files.get(objectId, range);
    } catch (err) {
      this.log.warn({ objectId, err: (err as Error).message }, 'local cache read failed; reading the next tier');
    }
    if (stream === null) {
      // Deleted under us (`tessera evict`, an operator): forget it.
      if (this.entries.get(objectId) === e) this.forgetEntry(objectId, e);
      this.metrics.localMisses.inc();
      return null;
    }
    this.entries.delete(objectId);
    this.entries.set(objectId, e);
    this.metrics.localHits.inc();
    return stream;
  }

  /** Runs `fn` after every earlier admission has finished. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.admission.then(fn, fn);
    this.admission = run.catch(() => undefined);
    return run;
  }

  /**
   * Reserve `bytes` for `objectId` and open a writer for its blob; undefined when it is not admitted: larger than
   * the budget, already cached or being written, or the cache is full and the objects it would displace are read at
   * least as often (or cannot be evicted now). Readers of evicted blobs keep reading them (their files are open).
   */
  admit(objectId: string, bytes: number): Promise<LocalFill | undefined> {
    return this.serialize(async () => {
      if (bytes > this.budgetBytes || this.entries.has(objectId)) return this.refused();
      if (this.usedBytes + bytes > this.budgetBytes) {
        if (this.spool) return undefined;
        const victims = await this.victimsFor(objectId, bytes);
        if (victims === undefined) return this.refused();
        for (const [id, e] of victims) {
          this.entries.delete(id);
          await this.files.delete(id).catch((err: Error) => this.log.warn({ objectId: id, err: err.message }, 'local cache: cannot delete an evicted blob'));
          this.usedBytes -= e.bytes;
          this.metrics.localEvictions.inc();
        }
      }
      const entry: Entry = { bytes, filling: true, pins: 0 };
      this.entries.set(objectId, entry);
      this.usedBytes += bytes;
      if (!this.spool) this.metrics.localBytes.set(this.usedBytes);
      return this.fill(objectId, entry);
    });
  }

  /**
   * The least recently used evictable entries to evict for `bytes` more, or undefined when there are not enough or
   * the admission filter prefers them to the candidate. Entries of objects that no longer exist are dropped first.
   */
  private async victimsFor(candidate: string, bytes: number): Promise<Array<[string, Entry]> | undefined> {
    for (let pass = 0; pass < 2; pass++) {
      const excess = this.usedBytes + bytes - this.budgetBytes;
      if (excess <= 0) return [];
      const victims: Array<[string, Entry]> = [];
      let freed = 0;
      let hottest = 0;
      for (const [id, e] of this.entries) {
        if (e.filling || e.pins > 0) continue;
        victims.push([id, e]);
        freed += e.bytes;
        hottest = Math.max(hottest, this.frequency.of(id));
        if (freed >= excess) break;
      }
      if (freed < excess) return undefined;
      if (this.frequency.admits(candidate, hottest)) return victims;
      if (pass === 1) return undefined;
      // Refused: unless some of these are garbage (deleted or overwritten, possibly through another gateway), whose
      // past reads must not keep the cache from following the workload.
      let dropped = false;
      for (const [id, e] of victims) {
        if (this.frequency.admits(candidate, this.frequency.of(id)) || (await this.isLive(id).catch(() => true))) continue;
        if (this.entries.get(id) === e) this.forgetEntry(id, e);
        dropped = true;
      }
      if (!dropped) return undefined;
    }
    return undefined;
  }

  private refused(): undefined {
    if (!this.spool) this.metrics.localRefusals.inc();
    return undefined;
  }

  private fill(objectId: string, entry: Entry): LocalFill {
    const pipe = new PassThrough({ highWaterMark: 1 << 20 });
    const abort = new AbortController();
    const stored = this.files.put(objectId, pipe, entry.bytes, abort.signal);
    let failed = false;
    stored.catch(() => {
      failed = true;
      pipe.destroy();
    });
    const release = (): void => {
      if (this.entries.get(objectId) === entry) this.forgetEntry(objectId, entry);
    };
    return {
      cache: this,
      write: async (chunk) => {
        if (failed || pipe.destroyed) return;
        if (!pipe.write(chunk)) await waitDrainOrClose(pipe);
      },
      commit: async () => {
        pipe.end();
        try {
          await stored;
        } catch (err) {
          this.log.warn({ objectId, err: (err as Error).message }, 'local cache write failed');
          release();
          return false;
        }
        if (this.entries.get(objectId) !== entry) return false;
        entry.filling = false;
        return true;
      },
      abort: async () => {
        abort.abort();
        pipe.destroy();
        await stored.catch(() => undefined);
        release();
      },
    };
  }

  private forgetEntry(objectId: string, e: Entry): void {
    this.entries.delete(objectId);
    this.usedBytes -= e.bytes;
    if (!this.spool) this.metrics.localBytes.set(this.usedBytes);
    const deleting = this.files.delete(objectId).catch(() => undefined);
    this.deleting.add(deleting);
    void deleting.finally(() => this.deleting.delete(deleting));
  }

  /** Resolves once the files of entries already forgotten are gone from disk. */
  async settled(): Promise<void> {
    while (this.deleting.size > 0) await Promise.all([...this.deleting]);
  }

  /** Keep the blob from eviction until unpinned (its upload to the hot tier is queued); false when not cached. */
  pin(objectId: string): boolean {
    const e = this.entries.get(objectId);
    if (e === undefined || e.filling) return false;
    e.pins++;
    return true;
  }

  unpin(objectId: string): void {
    const e = this.entries.get(objectId);
    if (e !== undefined && e.pins > 0) e.pins--;
  }

  /** A pinned blob's bytes, not counted as a read; null when its file is gone. */
  openPinned(objectId: string): Promise<Readable | null> {
    return this.files.get(objectId).catch(() => null);
  }

  /** Drop an object's blob (deleted, evicted by an operator, or uploaded from the spool). */
  forget(objectId: string): void {
    const e = this.entries.get(objectId);
    if (e !== undefined && !e.filling) this.forgetEntry(objectId, e);
  }

  async close(): Promise<void> {
    await this.admission;
  }
}
