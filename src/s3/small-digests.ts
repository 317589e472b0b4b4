import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { ChecksumAlgorithm } from '../model/records.js';

/**
 * Digests of small in-memory request bodies (DeleteObjects XML, at most 1 MiB) that this layer must verify itself.
 * Object bodies are never hashed here: the service owns hashing on the byte path.
 */

function reflectedTable32(poly: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
}

const CRC32C_TABLE = reflectedTable32(0x82f63b78);

function crc32c(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = (CRC32C_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const CRC64_POLY = 0x9a6c9329ac4bc9b5n;
const MASK64 = 0xffffffffffffffffn;
const CRC64_TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let c = BigInt(i);
  for (let j = 0; j < 8; j++) c = c & 1n ? (c >> 1n) ^ CRC64_POLY : c >> 1n;
  return c;
});

function crc64nvme(data: Buffer): bigint {
  let c = MASK64;
  for (const byte of data) c = (CRC64_TABLE[Number((c ^ BigInt(byte)) & 0xffn)] ?? 0n) ^ (c >> 8n);
  return c ^ MASK64;
}

export function digestBase64(algorithm: ChecksumAlgorithm | 'MD5', data: Buffer): string {
  switch (algorithm) {
    case 'MD5':
      return createHash('md5').update(data).digest('base64');
    case 'SHA1':
      return createHash('sha1').update(data).digest('base64');
    case 'SHA256':
      return createHash('sha256').update(data).digest('base64');
    case 'CRC32': {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc32(data) >>> 0);
      return out.toString('base64');
    }
    case 'CRC32C': {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc32c(data));
      return out.toString('base64');
    }
    case 'CRC64NVME': {
      const out = Buffer.alloc(8);
      out.writeBigUInt64BE(crc64nvme(data));
      return out.toString('base64');
    }
  }
}
