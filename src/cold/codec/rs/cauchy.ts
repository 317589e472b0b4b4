/**
 * A TypeScript port of the Cauchy bit-matrix Reed-Solomon code of @ronomon/reed-solomon 6.0.0 (binding.c, MIT
 * licence, (c) Joran Dirk Greef). It follows the C code step by step (field tables, matrix choice, bit matrix,
 * packet layout inside a block, decoding order), because the parity bytes depend on all of them: only then are
 * shards interchangeable between the native addon and this fallback.
 *
 * The code works in GF(2^w) with w in {2, 4, 8} picked per (k, m); each block is cut into w packets per region and
 * parity packets are XORs of data packets selected by a (m*w) x (k*w) bit matrix.
 */
import { MAX_K, MAX_M } from './types.js';

/** PARAMETERS[k-1][m-1] = [w, primitive polynomial, x, y, bit count], copied from binding.c. */
const PARAMETERS: ReadonlyArray<ReadonlyArray<readonly [number, number, number, number, number]>> = [
  [[2, 7, -1, -1, 2], [2, 7, -1, -1, 4], [2, 7, 0, 1, 6], [4, 19, 0, 1, 16], [4, 19, 0, 1, 20], [4, 19, 0, 1, 24]],
  [[2, 7, -1, -1, 4], [2, 7, -1, -1, 9], [4, 19, 0, 4, 28], [4, 19, 0, 5, 40], [4, 19, 2, 9, 51], [4, 19, 4, 10, 62]],
  [[2, 7, -1, -1, 6], [4, 19, -1, -1, 26], [4, 19, 0, 9, 44], [4, 19, 1, 8, 63], [4, 19, 1, 9, 82], [4, 19, 0, 9, 101]],
  [[4, 19, -1, -1, 16], [4, 19, -1, -1, 36], [4, 19, 0, 9, 63], [4, 19, 3, 11, 89], [4, 19, 3, 11, 116], [4, 19, 11, 4, 145]],
  [[4, 19, -1, -1, 20], [4, 19, -1, -1, 47], [4, 19, 4, 13, 82], [4, 19, 3, 12, 118], [4, 19, 0, 9, 152], [4, 19, 0, 9, 185]],
  [[4, 19, -1, -1, 24], [4, 19, -1, -1, 58], [4, 19, 2, 12, 102], [4, 19, 2, 12, 144], [4, 19, 0, 9, 186], [4, 19, 0, 9, 231]],
  [[4, 19, -1, -1, 28], [4, 19, -1, -1, 71], [4, 19, 1, 13, 123], [4, 19, 2, 12, 174], [4, 19, 0, 9, 226], [4, 19, 7, 0, 277]],
  [[4, 19, -1, -1, 32], [4, 19, -1, -1, 84], [4, 19, 2, 13, 142], [4, 19, 2, 12, 205], [4, 19, 0, 9, 265], [4, 19, 0, 8, 328]],
  [[4, 19, -1, -1, 36], [4, 19, -1, -1, 97], [4, 19, 1, 13, 162], [4, 19, 2, 12, 237], [4, 19, 0, 9, 308], [4, 19, 1, 10, 376]],
  [[4, 19, -1, -1, 40], [4, 19, -1, -1, 111], [4, 19, 1, 13, 186], [4, 19, 0, 12, 268], [4, 19, 0, 11, 347], [4, 19, 0, 10, 426]],
  [[4, 19, -1, -1, 44], [4, 19, -1, -1, 125], [4, 19, 0, 13, 211], [4, 19, 0, 12, 300], [4, 19, 0, 11, 390], [8, 135, 58, 188, 1401]],
  [[4, 19, -1, -1, 48], [4, 19, -1, -1, 139], [4, 19, 3, 0, 234], [4, 19, 0, 12, 334], [8, 113, 24, 208, 1269], [8, 135, 57, 188, 1577]],
  [[4, 19, -1, -1, 52], [4, 19, -1, -1, 155], [4, 19, 0, 13, 261], [8, 135, 59, 189, 1037], [8, 113, 27, 236, 1393], [8, 113, 27, 236, 1733]],
  [[4, 19, -1, -1, 56], [4, 19, -1, -1, 171], [8, 169, 4, 252, 777], [8, 135, 58, 189, 1121], [8, 135, 58, 189, 1508], [8, 135, 58, 188, 1880]],
  [[4, 19, -1, -1, 60], [8, 135, -1, -1, 353], [8, 113, 24, 209, 836], [8, 135, 58, 189, 1225], [8, 101, 28, 232, 1644], [8, 113, 120, 241, 2037]],
  [[8, 29, -1, -1, 128], [8, 135, -1, -1, 380], [8, 113, 22, 213, 901], [8, 113, 22, 212, 1324], [8, 101, 28, 232, 1765], [8, 101, 28, 232, 2195]],
  [[8, 29, -1, -1, 136], [8, 135, -1, -1, 407], [8, 113, 22, 213, 960], [8, 135, 58, 189, 1423], [8, 101, 27, 232, 1880], [8, 101, 27, 232, 2343]],
  [[8, 29, -1, -1, 144], [8, 135, -1, -1, 434], [8, 113, 24, 213, 1027], [8, 113, 22, 212, 1513], [8, 195, 8, 32, 2019], [8, 113, 205, 126, 2500]],
  [[8, 29, -1, -1, 152], [8, 135, -1, -1, 462], [8, 113, 22, 213, 1086], [8, 113, 23, 212, 1604], [8, 195, 7, 32, 2131], [8, 195, 3, 60, 2654]],
  [[8, 29, -1, -1, 160], [8, 135, -1, -1, 490], [8, 113, 22, 213, 1147], [8, 113, 22, 212, 1695], [8, 195, 4, 238, 2270], [8, 113, 21, 233, 2816]],
  [[8, 29, -1, -1, 168], [8, 135, -1, -1, 518], [8, 113, 21, 213, 1225], [8, 113, 21, 212, 1801], [8, 195, 3, 60, 2395], [8, 195, 3, 60, 2980]],
  [[8, 29, -1, -1, 176], [8, 135, -1, -1, 546], [8, 113, 20, 213, 1292], [8, 113, 21, 212, 1906], [8, 195, 35, 28, 2512], [8, 195, 3, 60, 3135]],
  [[8, 29, -1, -1, 184], [8, 135, -1, -1, 574], [8, 113, 19, 213, 1366], [8, 113, 19, 212, 2008], [8, 195, 3, 238, 2652], [8, 113, 205, 126, 3291]],
  [[8, 29, -1, -1, 192], [8, 135, -1, -1, 603], [8, 113, 18, 213, 1437], [8, 195, 125, 91, 2110], [8, 195, 3, 238, 2787], [8, 195, 42, 225, 3466]],];

