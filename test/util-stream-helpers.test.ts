import { setTimeout as delay } from 'node:timers/promises';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { abortErrorFrom, isAbortError, throwIfAborted } from '../src/util/abort.js';
import { sleep } from '../src/util/abortable-sleep.js';
import { readBounded } from '../src/util/bounded-read.js';
import { ExactLengthStream, LengthMismatchError } from '../src/util/exact-length.js';
import { guardStalls } from '../src/util/watchdog.js';
import { rejection } from './helpers/errors.js';

function sink(): Writable & { bytes: number } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.bytes += chunk.length;
      cb();
    },
  }) as Writable & { bytes: number };
  w.bytes = 0;
  return w;
}

describe('abort helpers', () => {
  it('recognise AbortErrors by name or code, and build one from any signal', () => {
    const ac = new AbortController();
    ac.abort();
    expect(isAbortError(abortErrorFrom(ac.signal))).toBe(true);
    const withString = new AbortController();
    withString.abort('not an error');
    const err = abortErrorFrom(withString.signal);
    expect([err.name, isAbortError(err)]).toEqual(['AbortError', true]);
    const custom = new Error('shutting down');
    const withError = new AbortController();
    withError.abort(custom);
    expect(abortErrorFrom(withError.signal)).toBe(custom);
    expect(isAbortError(Object.assign(new Error('x'), { code: 'ABORT_ERR' }))).toBe(true);
    expect(isAbortError(new Error('x'))).toBe(false);
    expect(isAbortError('AbortError')).toBe(false);
    expect(() => throwIfAborted(ac.signal)).toThrow(/aborted/);
    expect(() => throwIfAborted(undefined)).not.toThrow();
  });
});

describe('sleep', () => {
  it("'resolve' returns early on abort, 'reject' rejects with the abort error", async () => {
    const a = new AbortController();
    const resolving = sleep(60_000, a.signal, 'resolve');
    const b = new AbortController();
    const rejecting = sleep(60_000, b.signal, 'reject');
    a.abort();
    b.abort();
    await expect(resolving).resolves.toBeUndefined();
    const err = await rejection(rejecting);
    expect((err as Error).name).toBe('AbortError');
  });

  it('settles at once on an already aborted signal, and waits without one', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sleep(60_000, ac.signal, 'resolve')).resolves.toBeUndefined();
    expect((await rejection(sleep(60_000, ac.signal, 'reject')) as Error).name).toBe('AbortError');
    let done = false;
    const p = sleep(20, undefined, 'reject').then(() => (done = true));
    expect(done).toBe(false);
    await p;
    expect(done).toBe(true);
  });

  it('does not fire at once for a delay beyond the timer range (it used to overflow to 1 ms)', async () => {
    const ac = new AbortController();
    let fired = false;
    const p = sleep(2 ** 40, ac.signal, 'resolve').then(() => (fired = true));
    await delay(30);
    expect(fired).toBe(false);
    ac.abort();
    await p;
    expect(fired).toBe(true);
  });
});

describe('readBounded', () => {
  it('reads a whole stream up to the limit', async () => {
    const data = Buffer.alloc(10_000, 7);
    const got = await readBounded(Readable.from([data.subarray(0, 4000), data.subarray(4000)]), { limit: 10_000, overflow: 'fail' });
    expect(got.equals(data)).toBe(true);
  });

  it("'fail' rejects past the limit with the caller's error and destroys the stream", async () => {
    const stream = Readable.from([Buffer.alloc(600), Buffer.alloc(600)]);
    const err = await rejection(readBounded(stream, { limit: 1000, overflow: 'fail', tooLarge: (n) => new Error(`over ${n}`) }));
    expect((err as Error).message).toBe('over 1000');
    await new Promise((r) => setImmediate(r));
    expect(stream.destroyed).toBe(true);
  });

  it("'truncate' keeps exactly the first limit bytes", async () => {
    const stream = Readable.from([Buffer.alloc(600, 1), Buffer.alloc(600, 2)]);
    const got = await readBounded(stream, { limit: 1000, overflow: 'truncate' });
    expect(got.length).toBe(1000);
    expect(got.subarray(0, 600).every((b) => b === 1) && got.subarray(600).every((b) => b === 2)).toBe(true);
  });

  it('passes a stream error through and reports a stream closed before its end as cut', async () => {
    const failing = new PassThrough();
    const failed = rejection(readBounded(failing, { limit: 100, overflow: 'fail' }));
    failing.write(Buffer.alloc(10));
    const boom = new Error('boom');
    failing.destroy(boom);
    expect(await failed).toBe(boom);

    const cut = new PassThrough();
    const wasCut = rejection(readBounded(cut, { limit: 100, overflow: 'fail', cut: (n) => new Error(`cut after ${n}`) }));
    cut.write(Buffer.alloc(10));
    await new Promise((r) => setImmediate(r));
    cut.destroy();
    expect(((await wasCut) as Error).message).toBe('cut after 10');
  });

  it('reads a stream its owner paused', async () => {
    const stream = new PassThrough();
    stream.pause();
    const got = readBounded(stream, { limit: 100, overflow: 'fail' });
    stream.end(Buffer.from('hello'));
    expect((await got).toString()).toBe('hello');
  });
});

