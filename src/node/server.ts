/**
 * `tessera node`: a shard server that stores opaque shard blobs on local disk for the `http` node driver.
 *
 * HTTP API (all routes, health included, require `Authorization: Bearer <secret>`; 401 otherwise):
 *
 *   PUT    /shards/:id   Body = the shard bytes, with Content-Length or chunked. Answers 201 (new) or 200 (replaced)
 *                        only after the bytes are fsynced and renamed into place. A body shorter or longer than
 *                        Content-Length, or a disconnect mid-upload, leaves no shard behind. 413 above maxShardBytes.
 *   GET    /shards/:id   The shard (200), or with `Range: bytes=a-b` / `bytes=a-` / `bytes=-n` the range (206 with
 *                        Content-Range). Unsatisfiable range: 416. Multi-range requests are answered whole (200).
 *   HEAD   /shards/:id   200 with Content-Length = shard size, or 404.
 *   DELETE /shards/:id   204, also when the shard did not exist.
 *   GET    /shards?after=<id>&limit=<n>
 *                        JSON {"items":[{"handle","size","mtimeMs"}...], "next"?: <id>} in ascending id order; pass `next` as
 *                        `after` for the next page. limit defaults to 1000, at most 10000.
 *   GET    /health       JSON {"ok":true,"capacityBytes","freeBytes"} (200) or {"ok":false,"reason"} (503).
 *
 * Shard ids: [0-9a-f]{2}[0-9a-f-]{14,126}; anything else is 400 before it reaches the filesystem.
 * Errors: JSON {"error": <NodeErrorKind>, "message"}; 400 bad id/request, 401 auth, 404 missing, 413 too large,
 * 507 disk full, 503 other storage failures (src/cold/nodes/http-status.ts holds the kind <-> status table).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { NodeError, type NodeErrorKind } from '../cold/nodes/driver.js';
import { FsNodeDriver, isValidShardId, type ListedShard } from '../cold/nodes/fs.js';
import { STATUS_FOR_KIND } from '../cold/nodes/http-status.js';
import { isAbortError } from '../util/abort.js';
import { readBounded } from '../util/bounded-read.js';

export interface NodeServerLogger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

export interface NodeServerOptions {
  dataDir: string;
  port: number;
  host: string;
  secret: string;
  /** PEM contents (not paths): the CLI reads the files. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger?: NodeServerLogger;
  /** Largest shard accepted; default 1 GiB. */
  maxShardBytes?: number;
  /** Time allowed for a client to send the request headers (slowloris guard); default 20 s. */
  headersTimeoutMs?: number;
  /** Socket inactivity before it is closed, e.g. an upload that stops sending; default 60 s. */
  idleTimeoutMs?: number;
  /** Upper bound on one whole request, body included; default 30 min (big shards over slow links). */
  requestTimeoutMs?: number;
}

export interface NodeServer {
  url: string;
  close(): Promise<void>;
}

