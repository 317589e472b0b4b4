/**
 * The hot tier stores an object as its ciphertext chunks (ciphertext||tag of every chunk of every segment, in order;
 * no padding, no parity; docs/FORMAT.md). This turns a chunk-aligned byte range of that blob back into plaintext.
 */
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import type { SegmentManifest } from '../../model/manifest.js';
import { ColdError } from '../errors.js';
import { ChunkSealer } from './aead.js';
import { chunkCount, chunkPlainSize, coverRange, hotRangeForPlainRange, segmentsForRange, TAG_BYTES } from '../../model/layout.js';

export type HotSegment = Pick<SegmentManifest, 'segId' | 'part' | 'index' | 'plainSize' | 'chunkSize' | 'k'>;

export interface HotDecryptOptions {
  objectId: string;
  dk: Buffer;
  /** The object's segments, in order. */
  segments: ReadonlyArray<HotSegment>;
  /** Object plaintext range. */
  offset: number;
  length: number;
}

export interface DecryptHotRangeOptions extends HotDecryptOptions {
  /** Yields exactly the blob bytes hotRangeForPlainRange(segments, offset, length) names. */
  source: AsyncIterable<Uint8Array>;
}

/** Re-export of the planning function callers need to request the right blob bytes. */
export { hotRangeForPlainRange };

function corrupt(): ColdError {
  return new ColdError('Corrupt', 'Cached object data failed authentication.');
}

/** One chunk to open: its AEAD context, its plaintext length and the part [a, b) of its plaintext the caller wants. */
interface ChunkStep {
  sealer: ChunkSealer;
  chunk: number;
  final: boolean;
  len: number;
  a: number;
  b: number;
}

function* chunkSteps(opts: HotDecryptOptions): Generator<ChunkStep, void, undefined> {
  if (opts.length === 0) return;
  for (const slice of segmentsForRange(opts.segments, opts.offset, opts.length)) {
    const seg = opts.segments[slice.segment]!;
    const g = { plainSize: seg.plainSize, chunkSize: seg.chunkSize, k: seg.k };
    const plan = coverRange(g, slice.offset, slice.length);
    const chunks = chunkCount(g);
    const sealer = new ChunkSealer(opts.dk, { objectId: opts.objectId, segId: seg.segId, part: seg.part, index: seg.index });
    for (let c = plan.firstChunk; c < plan.endChunk; c++) {
      const len = chunkPlainSize(g, c);
      const a = c === plan.firstChunk ? slice.offset - c * seg.chunkSize : 0;
      const b = c === plan.endChunk - 1 ? slice.offset + slice.length - c * seg.chunkSize : len;
      yield { sealer, chunk: c, final: c === chunks - 1, len, a, b };
    }
  }
}

/**
 * Staging buffers for chunks that arrive split across network reads. Fresh memory is slow on the target VMs (see
 * shared/perf/primitives.md), so a few are kept for the next reads rather than allocated per request.
 */
const STAGE_POOL_MAX = 8;
const stagePool: Buffer[] = [];

function takeStage(size: number): Buffer {
  for (let i = stagePool.length - 1; i >= 0; i--) {
    if (stagePool[i]!.length >= size) return stagePool.splice(i, 1)[0]!;
  }
  return Buffer.allocUnsafe(size);
}

function returnStage(b: Buffer): void {
  if (stagePool.length < STAGE_POOL_MAX) stagePool.push(b);
}

/**
 * Blob bytes in, plaintext out. Each chunk is decrypted in one call once its ciphertext and tag are all here (copied
 * into a reused staging buffer only when the chunk spans several input pieces), and its plaintext is pushed only
 * after the tag verified: unauthenticated plaintext is never released. Ends with an error when the input ends early.
 */
export class HotDecryptStream extends Transform {
  private readonly steps: Generator<ChunkStep, void, undefined>;
  private step: ChunkStep | null;
  private stage: Buffer | null = null;
  private readonly stageSize: number;
  private staged = 0;

  constructor(opts: HotDecryptOptions, highWaterMark = 1 << 20) {
    super({ readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
    this.stageSize = opts.segments.reduce((n, s) => Math.max(n, Math.min(s.chunkSize, s.plainSize) + TAG_BYTES), 0);
    this.steps = chunkSteps(opts);
    this.step = this.nextStep();
  }

  private nextStep(): ChunkStep | null {
    const r = this.steps.next();
    return r.done === true ? null : r.value;
  }

  override _transform(data: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let at = 0;
      while (this.step !== null && at < data.length) {
        const need = this.step.len + TAG_BYTES;
        if (this.staged === 0 && data.length - at >= need) {
          this.open(data.subarray(at, at + need));
          at += need;
          continue;
        }
        this.stage ??= takeStage(this.stageSize);
        const n = Math.min(need - this.staged, data.length - at);
        data.copy(this.stage, this.staged, at, at + n);
        this.staged += n;
        at += n;
        if (this.staged === need) {
          this.staged = 0;
          this.open(this.stage.subarray(0, need));
        }
      }
      // Bytes past the planned range are ignored, as a ranged read never asks for them.
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private open(sealed: Buffer): void {
    const s = this.step!;
    const d = s.sealer.decipher(s.chunk, s.final);
    d.setAuthTag(sealed.subarray(s.len));
    const plain = d.update(sealed.subarray(0, s.len));
    try {
      d.final();
    } catch {
      throw corrupt();
    }
    this.step = this.nextStep();
    this.push(s.a === 0 && s.b === s.len ? plain : plain.subarray(s.a, s.b));
  }

  override _flush(done: TransformCallback): void {
    this.release();
    done(this.step === null ? null : corrupt());
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    this.release();
    done(err);
  }

  private release(): void {
    if (this.stage !== null) returnStage(this.stage);
    this.stage = null;
  }
}

/** Plaintext of a range from an async source of its blob bytes (tests, callers without a stream at hand). */
export function decryptHotRange(opts: DecryptHotRangeOptions): Readable {
  const { source, ...rest } = opts;
  const out = new HotDecryptStream(rest);
  pipeline(Readable.from(source, { objectMode: false }), out, () => undefined);
  return out;
}
