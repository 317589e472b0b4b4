import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import type { ColdStore } from '../cold/cold-store.js';
import type { Keyring } from '../cold/keys.js';
import { hotRangeForPlainRange, hotSegmentSize, planSegments, writerChunkSize } from '../model/layout.js';
import { HotDecryptStream } from '../cold/codec/hot.js';
import type { HotConfig } from '../config/types.js';
import type { MetaStore } from '../meta/store.js';
import type { ObjectRecord } from '../model/records.js';
import { isInline } from '../model/manifest.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { sleep } from '../util/abortable-sleep.js';
import type { HotCache } from './hot-cache.js';
import { SingleFlight } from './single-flight.js';
import { isColdError } from '../cold/errors.js';
import { waitDrainOrClose } from '../util/drain.js';
import type { LocalCache, LocalFill } from './local-cache.js';

/** Hot-tier uploads at once; each holds up to a few parts (S3 multipart) of buffered data. */
const MAX_CONCURRENT_HOT_WRITES = 4;
/** Share of the local cache that blobs waiting for their hot-tier upload may hold (they cannot be evicted). */
const UPLOAD_QUEUE_SHARE = 0.5;

import type { ByteRange } from './types.js';

/** A blob on local disk waiting for its hot-tier upload. */
interface UploadJob {
  record: ObjectRecord;
  bytes: number;
  source: LocalCache;
  /** Already holds its hot-tier reservation (spooled). */
  preAdmitted: boolean;
  done: (hot: boolean) => void;
}

/** Receives an object's hot-tier bytes in order while they are produced elsewhere (PUT write-through, cold reads). */
export interface HotSink {
  /** Which form the hot tier stores. */
  readonly form: 'ciphertext' | 'plaintext';
  /** Resolves when the sink can take more (backpressure). */
  write(chunk: Buffer): Promise<void>;
  /** All bytes written: wait for the hot tier to store them, then mark the object hot. True when it is hot now. */
  commit(): Promise<boolean>;
  abort(): Promise<void>;
}

/** Bytes of an object in the hot tier, in the configured form. */
export function hotBlobSize(record: Pick<ObjectRecord, 'size' | 'manifest'>, form: HotSink['form']): number {
  if (form === 'plaintext') return record.size;
  return record.manifest.segments.reduce((n, s) => n + hotSegmentSize(s.plainSize, s.chunkSize), 0);
}

/**
 * The read path: local cache tier (when configured), then hot tier, then cold tier; a hit in a slower tier fills the
 * faster ones when their admission allows. On a miss, one reconstruction per object at a time (single-flight) streams
 * to the first reader and fills the local cache on the way; its upload to the remote hot tier is queued from the
 * local file afterwards, so the hot tier's speed never limits the client. Without a local cache (or when it does not
 * admit the object) the reconstruction fills the hot tier directly. Readers that arrive meanwhile wait for that fill
 * and then read the copy. A cache tier failing never fails a read the cold tier can serve.
 */
export class ObjectReader {
  private readonly promotions = new SingleFlight<boolean>();
  /** Hot-tier writes (promotions, write-through) in progress. */
  private openSinks = 0;
  /** Readers waiting on each object's promotion: a slow first client is detached only when someone waits. */
  private readonly waiting = new Map<string, number>();
  /** Local-cache blobs waiting for their upload to the hot tier (pinned in the local cache meanwhile). */
  private readonly uploads: UploadJob[] = [];
  private uploadBytes = 0;
  private uploadsRunning = 0;
  private uploadsIdle: Array<() => void> = [];

  constructor(
    private readonly hot: HotCache,
    private readonly cold: ColdStore,
    private readonly meta: MetaStore,
    private readonly keyring: Keyring,
    private readonly policy: HotConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly local?: LocalCache,
    /** Where promotions wait for a hot-tier writer when the local cache is off (a remote hot tier only). */
    private readonly spool?: LocalCache,
  ) {}

  private get form(): HotSink['form'] {
    return this.policy.encrypt ? 'ciphertext' : 'plaintext';
  }

