import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ObjectRecord } from '../model/records.js';
import type { Logger } from '../util/logger.js';

/**
 * The plaintext SHA-256 of objects whose bytes could not be hashed on their way in (a multipart upload's parts arrive
 * in any order, on any gateway), computed right after their commit by reading them once, one object at a time, off
 * every request's path. Best effort: a queue that overflows or a gateway that stops leaves the hash to be computed
 * when a snapshot first needs it.
 */
export class ContentHasher {
  private queue: ObjectRecord[] = [];
  private running: Promise<void> | undefined;
  private current: Readable | undefined;
  private closed = false;

  constructor(
    private readonly open: (record: ObjectRecord) => Promise<Readable>,
    private readonly store: (objectId: string, sha256: string) => Promise<boolean>,
    private readonly log: Logger,
    private readonly maxQueued = 10_000,
  ) {}

  enqueue(record: ObjectRecord): void {
    if (this.closed || this.queue.length >= this.maxQueued) return;
    this.queue.push(record);
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  private async drain(): Promise<void> {
    for (let record = this.queue.shift(); record !== undefined && !this.closed; record = this.queue.shift()) {
      try {
        const stream = await this.open(record);
        this.current = stream;
        const hash = createHash('sha256');
        for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
        await this.store(record.objectId, hash.digest('hex'));
      } catch (err) {
        if (!this.closed) this.log.warn({ objectId: record.objectId, err: (err as Error).message }, 'content SHA-256 not computed (a snapshot will compute it)');
      } finally {
        this.current = undefined;
      }
    }
  }

  /** Stops: the queue is dropped and the object being read is let go. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue = [];
    this.current?.destroy();
    await this.running?.catch(() => undefined);
  }
}
