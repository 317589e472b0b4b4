/**
 * The fixed 32-byte header of a shard file (format v1, docs/FORMAT.md). It names the coding geometry only: nothing
 * about the object (no id, no exact size, no name), so a node learns no more than the shard's length implies.
 */
import { crc32 } from 'node:zlib';
import { SHARD_HEADER_BYTES } from '../../model/layout.js';

export const SHARD_MAGIC = 'TSHD';
export const FORMAT_VERSION = 1;

export interface ShardHeader {
  version: number;
  /** Numeric code of the erasure coder (see CODER_CODES). */
  coderCode: number;
  k: number;
  m: number;
  shardIndex: number;
  chunkSize: number;
  stripeCount: number;
}

export function encodeShardHeader(h: Omit<ShardHeader, 'version'>): Buffer {
  const b = Buffer.alloc(SHARD_HEADER_BYTES);
  b.write(SHARD_MAGIC, 0, 'latin1');
  b[4] = FORMAT_VERSION;
  b[5] = h.coderCode;
  b[6] = h.k;
  b[7] = h.m;
  b[8] = h.shardIndex;
  b.writeUInt32BE(h.chunkSize, 12);
  b.writeUInt32BE(h.stripeCount, 16);
  b.writeUInt32BE(crc32(b.subarray(0, 28)), 28);
  return b;
}

/** Parse and check a header; returns a reason string instead of throwing so callers can classify the shard. */
export function parseShardHeader(b: Buffer): ShardHeader | string {
  if (b.length < SHARD_HEADER_BYTES) return 'short header';
  if (b.toString('latin1', 0, 4) !== SHARD_MAGIC) return 'bad magic';
  if (b.readUInt32BE(28) !== crc32(b.subarray(0, 28))) return 'header checksum mismatch';
  if (b[4] !== FORMAT_VERSION) return `unsupported format version ${b[4]}`;
  return {
    version: b[4],
    coderCode: b[5]!,
    k: b[6]!,
    m: b[7]!,
    shardIndex: b[8]!,
    chunkSize: b.readUInt32BE(12),
    stripeCount: b.readUInt32BE(16),
  };
}
