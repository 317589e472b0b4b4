import type { Readable } from 'node:stream';
import { GatewayError } from './errors.js';
import { createChecksummer, type Checksummer } from './checksums.js';
import { createBodyDigests, type BodyDigests } from './digest-offload.js';
import type { ChecksumAlgorithm } from '../model/records.js';

/**
 * Pulls a request body exactly once, hashing every byte on the way (MD5 for the ETag, SHA-256 of a whole object's
 * plaintext, the S3 checksum the client asked for) and handing it out in segment-sized slices. The body must hold exactly `size` bytes: fewer is
 * IncompleteBody, more is an error too, so nothing short or long is ever committed.
 */
export class Ingest {
  private readonly iterator: AsyncIterator<Buffer>;
  private carry: Buffer | null = null;
  private received = 0;
  private readonly md5: BodyDigests;
  readonly checksummer?: Checksummer;

  constructor(
    body: Readable,
    private readonly size: number,
    checksumAlgorithm?: ChecksumAlgorithm,
    sha256 = false,
  ) {
    this.iterator = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    this.md5 = createBodyDigests(size, sha256);
    if (checksumAlgorithm) this.checksummer = createChecksummer(checksumAlgorithm);
  }

  get bytesReceived(): number {
    return this.received;
  }

  private async next(): Promise<Buffer | null> {
    if (this.carry) {
      const c = this.carry;
      this.carry = null;
      return c;
    }
    let r: IteratorResult<Buffer>;
    try {
      r = await this.iterator.next();
    } catch (err) {
      throw toClientError(err);
    }
    if (r.done) return null;
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    this.received += chunk.length;
    if (this.received > this.size) throw new GatewayError('BodyTooLong');
    const hashing = this.md5.update(chunk);
    if (hashing) await hashing;
    this.checksummer?.update(chunk);
    return chunk;
  }

  /** Yields exactly `length` bytes of the body. */
  async *take(length: number): AsyncGenerator<Buffer> {
    let left = length;
    while (left > 0) {
      const chunk = await this.next();
      if (chunk === null) throw new GatewayError('BodyTooShort');
      if (chunk.length <= left) {
        left -= chunk.length;
        yield chunk;
      } else {
        this.carry = chunk.subarray(left);
        yield chunk.subarray(0, left);
        left = 0;
      }
    }
  }

  /** Reads to the end of the body (which must hold nothing more) and returns the digests. */
  async finish(): Promise<{ md5: Buffer; sha256?: Buffer; checksum?: string }> {
    try {
      const extra = await this.next();
      if (extra !== null && extra.length > 0) throw new GatewayError('BodyTooLong');
      if (this.received !== this.size) throw new GatewayError('BodyTooShort');
    } catch (err) {
      this.md5.close();
      throw err;
    }
    return { ...(await this.md5.digest()), ...(this.checksummer ? { checksum: this.checksummer.digest() } : {}) };
  }

  /** Stop reading: the caller failed and the rest of the body is not wanted. */
  async abandon(): Promise<void> {
    this.md5.close();
    try {
      await this.iterator.return?.();
    } catch {
      // The body is being discarded anyway.
    }
  }
}

function toClientError(err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  // A client that goes away mid-body is the client's problem, never a 500.
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR') return new GatewayError('BodyTooShort');
  return err instanceof Error ? err : new Error(String(err));
}
