/**
 * Pure size and offset arithmetic of the cold-tier format (docs/FORMAT.md). Everything here is computable from a
 * SegmentManifest alone, so readers can plan byte-range requests to nodes and to the hot tier without touching data.
 */

/** Bytes of the AES-GCM tag appended to every chunk. */
export const TAG_BYTES = 16;
/** Bytes of the fixed shard file header. */
export const SHARD_HEADER_BYTES = 32;
/** Bytes of the crc32 that follows every block in a shard file. */
export const BLOCK_CRC_BYTES = 4;
/** Shard blocks are padded to a multiple of this (the native coder requires multiples of 8). */
export const BLOCK_ALIGN = 8;

/** The fields of a SegmentManifest that determine its geometry. */
export interface SegmentGeometry {
  plainSize: number;
  chunkSize: number;
  k: number;
}

export function roundUp8(n: number): number {
  return Math.ceil(n / BLOCK_ALIGN) * BLOCK_ALIGN;
}

function assertGeometry(g: SegmentGeometry): void {
  if (!Number.isSafeInteger(g.plainSize) || g.plainSize <= 0) throw new RangeError('segment plainSize must be a positive integer');
  if (!Number.isSafeInteger(g.chunkSize) || g.chunkSize <= 0 || g.chunkSize > 0x7fff_0000) throw new RangeError('chunkSize out of range');
  if (!Number.isInteger(g.k) || g.k < 1) throw new RangeError('k must be >= 1');
}

/** Number of AEAD chunks in a segment. */
export function chunkCount(g: SegmentGeometry): number {
  assertGeometry(g);
  return Math.ceil(g.plainSize / g.chunkSize);
}

/** Plaintext bytes of chunk c (every chunk is full except the segment's last). */
export function chunkPlainSize(g: SegmentGeometry, c: number): number {
  const n = chunkCount(g);
  if (c < 0 || c >= n) throw new RangeError('chunk index out of range');
  return c < n - 1 ? g.chunkSize : g.plainSize - (n - 1) * g.chunkSize;
}

/** Number of stripes (k chunks each, the last possibly fewer) in a segment. */
export function stripeCount(g: SegmentGeometry): number {
  return Math.ceil(chunkCount(g) / g.k);
}

/** First chunk index and number of chunks held by stripe s. */
export function stripeChunks(g: SegmentGeometry, s: number): { first: number; count: number } {
  const n = chunkCount(g);
  const first = s * g.k;
  if (s < 0 || first >= n) throw new RangeError('stripe index out of range');
  return { first, count: Math.min(g.k, n - first) };
}

/** Block size of stripe s: the largest ciphertext chunk in it, rounded up to 8. Every block of the stripe has it. */
export function stripeBlockSize(g: SegmentGeometry, s: number): number {
  const { first } = stripeChunks(g, s);
  // Chunks before the segment's last are full, so the stripe's first chunk is its largest.
  return roundUp8(chunkPlainSize(g, first) + TAG_BYTES);
}

/** Byte offset of stripe s (its block followed by the block's crc32) in any shard file of the segment. */
export function stripeOffset(g: SegmentGeometry, s: number): number {
  const stripes = stripeCount(g);
  if (s < 0 || s > stripes) throw new RangeError('stripe index out of range');
  const full = roundUp8(g.chunkSize + TAG_BYTES) + BLOCK_CRC_BYTES;
  // Every stripe but the last has full-size blocks, so offsets are linear up to and including the last stripe's start.
  if (s < stripes) return SHARD_HEADER_BYTES + s * full;
  return SHARD_HEADER_BYTES + (stripes - 1) * full + stripeBlockSize(g, stripes - 1) + BLOCK_CRC_BYTES;
}

/** Bytes of every shard file of a segment (header + per stripe: block + crc32). */
export function shardSize(plainSize: number, chunkSize: number, k: number): number {
  const g = { plainSize, chunkSize, k };
  return stripeOffset(g, stripeCount(g));
}

/** Byte range of a shard file that holds stripes [fromStripe, toStripe); from stripe 0 it includes the header. */
export function shardByteRange(g: SegmentGeometry, fromStripe: number, toStripe: number): { offset: number; length: number } {
  if (fromStripe >= toStripe) throw new RangeError('empty stripe range');
  const start = fromStripe === 0 ? 0 : stripeOffset(g, fromStripe);
  return { offset: start, length: stripeOffset(g, toStripe) - start };
}

/** Chunks [firstChunk, endChunk) and stripes [firstStripe, endStripe) that cover plaintext range [offset, offset+length). */
export interface CoverPlan {
  firstChunk: number;
  endChunk: number;
  firstStripe: number;
  endStripe: number;
}

export function coverRange(g: SegmentGeometry, offset: number, length: number): CoverPlan {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0 || offset + length > g.plainSize) {
    throw new RangeError('plaintext range outside the segment');
  }
  const firstChunk = Math.floor(offset / g.chunkSize);
  const endChunk = Math.floor((offset + length - 1) / g.chunkSize) + 1;
  return { firstChunk, endChunk, firstStripe: Math.floor(firstChunk / g.k), endStripe: Math.floor((endChunk - 1) / g.k) + 1 };
}

