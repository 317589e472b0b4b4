import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Errors } from '../s3-error.js';
import { AuthErrors } from './auth-errors.js';

export interface PayloadVerifierOptions {
  /** Content-Length when the client sent one; the body must be exactly this long. */
  expectedLength: number | undefined;
  /** Lower-case hex SHA-256 the client signed (x-amz-content-sha256); omitted for UNSIGNED-PAYLOAD. */
  expectedSha256?: string;
}

/**
 * Passes a plain (non-chunked) body through unchanged, counting and optionally hashing it. A mismatch is reported as
 * a stream error raised from flush, i.e. before 'end', so the consumer never commits a body that fails verification.
 */
export class PayloadVerifier extends Transform {
  private readonly hash: Hash | undefined;
  private received = 0;

  constructor(private readonly options: PayloadVerifierOptions) {
    super();
    this.hash = options.expectedSha256 !== undefined ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    const expected = this.options.expectedLength;
    if (expected !== undefined && this.received > expected) {
      callback(Errors.invalidRequest('The request body is longer than its Content-Length.'));
      return;
    }
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const expected = this.options.expectedLength;
    if (expected !== undefined && this.received < expected) {
      callback(Errors.incompleteBody());
      return;
    }
    if (this.hash !== undefined && this.options.expectedSha256 !== undefined) {
      const computed = this.hash.digest('hex');
      if (computed !== this.options.expectedSha256) {
        callback(AuthErrors.contentSha256Mismatch(this.options.expectedSha256, computed));
        return;
      }
    }
    callback();
  }
}