  async open(record: ObjectRecord, range?: ByteRange): Promise<Readable> {
    const r = range ?? { offset: 0, length: record.size };
    if (r.length === 0 || record.size === 0) return Readable.from([]);
    // Small objects carry their bytes in the record: already in memory, nothing to cache or rebuild.
    if (isInline(record.manifest)) {
      this.metrics.inlineReads.inc();
      const whole = r.offset === 0 && r.length === record.size;
      if (record.hot === 'cold' && (this.policy.promote === 'always' || (this.policy.promote === 'full-read' && whole))) void this.markInlineHot(record).catch(() => undefined);
      return this.cold.openRange(record.manifest, this.dataKey(record), r);
    }
    this.hot.frequency.record(record.objectId);
    this.local?.noteRead(record.objectId);
    const local = await this.openLocal(record, r);
    if (local) return local;
    if (record.hot === 'hot') {
      const s = await this.openHot(record, r, this.policy.promote !== 'never');
      if (s) return s;
    }
    if (this.promotions.has(record.objectId)) return this.afterPromotion(record, r);
    this.metrics.hotMisses.inc();
    const whole = r.offset === 0 && r.length === record.size;
    const promote = this.policy.promote === 'always' || (this.policy.promote === 'full-read' && whole);
    if (promote && whole) return this.readAndPromote(record);
    const stream = await this.openCold(record, r);
    if (promote) void this.promoteInBackground(record);
    return stream;
  }

  /**
   * Someone is reconstructing this object right now: wait for its promotion and read the hot copy rather than rebuild
   * it again. The promotion runs at the cold read's pace (a slow first client is detached from it, see
   * readAndPromote), so the wait is bounded by one reconstruction. When it did not promote, read cold.
   */
  private async afterPromotion(record: ObjectRecord, r: ByteRange): Promise<Readable> {
    this.metrics.coalescedReads.inc();
    const id = record.objectId;
    const [p] = this.promotions.run(id, () => Promise.resolve(false));
    this.waiting.set(id, (this.waiting.get(id) ?? 0) + 1);
    const promoted = await p.catch(() => false);
    const left = (this.waiting.get(id) ?? 1) - 1;
    if (left > 0) this.waiting.set(id, left);
    else this.waiting.delete(id);
    if (promoted) {
      const s = (await this.openLocal(record, r)) ?? (await this.openHot(record, r, false));
      if (s) return s;
    }
    this.metrics.hotMisses.inc();
    return this.openCold(record, r);
  }

  private dataKey(record: ObjectRecord): Buffer {
    const m = record.manifest;
    return this.keyring.unwrap(m.objectId, m.keyId, m.wrappedKey);
  }

  /** The part of the blob that holds plaintext range `r`, or undefined for the whole blob. */
  private blobRange(record: ObjectRecord, r: ByteRange): ByteRange | undefined {
    const hotRange = this.form === 'plaintext' ? r : hotRangeForPlainRange(record.manifest.segments, r.offset, r.length);
    // A whole blob is asked for without a range: Ceph RGW answers a ranged GET ~15 ms later than a plain one.
    return hotRange.offset === 0 && hotRange.length === hotBlobSize(record, this.form) ? undefined : hotRange;
  }

  private async openLocal(record: ObjectRecord, r: ByteRange): Promise<Readable | null> {
    if (!this.local) return null;
    const raw = await this.local.read(record.objectId, this.blobRange(record, r));
    if (!raw) return null;
    const local = this.local;
    return this.plaintextOf(raw, record, r, 'local cache', () => local.forget(record.objectId));
  }

  /** From the hot tier; with `fillLocal`, a whole-blob read also fills the local cache when it admits the object. */
  private async openHot(record: ObjectRecord, r: ByteRange, fillLocal: boolean): Promise<Readable | null> {
    const range = this.blobRange(record, r);
    const raw = await this.hot.read(record.objectId, range);
    if (!raw) return null;
    this.metrics.hotHits.inc();
    this.hot.touch(record.objectId);
    const fill = fillLocal && range === undefined && this.local ? await this.local.admit(record.objectId, hotBlobSize(record, this.form)) : undefined;
    return this.plaintextOf(fill ? teeInto(raw, fill) : raw, record, r, 'hot tier', () => void this.hot.evict(record.objectId).catch(() => undefined));
  }