/** Hot-tier bytes of one segment: its chunks' ciphertext+tag, concatenated, no padding, no parity. */
export function hotSegmentSize(plainSize: number, chunkSize: number): number {
  return plainSize + Math.ceil(plainSize / chunkSize) * TAG_BYTES;
}

/** Offset of chunk c inside its segment's hot-tier bytes. */
export function hotChunkOffset(chunkSize: number, c: number): number {
  return c * (chunkSize + TAG_BYTES);
}

/** Where each segment starts in the object's plaintext and in its hot blob. */
export interface SegmentPlacement {
  segment: number;
  plainOffset: number;
  hotOffset: number;
}

export function placeSegments(segments: ReadonlyArray<{ plainSize: number; chunkSize: number }>): SegmentPlacement[] {
  let plainOffset = 0;
  let hotOffset = 0;
  return segments.map((s, segment) => {
    const p = { segment, plainOffset, hotOffset };
    plainOffset += s.plainSize;
    hotOffset += hotSegmentSize(s.plainSize, s.chunkSize);
    return p;
  });
}

/** A piece of an object-level plaintext range that falls in one segment. */
export interface SegmentSlice {
  segment: number;
  /** Plaintext offset and length inside the segment. */
  offset: number;
  length: number;
}

/** Split the object plaintext range [offset, offset+length) into per-segment ranges, in order. */
export function segmentsForRange(segments: ReadonlyArray<{ plainSize: number }>, offset: number, length: number): SegmentSlice[] {
  const out: SegmentSlice[] = [];
  if (length <= 0) return out;
  const end = offset + length;
  let base = 0;
  segments.forEach((s, segment) => {
    const segEnd = base + s.plainSize;
    const a = Math.max(offset, base);
    const b = Math.min(end, segEnd);
    if (a < b) out.push({ segment, offset: a - base, length: b - a });
    base = segEnd;
  });
  if (end > base) throw new RangeError('plaintext range beyond the object');
  return out;
}

/** The chunk-aligned hot-blob byte range [offset, offset+length) that holds plaintext range [offset, offset+length) of the object. */
export function hotRangeForPlainRange(
  segments: ReadonlyArray<{ plainSize: number; chunkSize: number }>,
  offset: number,
  length: number,
): { offset: number; length: number } {
  const slices = segmentsForRange(segments, offset, length);
  const first = slices[0];
  const last = slices[slices.length - 1];
  if (first === undefined || last === undefined) throw new RangeError('empty plaintext range');
  const places = placeSegments(segments);
  const edge = (slice: SegmentSlice, end: boolean): number => {
    const seg = segments[slice.segment]!;
    const place = places[slice.segment]!;
    if (!end) return place.hotOffset + hotChunkOffset(seg.chunkSize, Math.floor(slice.offset / seg.chunkSize));
    const endChunk = Math.floor((slice.offset + slice.length - 1) / seg.chunkSize) + 1;
    const chunks = Math.ceil(seg.plainSize / seg.chunkSize);
    return endChunk === chunks ? place.hotOffset + hotSegmentSize(seg.plainSize, seg.chunkSize) : place.hotOffset + hotChunkOffset(seg.chunkSize, endChunk);
  };
  const a = edge(first, false);
  return { offset: a, length: edge(last, true) - a };
}

/** Cut an object of `size` plaintext bytes into segments of `segmentSize` (the last shorter; none for 0 bytes). */
export function planSegments(size: number, segmentSize: number): Array<{ index: number; plainOffset: number; plainSize: number }> {
  if (!Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(segmentSize) || segmentSize <= 0) throw new RangeError('bad sizes');
  const out = [];
  for (let index = 0, plainOffset = 0; plainOffset < size; index++, plainOffset += segmentSize) {
    out.push({ index, plainOffset, plainSize: Math.min(segmentSize, size - plainOffset) });
  }
  return out;
}

/** Smallest chunk a writer picks for a short segment: below this, per-chunk tags and AEAD set-up outweigh the gain. */
export const MIN_WRITER_CHUNK = 1024;

/**
 * The chunk size a writer uses for a segment of `plainSize` bytes: at most `maxChunk`, and otherwise just large enough
 * that the segment's stripes are (nearly) full. Every shard of a stripe is as large as its largest block, so a 64 KiB
 * object cut into one 64 KiB chunk would store six 64 KiB shards (6x); four 16 KiB chunks store six 16 KiB shards
 * (1.5x, the code's rate). Readers take chunkSize from the manifest, so this is a writer policy, not a format rule.
 */
export function writerChunkSize(plainSize: number, maxChunk: number, k: number): number {
  if (!Number.isSafeInteger(plainSize) || plainSize <= 0) throw new RangeError('segment plainSize must be a positive integer');
  const stripes = Math.ceil(plainSize / (k * maxChunk));
  const even = Math.ceil(Math.ceil(plainSize / (k * stripes)) / 64) * 64;
  return Math.min(maxChunk, Math.max(MIN_WRITER_CHUNK, even));
}
