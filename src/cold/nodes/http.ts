import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable, pipeline } from 'node:stream';
import type { HttpNodeConfig } from '../../config/types.js';
import { abortErrorFrom, destroyOnAbort, isAbortError } from '../../util/abort.js';
import { readBounded } from '../../util/bounded-read.js';
import { ExactLengthStream } from '../../util/exact-length.js';
import { guardStalls, Watchdog } from '../../util/watchdog.js';
import { NodeError, type NodeDriver, type NodeErrorKind, type NodeHealth } from './driver.js';
import { assertShardId, type ListedShard } from './fs.js';
import { kindForStatus } from './http-status.js';

/**
 * The `http` node: a `tessera node` server (src/node/server.ts documents the API) reached over keep-alive HTTP(S).
 *
 * Timeouts: `timeoutMs` bounds connect + time to response headers, and any stall of the byte flow: an upload that
 * makes no progress, or a download the caller is reading from that delivers nothing, for that long fails with
 * NodeError('timeout'). A download the caller has paused (backpressure) is not a stall.
 * Aborts (the caller's AbortSignal) reject with the signal's AbortError, not a NodeError: they are not node failures.
 */
export interface HttpNodeOptions extends Omit<HttpNodeConfig, 'kind'> {
  /** PEM contents of an extra CA; wins over caFile. */
  ca?: string | Buffer;
  maxSockets?: number;
  /** Page size for list(). */
  listPageSize?: number;
}

const ERROR_BODY_LIMIT = 4096;
const JSON_BODY_LIMIT = 64 * 1024 * 1024;
const IDLE_SOCKET_MS = 20_000;
const RETRYABLE_ON_REUSED_SOCKET = new Set(['GET', 'HEAD', 'DELETE']);

interface RequestSpec {
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE';
  path: string;
  headers?: http.OutgoingHttpHeaders;
  body?: { stream: Readable; length: number };
  signal?: AbortSignal;
}

export class HttpNodeDriver implements NodeDriver {
  readonly name: string;
  readonly kind = 'http' as const;
  readonly weight: number;
  private readonly base: URL;
  private readonly basePath: string;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly authHeader: string;
  private readonly timeoutMs: number;
  private readonly listPageSize: number;

  constructor(opts: HttpNodeOptions) {
    this.name = opts.name;
    this.weight = opts.weight;
    this.timeoutMs = opts.timeoutMs;
    this.listPageSize = opts.listPageSize ?? 1000;
    this.base = new URL(opts.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new Error(`node ${opts.name}: url must be http(s)`);
    }
    this.basePath = this.base.pathname.replace(/\/+$/, '');
    this.authHeader = `Bearer ${opts.secret}`;
    const agentOptions = {
      keepAlive: true,
      // No per-node socket cap: a PUT streams to k+m nodes in lock-step, so a request queued behind a cap while it
      // holds sockets on other nodes can deadlock with another PUT doing the same in the opposite order. Concurrency
      // is bounded upstream by server.maxConcurrentRequests.
      maxSockets: opts.maxSockets ?? Infinity,
      // Every PUT opens k+m + m+1 requests at once, so with 64 small PUTs in flight a node sees ~100 concurrent
      // requests: a pool that keeps only 16 idle sockets closes the rest after each burst and reconnects for the next
      // (bench small-put-4KiB: connect + close were ~10% of the gateway's CPU, plus the nodes' accepts). Idle sockets
      // still expire after IDLE_SOCKET_MS.
      maxFreeSockets: opts.maxSockets ?? 256,
      // Drop idle pooled sockets before the node server's 30 s keep-alive does, so a request rarely meets a dead one.
      timeout: IDLE_SOCKET_MS,
    };
    if (this.base.protocol === 'https:') {
      const ca = opts.ca ?? (opts.caFile !== undefined ? readFileSync(opts.caFile) : undefined);
      this.agent = new https.Agent({ ...agentOptions, ...(ca !== undefined ? { ca } : {}) });
      this.transport = https;
    } else {
      this.agent = new http.Agent(agentOptions);
      this.transport = http;
    }
  }

