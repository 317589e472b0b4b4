/** Shared by test/codec-*.test.ts: run the real encoder into memory and serve its shards back to the decoder. */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { decodeSegment, encodeSegment, type DecodeSegmentOptions, type EncodedSegmentInfo, type ErasureCoder } from '../../src/cold/codec/index.js';
import type { SegmentManifest } from '../../src/model/manifest.js';
import { NodeError } from '../../src/cold/nodes/driver.js';

export const hex16 = (): string => randomBytes(16).toString('hex');

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

/** Yield `data` in irregular pieces, so consumers see chunk boundaries anywhere. */
export async function* pieces(data: Buffer, max = 7000): AsyncGenerator<Buffer> {
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, 1 + ((i++ * 7919) % max));
    yield data.subarray(at, at + n);
    at += n;
  }
}

export interface Encoded {
  info: EncodedSegmentInfo;
  manifest: SegmentManifest;
  shards: Buffer[];
  hot: Buffer;
}

export async function encodeToMemory(o: {
  objectId: string;
  dk: Buffer;
  plain: Buffer;
  chunkSize: number;
  k: number;
  m: number;
  part?: number;
  index?: number;
  coder?: ErasureCoder;
}): Promise<Encoded> {
  const hot: Buffer[] = [];
  const enc = encodeSegment({
    objectId: o.objectId,
    dk: o.dk,
    part: o.part ?? 1,
    index: o.index ?? 0,
    plain: pieces(o.plain),
    plainSize: o.plain.length,
    chunkSize: o.chunkSize,
    k: o.k,
    m: o.m,
    ...(o.coder ? { coder: o.coder } : {}),
    onCiphertext: (c) => void hot.push(Buffer.from(c)),
  });
  const [shards] = await Promise.all([Promise.all(enc.shards.map((s) => collect(s))), enc.done]);
  const manifest: SegmentManifest = { ...enc.segment, shards: shards.map((_, i) => ({ node: `n${i}`, handle: `h${i}` })) };
  return { info: enc.segment, manifest, shards, hot: Buffer.concat(hot) };
}

export type Problem = { index: number; kind: string };

/** Serve shard byte ranges from memory; `missing` shards reject like a node without the file. */
export function memoryOpener(shards: Buffer[], missing: ReadonlySet<number> = new Set()): {
  open: DecodeSegmentOptions['openShard'];
  opened: number[];
} {
  const opened: number[] = [];
  return {
    opened,
    open: async (index, req) => {
      opened.push(index);
      if (missing.has(index)) throw new NodeError(`n${index}`, 'not-found', 'no such shard');
      const bytes = shards[index]!.subarray(req.offset, req.offset + req.length);
      return Readable.from(pieces(bytes, 5000));
    },
  };
}

export async function decodeToMemory(
  enc: Encoded,
  o: { objectId: string; dk: Buffer; range?: { offset: number; length: number }; missing?: Set<number>; shards?: Buffer[]; manifest?: SegmentManifest; coder?: ErasureCoder },
): Promise<{ plain: Buffer; problems: Problem[]; opened: number[] }> {
  const problems: Problem[] = [];
  const opener = memoryOpener(o.shards ?? enc.shards, o.missing);
  const plain = await collect(
    decodeSegment({
      manifest: o.manifest ?? enc.manifest,
      objectId: o.objectId,
      dk: o.dk,
      ...(o.range ? { range: o.range } : {}),
      ...(o.coder ? { coder: o.coder } : {}),
      openShard: opener.open,
      onShardProblem: (index, kind) => void problems.push({ index, kind }),
    }),
  );
  return { plain, problems, opened: opener.opened };
}
