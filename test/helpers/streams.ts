import type { Readable } from 'node:stream';

/** Every byte of a stream (strings as UTF-8), for tests that compare whole bodies. */
export async function readAll(stream: Readable | AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(typeof p === 'string' ? Buffer.from(p) : Buffer.from(p as Uint8Array));
  return Buffer.concat(parts);
}
