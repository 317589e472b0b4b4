import { Transform, type TransformCallback } from 'node:stream';

/**
 * The one length check for byte streams: a pass-through that errors as soon as more than `expected` bytes arrive, and
 * at the end when fewer did, so a short or long body is never stored or forwarded as if it were complete.
 * Each call site chooses its errors (S3 IncompleteBody, NodeError bad-request, ...) and what is counted.
 */
/** The default error: a body of the wrong length (the sender's fault, never the receiver's). */
export class LengthMismatchError extends Error {
  constructor(
    message: string,
    readonly seen: number,
    readonly expected: number,
  ) {
    super(message);
    this.name = 'LengthMismatchError';
  }
}

export interface ExactLengthOptions {
  /** Error for a body longer than `expected`; default a LengthMismatchError. */
  tooLong?: (expected: number) => Error;
  /**
   * Error for a body that ends after `seen` < `expected` bytes; default a LengthMismatchError. `null`: `expected` is only a
   * cap and a shorter body is fine (an upload of unknown length bounded by a maximum).
   */
  tooShort?: ((seen: number, expected: number) => Error) | null;
  /** Called with every chunk's size before it is checked (byte metrics, stall watchdogs). */
  onBytes?: (n: number) => void;
}

export class ExactLengthStream extends Transform {
  /** Bytes seen so far. */
  seen = 0;
  constructor(
    private readonly expected: number,
    private readonly opts: ExactLengthOptions = {},
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    this.opts.onBytes?.(chunk.length);
    if (this.seen > this.expected) {
      cb(this.opts.tooLong?.(this.expected) ?? new LengthMismatchError(`body is longer than the declared ${this.expected} bytes`, this.seen, this.expected));
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.seen === this.expected || this.opts.tooShort === null) {
      cb();
      return;
    }
    cb(
      this.opts.tooShort?.(this.seen, this.expected) ??
        new LengthMismatchError(`body ended after ${this.seen} of the declared ${this.expected} bytes`, this.seen, this.expected),
    );
  }
}
