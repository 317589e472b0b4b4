import { abortErrorFrom } from './abort.js';

/** Longest delay setTimeout honours; a larger one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What a wait does when its signal fires:
 * - 'resolve': stop waiting and return normally. For loops that re-check the signal themselves (pacing, idle waits of
 *   background jobs), where an abort means "stop now", not "fail".
 * - 'reject': reject with the abort error (abortErrorFrom). For a wait inside an operation the caller aborted (a retry
 *   backoff): the operation must end with the abort, not carry on with the next attempt.
 */
export type OnAbort = 'resolve' | 'reject';

/**
 * Waits `ms` milliseconds (clamped to [0, 2^31-1]) unless `signal` fires first; then does what `onAbort` says.
 * An already-aborted signal settles at once. The timer and the listener are always released.
 */
export function sleep(ms: number, signal: AbortSignal | undefined, onAbort: OnAbort): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settleAborted = (): void => {
      if (onAbort === 'resolve') resolve();
      else reject(abortErrorFrom(signal as AbortSignal));
    };
    if (signal?.aborted) {
      settleAborted();
      return;
    }
    const delay = Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_TIMER_MS) : MAX_TIMER_MS;
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }, delay);
    const aborted = (): void => {
      clearTimeout(timer);
      settleAborted();
    };
    signal?.addEventListener('abort', aborted, { once: true });
  });
}
