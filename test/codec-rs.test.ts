import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nativeCoder, TypeScriptCoder, type ErasureCoder } from '../src/cold/codec/rs/index.js';

const native = nativeCoder();
const ts = new TypeScriptCoder();

function stripe(k: number, m: number, size: number): { data: Buffer[]; parity: Buffer[]; all: Buffer; } {
  const all = Buffer.alloc((k + m) * size);
  randomBytes(k * size).copy(all);
  const blocks = Array.from({ length: k + m }, (_, i) => all.subarray(i * size, (i + 1) * size));
  return { data: blocks.slice(0, k), parity: blocks.slice(k), all };
}

async function parityOf(coder: ErasureCoder, k: number, m: number, data: Buffer[]): Promise<Buffer[]> {
  const parity = Array.from({ length: m }, () => Buffer.alloc(data[0]!.length, 0xee));
  await coder.encode(k, m, data.map((d) => Buffer.from(d)), parity);
  return parity;
}

// Geometries cover every field width of the code (w = 2, 4, 8) and both matrix constructions (m <= 2 and m > 2).
const geometries: Array<[number, number]> = [[1, 1], [2, 1], [2, 2], [3, 1], [4, 2], [4, 3], [5, 4], [6, 3], [8, 4], [10, 4], [12, 6], [16, 2], [20, 5], [24, 6]];
// Block sizes: tiny, odd packet lengths, and one large enough for the packet-halving rule to kick in.
const sizes = [8, 24, 264, 4104, 262160];

// In CI the native addon must have built (npm ci with allowScripts); elsewhere its absence skips the comparison.
if (native === null && process.env.CI) throw new Error('the native Reed-Solomon addon did not build');

describe.skipIf(native === null)('TypeScript coder matches the native addon', () => {
  it.each(geometries)('k=%i m=%i: identical parity for several block sizes', async (k, m) => {
    for (const size of sizes) {
      if (size > 8192 && k * size > 4 << 20) continue;
      const { data } = stripe(k, m, size);
      const a = await parityOf(native!, k, m, data);
      const b = await parityOf(ts, k, m, data);
      for (let i = 0; i < m; i++) expect(b[i]!.equals(a[i]!), `k=${k} m=${m} size=${size} parity ${i}`).toBe(true);
    }
  });

  it.each(geometries)('k=%i m=%i: shards encoded by one coder are rebuilt by the other', async (k, m) => {
    const size = 4104;
    for (const [enc, dec] of [[native!, ts], [ts, native!]] as const) {
      const { data, parity, all } = stripe(k, m, size);
      await enc.encode(k, m, data, parity);
      const original = Buffer.from(all);
      // Lose m shards, chosen to hit data and parity: the last m-1 data shards and the first parity shard.
      const lost = new Set<number>([k, ...Array.from({ length: Math.min(m - 1, k) }, (_, i) => k - 1 - i)]);
      const blocks = [...data, ...parity];
      for (const i of lost) blocks[i]!.fill(0x5a);
      await dec.reconstruct(k, m, blocks, blocks.map((_, i) => !lost.has(i)));
      expect(all.equals(original)).toBe(true);
    }
  });
});

describe('TypeScript coder on its own', () => {
  it('rebuilds every choice of m lost shards (k=4 m=2)', async () => {
    const k = 4;
    const m = 2;
    const { data, parity, all } = stripe(k, m, 264);
    await ts.encode(k, m, data, parity);
    const original = Buffer.from(all);
    for (let a = 0; a < k + m; a++) {
      for (let b = a + 1; b < k + m; b++) {
        const blocks = [...data, ...parity];
        blocks[a]!.fill(0);
        blocks[b]!.fill(0);
        await ts.reconstruct(k, m, blocks, blocks.map((_, i) => i !== a && i !== b));
        expect(all.equals(original), `lost ${a},${b}`).toBe(true);
      }
    }
  });

  it('refuses fewer than k present shards and zero-length blocks', async () => {
    const { data, parity } = stripe(4, 2, 16);
    await expect(ts.reconstruct(4, 2, [...data, ...parity], [true, false, false, false, true, true])).rejects.toThrow(/need 4/);
    await expect(ts.encode(1, 1, [Buffer.alloc(0)], [Buffer.alloc(0)])).rejects.toThrow(/multiples of 8/);
  });
});
