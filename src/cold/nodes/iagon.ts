import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { IagonNodeConfig } from '../../config/types.js';
import { ConfigError } from '../../config/errors.js';
import { NodeError, type NodeDriver, type NodeErrorKind, type NodeHealth } from './driver.js';

/*
 * What this driver assumes about the Iagon storage API v2, all in this block. Confirmed by public clients of the
 * gateway: upload fields and the `{ success, message, data }` envelope with data._id, download as POST with JSON
 * { id[, password] } answering the raw bytes, DELETE /storage/file/{id}, key verification with { api_key }, listing
 * as GET /storage/directory?parent_directory_id=..&visibility=..&listingType=index answering
 * data { directories: [{ _id, directory_name, ... }], files: [{ _id, name, file_size_byte_native, ... }] }.
 * Assumed (not seen documented): directory creation as POST /storage/directory with JSON { directory_name,
 * visibility, parent_directory_id? } answering data._id; that listings are not paginated; that error answers use the
 * usual statuses (401/403 auth, 404 missing, 413 too large, 429 throttled) and that the gateway honours
 * `Expect: 100-continue`. test/helpers/iagon-contract-server.ts implements exactly this contract.
 */
export const IAGON_DEFAULT_BASE_URL = 'https://gw.iagon.com/api/v2';
export const IAGON_VISIBILITY = 'private';
export const IAGON_PATHS = {
  upload: '/storage/upload',
  download: '/storage/download',
  file: (id: string): string => `/storage/file/${encodeURIComponent(id)}`,
  directory: '/storage/directory',
  keyVerify: '/key/verify',
} as const;

export interface IagonEnvelope<T> {
  success: boolean;
  message?: string;
  data?: T;
}
export interface IagonFileEntry {
  _id: string;
  name?: string;
  parent_directory_id?: string | null;
  /** Size of the bytes as uploaded (Iagon also reports its own encrypted size). */
  file_size_byte_native?: number;
  created_at?: string;
  updated_at?: string;
}
export interface IagonDirectoryEntry {
  _id: string;
  directory_name?: string;
  parent_directory_id?: string | null;
}
export interface IagonListing {
  directories?: IagonDirectoryEntry[];
  files?: IagonFileEntry[];
}

/** Shard ids go into multipart headers and file names; keep them to a set that needs no escaping. */
const SAFE_ID = /^[A-Za-z0-9._-]{1,200}$/;
/** How long to wait for `100 Continue` before sending the body anyway (what curl does for servers that ignore it). */
const CONTINUE_FALLBACK_MS = 1000;
const MAX_JSON_BYTES = 64 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 4096;

/**
 * Throws a ConfigError when the cold tier's largest shard cannot be stored on this node (Iagon refuses files over
 * maxFileBytes), so the mistake shows at start instead of as failed PUTs. `maxShardBytes` is the stored size of the
 * largest shard the configured segmentSize / k produce (ciphertext, tags included).
 */
export function validateIagonConfig(cfg: IagonNodeConfig, maxShardBytes: number): void {
  const key = `cold.nodes.${cfg.name}`;
  if (cfg.apiKey === undefined && cfg.token === undefined) throw new ConfigError(`${key}.apiKey`, 'an Iagon node needs apiKey or token');
  try {
    new URL(cfg.baseUrl);
  } catch {
    throw new ConfigError(`${key}.baseUrl`, 'is not a URL');
  }
  if (maxShardBytes > cfg.maxFileBytes) {
    throw new ConfigError(
      `${key}.maxFileBytes`,
      `shards of up to ${maxShardBytes} bytes exceed this Iagon node's per-file limit of ${cfg.maxFileBytes} bytes; ` +
        'lower cold.segmentSize or raise cold.k',
    );
  }
}

export interface IagonRetryTuning {
  /** First backoff step; doubles per attempt, full jitter. Default 250 ms. */
  baseDelayMs?: number;
  /** Cap of one backoff step, and of an honoured Retry-After. Default 30 s. */
  maxDelayMs?: number;
}

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

function kindForStatus(status: number): NodeErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 413) return 'too-large';
  if (status === 408) return 'timeout';
  if (status === 507) return 'full';
  if (status === 429 || status >= 500) return 'unavailable';
  return 'bad-request';
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

