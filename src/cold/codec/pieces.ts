/** Pull-side helper shared by the encoder and the hot-tier decryptor. */

/** Pulls exact-size pieces out of an async iterable of arbitrary-size buffers. */
export class PieceReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private rest: Buffer | null = null;
  bytesRead = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes (at least one), or null at the end of input. */
  async next(max: number): Promise<Buffer | null> {
    while (this.rest === null || this.rest.length === 0) {
      const r = await this.it.next();
      if (r.done === true) return null;
      const v = r.value;
      this.rest = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      this.bytesRead += this.rest.length;
    }
    const piece = this.rest.length <= max ? this.rest : this.rest.subarray(0, max);
    this.rest = this.rest.length <= max ? null : this.rest.subarray(max);
    return piece;
  }

  /** True when the input holds nothing beyond what was taken. */
  async atEnd(): Promise<boolean> {
    if (this.rest !== null && this.rest.length > 0) return false;
    for (;;) {
      const r = await this.it.next();
      if (r.done === true) return true;
      if (r.value.byteLength > 0) return false;
    }
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}
