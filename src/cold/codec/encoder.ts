/**
 * Streaming segment encoder: plaintext in, k+m shard files out (docs/FORMAT.md). Work proceeds stripe by stripe:
 * read k chunks, encrypt each (AES-256-GCM), compute m parity blocks, push every block and its crc32 to its shard
 * stream. The next stripe starts only when every live shard consumer has taken the previous one, so a stalled
 * consumer stalls the encoder (and its input) instead of growing buffers.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { SegmentManifest } from '../../model/manifest.js';
import { ColdError } from '../errors.js';
import { ChunkSealer } from './aead.js';
import { encodeShardHeader } from './header.js';
import {
  BLOCK_CRC_BYTES,
  TAG_BYTES,
  chunkCount,
  chunkPlainSize,
  hotSegmentSize,
  roundUp8,
  shardSize,
  stripeBlockSize,
  stripeChunks,
  stripeCount,
} from '../../model/layout.js';
import { defaultCoder, type ErasureCoder } from './rs/index.js';
import { PieceReader } from './pieces.js';
import { ShardStream } from './shard-stream.js';

/** Blocks each shard stream may buffer ahead of its consumer; memory per encoder is about this many stripes. */
const SHARD_QUEUE_BLOCKS = 4;

export interface EncodeSegmentOptions {
  /** 128-bit object id, hex. */
  objectId: string;
  /** The object's 32-byte data key. */
  dk: Buffer;
  /** 128-bit segment id, hex; generated when absent. Must never be reused with the same data key. */
  segId?: string;
  /** 1-based part number (1 for a single PUT). */
  part: number;
  /** Index of the segment in its part. */
  index: number;
  /** Yields exactly plainSize bytes, and is consumed to its end. */
  plain: AsyncIterable<Uint8Array>;
  plainSize: number;
  chunkSize: number;
  k: number;
  m: number;
  coder?: ErasureCoder;
  /**
   * Each chunk's ciphertext||tag, in order (the hot-tier blob layout). The buffer is shared with the shard streams:
   * do not modify it. A returned promise holds the encoder until it settles (backpressure from the hot tier).
   */
  onCiphertext?: (sealed: Buffer, chunkIndex: number) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Every SegmentManifest field except the shard placement, which belongs to the caller. */
export type EncodedSegmentInfo = Omit<SegmentManifest, 'shards'>;

export interface EncodeSummary {
  segment: EncodedSegmentInfo;
  chunkCount: number;
  stripeCount: number;
  /** Bytes this segment adds to the hot-tier blob. */
  hotSize: number;
}

export interface EncodedSegment {
  segment: EncodedSegmentInfo;
  /** k+m streams (index = shard number), each exactly segment.shardSize bytes. */
  shards: Readable[];
  /** Settles when every stripe has been pushed; rejects (and destroys the shard streams) on failure. */
  done: Promise<EncodeSummary>;
}

function checkOptions(o: EncodeSegmentOptions): void {
  if (!Number.isSafeInteger(o.plainSize) || o.plainSize <= 0) throw new RangeError('a segment holds at least one byte');
  if (!Number.isSafeInteger(o.chunkSize) || o.chunkSize <= 0) throw new RangeError('chunkSize must be a positive integer');
  if (o.k + o.m > 255) throw new RangeError('too many shards');
}

export function encodeSegment(opts: EncodeSegmentOptions): EncodedSegment {
  checkOptions(opts);
  const coder = opts.coder ?? defaultCoder();
  const { k, m, plainSize, chunkSize } = opts;
  const segId = opts.segId ?? randomBytes(16).toString('hex');
  const geometry = { plainSize, chunkSize, k };
  const segment: EncodedSegmentInfo = {
    segId,
    part: opts.part,
    index: opts.index,
    plainSize,
    chunkSize,
    k,
    m,
    coder: coder.id,
    shardSize: shardSize(plainSize, chunkSize, k),
  };
  const sealer = new ChunkSealer(opts.dk, { objectId: opts.objectId, segId, part: opts.part, index: opts.index });
  const chunks = chunkCount(geometry);
  const stripes = stripeCount(geometry);
  // Up to SHARD_QUEUE_BLOCKS blocks (plus crcs) may wait in each stream beyond the one its consumer is working on:
  // with a single block, every stripe waited for the slowest of the k+m node uploads (bench: gateway idle ~40% of a
  // PUT); a few blocks of slack let a momentarily late node catch up while the encoder keeps going.
  const streams = Array.from({ length: k + m }, () => new ShardStream(SHARD_QUEUE_BLOCKS * (roundUp8(chunkSize + TAG_BYTES) + BLOCK_CRC_BYTES)));

  const run = async (): Promise<EncodeSummary> => {
    const input = new PieceReader(opts.plain);
    // Aborting destroys the streams, which also wakes an encoder waiting on a stalled consumer.
    const onAbort = (): void => {
      for (const st of streams) st.destroy(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      streams.forEach((s, i) => s.push(encodeShardHeader({ coderCode: coder.code, k, m, shardIndex: i, chunkSize, stripeCount: stripes })));
      // While the coder computes stripe s's parity (in the thread pool when native), stripe s+1 is read and encrypted.
      let coding: { blocks: Buffer[]; parity: Promise<void> } | null = null;
      for (let s = 0; s < stripes; s++) {
        opts.signal?.throwIfAborted();
        const B = stripeBlockSize(geometry, s);
        const { first, count } = stripeChunks(geometry, s);
        // A fresh buffer per stripe: its blocks are handed to the shard consumers, who may keep them a while. The
        // blocks stay back to back (crcs go separately) so the native coder encodes in place instead of gathering.
        const stripe = Buffer.allocUnsafe((k + m) * B);
        for (let j = 0; j < count; j++) {
          const c = first + j;
          const len = chunkPlainSize(geometry, c);
          const cipher = sealer.cipher(c, c === chunks - 1);
          let pos = j * B;
          for (let need = len; need > 0; ) {
            const piece = await input.next(need);
            if (piece === null) throw new ColdError('SourceEnded', 'The data ended before its declared length.');
            pos += cipher.update(piece).copy(stripe, pos);
            need -= piece.length;
          }
          pos += cipher.final().copy(stripe, pos);
          pos += cipher.getAuthTag().copy(stripe, pos);
          stripe.fill(0, pos, (j + 1) * B);
          if (opts.onCiphertext) await opts.onCiphertext(stripe.subarray(j * B, j * B + len + TAG_BYTES), c);
        }
        stripe.fill(0, count * B, k * B);
        const blocks = Array.from({ length: k + m }, (_, i) => stripe.subarray(i * B, (i + 1) * B));
        const parity = coder.encode(k, m, blocks.slice(0, k), blocks.slice(k));
        parity.catch(() => undefined);
        if (coding !== null) {
          await coding.parity;
          await pushStripe(coding.blocks);
        }
        coding = { blocks, parity };
      }
      if (coding !== null) {
        await coding.parity;
        await pushStripe(coding.blocks);
      }
      if (!(await input.atEnd())) throw new RangeError(`segment input is longer than plainSize (${plainSize} bytes)`);
      for (const st of streams) if (st.live) st.push(null);
      return { segment, chunkCount: chunks, stripeCount: stripes, hotSize: hotSegmentSize(plainSize, chunkSize) };
    } catch (err) {
      await input.close().catch(() => undefined);
      const reason: unknown = opts.signal?.aborted === true ? opts.signal.reason : err;
      for (const st of streams) st.destroy(reason instanceof Error ? reason : new Error(String(reason)));
      throw reason;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  };

  const pushStripe = async (blocks: Buffer[]): Promise<void> => {
    let live = 0;
    blocks.forEach((block, i) => {
      const st = streams[i]!;
      if (!st.live) return;
      live++;
      const crc = Buffer.allocUnsafe(BLOCK_CRC_BYTES);
      crc.writeUInt32BE(crc32(block), 0);
      st.push(block);
      st.push(crc);
    });
    if (live === 0) throw new Error('every shard consumer went away');
    await Promise.all(streams.map((st) => st.drained()));
  };

  const done = run();
  // Failures also reach consumers through their streams; don't let an unobserved `done` crash the process.
  done.catch(() => undefined);
  return { segment, shards: streams, done };
}