  private shardPath(id: string): string {
    assertShardId(this.name, id);
    return `${this.basePath}/shards/${id}`;
  }

  async put(shardId: string, body: Readable, length: number, signal?: AbortSignal): Promise<string> {
    let path: string;
    try {
      path = this.shardPath(shardId);
      if (!Number.isSafeInteger(length) || length < 0) {
        throw new NodeError(this.name, 'bad-request', `invalid shard length ${length}`);
      }
    } catch (err) {
      body.destroy();
      throw err;
    }
    const res = await this.request({
      method: 'PUT',
      path,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': length },
      body: { stream: body, length },
      signal,
    });
    res.resume();
    return shardId;
  }

  async get(handle: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable> {
    const path = this.shardPath(handle);
    if (range) {
      const { offset, length } = range;
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new NodeError(this.name, 'bad-request', `invalid range [${offset}, ${offset + length})`);
      }
      if (length === 0) {
        // "bytes=a-(a-1)" is not expressible; still confirm the shard exists so not-found behaves the same.
        if ((await this.stat(handle, signal)) === null) throw new NodeError(this.name, 'not-found', 'no such shard');
        return Readable.from([]);
      }
    }
    const headers: http.OutgoingHttpHeaders = {};
    if (range) headers.Range = `bytes=${range.offset}-${range.offset + range.length - 1}`;
    const res = await this.request({ method: 'GET', path, headers, signal });
    const declared = Number(res.headers['content-length']);
    if (range && (res.statusCode !== 206 || declared !== range.length)) {
      res.destroy();
      throw new NodeError(this.name, 'corrupt', `range request answered with ${res.statusCode} and ${declared} bytes`);
    }
    return responseBody(this.name, res, Number.isSafeInteger(declared) ? declared : undefined, this.timeoutMs, signal);
  }

  async delete(handle: string, signal?: AbortSignal): Promise<void> {
    const res = await this.request({ method: 'DELETE', path: this.shardPath(handle), signal });
    res.resume();
  }

  async stat(handle: string, signal?: AbortSignal): Promise<{ size: number } | null> {
    let res: http.IncomingMessage;
    try {
      res = await this.request({ method: 'HEAD', path: this.shardPath(handle), signal });
    } catch (err) {
      if (err instanceof NodeError && err.kind === 'not-found') return null;
      throw err;
    }
    res.resume();
    const size = Number(res.headers['content-length']);
    if (!Number.isSafeInteger(size) || size < 0) throw new NodeError(this.name, 'corrupt', 'HEAD without a valid Content-Length');
    return { size };
  }

  /** Items carry mtimeMs when the server reports it (orphan collection's age check). */
  async *list(signal?: AbortSignal): AsyncGenerator<ListedShard> {
    let after: string | undefined;
    for (;;) {
      const query = new URLSearchParams({ limit: String(this.listPageSize) });
      if (after !== undefined) query.set('after', after);
      const page = await this.getJson(`${this.basePath}/shards?${query.toString()}`, signal);
      const parsed = parseListPage(page);
      if (!parsed) throw new NodeError(this.name, 'corrupt', 'malformed shard listing');
      for (const item of parsed.items) yield item;
      if (parsed.next === undefined) return;
      if (after !== undefined && parsed.next <= after) throw new NodeError(this.name, 'corrupt', 'listing cursor went backwards');
      after = parsed.next;
    }
  }

