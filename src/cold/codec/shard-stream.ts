/** A Readable that the encoder pushes shard bytes into, with a promise-based wait for the consumer to catch up. */
import { Readable } from 'node:stream';

export class ShardStream extends Readable {
  private wake: (() => void) | null = null;

  constructor(highWaterMark: number) {
    super({ highWaterMark });
  }

  override _read(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const w = this.wake;
    this.wake = null;
    w?.();
    cb(err);
  }

  /** Whether the consumer still wants bytes. */
  get live(): boolean {
    return !this.destroyed;
  }

  /** Resolves once the consumer asks for more (or goes away). */
  drained(): Promise<void> {
    if (this.destroyed || this.readableLength < this.readableHighWaterMark) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
}
