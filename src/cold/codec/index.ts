/** The cold-tier codec (format v1, docs/FORMAT.md): chunk AEAD, erasure coding, shard files, hot-blob layout. */
export * from '../../model/layout.js';
export { ChunkSealer, deriveSegmentKey, type SegmentContext } from './aead.js';
export { encodeShardHeader, parseShardHeader, FORMAT_VERSION, SHARD_MAGIC, type ShardHeader } from './header.js';
export { encodeSegment, type EncodeSegmentOptions, type EncodedSegment, type EncodedSegmentInfo, type EncodeSummary } from './encoder.js';
export { decodeSegment, type DecodeSegmentOptions, type ShardReadRequest, type ShardProblemKind } from './decoder.js';
export { decryptHotRange, type DecryptHotRangeOptions, type HotSegment } from './hot.js';
export { defaultCoder, coderFor, nativeCoder, TypeScriptCoder, NativeCoder, CAUCHY_CODER_ID, type ErasureCoder } from './rs/index.js';