describe('ExactLengthStream', () => {
  it('passes exactly the declared bytes and counts every chunk', async () => {
    const seen: number[] = [];
    const out = sink();
    await pipeline(Readable.from([Buffer.alloc(3), Buffer.alloc(5)]), new ExactLengthStream(8, { onBytes: (n) => seen.push(n) }), out);
    expect([out.bytes, seen]).toEqual([8, [3, 5]]);
  });

  it('fails a short and a long body with the default LengthMismatchError', async () => {
    const short = await rejection(pipeline(Readable.from([Buffer.alloc(3)]), new ExactLengthStream(8), sink()));
    expect(short).toBeInstanceOf(LengthMismatchError);
    expect((short as Error).message).toMatch(/3 of the declared 8/);
    const longOut = sink();
    const long = await rejection(pipeline(Readable.from([Buffer.alloc(5), Buffer.alloc(5)]), new ExactLengthStream(8), longOut));
    expect(long).toBeInstanceOf(LengthMismatchError);
    // The chunk that crossed the limit is not forwarded.
    expect(longOut.bytes).toBe(5);
  });

  it('uses the call site\'s errors, and with tooShort: null is only a cap', async () => {
    const tooLong = await rejection(
      pipeline(Readable.from([Buffer.alloc(9)]), new ExactLengthStream(8, { tooLong: (n) => new Error(`more than ${n}`) }), sink()),
    );
    expect((tooLong as Error).message).toBe('more than 8');
    const tooShort = await rejection(
      pipeline(Readable.from([Buffer.alloc(2)]), new ExactLengthStream(8, { tooShort: (s, n) => new Error(`${s}/${n}`) }), sink()),
    );
    expect((tooShort as Error).message).toBe('2/8');
    const capped = sink();
    await pipeline(Readable.from([Buffer.alloc(2)]), new ExactLengthStream(8, { tooShort: null }), capped);
    expect(capped.bytes).toBe(2);
  });
});

describe('guardStalls', () => {
  it('fails with the stall error when the source goes quiet while the consumer reads', async () => {
    const source = new PassThrough();
    const guarded = guardStalls(source, 100, () => new Error('stalled'));
    source.write(Buffer.alloc(10));
    const err = await rejection(
      (async () => {
        for await (const _ of guarded) void _;
      })(),
    );
    expect((err as Error).message).toBe('stalled');
    expect(source.destroyed).toBe(true);
  });

  it('does not count time the consumer spends paused (the source fills the buffer, then waits for room)', async () => {
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent >= 1024 * 1024) this.push(null);
        else {
          sent += 64 * 1024;
          this.push(Buffer.alloc(64 * 1024));
        }
      },
    });
    const guarded = guardStalls(source, 100, () => new Error('stalled'));
    let total = 0;
    let paused = false;
    for await (const c of guarded) {
      total += (c as Buffer).length;
      if (!paused) {
        paused = true;
        await delay(300);
      }
    }
    expect(total).toBe(1024 * 1024);
  });

  it('passes source errors through and destroys the source when destroyed', async () => {
    const source = new PassThrough();
    const guarded = guardStalls(source, 10_000, () => new Error('stalled'));
    const boom = new Error('boom');
    const err = rejection(
      (async () => {
        for await (const _ of guarded) void _;
      })(),
    );
    source.destroy(boom);
    expect(await err).toBe(boom);
    const other = new PassThrough();
    guardStalls(other, 10_000, () => new Error('stalled')).destroy();
    expect(other.destroyed).toBe(true);
  });
});