  /**
   * Blob bytes to the plaintext of `r`. A blob that fails authentication is dropped from its tier (`drop`), so the
   * next read goes to the next tier; the cold copy is intact.
   */
  private plaintextOf(raw: Readable, record: ObjectRecord, r: ByteRange, tier: string, drop: () => void): Readable {
    if (this.form === 'plaintext') return raw;
    const plain = new HotDecryptStream({ objectId: record.objectId, dk: this.dataKey(record), segments: record.manifest.segments, offset: r.offset, length: r.length });
    plain.once('error', (err) => {
      if (isColdError(err, 'Corrupt')) {
        this.metrics.hotErrors.inc({ op: 'corrupt' });
        this.log.error({ objectId: record.objectId, tier }, 'cached copy failed authentication; dropping it (the cold copy is intact)');
        drop();
      }
    });
    // One stream stage from blob to plaintext; a client that goes away (plain destroyed) also closes the blob's file/socket.
    pipeline(raw, plain, () => undefined);
    return plain;
  }

  /** The plaintext rebuilt from the cold tier, whatever the hot tier holds, and nothing promoted (snapshot verify). */
  openFromColdTier(record: ObjectRecord): Promise<Readable> {
    if (record.size === 0) return Promise.resolve(Readable.from([]));
    return this.openCold(record, { offset: 0, length: record.size });
  }

  private async openCold(record: ObjectRecord, r: ByteRange): Promise<Readable> {
    this.metrics.reconstructions.inc();
    return this.cold.openRange(record.manifest, this.dataKey(record), r);
  }

  /**
   * A full cold read that also fills the hot tier: the client's stream and the hot write share one reconstruction,
   * paced by the client. When other readers are waiting for this promotion and the client has fallen behind, it is
   * detached and finishes from its own cold read, so one slow client never holds back the readers waiting on it.
   */
  private async readAndPromote(record: ObjectRecord): Promise<Readable> {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    // A failure before `out` is handed out destroys it with nobody listening; unheard, 'error' crashes the process.
    out.on('error', () => undefined);
    let resolveStarted!: (v: Readable | Error) => void;
    const started = new Promise<Readable | Error>((res) => (resolveStarted = res));
    const [done, joined] = this.promotions.run(record.objectId, async () => {
      let sink: HotSink | undefined;
      try {
        sink = (await this.openLocalSink(record)) ?? (await this.openSink(record)) ?? (await this.openSpoolSink(record));
      } catch (err) {
        this.log.warn({ objectId: record.objectId, err: (err as Error).message }, 'hot tier admission failed; serving from the cold tier');
      }
      if (!sink) {
        // Nothing to promote into: a plain cold read, and the single-flight entry clears at once.
        await this.openCold(record, { offset: 0, length: record.size }).then(resolveStarted, resolveStarted);
        return false;
      }
      let stream: Readable | undefined;
      try {
        this.metrics.reconstructions.inc();
        const hotSink = sink;
        stream = await this.cold.openRange(record.manifest, this.dataKey(record), { offset: 0, length: record.size }, hotSink.form === 'ciphertext' ? { onCiphertext: (c) => hotSink.write(c) } : {});
        resolveStarted(out);
        let clientGone = false;
        out.on('close', () => (clientGone = true));
        let queued = 0;
        for await (const chunk of chunksOf(stream)) {
          if (hotSink.form === 'plaintext') await hotSink.write(chunk);
          if (clientGone) continue;
          const more = out.write(chunk);
          queued += chunk.length;
          if (!more && (await this.clientOrWaiters(out, record.objectId)) === 'waiters') {
            clientGone = true;
            this.detach(record, out, queued);
          }
        }
        if (!clientGone) out.end();
        return await hotSink.commit();
      } catch (err) {
        stream?.destroy();
        await sink.abort().catch(() => undefined);
        resolveStarted(err as Error);
        out.destroy(err as Error);
        return false;
      }
    });
    done.catch(() => undefined);
    if (joined) return this.afterPromotion(record, { offset: 0, length: record.size });
    const first = await started;
    if (first instanceof Error) throw first;
    return first;
  }

