import type { NodeErrorKind } from './driver.js';

/**
 * The one mapping between HTTP statuses and NodeError kinds, for every driver that talks HTTP to a node (http, Iagon,
 * and the status fallback of the S3 driver) and, in the other direction, for the `tessera node` server.
 *
 * 504 Gateway Timeout is 'timeout', like 408: the remote (or a proxy in front of it) gave up waiting, so the node did
 * not answer in time. That is what 'timeout' means to the cold tier (the shard source treats it as a slow node and
 * reads another shard; the breaker counts it like 'unavailable'). Before this module the http driver said 'timeout'
 * and the Iagon and S3 drivers said 'unavailable' for the same status.
 * 429 is 'unavailable' (throttled: try elsewhere, not the caller's fault); other 4xx are 'bad-request'; any other
 * 5xx, and anything outside 4xx/5xx that is not a success, is 'unavailable'.
 */
export function kindForStatus(status: number): NodeErrorKind {
  switch (status) {
    case 401:
    case 403:
      return 'auth';
    case 404:
      return 'not-found';
    case 413:
      return 'too-large';
    case 507:
      return 'full';
    case 408:
    case 504:
      return 'timeout';
    case 429:
      return 'unavailable';
    default:
      return status >= 400 && status < 500 ? 'bad-request' : 'unavailable';
  }
}

/**
 * Whether another attempt of the same request may succeed: throttling (429) and server-side failures (5xx). Only the
 * Iagon client retries statuses itself (the http driver talks to our own node server, the S3 SDK has its own policy);
 * the rule lives here next to the mapping so the two cannot drift apart.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * The status the `tessera node` server answers for a NodeError kind. Chosen so that kindForStatus(statusForKind(k))
 * gives k back for every kind but 'corrupt' (a node's own storage failing its checks is a server error, 500, which
 * the client sees as 'unavailable': the shard is unreadable there, and the gateway heals it from the others).
 */
export const STATUS_FOR_KIND: Readonly<Record<NodeErrorKind, number>> = {
  'not-found': 404,
  'bad-request': 400,
  auth: 401,
  full: 507,
  'too-large': 413,
  corrupt: 500,
  timeout: 504,
  unavailable: 503,
};
