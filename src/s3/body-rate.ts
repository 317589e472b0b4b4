import type { Readable } from 'node:stream';

/** The floor under which a request body counts as a trickle (server.minBodyRate, server.bodyRateWindow). */
export interface BodyRateLimit {
  /** Bytes per second a body must average over each window; 0 turns the check off. */
  minBytesPerSecond: number;
  /** Length of one measuring window; the first window is the grace period. */
  windowMs: number;
}

/** How often the guard looks at the socket: a window is judged from its samples. */
const SAMPLE_MS = 250;

/**
 * Cuts request bodies that trickle: the idle timeout only drops silent sockets, so a client sending one byte every
 * 50 s would hold a request slot (and an upload's resources) for ever. Each window must bring at least
 * minBytesPerSecond x window bytes; a window in which our side applied backpressure (the request stream paused
 * because the tiers below were slow) is never held against the client. Returns a function that stops the guard.
 */
export function guardBodyRate(req: Readable, limit: BodyRateLimit, onTooSlow: () => void): () => void {
  if (limit.minBytesPerSecond <= 0) return () => undefined;
  const need = (limit.minBytesPerSecond * limit.windowMs) / 1000;
  let received = 0;
  let backpressured = false;
  let windowStart = Date.now();
  const onData = (chunk: Buffer | string) => {
    received += chunk.length;
  };
  req.on('data', onData);
  const timer = setInterval(() => {
    if (req.isPaused()) backpressured = true;
    if (Date.now() - windowStart < limit.windowMs) return;
    if (!backpressured && received < need) {
      stop();
      onTooSlow();
      return;
    }
    received = 0;
    backpressured = req.isPaused();
    windowStart = Date.now();
  }, SAMPLE_MS);
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    req.off('data', onData);
  };
  req.once('end', stop);
  req.once('close', stop);
  return stop;
}
