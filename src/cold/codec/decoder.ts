/**
 * Streaming segment decoder: pulls the stripes covering a plaintext range from k shard streams, checks every block's
 * crc32, rebuilds missing data blocks with the erasure code, authenticates and decrypts the chunks, and yields the
 * range's plaintext stripe by stripe. Shards that are missing, corrupt, failing or slow are reported and replaced by
 * other shards of the segment; slow ones are hedged (one extra shard per hedge interval, the first k blocks win).
 */
import type { Readable } from 'node:stream';
import type { SegmentManifest } from '../../model/manifest.js';
import { ColdError } from '../errors.js';
import { ChunkSealer } from './aead.js';
import { chunkCount, chunkPlainSize, coverRange, roundUp8, shardByteRange, stripeBlockSize, stripeChunks, stripeCount, TAG_BYTES } from '../../model/layout.js';
import { coderCodeFor, coderFor, type ErasureCoder } from './rs/index.js';
import { ShardFault, ShardSource, SourceClosed, type ExpectedHeader, type ShardProblemKind } from './shard-source.js';

export type { ShardProblemKind } from './shard-source.js';

/** A byte range of one shard file, and the stripes it holds. */
export interface ShardReadRequest {
  offset: number;
  length: number;
  fromStripe: number;
  /** Exclusive. */
  toStripe: number;
}

export interface DecodeSegmentOptions {
  manifest: SegmentManifest;
  /** 128-bit object id, hex. */
  objectId: string;
  /** The object's 32-byte data key. */
  dk: Buffer;
  /** Plaintext range inside the segment; default the whole segment. */
  range?: { offset: number; length: number };
  /**
   * Open a stream of exactly `req.length` bytes of shard `shardIndex` starting at `req.offset` (the header is included
   * when fromStripe is 0). Reject with NodeError('not-found') when the shard does not exist. Must honour `signal`.
   */
  openShard: (shardIndex: number, req: ShardReadRequest, signal: AbortSignal) => Promise<Readable>;
  onShardProblem?: (shardIndex: number, kind: ShardProblemKind, err: Error) => void;
  /** Authenticated ciphertext||tag of each decoded chunk, for promotion to the hot tier. The decoder never reuses its memory. */
  onCiphertext?: (sealed: Buffer, chunkIndex: number) => void | Promise<void>;
  /** Open one more shard when a stripe has waited this long (default: never hedge). */
  hedgeAfterMs?: number;
  /** Give up on a shard that delivers nothing for this long (default 30 s). */
  readTimeoutMs?: number;
  /** Shards known to be absent (e.g. empty handles); not opened, not reported. */
  unavailable?: Iterable<number>;
  coder?: ErasureCoder;
  signal?: AbortSignal;
}

type Outcome = { index: number; ok: true } | { index: number; ok: false; err: unknown };

function timer<T extends string>(ms: number | undefined, tag: T): { promise: Promise<T>; cancel: () => void } {
  if (ms === undefined || !Number.isFinite(ms)) return { promise: new Promise<T>(() => undefined), cancel: () => undefined };
  let t: NodeJS.Timeout | undefined;
  const promise = new Promise<T>((resolve) => {
    t = setTimeout(() => resolve(tag), Math.max(0, ms));
  });
  return { promise, cancel: () => clearTimeout(t) };
}

function unavailableError(): ColdError {
  return new ColdError('Unavailable', 'Not enough storage nodes could deliver the object data; please retry.');
}

function authError(): ColdError {
  return new ColdError('Corrupt', 'Stored object data failed authentication.');
}

/** Picks, opens and drops shard sources for one segment read. */
class SourcePool {
  readonly active = new Map<number, ShardSource>();
  private readonly excluded = new Set<number>();

  constructor(
    private readonly opts: DecodeSegmentOptions,
    private readonly endStripe: number,
    private readonly expected: ExpectedHeader,
  ) {
    for (const i of opts.unavailable ?? []) this.excluded.add(i);
  }

  private get n(): number {
    return this.opts.manifest.k + this.opts.manifest.m;
  }

  /** Next shard worth opening: data shards first (no decoding needed), then parity. */
  candidate(): number | undefined {
    for (let i = 0; i < this.n; i++) if (!this.excluded.has(i) && !this.active.has(i)) return i;
    return undefined;
  }

