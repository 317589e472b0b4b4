import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import type { ChecksumAlgorithm } from '../model/records.js';

/** An incremental checksum in the encoding S3 uses on the wire (base64 of the big-endian digest). */
export interface Checksummer {
  update(data: Buffer): void;
  /** base64 of the digest. */
  digest(): string;
  /** Raw digest bytes (composite multipart checksums hash these). */
  digestBytes(): Buffer;
}

class Crc32Sum implements Checksummer {
  private value = 0;
  constructor(private readonly fn: (data: Buffer, initial?: number) => number) {}
  update(data: Buffer): void {
    // node:zlib's crc32 answers 0 for an empty slice of a pooled buffer, whatever the running value: skip empties.
    if (data.length === 0) return;
    this.value = this.fn(data, this.value);
  }
  digestBytes(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.value >>> 0);
    return out;
  }
  digest(): string {
    return this.digestBytes().toString('base64');
  }
}

// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5), slicing-by-8 over two 32-bit halves: no BigInt on the byte path.
const CRC64_TABLES = (() => {
  const polyLo = 0xac4bc9b5;
  const polyHi = 0x9a6c9329;
  const lo = Array.from({ length: 8 }, () => new Uint32Array(256));
  const hi = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let l = n;
    let h = 0;
    for (let b = 0; b < 8; b++) {
      const carry = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h = h >>> 1;
      if (carry) {
        l = (l ^ polyLo) >>> 0;
        h = (h ^ polyHi) >>> 0;
      }
    }
    lo[0]![n] = l;
    hi[0]![n] = h;
  }
  for (let t = 1; t < 8; t++) {
    for (let n = 0; n < 256; n++) {
      const pl = lo[t - 1]![n]!;
      const ph = hi[t - 1]![n]!;
      const idx = pl & 0xff;
      lo[t]![n] = (((pl >>> 8) | ((ph & 0xff) << 24)) ^ lo[0]![idx]!) >>> 0;
      hi[t]![n] = ((ph >>> 8) ^ hi[0]![idx]!) >>> 0;
    }
  }
  return { lo, hi };
})();

class Crc64NvmeSum implements Checksummer {
  private lo = 0xffffffff;
  private hi = 0xffffffff;
  update(data: Buffer): void {
    const { lo: TL, hi: TH } = CRC64_TABLES;
    let l = this.lo;
    let h = this.hi;
    let i = 0;
    const n = data.length;
    for (; i + 8 <= n; i += 8) {
      const a = (l ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
      const b = (h ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24))) >>> 0;
      l =
        (TL[7]![a & 0xff]! ^ TL[6]![(a >>> 8) & 0xff]! ^ TL[5]![(a >>> 16) & 0xff]! ^ TL[4]![a >>> 24]! ^
          TL[3]![b & 0xff]! ^ TL[2]![(b >>> 8) & 0xff]! ^ TL[1]![(b >>> 16) & 0xff]! ^ TL[0]![b >>> 24]!) >>> 0;
      h =
        (TH[7]![a & 0xff]! ^ TH[6]![(a >>> 8) & 0xff]! ^ TH[5]![(a >>> 16) & 0xff]! ^ TH[4]![a >>> 24]! ^
          TH[3]![b & 0xff]! ^ TH[2]![(b >>> 8) & 0xff]! ^ TH[1]![(b >>> 16) & 0xff]! ^ TH[0]![b >>> 24]!) >>> 0;
    }
    for (; i < n; i++) {
      const idx = (l ^ data[i]!) & 0xff;
      l = (((l >>> 8) | ((h & 0xff) << 24)) ^ TL[0]![idx]!) >>> 0;
      h = ((h >>> 8) ^ TH[0]![idx]!) >>> 0;
    }
    this.lo = l;
    this.hi = h;
  }
  digestBytes(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE(~this.hi >>> 0, 0);
    out.writeUInt32BE(~this.lo >>> 0, 4);
    return out;
  }
  digest(): string {
    return this.digestBytes().toString('base64');
  }
}

class HashSum implements Checksummer {
  private readonly hash: Hash;
  private result?: Buffer;
  constructor(algorithm: string) {
    this.hash = createHash(algorithm);
  }
  update(data: Buffer): void {
    this.hash.update(data);
  }
  digestBytes(): Buffer {
    this.result ??= this.hash.digest();
    return this.result;
  }
  digest(): string {
    return this.digestBytes().toString('base64');
  }
}

export function createChecksummer(algorithm: ChecksumAlgorithm): Checksummer {
  switch (algorithm) {
    case 'CRC32':
      return new Crc32Sum(crc32);
    case 'CRC32C':
      return new Crc32Sum((data, initial) => crc32c(data, initial));
    case 'CRC64NVME':
      return new Crc64NvmeSum();
    case 'SHA1':
      return new HashSum('sha1');
    case 'SHA256':
      return new HashSum('sha256');
  }
}

export const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 };

/** True when `value` is base64 of exactly the digest length of `algorithm`. */
export function isValidChecksumValue(algorithm: ChecksumAlgorithm, value: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return false;
  return Buffer.from(value, 'base64').length === DIGEST_BYTES[algorithm];
}

/** S3's composite multipart checksum: the checksum of the concatenated raw part checksums, with a -N suffix. */
export function compositeChecksum(algorithm: ChecksumAlgorithm, partValues: string[]): string {
  const sum = createChecksummer(algorithm);
  for (const v of partValues) sum.update(Buffer.from(v, 'base64'));
  return `${sum.digest()}-${partValues.length}`;
}
