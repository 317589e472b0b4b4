import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import {
  coverRange,
  decryptHotRange,
  hotRangeForPlainRange,
  parseShardHeader,
  shardByteRange,
  shardSize,
  stripeOffset,
  TAG_BYTES,
  TypeScriptCoder,
} from '../src/cold/codec/index.js';
import { MIN_WRITER_CHUNK, writerChunkSize } from '../src/model/layout.js';
import { ColdError } from '../src/cold/errors.js';
import { collect, decodeToMemory, encodeToMemory, hex16, pieces } from './helpers/codec.js';

const objectId = hex16();
const dk = randomBytes(32);

describe('segment round trips', () => {
  const chunk = 1000;
  // 1 byte, partial chunk, exactly one chunk, 1..3 chunks +- 1, a full stripe (k=3), stripes plus a tail.
  const sizes = [1, 7, 999, 1000, 1001, 1999, 2000, 2001, 2999, 3000, 3001, 6000, 7777];
  it.each(sizes)('%i bytes, k=3 m=2: whole segment back, shard files of the promised size', async (size) => {
    const plain = randomBytes(size);
    const enc = await encodeToMemory({ objectId, dk, plain, chunkSize: chunk, k: 3, m: 2 });
    expect(enc.info.shardSize).toBe(shardSize(size, chunk, 3));
    for (const s of enc.shards) expect(s.length).toBe(enc.info.shardSize);
    const h = parseShardHeader(enc.shards[4]!);
    expect(h).toMatchObject({ version: 1, k: 3, m: 2, shardIndex: 4, chunkSize: chunk });
    const { plain: back, problems } = await decodeToMemory(enc, { objectId, dk });
    expect(back.equals(plain)).toBe(true);
    expect(problems).toEqual([]);
    // The hot blob is the concatenated ciphertext chunks.
    expect(enc.hot.length).toBe(size + Math.ceil(size / chunk) * TAG_BYTES);
  });

  it('a 1-byte object uses 24-byte blocks', async () => {
    const enc = await encodeToMemory({ objectId, dk, plain: Buffer.from('x'), chunkSize: 1 << 20, k: 4, m: 2 });
    expect(enc.info.shardSize).toBe(32 + 24 + 4);
  });

  it('every plaintext range of a small object decodes exactly (k=2 m=1, chunk 16)', async () => {
    const plain = randomBytes(83);
    const enc = await encodeToMemory({ objectId, dk, plain, chunkSize: 16, k: 2, m: 1 });
    for (let a = 0; a < plain.length; a++) {
      for (let b = a + 1; b <= plain.length; b++) {
        const { plain: got } = await decodeToMemory(enc, { objectId, dk, range: { offset: a, length: b - a } });
        if (!got.equals(plain.subarray(a, b))) expect.fail(`range [${a}, ${b})`);
      }
    }
  });

  it('range reads open only the stripes they need', async () => {
    const plain = randomBytes(10_000);
    const enc = await encodeToMemory({ objectId, dk, plain, chunkSize: 500, k: 4, m: 2 });
    const plan = coverRange(enc.info, 4100, 1000);
    expect(plan).toEqual({ firstChunk: 8, endChunk: 11, firstStripe: 2, endStripe: 3 });
    expect(shardByteRange(enc.info, 2, 3)).toEqual({ offset: stripeOffset(enc.info, 2), length: 520 + 4 });
    const { plain: got } = await decodeToMemory(enc, { objectId, dk, range: { offset: 4100, length: 1000 } });
    expect(got.equals(plain.subarray(4100, 5100))).toBe(true);
  });
});

