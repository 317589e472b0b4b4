import { PassThrough, Readable } from 'node:stream';
import type { ColdStore } from '../cold/cold-store.js';
import type { Keyring } from '../cold/keys.js';
import { hotRangeForPlainRange, hotSegmentSize, planSegments } from '../cold/codec/layout.js';
import { decryptHotRange } from '../cold/codec/hot.js';
import type { HotConfig } from '../config/types.js';
import type { MetaStore } from '../meta/store.js';
import type { ObjectRecord } from '../meta/types.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import type { HotCache } from './hot-cache.js';
import { SingleFlight } from './single-flight.js';
import type { ByteRange } from './types.js';

/** Receives an object's hot-tier bytes in order while they are produced elsewhere (PUT write-through, cold reads). */
export interface HotSink {
  /** Which form the hot tier stores. */
  readonly form: 'ciphertext' | 'plaintext';
  /** Resolves when the sink can take more (backpressure). */
  write(chunk: Buffer): Promise<void>;
  /** All bytes written: wait for the hot tier to store them, then mark the object hot. */
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Bytes of an object in the hot tier, in the configured form. */
export function hotBlobSize(record: Pick<ObjectRecord, 'size' | 'manifest'>, form: HotSink['form']): number {
  if (form === 'plaintext') return record.size;
  return record.manifest.segments.reduce((n, s) => n + hotSegmentSize(s.plainSize, s.chunkSize), 0);
}

/**
 * The read path: hot tier first; on a miss, one reconstruction per object at a time (single-flight) that streams to
 * the first reader and, when policy allows, fills the hot tier on the way; readers that arrive meanwhile wait for
 * that promotion and then read the hot copy. The hot tier failing never fails a read the cold tier can serve.
 */
export class ObjectReader {
  private readonly promotions = new SingleFlight<boolean>();

  constructor(
    private readonly hot: HotCache,
    private readonly cold: ColdStore,
    private readonly meta: MetaStore,
    private readonly keyring: Keyring,
    private readonly policy: HotConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  private get form(): HotSink['form'] {
    return this.policy.encrypt ? 'ciphertext' : 'plaintext';
  }

  async open(record: ObjectRecord, range?: ByteRange): Promise<Readable> {
    const r = range ?? { offset: 0, length: record.size };
    if (r.length === 0 || record.size === 0) return Readable.from([]);
    if (record.hot === 'hot') {
      const s = await this.openHot(record, r);
      if (s) return s;
    }
    const inflight = this.promotions.has(record.objectId);
    if (inflight) {
      // Someone is reconstructing this object right now: wait for its promotion rather than rebuild it again.
      this.metrics.coalescedReads.inc();
      const [p] = this.promotions.run(record.objectId, () => Promise.resolve(false));
      const promoted = await p.catch(() => false);
      if (promoted) {
        const s = await this.openHot(record, r);
        if (s) return s;
      }
    }
    this.metrics.hotMisses.inc();
    const whole = r.offset === 0 && r.length === record.size;
    const promote = this.policy.promote === 'always' || (this.policy.promote === 'full-read' && whole);
    if (promote && whole) return this.readAndPromote(record);
    const stream = await this.openCold(record, r);
    if (promote) void this.promoteInBackground(record);
    return stream;
  }

  private dataKey(record: ObjectRecord): Buffer {
    const m = record.manifest;
    return this.keyring.unwrap(m.objectId, m.keyId, m.wrappedKey);
  }

  private async openHot(record: ObjectRecord, r: ByteRange): Promise<Readable | null> {
    const segments = record.manifest.segments;
    const hotRange = this.form === 'plaintext' ? r : hotRangeForPlainRange(segments, r.offset, r.length);
    const raw = await this.hot.read(record.objectId, hotRange);
    if (!raw) return null;
    this.metrics.hotHits.inc();
    this.hot.touch(record.objectId);
    if (this.form === 'plaintext') return raw;
    const plain = decryptHotRange({ objectId: record.objectId, dk: this.dataKey(record), segments, offset: r.offset, length: r.length, source: raw });
    return Readable.from(plain, { objectMode: false, highWaterMark: 1 << 20 });
  }

  private async openCold(record: ObjectRecord, r: ByteRange): Promise<Readable> {
    this.metrics.reconstructions.inc();
    return this.cold.openRange(record.manifest, this.dataKey(record), r);
  }

  /** A full cold read that also fills the hot tier; the client's stream and the hot write share one reconstruction. */
  private async readAndPromote(record: ObjectRecord): Promise<Readable> {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    // A failure before `out` is handed out destroys it with nobody listening; unheard, 'error' crashes the process.
    out.on('error', () => undefined);
    let resolveStarted!: (v: Readable | Error) => void;
    const started = new Promise<Readable | Error>((res) => (resolveStarted = res));
    const [done] = this.promotions.run(record.objectId, async () => {
      const sink = await this.openSink(record);
      try {
        this.metrics.reconstructions.inc();
        const stream = await this.cold.openRange(record.manifest, this.dataKey(record), { offset: 0, length: record.size }, sink && sink.form === 'ciphertext' ? { onCiphertext: (c) => sink.write(c) } : {});
        resolveStarted(out);
        let clientGone = false;
        out.on('close', () => (clientGone = true));
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (sink?.form === 'plaintext') await sink.write(chunk);
          if (!clientGone && !out.write(chunk)) await waitDrainOrClose(out);
        }
        out.end();
        if (sink) {
          await sink.commit();
          return true;
        }
        return false;
      } catch (err) {
        await sink?.abort();
        resolveStarted(err as Error);
        out.destroy(err as Error);
        return false;
      }
    });
    done.catch(() => undefined);
    const first = await started;
    if (first instanceof Error) throw first;
    return first;
  }