const MAX_HEADER_BYTES = 16 * 1024;
const DEFAULT_MAX_SHARD_BYTES = 1024 * 1024 * 1024;
const DEFAULT_LIST_LIMIT = 1000;
/** Uploads up to this size are buffered and written in one go (writeShardBytes). */
const SMALL_SHARD_BYTES = 256 * 1024;
const MAX_LIST_LIMIT = 10_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly kind: NodeErrorKind,
    message: string,
  ) {
    super(message);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export async function startNodeServer(opts: NodeServerOptions): Promise<NodeServer> {
  if (!opts.secret) throw new Error('tessera node: a non-empty secret is required');
  const store = new FsNodeDriver({ path: opts.dataDir, name: 'local' });
  await store.open();
  const secretDigest = digest(opts.secret);
  const maxShardBytes = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  const log = opts.logger;

  const authorized = (req: http.IncomingMessage): boolean => {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    // Digests have equal length whatever the token, so timingSafeEqual never throws and leaks no length.
    return timingSafeEqual(digest(header.slice('Bearer '.length)), secretDigest);
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : err instanceof NodeError ? STATUS_FOR_KIND[err.kind] : 500;
      const kind: NodeErrorKind =
        err instanceof HttpError ? err.kind : err instanceof NodeError ? err.kind : 'unavailable';
      const message = err instanceof Error ? err.message : 'internal error';
      if (status >= 500) log?.warn({ method: req.method, path: pathOnly(req.url), status, kind }, message);
      sendError(req, res, status, kind, message);
    });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (!authorized(req)) throw new HttpError(401, 'auth', 'missing or wrong bearer token');
    const url = new URL(req.url ?? '/', 'http://node.invalid');
    const route = url.pathname;
    if (route === '/health') {
      if (req.method !== 'GET') throw new HttpError(405, 'bad-request', 'method not allowed');
      const health = await store.health();
      const body = health.ok
        ? { ok: true, capacityBytes: health.capacityBytes, freeBytes: health.freeBytes }
        : { ok: false, reason: health.reason ?? 'storage unavailable' };
      sendJson(res, health.ok ? 200 : 503, body);
      return;
    }
    if (route === '/shards') {
      if (req.method !== 'GET') throw new HttpError(405, 'bad-request', 'method not allowed');
      await listShards(url, res);
      return;
    }
    if (!route.startsWith('/shards/')) throw new HttpError(404, 'not-found', 'no such route');
    // The raw (undecoded) segment must itself be a valid id: '%2f', '..' and friends never match.
    const id = route.slice('/shards/'.length);
    if (!isValidShardId(id)) throw new HttpError(400, 'bad-request', 'invalid shard id');
    switch (req.method) {
      case 'PUT':
        return putShard(id, req, res);
      case 'GET':
        return getShard(id, req, res);
      case 'HEAD': {
        const st = await store.stat(id);
        if (!st) throw new HttpError(404, 'not-found', 'no such shard');
        res.writeHead(200, { 'Content-Length': st.size, 'Accept-Ranges': 'bytes' });
        res.end();
        return;
      }
      case 'DELETE':
        await store.delete(id);
        res.writeHead(204);
        res.end();
        return;
      default:
        throw new HttpError(405, 'bad-request', 'method not allowed');
    }
  };

  const putShard = async (id: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const declared = req.headers['content-length'];
    const chunked = /\bchunked\b/i.test(req.headers['transfer-encoding'] ?? '');
    let length: number | undefined;
    if (declared !== undefined) {
      if (!/^\d{1,16}$/.test(declared)) throw new HttpError(400, 'bad-request', 'invalid Content-Length');
      length = Number(declared);
      if (length > maxShardBytes) throw new HttpError(413, 'too-large', `shard larger than ${maxShardBytes} bytes`);
    } else if (!chunked) {
      throw new HttpError(411, 'bad-request', 'Content-Length or chunked encoding required');
    }
    // Small shards (every shard of a small object, record copies) are taken into memory first: one write and no
    // stream pipeline per shard. Memory per upload is bounded by SMALL_SHARD_BYTES and grows only with bytes received.
    // A disconnect mid-upload errors `req`, which fails the pipeline inside writeShard and removes the temp file.
    const { created, size } =
      length !== undefined && length <= SMALL_SHARD_BYTES
        ? await store.writeShardBytes(id, await readExactly(req, length))
        : await store.writeShard(id, req, { length, maxBytes: maxShardBytes });
    sendJson(res, created ? 201 : 200, { handle: id, size });
  };

  const getShard = async (id: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const st = await store.stat(id);
    if (!st) throw new HttpError(404, 'not-found', 'no such shard');
    const range = parseRange(req.headers.range, st.size);
    if (range === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${st.size}`);
      throw new HttpError(416, 'bad-request', 'range not satisfiable');
    }
    const offset = range?.offset ?? 0;
    const length = range?.length ?? st.size;
    const body = await store.get(id, { offset, length });
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': length,
      'Accept-Ranges': 'bytes',
    };
    if (range) headers['Content-Range'] = `bytes ${offset}-${offset + length - 1}/${st.size}`;
    res.writeHead(range ? 206 : 200, headers);
    try {
      await pipeline(body, res);
    } catch (err) {
      // Headers are gone; the only honest signal left is cutting the connection so the client sees a short body.
      res.destroy();
      if (!isAbortError(err) && !isClientGone(err)) {
        log?.warn({ path: pathOnly(req.url), kind: 'unavailable' }, 'shard read failed mid-body');
      }
    }
  };

  const listShards = async (url: URL, res: http.ServerResponse): Promise<void> => {
    const afterParam = url.searchParams.get('after');
    const after = afterParam === null || afterParam === '' ? undefined : afterParam;
    if (after !== undefined && !isValidShardId(after)) throw new HttpError(400, 'bad-request', 'invalid after cursor');
    const limitParam = url.searchParams.get('limit');
    let limit = DEFAULT_LIST_LIMIT;
    if (limitParam !== null) {
      if (!/^\d{1,6}$/.test(limitParam) || Number(limitParam) < 1) throw new HttpError(400, 'bad-request', 'invalid limit');
      limit = Math.min(Number(limitParam), MAX_LIST_LIMIT);
    }
    const items: ListedShard[] = [];
    let more = false;
    for await (const item of store.listAfter(after)) {
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(item);
    }
    const last = items[items.length - 1];
    sendJson(res, 200, more && last ? { items, next: last.handle } : { items });
  };

  const serverOptions: http.ServerOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: opts.headersTimeoutMs ?? 20_000,
    requestTimeout: opts.requestTimeoutMs ?? 30 * 60_000,
    // How often Node enforces the two timeouts above; its default (30 s) would make a short headersTimeout meaningless.
    connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor((opts.headersTimeoutMs ?? 20_000) / 4))),
    keepAliveTimeout: 30_000,
  };
  const server = opts.tls
    ? https.createServer({ ...serverOptions, cert: opts.tls.cert, key: opts.tls.key }, handler)
    : http.createServer(serverOptions, handler);
  server.setTimeout(opts.idleTimeoutMs ?? 60_000, (socket) => socket.destroy());
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && !socket.writableEnded) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${opts.tls ? 'https' : 'http'}://${hostForUrl}:${address.port}`;
  log?.info({ url, dataDir: opts.dataDir }, 'tessera node listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => store.close());
      return closing;
    },
  };
}

