/**
 * Inline segments (docs/FORMAT.md section 7): a small object's bytes sealed chunk by chunk exactly as the hot tier's
 * ciphertext form holds them, kept in its record instead of being erasure-coded into shards.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ObjectManifest, SegmentManifest } from '../model/manifest.js';
import { chunkCount, chunkPlainSize, hotRangeForPlainRange, writerChunkSize } from '../model/layout.js';
import { ChunkSealer } from './codec/aead.js';
import { HotDecryptStream } from './codec/hot.js';

export const INLINE_CODER = 'inline';

export interface InlineInput {
  objectId: string;
  dk: Buffer;
  part: number;
  plain: Buffer;
  /** The cold tier's chunk size limit and k: an inline segment is chunked as a coded one of its size would be. */
  maxChunk: number;
  k: number;
  m: number;
}

/** Seal a whole small object into its one inline segment. */
export function sealInline(input: InlineInput): SegmentManifest {
  const plainSize = input.plain.length;
  const chunkSize = writerChunkSize(plainSize, input.maxChunk, input.k);
  const segId = randomBytes(16).toString('hex');
  const sealer = new ChunkSealer(input.dk, { objectId: input.objectId, segId, part: input.part, index: 0 });
  const g = { plainSize, chunkSize, k: input.k };
  const chunks = chunkCount(g);
  const sealed: Buffer[] = [];
  for (let c = 0; c < chunks; c++) {
    const from = c * chunkSize;
    sealed.push(sealer.seal(c, c === chunks - 1, input.plain.subarray(from, from + chunkPlainSize(g, c))));
  }
  return {
    segId,
    part: input.part,
    index: 0,
    plainSize,
    chunkSize,
    k: input.k,
    m: input.m,
    coder: INLINE_CODER,
    shardSize: 0,
    shards: [],
    inline: Buffer.concat(sealed).toString('base64'),
  };
}

/** Plaintext of a range of an inline object; authenticated chunk by chunk, so a damaged record errors the stream. */
export function openInline(manifest: ObjectManifest, dk: Buffer, range: { offset: number; length: number }): Readable {
  if (range.length === 0) return Readable.from([]);
  const blob = Buffer.concat(manifest.segments.map((s) => Buffer.from(s.inline ?? '', 'base64')));
  const at = hotRangeForPlainRange(manifest.segments, range.offset, range.length);
  const plain = new HotDecryptStream({ objectId: manifest.objectId, dk, segments: manifest.segments, offset: range.offset, length: range.length });
  pipeline(Readable.from([blob.subarray(at.offset, at.offset + at.length)]), plain).catch(() => undefined);
  return plain;
}