interface Field {
  w: number;
  log: Int32Array;
  exp: Int32Array;
  bit: Int32Array;
  min: Int32Array;
}

function gDivide(f: Field, a: number, b: number): number {
  const y = (1 << f.w) - 1;
  if (b < 1) throw new Error('division by zero in GF');
  if (a === 0) return 0;
  return f.exp[(f.log[a]! + y - f.log[b]!) % y]!;
}

function gMultiply(f: Field, a: number, b: number): number {
  const y = (1 << f.w) - 1;
  if (a === 0 || b === 0) return 0;
  return f.exp[(f.log[a]! + f.log[b]!) % y]!;
}

function createField(w: number, p: number): Field {
  const y = (1 << w) - 1;
  const z = 1 << w;
  const f: Field = { w, log: new Int32Array(z).fill(y), exp: new Int32Array(z), bit: new Int32Array(z), min: new Int32Array(z) };
  let b = 1;
  for (let a = 0; a < y; a++) {
    f.log[b] = a;
    f.exp[a] = b;
    b <<= 1;
    if (b & z) b = (b ^ p) & y;
  }
  for (let n = 0; n < z; n++) {
    let count = 0;
    let x = n;
    for (let r = 0; r < w; r++) {
      for (let c = 0; c < w; c++) count += x & (1 << c) ? 1 : 0;
      x = gMultiply(f, x, 2);
    }
    f.bit[n] = count;
  }
  f.min[0] = 0;
  for (let a = 1; a < z; a++) {
    const c = f.min[a - 1]!;
    let d = -1;
    for (let bb = 1; bb < z; bb++) {
      if (f.bit[bb]! < f.bit[c]!) continue;
      if (f.bit[bb] === f.bit[c] && bb <= c) continue;
      if (d === -1 || f.bit[bb]! < f.bit[d]!) d = bb;
    }
    f.min[a] = d;
  }
  return f;
}

function createMatrix(f: Field, k: number, m: number, x: number, y: number): Uint8Array {
  const matrix = new Uint8Array(k * m);
  if (m === 1) {
    matrix.fill(1, 0, k);
  } else if (m === 2) {
    matrix.fill(1, 0, k);
    for (let c = 0; c < k; c++) matrix[k + c] = f.min[c + 1]!;
  } else {
    for (let r = 0; r < m; r++) for (let c = 0; c < k; c++) matrix[r * k + c] = gDivide(f, 1, (y + r) ^ (x + c));
    for (let r = 1; r < m; r++) for (let c = 0; c < k; c++) matrix[r * k + c] = gDivide(f, matrix[r * k + c]!, matrix[c]!);
    for (let c = 0; c < k; c++) matrix[c] = gDivide(f, matrix[c]!, matrix[c]!);
    for (let r = 1; r < m; r++) {
      const rk = r * k;
      let result = 0;
      let column = -1;
      for (let c = 0; c < k; c++) result += f.bit[matrix[rk + c]!]!;
      for (let c = 0; c < k; c++) {
        let bits = 0;
        for (let d = 0; d < k; d++) bits += f.bit[gDivide(f, matrix[rk + d]!, matrix[rk + c]!)]!;
        if (bits < result) {
          result = bits;
          column = matrix[rk + c]!;
        }
      }
      if (column >= 0) for (let c = 0; c < k; c++) matrix[rk + c] = gDivide(f, matrix[rk + c]!, column);
    }
  }
  return matrix;
}

