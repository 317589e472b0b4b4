/**
 * The hot tier stores an object as its ciphertext chunks (ciphertext||tag of every chunk of every segment, in order;
 * no padding, no parity; docs/FORMAT.md). This turns a chunk-aligned byte range of that blob back into plaintext.
 */
import type { SegmentManifest } from '../manifest.js';
import { S3Error } from '../../util/s3-error.js';
import { ChunkSealer } from './aead.js';
import { chunkCount, chunkPlainSize, coverRange, hotRangeForPlainRange, segmentsForRange, TAG_BYTES } from './layout.js';
import { PieceReader } from './pieces.js';

export type HotSegment = Pick<SegmentManifest, 'segId' | 'part' | 'index' | 'plainSize' | 'chunkSize' | 'k'>;

export interface DecryptHotRangeOptions {
  objectId: string;
  dk: Buffer;
  /** The object's segments, in order. */
  segments: ReadonlyArray<HotSegment>;
  /** Object plaintext range. */
  offset: number;
  length: number;
  /** Yields exactly the blob bytes hotRangeForPlainRange(segments, offset, length) names. */
  source: AsyncIterable<Uint8Array>;
}

/** Re-export of the planning function callers need to request the right blob bytes. */
export { hotRangeForPlainRange };

function corrupt(): S3Error {
  return new S3Error('InternalError', 'Cached object data failed authentication.', 500);
}

export async function* decryptHotRange(opts: DecryptHotRangeOptions): AsyncGenerator<Buffer, void, undefined> {
  if (opts.length === 0) return;
  const input = new PieceReader(opts.source);
  try {
    for (const slice of segmentsForRange(opts.segments, opts.offset, opts.length)) {
      const seg = opts.segments[slice.segment]!;
      const g = { plainSize: seg.plainSize, chunkSize: seg.chunkSize, k: seg.k };
      const plan = coverRange(g, slice.offset, slice.length);
      const chunks = chunkCount(g);
      const sealer = new ChunkSealer(opts.dk, { objectId: opts.objectId, segId: seg.segId, part: seg.part, index: seg.index });
      for (let c = plan.firstChunk; c < plan.endChunk; c++) {
        const len = chunkPlainSize(g, c);
        const decipher = sealer.decipher(c, c === chunks - 1);
        // Decrypt as pieces arrive, but hold the plaintext until the tag has been checked.
        const out: Buffer[] = [];
        for (let need = len; need > 0; ) {
          const piece = await input.next(need);
          if (piece === null) throw corrupt();
          out.push(decipher.update(piece));
          need -= piece.length;
        }
        const tag = Buffer.alloc(TAG_BYTES);
        for (let got = 0; got < TAG_BYTES; ) {
          const piece = await input.next(TAG_BYTES - got);
          if (piece === null) throw corrupt();
          got += piece.copy(tag, got);
        }
        decipher.setAuthTag(tag);
        try {
          out.push(decipher.final());
        } catch {
          throw corrupt();
        }
        const plain = out.length === 1 ? out[0]! : Buffer.concat(out);
        const a = c === plan.firstChunk ? slice.offset - c * seg.chunkSize : 0;
        const b = c === plan.endChunk - 1 ? slice.offset + slice.length - c * seg.chunkSize : len;
        yield a === 0 && b === len ? plain : plain.subarray(a, b);
      }
    }
  } finally {
    await input.close().catch(() => undefined);
  }
}