  /** Waits until the client drains or goes away, or until another reader waits on this object's promotion. */
  private clientOrWaiters(out: PassThrough, objectId: string): Promise<'drained' | 'waiters'> {
    return new Promise((resolve) => {
      const finish = (why: 'drained' | 'waiters'): void => {
        clearInterval(poll);
        out.off('drain', drained);
        out.off('close', drained);
        resolve(why);
      };
      const drained = (): void => finish('drained');
      const poll = setInterval(() => {
        if ((this.waiting.get(objectId) ?? 0) > 0) finish('waiters');
      }, 50);
      out.on('drain', drained);
      out.on('close', drained);
    });
  }

  /** Continue a slow client from `from` with its own cold read, after what is already queued for it. */
  private detach(record: ObjectRecord, out: PassThrough, from: number): void {
    void this.openCold(record, { offset: from, length: record.size - from }).then(
      (rest) => {
        out.once('close', () => rest.destroy());
        rest.on('error', (err) => out.destroy(err));
        rest.pipe(out);
      },
      (err: Error) => out.destroy(err),
    );
  }

  private async promoteInBackground(record: ObjectRecord, forced = false): Promise<boolean> {
    if (isInline(record.manifest)) return false;
    const [p] = this.promotions.run(record.objectId, async () => {
      const sink = await this.openSink(record, forced).catch(() => undefined);
      if (!sink) return false;
      try {
        this.metrics.reconstructions.inc();
        const stream = await this.cold.openRange(record.manifest, this.dataKey(record), { offset: 0, length: record.size }, sink.form === 'ciphertext' ? { onCiphertext: (c) => sink.write(c) } : {});
        for await (const chunk of chunksOf(stream)) {
          if (sink.form === 'plaintext') await sink.write(chunk);
        }
        // A hot-tier write that failed leaves the object cold: `tessera warm` must not count it as warmed.
        return await sink.commit();
      } catch (err) {
        this.log.warn({ objectId: record.objectId, err: (err as Error).message }, 'promotion failed');
        await sink.abort().catch(() => undefined);
        return false;
      }
    });
    return p.catch(() => false);
  }

  /** Whether the object is in the local cache (read-ahead has nothing to do). */
  locallyCached(record: ObjectRecord): boolean {
    return this.local?.has(record.objectId) === true;
  }

  /**
   * Read-ahead: bring the object into the local cache (from the hot tier when it is there, else the cold tier)
   * before anyone asks; a reader that asks meanwhile waits for it like for any promotion. Stops when `signal` aborts.
   * Admitted like a read: into free space, or past the admission filter (an epoch loop larger than the cache keeps
   * what it holds rather than trade it for objects fetched ahead).
   */
  async prefetch(record: ObjectRecord, signal: AbortSignal): Promise<void> {
    if (!this.local || record.size === 0 || isInline(record.manifest) || this.local.has(record.objectId) || this.promotions.has(record.objectId)) return;
    const [p] = this.promotions.run(record.objectId, async () => {
      const sink = await this.openLocalSink(record).catch(() => undefined);
      if (!sink) return false;
      let stream: Readable | undefined;
      const stop = (): void => {
        stream?.destroy(new Error('read-ahead cancelled'));
      };
      signal.addEventListener('abort', stop, { once: true });
      try {
        if (signal.aborted) throw new Error('read-ahead cancelled');
        const fromHot = record.hot === 'hot' ? await this.hot.read(record.objectId) : null;
        if (fromHot) {
          stream = fromHot;
          for await (const chunk of chunksOf(fromHot)) await sink.write(chunk);
        } else {
          this.metrics.reconstructions.inc();
          stream = await this.cold.openRange(record.manifest, this.dataKey(record), { offset: 0, length: record.size }, sink.form === 'ciphertext' ? { onCiphertext: (c) => sink.write(c) } : {});
          if (signal.aborted) stop();
          for await (const chunk of chunksOf(stream)) if (sink.form === 'plaintext') await sink.write(chunk);
        }
        return await sink.commit();
      } catch {
        await sink.abort().catch(() => undefined);
        return false;
      } finally {
        signal.removeEventListener('abort', stop);
      }
    });
    await p.catch(() => false);
  }

