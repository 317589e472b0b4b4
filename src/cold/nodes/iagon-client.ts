import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { pipeline, Readable } from 'node:stream';
import { abortErrorFrom } from '../../util/abort.js';
import { sleep } from '../../util/abortable-sleep.js';
import { readBounded } from '../../util/bounded-read.js';
import { ExactLengthStream } from '../../util/exact-length.js';
import { NodeError, type NodeErrorKind } from './driver.js';
import { isRetryableStatus, kindForStatus } from './http-status.js';
import { IAGON_API_KEY_HEADER, IAGON_UPLOAD_FILE_FIELD, type IagonEnvelope } from './iagon-api.js';

/**
 * HTTP to the Iagon API: authentication, the `{ success, data }` envelope, timeouts, and retries with exponential
 * backoff and full jitter that honour Retry-After. What the requests mean is iagon-api.ts; what a node does with them
 * is iagon.ts.
 *
 * Retries: a failed attempt is retried when another may succeed (network errors, timeouts, 429 and 5xx) and the
 * request can be replayed: an upload whose first byte of the caller's stream has been read cannot be.
 * Timeouts: `timeoutMs` is an idle timeout: no bytes either way for that long (connect, waiting for an answer, or a
 * stalled body) fails the attempt with 'timeout'. A streamed answer (IagonRequest.streamed) is the reader's to guard.
 */
export interface IagonClientOptions {
  /** The node's name, for errors. */
  node: string;
  baseUrl: string;
  apiKey?: string;
  token?: string;
  timeoutMs: number;
  maxAttempts: number;
}

export interface IagonRetryTuning {
  /** First backoff step; doubles per attempt, full jitter. Default 250 ms. */
  baseDelayMs?: number;
  /** Cap of one backoff step, and of an honoured Retry-After. Default 30 s. */
  maxDelayMs?: number;
}

/** How long to wait for `100 Continue` before sending the body anyway (what curl does for servers that ignore it). */
const CONTINUE_FALLBACK_MS = 1000;
const MAX_JSON_BYTES = 64 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 4096;

