/**
 * Deterministic object bodies: AES-256-CTR keystream keyed by the body id, so any byte range of any attempted body
 * can be regenerated (multipart parts, 100 MB uploads) without keeping bodies in memory, and its sha256 known
 * before the upload starts.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const ZERO = Buffer.alloc(64 * 1024);

function cipherAt(bodyId, offset) {
  if (offset % 16 !== 0) throw new Error('body offsets must be multiples of 16');
  const key = createHash('sha256').update(`chaos-body:${bodyId}`).digest();
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(offset / 16), 8);
  return createCipheriv('aes-256-ctr', key, iv);
}

/** The whole body as a Buffer (small objects only). */
export function bodyBuffer(bodyId, size) {
  const c = cipherAt(bodyId, 0);
  return Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
}

/** Bytes [offset, offset+length) of the body as a stream with backpressure. */
export function bodyStream(bodyId, offset, length) {
  const c = cipherAt(bodyId, offset);
  let left = length;
  return new Readable({
    highWaterMark: 256 * 1024,
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, ZERO.length);
      left -= n;
      this.push(c.update(n === ZERO.length ? ZERO : ZERO.subarray(0, n)));
    },
  });
}

export function sha256Hex(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

/** sha256 of a body without materialising it; yields to the event loop every few MiB so 16 clients stay live. */
export async function bodyHash(bodyId, size) {
  const c = cipherAt(bodyId, 0);
  const h = createHash('sha256');
  let sinceYield = 0;
  for (let left = size; left > 0; ) {
    const n = Math.min(left, ZERO.length);
    h.update(c.update(n === ZERO.length ? ZERO : ZERO.subarray(0, n)));
    left -= n;
    if ((sinceYield += n) >= 4 * 1024 * 1024) {
      sinceYield = 0;
      await new Promise((r) => setImmediate(r));
    }
  }
  return h.digest('hex');
}