function createBitmatrixEncoding(f: Field, k: number, m: number, matrix: Uint8Array): Uint8Array {
  const w = f.w;
  const bitmatrix = new Uint8Array(k * w * m * w);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < k; c++) {
      let x = matrix[k * r + c]!;
      for (let a = 0; a < w; a++) {
        for (let b = 0; b < w; b++) {
          bitmatrix[r * w * k * w + w * c + a + k * w * b] = x & (1 << b) ? 1 : 0;
        }
        x = gMultiply(f, x, 2);
      }
    }
  }
  return bitmatrix;
}

/** Gauss-Jordan inversion over GF(2), in the same row-operation order as binding.c. */
function invertBitmatrix(source: Uint8Array, rows: number): Uint8Array {
  const cols = rows;
  const target = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) target[r * cols + r] = 1;
  const swapRows = (a: number, b: number): void => {
    for (let kk = 0; kk < cols; kk++) {
      let t = source[a * cols + kk]!;
      source[a * cols + kk] = source[b * cols + kk]!;
      source[b * cols + kk] = t;
      t = target[a * cols + kk]!;
      target[a * cols + kk] = target[b * cols + kk]!;
      target[b * cols + kk] = t;
    }
  };
  for (let c = 0; c < cols; c++) {
    if (source[c * cols + c] === 0) {
      let r = c + 1;
      while (r < rows && source[r * cols + c] === 0) r++;
      if (r === rows) throw new Error('erasure matrix is not invertible');
      swapRows(c, r);
    }
    for (let r = c + 1; r !== rows; r++) {
      if (source[r * cols + c] !== 0) {
        for (let kk = 0; kk < cols; kk++) {
          source[r * cols + kk]! ^= source[c * cols + kk]!;
          target[r * cols + kk]! ^= target[c * cols + kk]!;
        }
      }
    }
  }
  for (let r = rows - 1; r >= 0; r--) {
    for (let c = 0; c < r; c++) {
      if (source[c * cols + r]) {
        for (let kk = 0; kk < cols; kk++) {
          source[c * cols + kk]! ^= source[r * cols + kk]!;
          target[c * cols + kk]! ^= target[r * cols + kk]!;
        }
      }
    }
  }
  return target;
}

function createBitmatrixDecoding(w: number, k: number, sourceIndex: number[], encoding: Uint8Array): Uint8Array {
  const kww = k * w * w;
  const matrix = new Uint8Array(k * w * k * w);
  for (let a = 0; a < k; a++) {
    const si = sourceIndex[a]!;
    if (si < k) {
      let index = kww * a + si * w;
      for (let b = 0; b < w; b++) {
        matrix[index] = 1;
        index += k * w + 1;
      }
    } else {
      matrix.set(encoding.subarray(kww * (si - k), kww * (si - k) + kww), kww * a);
    }
  }
  return invertBitmatrix(matrix, k * w);
}

/** Packet length inside a block, chosen by binding.c to keep a region in cache; it changes the parity bytes. */
function dotChunkSize(w: number, k: number, shardSize: number): number {
  let chunkSize = shardSize / w;
  while (chunkSize > 64 && chunkSize % 2 === 0 && (1 + k * w) * chunkSize > 1048576) chunkSize /= 2;
  return chunkSize;
}

/** dst[dOff..dOff+len) ^= src[sOff..sOff+len), using the widest word both sides allow. */
function xorInto(src: Uint8Array, sOff: number, dst: Uint8Array, dOff: number, len: number): void {
  const sa = src.byteOffset + sOff;
  const da = dst.byteOffset + dOff;
  let i = 0;
  if ((sa & 3) === (da & 3)) {
    while (i < len && ((sa + i) & 3) !== 0) {
      dst[dOff + i]! ^= src[sOff + i]!;
      i++;
    }
    const words = (len - i) >>> 2;
    if (words > 0) {
      const s32 = new Uint32Array(src.buffer, sa + i, words);
      const d32 = new Uint32Array(dst.buffer, da + i, words);
      for (let j = 0; j < words; j++) d32[j]! ^= s32[j]!;
      i += words * 4;
    }
  } else if ((sa & 1) === (da & 1)) {
    if ((sa & 1) !== 0 && len > 0) {
      dst[dOff]! ^= src[sOff]!;
      i = 1;
    }
    const halves = (len - i) >>> 1;
    if (halves > 0) {
      const s16 = new Uint16Array(src.buffer, sa + i, halves);
      const d16 = new Uint16Array(dst.buffer, da + i, halves);
      for (let j = 0; j < halves; j++) d16[j]! ^= s16[j]!;
      i += halves * 2;
    }
  }
  for (; i < len; i++) dst[dOff + i]! ^= src[sOff + i]!;
}