  async health(signal?: AbortSignal): Promise<NodeHealth> {
    try {
      const body = await this.getJson(`${this.basePath}/health`, signal, true);
      if (typeof body !== 'object' || body === null) return { ok: false, reason: 'malformed health answer' };
      const h = body as Record<string, unknown>;
      const result: NodeHealth = { ok: h.ok === true };
      if (typeof h.reason === 'string') result.reason = h.reason;
      if (typeof h.capacityBytes === 'number') result.capacityBytes = h.capacityBytes;
      if (typeof h.freeBytes === 'number') result.freeBytes = h.freeBytes;
      return result;
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message : 'health check failed' };
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  /** GET a small JSON document. `acceptUnhealthy` lets health read a 503 body instead of failing. */
  private async getJson(path: string, signal: AbortSignal | undefined, acceptUnhealthy = false): Promise<unknown> {
    let res: http.IncomingMessage;
    try {
      res = await this.request({ method: 'GET', path, signal });
    } catch (err) {
      if (acceptUnhealthy && err instanceof StatusError && err.status === 503 && err.body !== undefined) {
        return parseJson(err.body);
      }
      throw err instanceof StatusError ? err.nodeError : err;
    }
    const text = await readBounded(res, {
      limit: JSON_BODY_LIMIT,
      overflow: 'fail',
      tooLarge: () => new NodeError(this.name, 'corrupt', 'response too large'),
      cut: (n) => new NodeError(this.name, 'unavailable', `connection lost after ${n} bytes of a JSON answer`),
    });
    const parsed = parseJson(text.toString('utf8'));
    if (parsed === undefined) throw new NodeError(this.name, 'corrupt', 'invalid JSON from node');
    return parsed;
  }

  /**
   * One request; resolves with the response once its headers arrived with a 2xx status. Non-2xx statuses reject with
   * the mapped NodeError. Idempotent requests are retried once when a pooled keep-alive socket turns out dead.
   */
  private async request(spec: RequestSpec): Promise<http.IncomingMessage> {
    try {
      return await this.requestOnce(spec);
    } catch (err) {
      if (err instanceof StaleSocketError && RETRYABLE_ON_REUSED_SOCKET.has(spec.method)) {
        return this.requestOnce(spec).catch((e: unknown) => Promise.reject(unwrap(e)));
      }
      throw unwrap(err);
    }
  }

  private requestOnce(spec: RequestSpec): Promise<http.IncomingMessage> {
    const { signal } = spec;
    if (signal?.aborted) {
      spec.body?.stream.destroy();
      return Promise.reject(abortErrorFrom(signal));
    }
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      let settled = false;
      const settle = (err: unknown, res?: http.IncomingMessage): void => {
        if (settled) return;
        settled = true;
        watchdog.stop();
        signal?.removeEventListener('abort', onAbort);
        if (err !== undefined || !res) {
          spec.body?.stream.destroy();
          // An upload the node refused early must not keep streaming into a socket nobody reads.
          if (spec.body && !req.writableFinished) req.destroy();
          reject(err);
        } else resolve(res);
      };
      const req = this.transport.request({
        protocol: this.base.protocol,
        hostname: this.base.hostname,
        port: this.base.port,
        method: spec.method,
        path: spec.path,
        agent: this.agent,
        headers: { ...spec.headers, Authorization: this.authHeader },
      });
      const fail = (err: Error): void => {
        req.destroy(err);
      };
      const watchdog = new Watchdog(this.timeoutMs, () =>
        fail(new NodeError(this.name, 'timeout', `${spec.method} got no progress for ${this.timeoutMs} ms`)),
      );
      const onAbort = (): void => fail(abortErrorFrom(signal as AbortSignal));
      signal?.addEventListener('abort', onAbort, { once: true });
      watchdog.kick();

      req.on('error', (err) => {
        if (err instanceof NodeError || isAbortError(err)) settle(err);
        else if (req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
          settle(new StaleSocketError(this.networkError(err)));
        } else settle(this.networkError(err));
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          settle(undefined, res);
          return;
        }
        // Keep the watchdog running while the (small) error body is read.
        readBounded(res, { limit: ERROR_BODY_LIMIT, overflow: 'truncate' })
          .then((buf) => {
            const text = buf.toString('utf8');
            settle(new StatusError(status, text, this.statusError(status, text)));
          })
          .catch(() => settle(new StatusError(status, undefined, this.statusError(status, undefined))));
      });

      if (spec.body) {
        const { stream, length } = spec.body;
        const counter = new ExactLengthStream(length, {
          tooLong: (n) => new NodeError(this.name, 'bad-request', `shard body longer than ${n} bytes`),
          tooShort: (seen, n) => new NodeError(this.name, 'bad-request', `shard body ended after ${seen} of ${n} bytes`),
          onBytes: () => watchdog.kick(),
        });
        stream.on('error', (err) => fail(isAbortError(err) || err instanceof NodeError ? err : this.sourceError(err)));
        counter.on('error', (err) => fail(err));
        // pipe, not pipeline: a failing source must destroy the request (so the server drops the upload) but the
        // request's own errors are already handled above.
        stream.pipe(counter).pipe(req);
      } else {
        req.end();
      }
    });
  }

  private networkError(err: Error): NodeError {
    const code = (err as NodeJS.ErrnoException).code;
    const kind: NodeErrorKind = code === 'ETIMEDOUT' ? 'timeout' : 'unavailable';
    return new NodeError(this.name, kind, `request failed: ${code ?? err.message}`, { cause: err });
  }

  private sourceError(err: Error): NodeError {
    return new NodeError(this.name, 'bad-request', `shard body failed: ${err.message}`, { cause: err });
  }

  private statusError(status: number, body: string | undefined): NodeError {
    const parsed = body !== undefined ? parseJson(body) : undefined;
    const serverMessage =
      typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string'
        ? (parsed as { message: string }).message
        : undefined;
    const text = `HTTP ${status}${serverMessage !== undefined ? `: ${serverMessage}` : ''}`;
    return new NodeError(this.name, kindForStatus(status), text);
  }
}

