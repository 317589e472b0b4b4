/**
 * An erasure coder over one stripe: k data blocks and m parity blocks of equal length (a positive multiple of 8).
 * Coders with the same id produce byte-identical parity, so shards written by one can be read by the other.
 */
export interface ErasureCoder {
  /** Format name of the code (stored in SegmentManifest.coder). */
  readonly id: string;
  /** Byte stored in shard headers for this code. */
  readonly code: number;
  /** Which implementation runs it ('native' or 'typescript'); never part of the format. */
  readonly implementation: string;
  /** Fill `parity` (m blocks) from `data` (k blocks). */
  encode(k: number, m: number, data: Buffer[], parity: Buffer[]): Promise<void>;
  /**
   * Rebuild the blocks listed in `targets` (default: every block not present) from the present ones (at least k).
   * `shards` has k+m blocks; absent ones are buffers to be overwritten. Other absent blocks may be overwritten too.
   */
  reconstruct(k: number, m: number, shards: Buffer[], present: boolean[], targets?: number[]): Promise<void>;
}

/** Limits of the code (those of @ronomon/reed-solomon, whose construction both implementations follow). */
export const MAX_K = 24;
export const MAX_M = 6;

/** The one code of format v1: the Cauchy bit-matrix Reed-Solomon code of @ronomon/reed-solomon 6.x. */
export const CAUCHY_CODER_ID = 'ronomon-cauchy-v1';
export const CAUCHY_CODER_CODE = 1;

export function checkStripe(k: number, m: number, blocks: Buffer[]): number {
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 1 || k > MAX_K || m > MAX_M) {
    throw new RangeError(`unsupported erasure geometry ${k}+${m} (k 1..${MAX_K}, m 1..${MAX_M})`);
  }
  const size = blocks[0]?.length ?? 0;
  // A zero-length buffer aborts the native addon's process, so it is rejected here for every implementation.
  if (size === 0 || size % 8 !== 0) throw new RangeError('stripe blocks must be non-empty multiples of 8 bytes');
  for (const b of blocks) if (b.length !== size) throw new RangeError('stripe blocks differ in length');
  return size;
}

/** Bit masks (bit i = shard i) of the present shards and of the ones to rebuild. */
export function reconstructMasks(k: number, m: number, present: boolean[], targets?: number[]): { sources: number; targets: number } {
  if (present.length !== k + m) throw new RangeError('present must have k+m entries');
  let sources = 0;
  let count = 0;
  present.forEach((p, i) => {
    if (p) {
      sources |= 1 << i;
      count++;
    }
  });
  if (count < k) throw new RangeError(`need ${k} shards to reconstruct, have ${count}`);
  let want = 0;
  for (const t of targets ?? present.flatMap((p, i) => (p ? [] : [i]))) {
    if (present[t] === true) continue;
    want |= 1 << t;
  }
  return { sources, targets: want };
}