  /**
   * An inline object's tier state follows what would have promoted it (a read, warm, RestoreObject) without copying
   * anything: it is read from its record either way, and `x-tessera-tier` then reports what operators expect.
   */
  private async markInlineHot(record: ObjectRecord): Promise<boolean> {
    if (record.hot === 'hot') return true;
    await this.meta.setHotState(record.objectId, 'hot', 0, 'cold');
    return (await this.meta.getObjectById(record.objectId))?.hot === 'hot';
  }

  /** Promote and wait for the result (`tessera warm`). True when the object is hot afterwards. */
  async promote(record: ObjectRecord): Promise<boolean> {
    if (record.hot === 'hot') return true;
    if (isInline(record.manifest)) return this.markInlineHot(record);
    if (await this.promoteInBackground(record, true)) return true;
    // Not promoted here: another process (the gateway, another `tessera warm`) may have made it hot meanwhile.
    return (await this.meta.getObjectById(record.objectId))?.hot === 'hot';
  }

  /** RestoreObject: promote now (in the background) unless hot or already promoting. */
  async restore(record: ObjectRecord): Promise<'hot' | 'started' | 'in-progress'> {
    if (record.hot === 'hot') return 'hot';
    if (isInline(record.manifest)) {
      await this.markInlineHot(record);
      return 'hot';
    }
    if (record.hot === 'promoting' || this.promotions.has(record.objectId)) return 'in-progress';
    void this.promoteInBackground(record, true);
    return 'started';
  }

  /**
   * Admit the object to the hot tier and open a writer for its blob; undefined when it cannot be admitted. `forced`
   * (an operator's warm, RestoreObject) skips the admission filter.
   */
  private async openSink(record: ObjectRecord, forced = false): Promise<HotSink | undefined> {
    if (this.policy.promote === 'never' && !this.policy.writeThrough) return undefined;
    return this.sinkFor(record.objectId, hotBlobSize(record, this.form), forced ? 'warm' : 'promotion');
  }

  /**
   * Admit the object to the local cache and open a writer for its blob; its commit queues the upload to the hot
   * tier. Undefined when there is no local cache or it does not admit the object.
   */
  private async openLocalSink(record: ObjectRecord): Promise<HotSink | undefined> {
    if (!this.local || this.policy.promote === 'never') return undefined;
    const bytes = hotBlobSize(record, this.form);
    const fill = await this.local.admit(record.objectId, bytes);
    if (!fill) return undefined;
    return {
      form: this.form,
      write: (chunk) => fill.write(chunk),
      commit: async () => {
        const ok = await fill.commit();
        if (ok) void this.queueUpload({ record, bytes, source: fill.cache, preAdmitted: false });
        return ok;
      },
      abort: () => fill.abort(),
    };
  }

  /**
   * With every hot-tier writer busy, stage the blob in the spool (local disk) for an upload later, instead of dropping
   * the promotion: admitted to the hot tier first (so the spool only holds what the hot tier will take). Its commit
   * answers false at once (not hot yet): readers waiting on this promotion read cold rather than wait for the queue.
   */
  private async openSpoolSink(record: ObjectRecord): Promise<HotSink | undefined> {
    const spool = this.spool;
    if (!spool || this.policy.promote === 'never') return undefined;
    const bytes = hotBlobSize(record, this.form);
    if (bytes > this.hot.budgetBytes || !(await this.hot.admit(record.objectId, bytes))) return undefined;
    const fill = await spool.admit(record.objectId, bytes);
    if (!fill) {
      await this.hot.failed(record.objectId);
      return undefined;
    }
    return {
      form: this.form,
      write: (chunk) => fill.write(chunk),
      commit: async () => {
        if (!(await fill.commit())) {
          await this.hot.failed(record.objectId);
          return false;
        }
        void this.queueUpload({ record, bytes, source: spool, preAdmitted: true });
        return false;
      },
      abort: async () => {
        await fill.abort();
        await this.hot.failed(record.objectId);
      },
    };
  }

