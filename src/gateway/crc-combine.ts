import type { ChecksumAlgorithm } from '../model/records.js';

/**
 * CRC of A||B from crc(A), crc(B) and B's length, for the reflected CRCs S3 uses (zlib's crc32_combine in GF(2),
 * generalised to 64 bits): what a FULL_OBJECT checksum of a multipart upload is, from its parts' checksums alone.
 */
const REFLECTED_POLY: Partial<Record<ChecksumAlgorithm, { width: number; poly: bigint }>> = {
  CRC32: { width: 32, poly: 0xedb88320n },
  CRC32C: { width: 32, poly: 0x82f63b78n },
  CRC64NVME: { width: 64, poly: 0x9a6c9329ac4bc9b5n },
};

function times(mat: bigint[], vec: bigint): bigint {
  let sum = 0n;
  for (let i = 0; vec !== 0n; i++, vec >>= 1n) if (vec & 1n) sum ^= mat[i]!;
  return sum;
}

function square(mat: bigint[]): bigint[] {
  return mat.map((row) => times(mat, row));
}

function combine(crc1: bigint, crc2: bigint, len2: number, width: number, poly: bigint): bigint {
  if (len2 <= 0) return crc1;
  // The operator for one zero bit, then two, then four.
  let odd: bigint[] = [poly, ...Array.from({ length: width - 1 }, (_, n) => 1n << BigInt(n))];
  let even = square(odd);
  odd = square(even);
  let n = BigInt(len2);
  let c = crc1;
  // Apply len2 zero bytes to crc1, squaring the operator for each bit of the length.
  do {
    even = square(odd);
    if (n & 1n) c = times(even, c);
    n >>= 1n;
    if (n === 0n) break;
    odd = square(even);
    if (n & 1n) c = times(odd, c);
    n >>= 1n;
  } while (n !== 0n);
  return c ^ crc2;
}

export function supportsFullObject(algorithm: ChecksumAlgorithm): boolean {
  return REFLECTED_POLY[algorithm] !== undefined;
}

/** The whole object's CRC (base64, big-endian as S3 sends it) from its parts' CRCs and sizes, in order. */
export function fullObjectChecksum(algorithm: ChecksumAlgorithm, parts: ReadonlyArray<{ value: string; size: number }>): string {
  const spec = REFLECTED_POLY[algorithm];
  if (!spec) throw new Error(`${algorithm} has no full-object form`);
  const bytes = spec.width / 8;
  let crc: bigint | undefined;
  for (const p of parts) {
    const part = BigInt(`0x${Buffer.from(p.value, 'base64').toString('hex') || '0'}`);
    crc = crc === undefined ? part : combine(crc, part, p.size, spec.width, spec.poly);
  }
  return Buffer.from((crc ?? 0n).toString(16).padStart(bytes * 2, '0'), 'hex').toString('base64');
}
