import { Readable } from 'node:stream';

/** Every byte of a stream (strings as UTF-8), for tests that compare whole bodies. */
export async function readAll(stream: Readable | AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(typeof p === 'string' ? Buffer.from(p) : Buffer.from(p as Uint8Array));
  return Buffer.concat(parts);
}

/** `data` as a stream of `chunkSize` pieces, produced on demand (a body the way a socket delivers it). */
export function chunked(data: Buffer, chunkSize = 64 * 1024): Readable {
  let pos = 0;
  return new Readable({
    read() {
      if (pos >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(pos, pos + chunkSize));
      pos += chunkSize;
    },
  });
}