/** An attempt's failure before it becomes a NodeError: whether another attempt may fix it, and when. */
class AttemptFailure extends Error {
  constructor(
    readonly kind: NodeErrorKind,
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Raised by a caller's body stream; it is the caller's failure and passes through unchanged. */
class BodySourceError extends Error {
  constructor(readonly original: unknown) {
    super('body source failed');
  }
}

/** Retry-After as delta-seconds or an HTTP date, in ms from now. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A request body that can be sent once. */
export interface OneShotBody {
  stream: Readable;
  length: number;
  contentType: string;
  /** Set once a byte of the caller's stream has been read: from then on the request cannot be replayed. */
  consumed: boolean;
  /** Destroys the stream and the caller's source under it: a failed call must not leave the caller's writer waiting. */
  release(): void;
}

export interface IagonRequest {
  /** What the call is for, in errors ("put <id>", "list"). */
  op: string;
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  json?: unknown;
  body?: OneShotBody;
  /** The API key check is the one call that does not authenticate with headers. */
  anonymous?: boolean;
  /**
   * The caller streams the answer at its own pace (a download): once the headers are in, the socket's idle timeout
   * is off (a caller pausing the stream leaves the socket idle without the node being at fault), and the reader
   * guards stalls itself (a Watchdog running only while it waits for the node).
   */
  streamed?: boolean;
}

export class IagonClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly opts: IagonClientOptions,
    tuning: IagonRetryTuning = {},
  ) {
    this.base = new URL(opts.baseUrl.replace(/\/+$/, ''));
    // Uncapped for the same reason as the http node driver: a capped per-node pool can deadlock lock-step shard uploads.
    const agentOptions = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 16 };
    this.agent = this.base.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.baseDelayMs = tuning.baseDelayMs ?? 250;
    this.maxDelayMs = tuning.maxDelayMs ?? 30_000;
  }

  close(): void {
    this.agent.destroy();
  }

  /** A call whose answer is an envelope; resolves with its data. */
  async callForData<T>(spec: IagonRequest, signal?: AbortSignal): Promise<T | undefined> {
    return this.envelope<T>(spec.op, await this.call(spec, signal));
  }

  /** Parses the `{ success, data }` envelope; a 2xx that says success=false is a refused request. */
  async envelope<T>(op: string, res: IncomingMessage): Promise<T | undefined> {
    let parsed: IagonEnvelope<T>;
    try {
      const body = await readBounded(res, { limit: MAX_JSON_BYTES, overflow: 'fail' });
      parsed = JSON.parse(body.toString('utf8')) as IagonEnvelope<T>;
    } catch (err) {
      throw new NodeError(this.opts.node, 'unavailable', `${op}: unreadable answer`, { cause: err });
    }
    if (parsed.success !== true) {
      throw new NodeError(this.opts.node, 'bad-request', `${op}: refused: ${(parsed.message ?? 'no message').slice(0, 200)}`);
    }
    return parsed.data;
  }

  /**
   * One logical call: attempts with exponential backoff and full jitter, honouring Retry-After. A call that fails
   * releases its upload body.
   */
  async call(spec: IagonRequest, signal?: AbortSignal): Promise<IncomingMessage> {
    try {
      return await this.attempts(spec, signal);
    } catch (err) {
      spec.body?.release();
      throw err;
    }
  }

  private async attempts(spec: IagonRequest, signal?: AbortSignal): Promise<IncomingMessage> {
    const maxAttempts = Math.max(1, this.opts.maxAttempts);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(spec, signal);
      } catch (err) {
        if (signal?.aborted) throw abortErrorFrom(signal);
        if (err instanceof BodySourceError) throw err.original;
        if (!(err instanceof AttemptFailure)) throw err;
        const replayable = spec.body === undefined || !spec.body.consumed;
        if (!err.retryable || !replayable || attempt >= maxAttempts) {
          const note = err.retryable && !replayable ? ' (body already sent, not retried)' : '';
          throw new NodeError(this.opts.node, err.kind, `${spec.op}: ${err.message}${note} after ${attempt} attempt(s)`, { cause: err });
        }
        const step = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        const jitter = Math.random() * step;
        // A backoff inside a call the caller aborted must end the call, not start the next attempt.
        await sleep(Math.min(this.maxDelayMs, Math.max(jitter, err.retryAfterMs ?? 0)), signal, 'reject');
      }
    }
  }

  private authHeaders(spec: IagonRequest): OutgoingHttpHeaders {
    if (spec.anonymous) return {};
    if (this.opts.apiKey !== undefined) return { [IAGON_API_KEY_HEADER]: this.opts.apiKey };
    if (this.opts.token !== undefined) return { authorization: `Bearer ${this.opts.token}` };
    return {};
  }

  /** Resolves with a 2xx response whose body is unread; anything else rejects with an AttemptFailure. */
  private attempt(spec: IagonRequest, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const url = new URL(this.base.pathname + spec.path, this.base);
      for (const [k, v] of Object.entries(spec.query ?? {})) url.searchParams.set(k, v);
      const headers: OutgoingHttpHeaders = { accept: 'application/json', ...this.authHeaders(spec) };
      let payload: Buffer | undefined;
      if (spec.json !== undefined) {
        payload = Buffer.from(JSON.stringify(spec.json));
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      } else if (spec.body) {
        headers['content-type'] = spec.body.contentType;
        headers['content-length'] = spec.body.length;
        headers.expect = '100-continue';
      } else if (spec.method !== 'GET') {
        headers['content-length'] = 0;
      }

      let settled = false;
      const fail = (err: Error): void => {
        if (settled) {
          // Already answered: a stall or error now belongs to the body being streamed; destroying the request makes
          // the response stream fail instead of hanging.
          if (!req.destroyed) req.destroy(err);
          return;
        }
        settled = true;
        req.destroy();
        reject(err);
      };
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, { method: spec.method, headers, agent: this.agent, signal });
      req.setTimeout(this.opts.timeoutMs, () =>
        fail(new AttemptFailure('timeout', `no answer within ${this.opts.timeoutMs} ms`, true)),
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (signal?.aborted) return fail(err);
        fail(new AttemptFailure('unavailable', `network: ${err.code ?? err.message}`, true, undefined, { cause: err }));
      });
      req.on('response', (res) => {
        if (settled) {
          res.resume();
          return;
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          settled = true;
          if (spec.streamed) req.setTimeout(0);
          resolve(res);
          return;
        }
        settled = true;
        const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        readBounded(res, { limit: MAX_ERROR_BODY_BYTES, overflow: 'truncate' })
          .catch(() => Buffer.alloc(0))
          .then((buf) => {
            let message = '';
            try {
              const parsed = JSON.parse(buf.toString('utf8')) as { message?: unknown };
              if (typeof parsed.message === 'string') message = `: ${parsed.message.slice(0, 200)}`;
            } catch {
              // not JSON: the status says enough
            }
            // An upload refused before (or while) sending its body leaves the request unfinished: drop the socket.
            if (spec.body) req.destroy();
            reject(new AttemptFailure(kindForStatus(status), `HTTP ${status}${message}`, isRetryableStatus(status), retryAfterMs));
          });
      });

      if (payload !== undefined) {
        req.end(payload);
      } else if (spec.body) {
        const body = spec.body;
        let started = false;
        const sendBody = (): void => {
          if (started || settled) return;
          started = true;
          clearTimeout(fallback);
          body.stream.on('error', (err) => fail(err instanceof BodySourceError ? err : new AttemptFailure('unavailable', `upload: ${err.message}`, false)));
          body.stream.pipe(req);
        };
        const fallback = setTimeout(sendBody, CONTINUE_FALLBACK_MS);
        req.once('continue', sendBody);
        req.once('close', () => clearTimeout(fallback));
        req.flushHeaders();
      } else {
        req.end();
      }
    });
  }
}

/**
 * multipart/form-data as a stream: text fields first (servers see them before the file), then the file part fed
 * from the caller's stream with backpressure. The exact Content-Length is known up front, so nothing is buffered;
 * a source that yields more or fewer than `length` bytes fails the upload (the multipart body would be malformed).
 */
export function multipartBody(fields: Array<[string, string]>, fileName: string, source: Readable, length: number): OneShotBody {
  const boundary = `----tessera-${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="${IAGON_UPLOAD_FILE_FIELD}"; filename="${fileName}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const preamble = Buffer.from(head);
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`);
  const body: OneShotBody = {
    stream: Readable.from([]),
    length: preamble.length + length + epilogue.length,
    contentType: `multipart/form-data; boundary=${boundary}`,
    consumed: false,
    release: () => {
      body.stream.destroy();
      source.destroy();
    },
  };
  async function* parts(): AsyncGenerator<Buffer> {
    yield preamble;
    body.consumed = true;
    const exact = new ExactLengthStream(length);
    // pipeline: the source's errors reach `exact`, and ending the iteration early destroys the source too.
    pipeline(source, exact, () => undefined);
    try {
      for await (const chunk of exact) yield chunk as Buffer;
    } catch (err) {
      throw new BodySourceError(err);
    }
    yield epilogue;
  }
  body.stream = Readable.from(parts(), { objectMode: false });
  return body;
}
