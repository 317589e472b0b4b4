import type { Readable } from 'node:stream';

/**
 * The one way Tessera reads a whole (small) body into memory: JSON answers, error bodies, small uploads, probes.
 * Memory is bounded by `limit` whatever the peer sends. The differences between call sites are the options:
 */
export interface BoundedReadOptions {
  /** Most bytes kept. */
  limit: number;
  /**
   * Past `limit`: 'fail' rejects with tooLarge() and destroys the stream (a document that must be whole);
   * 'truncate' resolves with the first `limit` bytes and destroys the stream (an error body, where a prefix says enough).
   */
  overflow: 'fail' | 'truncate';
  /** The error for 'fail'; default a plain Error naming the limit. */
  tooLarge?: (limit: number) => Error;
  /**
   * The error when the stream closes before its end without an error of its own (a cut connection, a destroyed
   * source), given the bytes received; default a plain Error. A stream error is passed through as it is.
   */
  cut?: (received: number) => Error;
}

/** Every byte of `stream` up to `opts.limit`, as one Buffer. */
export function readBounded(stream: Readable, opts: BoundedReadOptions): Promise<Buffer> {
  const { limit } = opts;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (err: Error | undefined, keep?: boolean): void => {
      if (settled) return;
      settled = true;
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
      if (keep === false) stream.destroy();
    };
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (received + buf.length > limit) {
        if (opts.overflow === 'truncate') {
          const room = limit - received;
          if (room > 0) {
            chunks.push(buf.subarray(0, room));
            received = limit;
          }
          finish(undefined, false);
        } else {
          finish(opts.tooLarge?.(limit) ?? new Error(`body larger than ${limit} bytes`), false);
        }
        return;
      }
      received += buf.length;
      chunks.push(buf);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (err: Error): void => finish(err);
    const onClose = (): void => finish(opts.cut?.(received) ?? new Error(`body cut after ${received} bytes`));
    if (stream.readableEnded) {
      finish(undefined);
      return;
    }
    if (stream.destroyed) {
      onClose();
      return;
    }
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
    // A stream its owner paused (backpressure bookkeeping) would never deliver to a 'data' listener.
    stream.resume();
  });
}