function dot(w: number, k: number, shards: Uint8Array[], shardSize: number, bitmatrix: Uint8Array, rowOffset: number, sourceIndex: number[], targetIndex: number): void {
  const chunkSize = dotChunkSize(w, k, shardSize);
  const target = shards[targetIndex]!;
  for (let shardOffset = 0; shardOffset < shardSize; shardOffset += w * chunkSize) {
    let column = rowOffset;
    for (let a = 0; a < w; a++) {
      let copied = false;
      const tOff = shardOffset + a * chunkSize;
      for (let b = 0; b < k; b++) {
        const source = shards[sourceIndex[b]!]!;
        for (let c = 0; c < w; c++) {
          if (bitmatrix[column]) {
            const sOff = shardOffset + c * chunkSize;
            if (!copied) {
              target.set(source.subarray(sOff, sOff + chunkSize), tOff);
              copied = true;
            } else {
              xorInto(source, sOff, target, tOff, chunkSize);
            }
          }
          column++;
        }
      }
    }
  }
}

function popcount(flags: number): number {
  let n = 0;
  for (let f = flags >>> 0; f > 0; f >>>= 1) n += f & 1;
  return n;
}

function firstFlag(flags: number): number {
  let i = 0;
  while ((flags & (1 << i)) === 0) i++;
  return i;
}

/** A (k, m) code context: the field and the encoding bit matrix. */
export class CauchyContext {
  readonly w: number;
  readonly bitmatrix: Uint8Array;

  constructor(
    readonly k: number,
    readonly m: number,
  ) {
    if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || k > MAX_K || m < 1 || m > MAX_M) throw new RangeError('k or m out of range');
    const [w, p, x, y] = PARAMETERS[k - 1]![m - 1]!;
    this.w = w;
    const field = createField(w, p);
    this.bitmatrix = createBitmatrixEncoding(field, k, m, createMatrix(field, k, m, x, y));
  }

  /**
   * binding.c reed_solomon_encode: rebuild `targets` (bit mask) from `sources` (bit mask). Like the C code, it may
   * also rewrite absent shards that were not asked for.
   */
  run(sources: number, targets: number, shards: Uint8Array[], shardSize: number): void {
    const { k, m, w, bitmatrix } = this;
    if (k === 1) {
      const source = shards[firstFlag(sources)]!;
      for (let i = 0; i < k + m; i++) if (targets & (1 << i)) shards[i]!.set(source.subarray(0, shardSize));
      return;
    }
    const low = (1 << (k + 1)) - 1;
    if (popcount(targets) === 1 && popcount(sources & low) === k && popcount(targets & low) === 1) {
      const target = shards[firstFlag(targets)]!;
      let copied = false;
      for (let i = 0; i < k + 1; i++) {
        if (sources & (1 << i)) {
          if (!copied) {
            target.set(shards[i]!.subarray(0, shardSize));
            copied = true;
          } else {
            xorInto(shards[i]!, 0, target, 0, shardSize);
          }
        }
      }
      return;
    }
    const kww = k * w * w;
    let max = k;
    let kerasures = 0;
    for (let i = 0; i < k; i++) {
      if (!(sources & (1 << i))) {
        max = i;
        kerasures++;
      }
    }
    if (!(sources & (1 << k))) max = k;
    if (kerasures > 1 || (kerasures === 1 && !(sources & (1 << k)))) {
      const s: number[] = [];
      for (let si = 0; s.length < k; si++) if (sources & (1 << si)) s.push(si);
      const decoding = createBitmatrixDecoding(w, k, s, bitmatrix);
      for (let i = 0; kerasures > 0 && i < max; i++) {
        if (!(sources & (1 << i))) {
          dot(w, k, shards, shardSize, decoding, kww * i, s, i);
          kerasures--;
        }
      }
    }
    if (kerasures > 0) {
      const s: number[] = [];
      for (let si = 0; si < k; si++) s.push(si < max ? si : si + 1);
      dot(w, k, shards, shardSize, bitmatrix, 0, s, max);
    }
    const all: number[] = [];
    for (let si = 0; si < k; si++) all.push(si);
    for (let i = 0; i < m; i++) {
      if (!(sources & (1 << (k + i)))) dot(w, k, shards, shardSize, bitmatrix, kww * i, all, k + i);
    }
  }
}
