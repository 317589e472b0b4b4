import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Ingest } from '../src/gateway/ingest.js';
import { OFFLOAD_MIN_BYTES, createBodyDigests } from '../src/gateway/digest-offload.js';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Feeds `data` in pieces of varying size, honouring the backpressure promise. */
async function hashInPieces(data: Buffer, sizes: number[]): Promise<string> {
  const h = createBodyDigests(data.length, true);
  let pos = 0;
  for (let i = 0; pos < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - pos);
    const wait = h.update(data.subarray(pos, pos + n));
    if (wait) await wait;
    pos += n;
  }
  const d = await h.digest();
  return `${d.md5.toString('hex')} ${d.sha256?.toString('hex')}`;
}
const both = (b: Buffer): string => `${md5(b)} ${sha256(b)}`;

describe('MD5 and SHA-256 on the worker thread', () => {
  it('matches node:crypto for bodies larger than its ring, in any chunking, several at once', async () => {
    const bodies = [randomBytes(OFFLOAD_MIN_BYTES + 12345), randomBytes(9 * 1024 * 1024 + 1), randomBytes(OFFLOAD_MIN_BYTES)];
    const chunkings = [[65536], [1, 524287, 524288, 3 * 1024 * 1024], [7000, 130000]];
    const got = await Promise.all(bodies.map((b, i) => hashInPieces(b, chunkings[i]!)));
    expect(got).toEqual(bodies.map(both));
  });

  it('hashes small bodies inline with the same result', async () => {
    const b = randomBytes(1000);
    expect(await hashInPieces(b, [3])).toBe(both(b));
  });

  it('Ingest yields the body unchanged and its ETag digest, and an abandoned body is forgotten', async () => {
    const body = randomBytes(6 * 1024 * 1024 + 3);
    const ingest = new Ingest(Readable.from([body.subarray(0, 1_000_000), body.subarray(1_000_000)]), body.length);
    const parts: Buffer[] = [];
    for (const size of [4 * 1024 * 1024, body.length - 4 * 1024 * 1024]) for await (const c of ingest.take(size)) parts.push(Buffer.from(c));
    expect(Buffer.concat(parts).equals(body)).toBe(true);
    expect((await ingest.finish()).md5.toString('hex')).toBe(md5(body));

    const left = new Ingest(Readable.from([body]), body.length);
    for await (const _ of left.take(1024)) break;
    await left.abandon();
    const again = new Ingest(Readable.from([body]), body.length, undefined, true);
    for await (const _ of again.take(body.length)) void _;
    const digests = await again.finish();
    expect([digests.md5.toString('hex'), digests.sha256?.toString('hex')]).toEqual([md5(body), sha256(body)]);
  });
});