  /**
   * Upload a blob from local disk (the local cache, or the spool) to the hot tier, at most MAX_CONCURRENT_HOT_WRITES
   * hot-tier writes at once; resolves true when the object is hot afterwards. A local-cache blob is pinned until
   * then, and those queued hold at most half the local budget (beyond it the object stays in the local cache only,
   * and a later read may promote it); a spooled blob is deleted once uploaded.
   */
  private queueUpload(job: Omit<UploadJob, 'done'>): Promise<boolean> {
    const { record, bytes, source } = job;
    const spooled = source === this.spool;
    const refuse = async (): Promise<boolean> => {
      if (spooled) {
        source.forget(record.objectId);
        await this.hot.failed(record.objectId);
      }
      return false;
    };
    if (!spooled && (record.hot !== 'cold' || bytes > this.hot.budgetBytes || this.uploadBytes + bytes > source.budgetBytes * UPLOAD_QUEUE_SHARE)) return refuse();
    if (!source.pin(record.objectId)) return refuse();
    return new Promise<boolean>((done) => {
      this.uploads.push({ ...job, done });
      this.uploadBytes += bytes;
      this.metrics.hotUploadsQueued.set(this.uploadBytes);
      this.pumpUploads();
    });
  }

  private pumpUploads(): void {
    while (this.uploads.length > 0 && this.openSinks < MAX_CONCURRENT_HOT_WRITES) {
      const job = this.uploads.shift()!;
      this.uploadsRunning++;
      void this.upload(job)
        .catch(() => false)
        .then((hot) => {
          this.uploadsRunning--;
          this.uploadBytes -= job.bytes;
          this.metrics.hotUploadsQueued.set(this.uploadBytes);
          job.source.unpin(job.record.objectId);
          if (job.source === this.spool) job.source.forget(job.record.objectId);
          job.done(hot);
          this.pumpUploads();
          if (this.uploadsRunning === 0 && this.uploads.length === 0) for (const w of this.uploadsIdle.splice(0)) w();
        });
    }
  }

  private async upload(job: UploadJob): Promise<boolean> {
    const { record, bytes, source, preAdmitted } = job;
    const sink = await this.sinkFor(record.objectId, bytes, 'upload from local disk', preAdmitted ? 'done' : 'now').catch(() => undefined);
    if (!sink) {
      if (preAdmitted) await this.hot.failed(record.objectId);
      return false;
    }
    const blob = await source.openPinned(record.objectId);
    if (!blob) {
      await sink.abort();
      return false;
    }
    try {
      for await (const chunk of chunksOf(blob)) await sink.write(chunk);
      return await sink.commit();
    } catch (err) {
      this.log.warn({ objectId: record.objectId, err: (err as Error).message }, 'hot tier upload from local disk failed');
      await sink.abort().catch(() => undefined);
      return false;
    }
  }

  /**
   * PUT write-through: the blob is written while the body streams in, but admitted to the budget only at commit (the
   * object has no metadata row before that). In-flight write-through blobs may overshoot the budget transiently.
   */
  openWriteThrough(objectId: string, size: number, segmentSize: number, chunkSize: number, k: number): Promise<HotSink | undefined> {
    if (size === 0) return Promise.resolve(undefined);
    const segments = planSegments(size, segmentSize).map((p) => ({ plainSize: p.plainSize, chunkSize: writerChunkSize(p.plainSize, chunkSize, k) }));
    const bytes = this.form === 'plaintext' ? size : segments.reduce((n, s) => n + hotSegmentSize(s.plainSize, s.chunkSize), 0);
    return this.sinkFor(objectId, bytes, 'write-through', 'at-commit');
  }