describe('losing shards', () => {
  const k = 3;
  const m = 2;
  const plain = randomBytes(5 * 700 + 123);
  const setup = encodeToMemory({ objectId, dk, plain, chunkSize: 700, k, m });

  it('any m missing shards still decode, and the missing ones are reported', async () => {
    const enc = await setup;
    for (let a = 0; a < k + m; a++) {
      for (let b = a + 1; b < k + m; b++) {
        const missing = new Set([a, b]);
        const { plain: got, problems } = await decodeToMemory(enc, { objectId, dk, missing });
        expect(got.equals(plain), `missing ${a},${b}`).toBe(true);
        for (const p of problems) expect(missing.has(p.index) && p.kind === 'missing').toBe(true);
      }
    }
  });

  it('any m+1 missing shards fail as Unavailable (the protocol answers 503)', async () => {
    const enc = await setup;
    for (let a = 0; a < k + m; a++) {
      for (let b = a + 1; b < k + m; b++) {
        for (let c = b + 1; c < k + m; c++) {
          const err = await decodeToMemory(enc, { objectId, dk, missing: new Set([a, b, c]) }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(ColdError);
          expect((err as ColdError).kind).toBe('Unavailable');
        }
      }
    }
  });

  it('the TypeScript coder decodes what the default coder wrote, with shards missing', async () => {
    const enc = await setup;
    const { plain: got } = await decodeToMemory(enc, { objectId, dk, missing: new Set([0, 2]), coder: new TypeScriptCoder() });
    expect(got.equals(plain)).toBe(true);
  });
});

describe('corruption and misplacement', () => {
  const plain = randomBytes(4 * 600 + 50);
  const setup = encodeToMemory({ objectId, dk, plain, chunkSize: 600, k: 2, m: 2 });

  it('a flipped byte in a block is caught by its crc32, the shard reported, the data still correct', async () => {
    const enc = await setup;
    for (const victim of [0, 1]) {
      const shards = enc.shards.map((s) => Buffer.from(s));
      shards[victim]![stripeOffset(enc.info, 1) + 17]! ^= 0x01;
      const { plain: got, problems } = await decodeToMemory(enc, { objectId, dk, shards });
      expect(got.equals(plain)).toBe(true);
      expect(problems).toEqual([{ index: victim, kind: 'corrupt' }]);
    }
  });

  it('a damaged header is reported as corrupt', async () => {
    const enc = await setup;
    const shards = enc.shards.map((s) => Buffer.from(s));
    shards[1]![6]! ^= 0xff;
    const { plain: got, problems } = await decodeToMemory(enc, { objectId, dk, shards });
    expect(got.equals(plain)).toBe(true);
    expect(problems).toEqual([{ index: 1, kind: 'corrupt' }]);
  });

  it('two stripes swapped inside a data shard (crc intact) fail authentication; the shard is identified', async () => {
    const enc = await setup;
    const shards = enc.shards.map((s) => Buffer.from(s));
    const s0 = stripeOffset(enc.info, 0);
    const s1 = stripeOffset(enc.info, 1);
    const len = s1 - s0;
    const a = Buffer.from(shards[0]!.subarray(s0, s1));
    shards[0]!.copy(shards[0]!, s0, s1, s1 + len);
    a.copy(shards[0]!, s1);
    const { plain: got, problems } = await decodeToMemory(enc, { objectId, dk, shards });
    expect(got.equals(plain)).toBe(true);
    expect(problems).toEqual([{ index: 0, kind: 'corrupt' }]);
  });

  it('a block with a recomputed crc32 but changed content cannot hide behind parity', async () => {
    const enc = await setup;
    const shards = enc.shards.map((s) => Buffer.from(s));
    const at = stripeOffset(enc.info, 0);
    const B = stripeOffset(enc.info, 1) - at - 4;
    shards[1]![at + 3]! ^= 0x80;
    shards[1]!.writeUInt32BE(crc32(shards[1]!.subarray(at, at + B)), at + B);
    const { plain: got, problems } = await decodeToMemory(enc, { objectId, dk, shards });
    expect(got.equals(plain)).toBe(true);
    expect(problems).toEqual([{ index: 1, kind: 'corrupt' }]);
  });

  it('shards of another segment, part or object fail authentication and emit no plaintext', async () => {
    const enc = await setup;
    const wrong = [
      { ...enc.manifest, index: 1 },
      { ...enc.manifest, part: 2 },
      { ...enc.manifest, segId: hex16() },
    ];
    for (const manifest of wrong) {
      const err = await decodeToMemory(enc, { objectId, dk, manifest }).catch((e: unknown) => e);
      expect((err as ColdError).kind).toBe('Corrupt');
    }
    const err = await decodeToMemory(enc, { objectId: hex16(), dk }).catch((e: unknown) => e);
    expect((err as ColdError).kind).toBe('Corrupt');
  });

  it('the wrong data key fails without blaming any shard', async () => {
    const enc = await setup;
    const problems: unknown[] = [];
    const got: Buffer[] = [];
    const err = await decodeToMemory(enc, { objectId, dk: randomBytes(32) })
      .then((r) => {
        got.push(r.plain);
        problems.push(...r.problems);
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ColdError);
    expect(got).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('a truncated shard is reported and replaced', async () => {
    const enc = await setup;
    const shards = enc.shards.map((s) => Buffer.from(s));
    shards[0] = shards[0]!.subarray(0, shards[0]!.length - 10);
    const { plain: got, problems } = await decodeToMemory(enc, { objectId, dk, shards });
    expect(got.equals(plain)).toBe(true);
    expect(problems).toEqual([{ index: 0, kind: 'corrupt' }]);
  });
});

describe('hot blob', () => {
  it('every chunk-aligned plaintext range across segments decrypts from the blob', async () => {
    const segs = [
      { plain: randomBytes(250), chunk: 64 },
      { plain: randomBytes(130), chunk: 64 },
      { plain: randomBytes(1), chunk: 64 },
    ];
    const encs = [];
    for (const [i, s] of segs.entries()) encs.push(await encodeToMemory({ objectId, dk, plain: s.plain, chunkSize: s.chunk, k: 2, m: 1, index: i }));
    const blob = Buffer.concat(encs.map((e) => e.hot));
    const whole = Buffer.concat(segs.map((s) => s.plain));
    const segments = encs.map((e) => e.manifest);
    for (let a = 0; a < whole.length; a += 9) {
      for (let b = a + 1; b <= whole.length; b += 13) {
        const r = hotRangeForPlainRange(segments, a, b - a);
        const got = await collect(decryptHotRange({ objectId, dk, segments, offset: a, length: b - a, source: pieces(blob.subarray(r.offset, r.offset + r.length), 50) }));
        if (!got.equals(whole.subarray(a, b))) expect.fail(`hot range [${a}, ${b})`);
      }
    }
    const tampered = Buffer.from(blob);
    tampered[70]! ^= 1;
    const err = await collect(decryptHotRange({ objectId, dk, segments, offset: 0, length: whole.length, source: pieces(tampered) })).catch((e: unknown) => e);
    expect((err as ColdError).kind).toBe('Corrupt');
  });
});

describe('writer chunk size', () => {
  const K = 4;
  const MAX = 256 * 1024;
  const storedPerShard = (size: number): number => shardSize(size, writerChunkSize(size, MAX, K), K);

  it('full-size segments keep the configured chunk', () => {
    expect(writerChunkSize(32 * 2 ** 20, MAX, K)).toBe(MAX);
    expect(writerChunkSize(K * MAX, MAX, K)).toBe(MAX);
  });

  it('a small object is spread over the k data blocks instead of one chunk and k-1 blocks of padding', () => {
    const size = 64 * 1024;
    expect(writerChunkSize(size, MAX, K)).toBe(16 * 1024);
    // Six shards then hold about 1.5x the object, not 6x.
    expect(storedPerShard(size) * (K + 2)).toBeLessThan(size * 1.6);
    expect(shardSize(size, MAX, K) * (K + 2)).toBeGreaterThan(size * 6);
  });

  it('never goes below the floor, never above the maximum, and fills the stripes of odd sizes', () => {
    expect(writerChunkSize(1, MAX, K)).toBe(MIN_WRITER_CHUNK);
    for (const size of [1, 1000, 4096, 65_537, 1_100_000, 3 * MAX + 5, 33_554_431]) {
      const c = writerChunkSize(size, MAX, K);
      expect(c).toBeGreaterThanOrEqual(MIN_WRITER_CHUNK);
      expect(c).toBeLessThanOrEqual(MAX);
      const chunks = Math.ceil(size / c);
      const stripes = Math.ceil(chunks / K);
      // No stripe beyond what the maximum chunk size would need.
      expect(stripes).toBe(Math.max(1, Math.ceil(size / (K * MAX))));
    }
  });

  it('a segment written with a small chunk decodes byte for byte', async () => {
    const plain = randomBytes(64 * 1024 + 3);
    const objectId = hex16();
    const dk = randomBytes(32);
    const enc = await encodeToMemory({ objectId, dk, plain, chunkSize: writerChunkSize(plain.length, MAX, 4), k: 4, m: 2 });
    expect(enc.info.chunkSize).toBe(16 * 1024 + 64);
    const missing = new Set([0, 5]);
    expect((await decodeToMemory(enc, { objectId, dk, missing })).plain.equals(plain)).toBe(true);
  });
});
