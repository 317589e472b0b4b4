import { Readable } from 'node:stream';

/**
 * A stall timer: fires `onFire` when `kick` has not been called for `ms`. Drivers kick it on every sign of progress
 * (bytes sent or received) and stop it while progress is not the peer's to make (the caller paused a download), so a
 * timeout means "the peer stopped moving", never "the transfer is long" or "our consumer is slow".
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly ms: number,
    private readonly onFire: () => void,
  ) {}

  /** (Re)starts the countdown. */
  kick(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.onFire, this.ms);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * `source` relayed with backpressure, failing with stallError() when the source delivers nothing for `ms` while the
 * consumer is asking for data. Time the consumer spends paused (not reading) never counts: a slow reader downstream
 * is not a stalled peer upstream. Destroying the result destroys the source.
 */
export interface GuardStallsOptions {
  /** What a source error becomes downstream; default: passed through. */
  sourceError?: (err: Error) => Error;
  /** The error when the source closes before its end without an error of its own. */
  cut?: () => Error;
}

export function guardStalls(source: Readable, ms: number, stallError: () => Error, opts: GuardStallsOptions = {}): Readable {
  let ended = false;
  const out = new Readable({
    read() {
      stall.kick();
      source.resume();
    },
    destroy(err, cb) {
      stall.stop();
      if (!ended) source.destroy();
      cb(err);
    },
  });
  const stall = new Watchdog(ms, () => out.destroy(stallError()));
  source.pause();
  source.on('data', (chunk: Buffer) => {
    if (out.push(chunk)) stall.kick();
    else {
      stall.stop();
      source.pause();
    }
  });
  source.on('end', () => {
    ended = true;
    stall.stop();
    out.push(null);
  });
  source.on('error', (err) => out.destroy(opts.sourceError ? opts.sourceError(err) : err));
  source.on('close', () => {
    if (!ended) out.destroy(opts.cut?.() ?? new Error('stream closed before its end'));
  });
  return out;
}