  /**
   * A writer of the object's hot-tier blob, admitted to the hot budget `now`, `at-commit` (write-through: the object
   * has no metadata row before), or `done` already (spooled).
   */
  private async sinkFor(objectId: string, bytes: number, why: 'promotion' | 'warm' | 'write-through' | 'upload from local disk', admission: 'now' | 'at-commit' | 'done' = 'now'): Promise<HotSink | undefined> {
    const admitAtCommit = admission === 'at-commit';
    // The admission filter judges reads; an operator's warm and write-through (configured) are not second-guessed.
    const forced = why === 'warm' || why === 'write-through';
    if (bytes > this.hot.budgetBytes) return undefined;
    // Each hot-tier upload holds its own buffers (an S3 multipart upload keeps parts in memory): beyond a few at once
    // the object is simply served without promotion this time, which keeps memory bounded under many cold readers.
    if (this.openSinks >= MAX_CONCURRENT_HOT_WRITES) return undefined;
    this.openSinks++;
    let released = false;
    const release = (): void => {
      if (!released) this.openSinks--;
      released = true;
    };
    try {
      if (admission === 'now' && !(await this.hot.admit(objectId, bytes, forced))) {
        release();
        return undefined;
      }
    } catch (err) {
      release();
      throw err;
    }
    const pipe = new PassThrough({ highWaterMark: 4 << 20 });
    const abort = new AbortController();
    const stored = this.hot.tier.put(objectId, pipe, bytes, abort.signal);
    let failed: Error | undefined;
    stored.catch((err: Error) => {
      // Release a writer waiting for 'drain': the promotion carries on without the hot copy.
      failed = err;
      pipe.destroy();
    });
    const hot = this.hot;
    const metrics = this.metrics;
    const log = this.log;
    return {
      form: this.form,
      async write(chunk: Buffer): Promise<void> {
        if (failed || pipe.destroyed) return;
        if (!pipe.write(chunk)) await waitDrainOrClose(pipe);
      },
      async commit(): Promise<boolean> {
        pipe.end();
        await stored.catch(() => undefined);
        release();
        try {
          await stored;
          if (admitAtCommit && !(await hot.admit(objectId, bytes, forced))) {
            await hot.failed(objectId);
            return false;
          }
          const hotNow = await hot.committed(objectId, bytes);
          metrics.promotions.inc({ result: 'ok' });
          return hotNow;
        } catch (err) {
          metrics.promotions.inc({ result: 'failed' });
          metrics.hotErrors.inc({ op: 'put' });
          log.warn({ objectId, why, err: (err as Error).message }, 'hot tier write failed; object stays cold');
          await hot.failed(objectId);
          return false;
        }
      },
      async abort(): Promise<void> {
        abort.abort();
        pipe.destroy();
        await stored.catch(() => undefined);
        release();
        await hot.failed(objectId);
        metrics.promotions.inc({ result: 'aborted' });
      },
    };
  }

  hotHealth(): Promise<{ ok: boolean; reason?: string }> {
    return this.hot.tier.health();
  }

  /** Waits for in-flight promotions and queued hot-tier uploads (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.promotions.size > 0) await sleep(50, undefined, 'resolve');
    if (this.uploadsRunning > 0 || this.uploads.length > 0) await new Promise<void>((resolve) => this.uploadsIdle.push(resolve));
    await Promise.all([this.local?.settled(), this.spool?.settled()]);
  }
}

/**
 * A byte stream's chunks as it emits them, one at a time with backpressure. Its own async iterator reads whatever is
 * buffered as one concatenated copy per step (bench: ~5% of a promoting cold read's CPU). Leaving early destroys it.
 */
async function* chunksOf(stream: Readable): AsyncGenerator<Buffer, void, undefined> {
  const queue: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onData = (chunk: Buffer): void => {
    queue.push(chunk);
    stream.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (err: Error): void => {
    failure ??= err;
    notify();
  };
  const onClose = (): void => {
    if (!ended) failure ??= new Error('stream closed before its end');
    notify();
  };
  stream.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk !== undefined) {
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      stream.resume();
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off('data', onData).off('end', onEnd).off('close', onClose);
    // Keep a listener: an error after we stopped listening must not crash the process.
    if (!ended) stream.destroy();
  }
}

/**
 * `src` passed through unchanged while its bytes also fill the local cache; the fill is committed when `src` ends
 * (before the reader sees the end, so a next read finds the copy) and abandoned when the reader goes away first. A
 * failing fill never fails the read.
 */
function teeInto(src: Readable, fill: LocalFill): Readable {
  let ended = false;
  const tee = new Transform({
    transform(chunk: Buffer, _enc, done) {
      fill.write(chunk).then(
        () => done(null, chunk),
        () => done(null, chunk),
      );
    },
    flush(done) {
      ended = true;
      fill.commit().then(
        () => done(),
        () => done(),
      );
    },
  });
  tee.once('close', () => {
    if (!ended) void fill.abort().catch(() => undefined);
  });
  pipeline(src, tee, () => undefined);
  return tee;
}