async function readLimited(res: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      res.destroy();
      throw new Error(`answer larger than ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface OneShotBody {
  stream: Readable;
  length: number;
  contentType: string;
  /** Set once a byte of the caller's stream has been read: from then on the request cannot be replayed. */
  consumed: boolean;
}

interface RequestSpec {
  op: string;
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  json?: unknown;
  body?: OneShotBody;
  /** The API key check is the one call that does not authenticate with headers. */
  anonymous?: boolean;
}

/** A node backed by the Iagon storage API: each shard is one private file in one directory; the handle is its _id. */
export class IagonNodeDriver implements NodeDriver {
  readonly name: string;
  readonly kind = 'iagon' as const;
  readonly weight: number;
  private readonly cfg: IagonNodeConfig;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private directoryIdPromise: Promise<string> | undefined;

  constructor(cfg: IagonNodeConfig, tuning: IagonRetryTuning = {}) {
    this.cfg = cfg;
    this.name = cfg.name;
    this.weight = cfg.weight;
    this.base = new URL(cfg.baseUrl.replace(/\/+$/, ''));
    // Uncapped for the same reason as the http node driver: a capped per-node pool can deadlock lock-step shard uploads.
    const agentOptions = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 16 };
    this.agent = this.base.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.baseDelayMs = tuning.baseDelayMs ?? 250;
    this.maxDelayMs = tuning.maxDelayMs ?? 30_000;
    if (cfg.directoryId !== undefined) this.directoryIdPromise = Promise.resolve(cfg.directoryId);
  }

  // ------------------------------------------------------------------ NodeDriver

  async put(shardId: string, body: Readable, length: number, signal?: AbortSignal): Promise<string> {
    if (!SAFE_ID.test(shardId)) throw new NodeError(this.name, 'bad-request', 'put: shard id has characters Iagon file names cannot carry');
    if (length > this.cfg.maxFileBytes) {
      throw new NodeError(this.name, 'too-large', `put ${shardId}: ${length} bytes exceed the per-file limit of ${this.cfg.maxFileBytes}`);
    }
    const directoryId = await this.directoryId(signal);
    const fields: Array<[string, string]> = [
      ['filename', shardId],
      ['visibility', IAGON_VISIBILITY],
      ['directoryId', directoryId],
    ];
    if (this.cfg.password !== undefined) fields.push(['password', this.cfg.password]);
    const oneShot = multipartBody(fields, shardId, body, length);
    const res = await this.call({ op: `put ${shardId}`, method: 'POST', path: IAGON_PATHS.upload, body: oneShot }, signal);
    const data = await this.envelope<{ _id?: unknown }>(`put ${shardId}`, res);
    if (typeof data?._id !== 'string' || data._id === '') {
      throw new NodeError(this.name, 'bad-request', `put ${shardId}: upload answer has no data._id`);
    }
    return data._id;
  }

  async get(handle: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable> {
    const json: Record<string, string> = { id: handle };
    if (this.cfg.password !== undefined) json.password = this.cfg.password;
    const res = await this.call({ op: `get ${handle}`, method: 'POST', path: IAGON_PATHS.download, json }, signal);
    // The API has no ranges: skip the prefix here and stop reading once the range is delivered.
    return Readable.from(this.slice(res, handle, range?.offset ?? 0, range?.length), { objectMode: false });
  }

  async delete(handle: string, signal?: AbortSignal): Promise<void> {
    try {
      const res = await this.call({ op: `delete ${handle}`, method: 'DELETE', path: IAGON_PATHS.file(handle) }, signal);
      res.resume();
    } catch (err) {
      if (err instanceof NodeError && err.kind === 'not-found') return;
      throw err;
    }
  }

  async stat(handle: string, signal?: AbortSignal): Promise<{ size: number } | null> {
    // No per-file metadata call is known: look the file up in the directory listing.
    for (const file of await this.listFiles(signal)) {
      if (file._id === handle) return { size: file.file_size_byte_native ?? 0 };
    }
    return null;
  }

  async *list(signal?: AbortSignal): AsyncIterable<{ handle: string; size: number; mtimeMs?: number }> {
    for (const file of await this.listFiles(signal)) {
      const item: { handle: string; size: number; mtimeMs?: number } = { handle: file._id, size: file.file_size_byte_native ?? 0 };
      const mtime = Date.parse(file.updated_at ?? file.created_at ?? '');
      if (!Number.isNaN(mtime)) item.mtimeMs = mtime;
      yield item;
    }
  }

  async health(signal?: AbortSignal): Promise<NodeHealth> {
    try {
      if (this.cfg.apiKey !== undefined) {
        const res = await this.call(
          { op: 'verify key', method: 'POST', path: IAGON_PATHS.keyVerify, json: { api_key: this.cfg.apiKey }, anonymous: true },
          signal,
        );
        await this.envelope('verify key', res);
        await this.directoryId(signal);
      } else {
        await this.listFiles(signal);
      }
      return { ok: true };
    } catch (err) {
      const kind = err instanceof NodeError ? err.kind : 'unavailable';
      return { ok: false, reason: `${kind}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  // ------------------------------------------------------------------ directory

  private directoryId(signal?: AbortSignal): Promise<string> {
    this.directoryIdPromise ??= this.findOrCreateDirectory(signal).catch((err: unknown) => {
      this.directoryIdPromise = undefined;
      throw err;
    });
    return this.directoryIdPromise;
  }

  private async findOrCreateDirectory(signal?: AbortSignal): Promise<string> {
    const name = this.cfg.directoryName;
    const root = await this.listing(undefined, signal);
    const found = (root.directories ?? []).find((d) => d.directory_name === name && !d.parent_directory_id);
    if (found) return found._id;
    const res = await this.call(
      {
        op: `create directory ${name}`,
        method: 'POST',
        path: IAGON_PATHS.directory,
        json: { directory_name: name, visibility: IAGON_VISIBILITY },
      },
      signal,
    );
    const data = await this.envelope<{ _id?: unknown }>(`create directory ${name}`, res);
    if (typeof data?._id !== 'string') throw new NodeError(this.name, 'bad-request', `create directory ${name}: answer has no data._id`);
    return data._id;
  }

  private async listing(parentId: string | undefined, signal?: AbortSignal): Promise<IagonListing> {
    const query: Record<string, string> = { visibility: IAGON_VISIBILITY, listingType: 'index' };
    if (parentId !== undefined) query.parent_directory_id = parentId;
    const res = await this.call({ op: 'list', method: 'GET', path: IAGON_PATHS.directory, query }, signal);
    return (await this.envelope<IagonListing>('list', res)) ?? {};
  }

  private async listFiles(signal?: AbortSignal): Promise<IagonFileEntry[]> {
    const dir = await this.directoryId(signal);
    const files = (await this.listing(dir, signal)).files ?? [];
    return files.filter((f) => typeof f._id === 'string' && (f.parent_directory_id === undefined || f.parent_directory_id === dir));
  }

  // ------------------------------------------------------------------ HTTP

  /** Parses the `{ success, data }` envelope; a 2xx that says success=false is a refused request. */
  private async envelope<T>(op: string, res: IncomingMessage): Promise<T | undefined> {
    let parsed: IagonEnvelope<T>;
    try {
      parsed = JSON.parse((await readLimited(res, MAX_JSON_BYTES)).toString('utf8')) as IagonEnvelope<T>;
    } catch (err) {
      throw new NodeError(this.name, 'unavailable', `${op}: unreadable answer`, { cause: err });
    }
    if (parsed.success !== true) {
      throw new NodeError(this.name, 'bad-request', `${op}: refused: ${(parsed.message ?? 'no message').slice(0, 200)}`);
    }
    return parsed.data;
  }

  /** One logical call: attempts with exponential backoff and full jitter, honouring Retry-After. */
  private async call(spec: RequestSpec, signal?: AbortSignal): Promise<IncomingMessage> {
    const maxAttempts = Math.max(1, this.cfg.maxAttempts);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(spec, signal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        if (err instanceof BodySourceError) throw err.original;
        if (!(err instanceof AttemptFailure)) throw err;
        const replayable = spec.body === undefined || !spec.body.consumed;
        if (!err.retryable || !replayable || attempt >= maxAttempts) {
          const note = err.retryable && !replayable ? ' (body already sent, not retried)' : '';
          throw new NodeError(this.name, err.kind, `${spec.op}: ${err.message}${note} after ${attempt} attempt(s)`, { cause: err });
        }
        const step = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        const jitter = Math.random() * step;
        await sleep(Math.min(this.maxDelayMs, Math.max(jitter, err.retryAfterMs ?? 0)), signal);
      }
    }
  }

  /** Resolves with a 2xx response whose body is unread; anything else rejects with an AttemptFailure. */
  private attempt(spec: RequestSpec, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const url = new URL(this.base.pathname + spec.path, this.base);
      for (const [k, v] of Object.entries(spec.query ?? {})) url.searchParams.set(k, v);
      const headers: OutgoingHttpHeaders = { accept: 'application/json' };
      if (!spec.anonymous) {
        if (this.cfg.apiKey !== undefined) headers['x-api-key'] = this.cfg.apiKey;
        else if (this.cfg.token !== undefined) headers.authorization = `Bearer ${this.cfg.token}`;
      }
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
      // Idle timeout: no bytes either way for timeoutMs (connect, waiting for an answer, or a stalled body).
      req.setTimeout(this.cfg.timeoutMs, () =>
        fail(new AttemptFailure('timeout', `no answer within ${this.cfg.timeoutMs} ms`, true)),
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
          resolve(res);
          return;
        }
        settled = true;
        const retryable = status === 429 || status >= 500;
        const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        readLimited(res, MAX_ERROR_BODY_BYTES)
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
            reject(new AttemptFailure(kindForStatus(status), `HTTP ${status}${message}`, retryable, retryAfterMs));
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

  /** Bytes [offset, offset+length) of a download; reading stops (and the connection is dropped) after the range. */
  private async *slice(res: IncomingMessage, handle: string, offset: number, length: number | undefined): AsyncGenerator<Buffer> {
    const end = length === undefined ? Infinity : offset + length;
    let pos = 0;
    try {
      if (end === offset) return;
      for await (const raw of res) {
        const chunk = raw as Buffer;
        const chunkEnd = pos + chunk.length;
        if (chunkEnd > offset) {
          const from = Math.max(0, offset - pos);
          const to = Math.min(chunk.length, end - pos);
          if (to > from) yield chunk.subarray(from, to);
        }
        pos = chunkEnd;
        if (pos >= end) return;
      }
    } catch (err) {
      throw new NodeError(this.name, 'unavailable', `get ${handle}: download interrupted after ${pos} bytes`, { cause: err });
    } finally {
      if (!res.complete) res.destroy();
    }
    if (end !== Infinity || pos < offset) {
      throw new NodeError(this.name, 'corrupt', `get ${handle}: shard has ${pos} bytes, fewer than the ${end === Infinity ? offset : end} requested`);
    }
  }
}

/**
 * multipart/form-data as a stream: text fields first (servers see them before the file), then the file part fed
 * from the caller's stream with backpressure. The exact Content-Length is known up front, so nothing is buffered.
 */
function multipartBody(fields: Array<[string, string]>, fileName: string, source: Readable, length: number): OneShotBody {
  const boundary = `----tessera-${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const preamble = Buffer.from(head);
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`);
  const body: OneShotBody = {
    stream: Readable.from([]),
    length: preamble.length + length + epilogue.length,
    contentType: `multipart/form-data; boundary=${boundary}`,
    consumed: false,
  };
  async function* parts(): AsyncGenerator<Buffer> {
    yield preamble;
    let seen = 0;
    body.consumed = true;
    try {
      for await (const chunk of source) {
        const buf = chunk as Buffer;
        seen += buf.length;
        if (seen > length) throw new Error(`body is longer than the declared ${length} bytes`);
        yield buf;
      }
    } catch (err) {
      throw new BodySourceError(err);
    }
    if (seen !== length) throw new BodySourceError(new Error(`body ended after ${seen} of the declared ${length} bytes`));
    yield epilogue;
  }
  body.stream = Readable.from(parts(), { objectMode: false });
  return body;
}
