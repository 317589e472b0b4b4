import type { Readable } from 'node:stream';

/**
 * Abort handling shared by every layer. A caller's abort is not a failure of whatever it aborted: drivers and
 * breakers pass these errors through unchanged (never wrapped in NodeError), so they are recognised here in one way.
 */

/** True for Node's AbortError (streams, fetch, timers) and for a DOMException named AbortError. */
export function isAbortError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { name, code } = err as { name?: unknown; code?: unknown };
  return name === 'AbortError' || code === 'ABORT_ERR';
}

/** The error an aborted operation rejects with: the signal's reason when it is an Error, else a plain AbortError. */
export function abortErrorFrom(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('The operation was aborted', 'AbortError');
}

/** Throws abortErrorFrom(signal) when the signal has already fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortErrorFrom(signal);
}

/**
 * Destroys `stream` with abortErrorFrom(signal) when the signal fires (at once if it already has); the listener goes
 * with the stream. Unlike stream.addAbortSignal, the caller's own abort reason is what the consumer sees.
 */
export function destroyOnAbort<T extends Readable>(stream: T, signal: AbortSignal | undefined): T {
  if (!signal) return stream;
  if (signal.aborted) {
    stream.destroy(abortErrorFrom(signal));
    return stream;
  }
  const onAbort = (): void => {
    stream.destroy(abortErrorFrom(signal));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  stream.once('close', () => signal.removeEventListener('abort', onAbort));
  return stream;
}
