// Throughput of the cold-tier codec on a 256 MiB in-memory object (4+2, 256 KiB chunks).
// Usage: npx tsc -p tsconfig.build.json && node bench/codec.mjs [--ts] [--missing]
// Shard bytes are consumed (encode) or served (decode) from memory, so this measures the codec alone.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { decodeSegment, encodeSegment, planSegments } from '../dist/cold/codec/index.js';
import { TypeScriptCoder, nativeCoder } from '../dist/cold/codec/rs/index.js';

const MiB = 1 << 20;
const size = 256 * MiB;
const segmentSize = 64 * MiB;
const chunkSize = 256 * 1024;
const k = 4;
const m = 2;
const useTs = process.argv.includes('--ts');
const coder = useTs ? new TypeScriptCoder() : nativeCoder();
if (coder === null) throw new Error('native coder unavailable');
const objectId = randomBytes(16).toString('hex');
const dk = randomBytes(32);
const source = randomBytes(4 * MiB);

async function* plainOf(n) {
  for (let at = 0; at < n; at += source.length) yield source.subarray(0, Math.min(source.length, n - at));
}

// Flowing mode, like a driver piping into a file or socket (the async iterator would concatenate block and crc).
function drain(stream, keep) {
  return new Promise((resolve, reject) => {
    let n = 0;
    stream.on('data', (c) => {
      n += c.length;
      if (keep) keep.push(c);
    });
    stream.on('end', () => resolve(n));
    stream.on('error', reject);
  });
}

async function encodeAll(keep) {
  const segments = [];
  for (const seg of planSegments(size, segmentSize)) {
    const enc = encodeSegment({ objectId, dk, part: 1, index: seg.index, plain: plainOf(seg.plainSize), plainSize: seg.plainSize, chunkSize, k, m, coder });
    const kept = enc.shards.map(() => []);
    await Promise.all([...enc.shards.map((s, i) => drain(s, keep ? kept[i] : undefined)), enc.done]);
    segments.push({ manifest: { ...enc.segment, shards: [] }, shards: kept.map((c) => Buffer.concat(c)) });
    if (!keep) kept.length = 0;
  }
  return segments;
}

async function decodeAll(segments, missing) {
  let n = 0;
  for (const seg of segments) {
    const gen = decodeSegment({
      manifest: seg.manifest,
      objectId,
      dk,
      coder,
      unavailable: missing,
      openShard: async (i, req) => Readable.from([seg.shards[i].subarray(req.offset, req.offset + req.length)]),
    });
    for await (const p of gen) n += p.length;
  }
  if (n !== size) throw new Error('short decode');
}

const mbps = (ms) => ((size / 1e6) / (ms / 1000)).toFixed(0);
const runs = Number(process.env.RUNS ?? 3);
const results = { encode: [], decode: [], decode2missing: [] };
const kept = await encodeAll(true);
for (let r = 0; r < runs; r++) {
  let t = performance.now();
  await encodeAll(false);
  results.encode.push(performance.now() - t);
  t = performance.now();
  await decodeAll(kept, []);
  results.decode.push(performance.now() - t);
  t = performance.now();
  await decodeAll(kept, [0, 1]);
  results.decode2missing.push(performance.now() - t);
}
const median = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`coder=${coder.implementation} k=${k} m=${m} chunk=${chunkSize} object=${size / MiB} MiB segments=${segmentSize / MiB} MiB, median of ${runs}`);
for (const [name, v] of Object.entries(results)) console.log(`${name.padEnd(16)} ${mbps(median(v)).padStart(6)} MB/s of object data`);