/** Parses a single `bytes=` range. undefined = serve whole (absent or a form we do not support, per RFC 9110). */
export function parseRange(header: string | undefined, size: number): { offset: number; length: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(end) || end < start) return 'unsatisfiable';
  return { offset: start, length: end - start + 1 };
}

/** The whole body of an upload that declared `length` bytes; rejects when the client goes away before sending them. */
async function readExactly(req: http.IncomingMessage, length: number): Promise<Buffer> {
  // The HTTP parser never delivers more than Content-Length, so a wrong count can only be short.
  const body = await readBounded(req, {
    limit: length,
    overflow: 'fail',
    cut: (received) => new NodeError('local', 'bad-request', `upload cut after ${received} of ${length} bytes`),
  });
  if (body.length !== length) throw new NodeError('local', 'bad-request', `body ended after ${body.length} of ${length} bytes`);
  return body;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(req: http.IncomingMessage, res: http.ServerResponse, status: number, kind: NodeErrorKind, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // An unread upload body would otherwise be drained in full before the connection could be reused.
  if (!req.complete) res.setHeader('Connection', 'close');
  if (req.method === 'HEAD') {
    res.writeHead(status);
    res.end();
    return;
  }
  sendJson(res, status, { error: kind, message });
  // The socket is captured now: by 'finish' the response may already have released it (req.socket is then null).
  const socket = req.socket as Socket | null;
  if (!req.complete && socket) res.once('finish', () => socket.destroySoon());
}

function pathOnly(url: string | undefined): string {
  return (url ?? '').split('?')[0] ?? '';
}

function isClientGone(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE';
}