  open(index: number, fromStripe: number): ShardSource {
    const g = this.opts.manifest;
    const range = shardByteRange(g, fromStripe, this.endStripe);
    const req: ShardReadRequest = { ...range, fromStripe, toStripe: this.endStripe };
    const src = new ShardSource(index, fromStripe, (signal) => this.opts.openShard(index, req, signal), this.expected);
    this.active.set(index, src);
    return src;
  }

  /** Stop using a shard for the rest of this read; report why when there is something to say. */
  drop(index: number, kind?: ShardProblemKind, err?: Error): void {
    this.active.get(index)?.close();
    this.active.delete(index);
    this.excluded.add(index);
    if (kind !== undefined) this.opts.onShardProblem?.(index, kind, err ?? new Error(kind));
  }

  closeAll(): void {
    for (const s of this.active.values()) s.close();
    this.active.clear();
  }
}

export async function* decodeSegment(opts: DecodeSegmentOptions): AsyncGenerator<Buffer, void, undefined> {
  const man = opts.manifest;
  const { k, m } = man;
  const coder = opts.coder ?? coderFor(man.coder);
  const g = { plainSize: man.plainSize, chunkSize: man.chunkSize, k };
  const range = opts.range ?? { offset: 0, length: man.plainSize };
  if (range.length === 0) return;
  const plan = coverRange(g, range.offset, range.length);
  const chunks = chunkCount(g);
  const sealer = new ChunkSealer(opts.dk, { objectId: opts.objectId, segId: man.segId, part: man.part, index: man.index });
  const expected: ExpectedHeader = { coderCode: coderCodeFor(man.coder), k, m, chunkSize: man.chunkSize, stripeCount: stripeCount(g) };
  const pool = new SourcePool(opts, plan.endStripe, expected);
  const aborted = new Promise<'abort'>((resolve) => {
    if (opts.signal?.aborted === true) resolve('abort');
    opts.signal?.addEventListener('abort', () => resolve('abort'), { once: true });
  });
  // A consumer that goes away while this generator is suspended (or before it ever ran) never resumes it, so its
  // finally would never close the shard streams: close them from the abort itself.
  opts.signal?.addEventListener('abort', () => pool.closeAll(), { once: true });
  const readTimeoutMs = opts.readTimeoutMs ?? 30_000;
  // Blocks land straight from the streams. When sealed chunks are handed to onCiphertext (promotion), the data blocks
  // get a fresh buffer per stripe so those chunks are subarrays rather than copies; otherwise one buffer is reused
  // (fresh memory per stripe is garbage that 8 concurrent reads turn into ~100 MB of extra RSS). Parity is never
  // handed out and always reuses one buffer. Plaintext is freshly allocated by decryption either way.
  const fullBlock = roundUp8(man.chunkSize + TAG_BYTES);
  const parityBuf = Buffer.allocUnsafe(m * fullBlock);
  const freshPerStripe = opts.onCiphertext !== undefined;
  let dataBuf = freshPerStripe ? Buffer.allocUnsafe(0) : Buffer.allocUnsafe(k * fullBlock);
  const blockOf = (i: number, B: number): Buffer => (i < k ? dataBuf.subarray(i * B, (i + 1) * B) : parityBuf.subarray((i - k) * B, (i - k + 1) * B));

  /** Gather k verified blocks of stripe s (keeping those in `delivered`), replacing and hedging shards as needed. */
  const fetchStripe = async (s: number, B: number, delivered: Set<number>): Promise<void> => {
    const pending = new Map<number, Promise<Outcome>>();
    const start = (src: ShardSource): void => {
      pending.set(
        src.index,
        src.readBlock(s, src.index < k ? dataBuf : parityBuf, (src.index < k ? src.index : src.index - k) * B, B).then(
          (): Outcome => ({ index: src.index, ok: true }),
          (err: unknown): Outcome => ({ index: src.index, ok: false, err }),
        ),
      );
    };
    for (const src of pool.active.values()) if (!delivered.has(src.index)) start(src);
    let hedge = timer(opts.hedgeAfterMs, 'hedge');
    let stall = timer(readTimeoutMs, 'stall');
    try {
      while (delivered.size < k) {
        opts.signal?.throwIfAborted();
        while (delivered.size + pending.size < k) {
          const next = pool.candidate();
          if (next === undefined) throw unavailableError();
          start(pool.open(next, s));
        }
        const r = await Promise.race([...pending.values(), hedge.promise, stall.promise, aborted]);
        if (r === 'abort') continue;
        if (r === 'hedge') {
          // A shard is late: put one more in flight and use whichever k blocks arrive first.
          hedge = timer(opts.hedgeAfterMs, 'hedge');
          const next = pool.candidate();
          if (next !== undefined) start(pool.open(next, s));
          continue;
        }
        if (r === 'stall') {
          // Nothing arrived for readTimeoutMs: every shard still pending is written off as slow.
          for (const index of [...pending.keys()]) {
            pending.delete(index);
            pool.drop(index, 'slow', new Error(`shard ${index} delivered nothing for ${readTimeoutMs} ms`));
          }
          stall = timer(readTimeoutMs, 'stall');
          continue;
        }
        pending.delete(r.index);
        if (r.ok) {
          delivered.add(r.index);
          stall.cancel();
          stall = timer(readTimeoutMs, 'stall');
        } else if (!(r.err instanceof SourceClosed)) {
          const fault = r.err instanceof ShardFault ? r.err : new ShardFault('error', `shard ${r.index} failed`, { cause: r.err });
          pool.drop(r.index, fault.kind, fault);
        }
      }
      // The first k won; whoever is still reading this stripe lost the race.
      for (const index of pending.keys()) pool.drop(index, 'slow', new Error(`shard ${index} was outpaced by other shards`));
    } finally {
      hedge.cancel();
      stall.cancel();
    }
  };

  const rebuild = async (B: number, delivered: Set<number>): Promise<void> => {
    const missing: number[] = [];
    for (let i = 0; i < k; i++) if (!delivered.has(i)) missing.push(i);
    if (missing.length === 0) return;
    const blocks = Array.from({ length: k + m }, (_, i) => blockOf(i, B));
    await coder.reconstruct(k, m, blocks, blocks.map((_, i) => delivered.has(i)), missing);
  };

  try {
    for (let s = plan.firstStripe; s < plan.endStripe; s++) {
      opts.signal?.throwIfAborted();
      const B = stripeBlockSize(g, s);
      const { first, count } = stripeChunks(g, s);
      if (freshPerStripe) dataBuf = Buffer.allocUnsafe(k * B);
      const delivered = new Set<number>();
      await fetchStripe(s, B, delivered);
      await rebuild(B, delivered);
      const lo = Math.max(first, plan.firstChunk);
      const hi = Math.min(first + count, plan.endChunk);
      const plain: Buffer[] = [];
      for (let c = lo; c < hi; c++) {
        const j = c - first;
        const len = chunkPlainSize(g, c);
        const sealed = (): Buffer => dataBuf.subarray(j * B, j * B + len + TAG_BYTES);
        let p: Buffer;
        try {
          p = sealer.open(c, c === chunks - 1, sealed());
        } catch {
          // The block passed its crc32 yet fails authentication. If it came straight from data shard j, rebuild it from
          // other shards: if that authenticates, shard j holds wrong (e.g. misplaced) data. Otherwise we cannot tell.
          if (!delivered.has(j)) throw authError();
          // Chunks of this stripe already handed to onCiphertext point into dataBuf: refetch into a copy of it.
          dataBuf = Buffer.from(dataBuf);
          delivered.delete(j);
          pool.drop(j);
          await fetchStripe(s, B, delivered);
          await rebuild(B, delivered);
          try {
            p = sealer.open(c, c === chunks - 1, sealed());
          } catch {
            throw authError();
          }
          opts.onShardProblem?.(j, 'corrupt', new Error(`shard ${j}: block of stripe ${s} fails authentication`));
        }
        if (opts.onCiphertext) await opts.onCiphertext(sealed(), c);
        const a = c === plan.firstChunk ? range.offset - c * man.chunkSize : 0;
        const b = c === plan.endChunk - 1 ? range.offset + range.length - c * man.chunkSize : len;
        plain.push(a === 0 && b === len ? p : p.subarray(a, b));
      }
      for (const p of plain) yield p;
    }
  } finally {
    pool.closeAll();
  }
}