/** A non-2xx answer; carries the body so health can read a 503 JSON document. */
class StatusError extends Error {
  constructor(
    readonly status: number,
    readonly body: string | undefined,
    readonly nodeError: NodeError,
  ) {
    super(nodeError.message);
  }
}

/** The pooled socket had been closed by the server; the request never reached it and may be resent. */
class StaleSocketError extends Error {
  constructor(readonly nodeError: NodeError) {
    super(nodeError.message);
  }
}

function unwrap(err: unknown): unknown {
  if (err instanceof StatusError || err instanceof StaleSocketError) return err.nodeError;
  return err;
}

/**
 * Download side: relays the response with backpressure (guardStalls: a stall counts only while the caller reads) and
 * turns every way a body can end early (socket reset, server killed, stall) into a stream error, and a body longer
 * than its Content-Length into 'corrupt'. A short stream never ends cleanly.
 */
function responseBody(node: string, res: http.IncomingMessage, expected: number | undefined, timeoutMs: number, signal: AbortSignal | undefined): Readable {
  let received = 0;
  const short = (cause?: unknown): NodeError =>
    new NodeError(
      node,
      'unavailable',
      `connection lost after ${received}${expected !== undefined ? ` of ${expected}` : ''} bytes`,
      cause !== undefined ? { cause } : undefined,
    );
  const guarded = guardStalls(res, timeoutMs, () => new NodeError(node, 'timeout', `shard download stalled for ${timeoutMs} ms`), {
    sourceError: (err) => (isAbortError(err) ? err : short(err)),
    cut: () => short(),
  });
  const counted = new ExactLengthStream(expected ?? Number.MAX_SAFE_INTEGER, {
    tooLong: () => new NodeError(node, 'corrupt', 'node sent more bytes than Content-Length'),
    tooShort: expected !== undefined ? () => short() : null,
    onBytes: (n) => (received += n),
  });
  pipeline(guarded, counted, () => undefined);
  return destroyOnAbort(counted, signal);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseListPage(page: unknown): { items: ListedShard[]; next?: string } | undefined {
  if (typeof page !== 'object' || page === null) return undefined;
  const { items, next } = page as { items?: unknown; next?: unknown };
  if (!Array.isArray(items)) return undefined;
  const out: ListedShard[] = [];
  for (const item of items as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { handle, size, mtimeMs } = item as { handle?: unknown; size?: unknown; mtimeMs?: unknown };
    if (typeof handle !== 'string' || typeof size !== 'number') return undefined;
    out.push(typeof mtimeMs === 'number' ? { handle, size, mtimeMs } : { handle, size });
  }
  if (next !== undefined && typeof next !== 'string') return undefined;
  return next !== undefined ? { items: out, next } : { items: out };
}