  private async promoteInBackground(record: ObjectRecord): Promise<boolean> {
    const [p] = this.promotions.run(record.objectId, async () => {
      const sink = await this.openSink(record);
      if (!sink) return false;
      try {
        this.metrics.reconstructions.inc();
        const stream = await this.cold.openRange(record.manifest, this.dataKey(record), { offset: 0, length: record.size }, sink.form === 'ciphertext' ? { onCiphertext: (c) => sink.write(c) } : {});
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (sink.form === 'plaintext') await sink.write(chunk);
        }
        await sink.commit();
        return true;
      } catch (err) {
        this.log.warn({ objectId: record.objectId, err: (err as Error).message }, 'promotion failed');
        await sink.abort();
        return false;
      }
    });
    return p.catch(() => false);
  }

  /** Promote and wait for the result (`tessera warm`). True when the object is hot afterwards. */
  async promote(record: ObjectRecord): Promise<boolean> {
    if (record.hot === 'hot') return true;
    return this.promoteInBackground(record);
  }

  /** RestoreObject: promote now (in the background) unless hot or already promoting. */
  async restore(record: ObjectRecord): Promise<'hot' | 'started' | 'in-progress'> {
    if (record.hot === 'hot') return 'hot';
    if (record.hot === 'promoting' || this.promotions.has(record.objectId)) return 'in-progress';
    void this.promoteInBackground(record);
    return 'started';
  }

  /** Admit the object to the hot tier and open a writer for its blob; undefined when it cannot be admitted. */
  private async openSink(record: ObjectRecord): Promise<HotSink | undefined> {
    if (this.policy.promote === 'never' && !this.policy.writeThrough) return undefined;
    return this.sinkFor(record.objectId, hotBlobSize(record, this.form), 'promotion');
  }

  /**
   * PUT write-through: the blob is written while the body streams in, but admitted to the budget only at commit (the
   * object has no metadata row before that). In-flight write-through blobs may overshoot the budget transiently.
   */
  openWriteThrough(objectId: string, size: number, segmentSize: number, chunkSize: number): Promise<HotSink | undefined> {
    if (size === 0) return Promise.resolve(undefined);
    const segments = planSegments(size, segmentSize).map((p) => ({ plainSize: p.plainSize, chunkSize }));
    const bytes = this.form === 'plaintext' ? size : segments.reduce((n, s) => n + hotSegmentSize(s.plainSize, s.chunkSize), 0);
    return this.sinkFor(objectId, bytes, 'write-through', true);
  }

  private async sinkFor(objectId: string, bytes: number, why: string, admitAtCommit = false): Promise<HotSink | undefined> {
    if (bytes > this.hot.budgetBytes) return undefined;
    if (!admitAtCommit && !(await this.hot.admit(objectId, bytes))) return undefined;
    const pipe = new PassThrough({ highWaterMark: 4 << 20 });
    const abort = new AbortController();
    const stored = this.hot.tier.put(objectId, pipe, bytes, abort.signal);
    stored.catch(() => undefined);
    let failed: Error | undefined;
    stored.catch((err: Error) => (failed = err));
    const hot = this.hot;
    const metrics = this.metrics;
    const log = this.log;
    return {
      form: this.form,
      async write(chunk: Buffer): Promise<void> {
        if (failed) return;
        if (!pipe.write(chunk)) await waitDrainOrClose(pipe);
      },
      async commit(): Promise<void> {
        pipe.end();
        try {
          await stored;
          if (admitAtCommit && !(await hot.admit(objectId, bytes))) {
            await hot.failed(objectId);
            return;
          }
          await hot.committed(objectId, bytes);
          metrics.promotions.inc({ result: 'ok' });
        } catch (err) {
          metrics.promotions.inc({ result: 'failed' });
          metrics.hotErrors.inc({ op: 'put' });
          log.warn({ objectId, why, err: (err as Error).message }, 'hot tier write failed; object stays cold');
          await hot.failed(objectId);
        }
      },
      async abort(): Promise<void> {
        abort.abort();
        pipe.destroy();
        await stored.catch(() => undefined);
        await hot.failed(objectId);
        metrics.promotions.inc({ result: 'aborted' });
      },
    };
  }

  hotHealth(): Promise<{ ok: boolean; reason?: string }> {
    return this.hot.tier.health();
  }

  /** Waits for in-flight promotions (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.promotions.size > 0) await new Promise((r) => setTimeout(r, 50));
  }
}

function waitDrainOrClose(stream: NodeJS.WritableStream & { destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
