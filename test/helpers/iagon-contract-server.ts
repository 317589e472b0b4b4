import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBounded } from '../../src/util/bounded-read.js';
import { sleep } from '../../src/util/abortable-sleep.js';

/*
 * A local stand-in for the Iagon storage API v2, implementing the contract that src/cold/nodes/iagon.ts documents
 * (paths, auth headers, the { success, message, data } envelope, Mongo-style _id handles, the per-file limit), with
 * knobs to inject faults. Everything lives in memory: it is for tests with shards of a few MB.
 */

export interface StoredFile {
  _id: string;
  name: string;
  parent_directory_id: string | null;
  visibility: string;
  data: Buffer;
  password?: string;
  created_at: string;
  updated_at: string;
}

export interface StoredDirectory {
  _id: string;
  directory_name: string;
  parent_directory_id: string | null;
  visibility: string;
  created_at: string;
  updated_at: string;
}

export interface LoggedRequest {
  method: string;
  path: string;
  /** Request body bytes the server read (0 when it answered before 100 Continue). */
  bodyBytes: number;
  status: number;
}

type Fault =
  | { type: 'fail'; status: number; retryAfterSec?: number }
  | { type: 'delay'; ms: number }
  | { type: 'drop' }
  | { type: 'stall' };

export interface IagonContractServer {
  /** Base URL, like https://gw.iagon.com/api/v2. */
  baseUrl: string;
  apiKey: string;
  token: string;
  maxFileBytes: number;
  files: Map<string, StoredFile>;
  directories: Map<string, StoredDirectory>;
  requests: LoggedRequest[];
  /** The next n requests (optionally only those whose path ends with pathSuffix) answer `status` with an error body. */
  failNext(n: number, status: number, opts?: { retryAfterSec?: number; pathSuffix?: string }): void;
  /** The next n requests wait `ms` before being handled. */
  delayNext(n: number, ms: number, opts?: { pathSuffix?: string }): void;
  /** The next n requests lose their connection: a download after half its body, anything else before answering. */
  dropNext(n: number, opts?: { pathSuffix?: string }): void;
  /** The next n downloads send half their body, then nothing more while keeping the connection open. */
  stallNext(n: number): void;
  close(): Promise<void>;
}

const API_PREFIX = '/api/v2';
/** Room for the multipart framing and text fields around the file part. */
const MULTIPART_SLACK = 64 * 1024;

function newId(): string {
  return randomBytes(12).toString('hex');
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const buf = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(buf.length), ...headers });
  res.end(buf);
}

function fail(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { success: false, message }, headers);
}

/** A request body, bounded like the real API bounds uploads (a body past `limit` fails the request). */
async function readBody(req: IncomingMessage, log: LoggedRequest, limit: number): Promise<Buffer> {
  const body = await readBounded(req, {
    limit,
    overflow: 'fail',
    cut: (n) => {
      log.bodyBytes = n;
      return new Error(`request body cut after ${n} bytes`);
    },
  });
  log.bodyBytes = body.length;
  return body;
}

interface Part {
  filename?: string;
  data: Buffer;
}

function parseMultipart(body: Buffer, boundary: string): Map<string, Part> {
  const parts = new Map<string, Part>();
  const delimiter = Buffer.from(`--${boundary}`);
  const between = Buffer.from(`\r\n--${boundary}`);
  let pos = body.indexOf(delimiter);
  if (pos === -1) throw new Error('no multipart boundary in body');
  pos += delimiter.length;
  for (;;) {
    if (body.subarray(pos, pos + 2).toString() === '--') return parts;
    pos += 2; // CRLF after the delimiter
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd === -1) throw new Error('truncated multipart headers');
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(between, headerEnd + 4);
    if (next === -1) throw new Error('truncated multipart body');
    const name = /name="([^"]*)"/.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    if (name !== undefined) parts.set(name, { ...(filename !== undefined ? { filename } : {}), data: body.subarray(headerEnd + 4, next) });
    pos = next + between.length;
  }
}

export async function startIagonContractServer(opts: { apiKey?: string; token?: string; maxFileBytes?: number } = {}): Promise<IagonContractServer> {
  const apiKey = opts.apiKey ?? `key-${newId()}`;
  const token = opts.token ?? `tok-${newId()}`;
  const maxFileBytes = opts.maxFileBytes ?? 40_000_000;
  const files = new Map<string, StoredFile>();
  const directories = new Map<string, StoredDirectory>();
  const requests: LoggedRequest[] = [];
  const faults: Array<{ fault: Fault; remaining: number; pathSuffix?: string }> = [];

  const takeFault = (path: string): Fault | undefined => {
    const i = faults.findIndex((f) => f.remaining > 0 && (f.pathSuffix === undefined || path.endsWith(f.pathSuffix)));
    if (i === -1) return undefined;
    const f = faults[i]!;
    f.remaining -= 1;
    if (f.remaining === 0) faults.splice(i, 1);
    return f.fault;
  };

  const authorized = (req: IncomingMessage): boolean =>
    req.headers['x-api-key'] === apiKey || req.headers.authorization === `Bearer ${token}`;

  /**
   * What must be decided before the body is read (also answers `Expect: 100-continue`): faults, auth, size.
   * Returns the fault to apply after the body (drop), or 'answered'.
   */
  const gate = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<Fault | 'answered' | undefined> => {
    const fault = takeFault(path);
    if (fault?.type === 'delay') await sleep(fault.ms, undefined, 'resolve');
    if (fault?.type === 'fail') {
      const headers: Record<string, string> = fault.retryAfterSec !== undefined ? { 'retry-after': String(fault.retryAfterSec) } : {};
      fail(res, fault.status, `injected fault ${fault.status}`, headers);
      return 'answered';
    }
    if (path !== '/key/verify' && !authorized(req)) {
      fail(res, 401, 'Unauthorized');
      return 'answered';
    }
    if (path === '/storage/upload' && Number(req.headers['content-length'] ?? 0) > maxFileBytes + MULTIPART_SLACK) {
      fail(res, 413, `File exceeds the ${maxFileBytes} byte limit`);
      return 'answered';
    }
    return fault;
  };

  const route = async (req: IncomingMessage, res: ServerResponse, path: string, url: URL, log: LoggedRequest, fault: Fault | undefined): Promise<void> => {
    const now = new Date().toISOString();
    if (fault?.type === 'drop' && path !== '/storage/download') {
      req.socket.destroy();
      return;
    }
    if (req.method === 'POST' && path === '/key/verify') {
      const body = JSON.parse((await readBody(req, log, maxFileBytes + MULTIPART_SLACK)).toString('utf8') || '{}') as { api_key?: string };
      if (body.api_key === apiKey) sendJson(res, 200, { success: true, message: 'API key is valid' });
      else fail(res, 401, 'Invalid API key');
      return;
    }
    if (req.method === 'POST' && path === '/storage/upload') {
      const boundary = /boundary=([^;]+)/.exec(req.headers['content-type'] ?? '')?.[1];
      if (!boundary) return fail(res, 400, 'expected multipart/form-data');
      const parts = parseMultipart(await readBody(req, log, maxFileBytes + MULTIPART_SLACK), boundary);
      const file = parts.get('file');
      if (!file) return fail(res, 400, 'file is required');
      if (file.data.length > maxFileBytes) return fail(res, 413, `File exceeds the ${maxFileBytes} byte limit`);
      const dirId = parts.get('directoryId')?.data.toString('utf8') || null;
      if (dirId !== null && !directories.has(dirId)) return fail(res, 404, 'Directory not found');
      const password = parts.get('password')?.data.toString('utf8');
      const stored: StoredFile = {
        _id: newId(),
        name: parts.get('filename')?.data.toString('utf8') ?? file.filename ?? 'file',
        parent_directory_id: dirId,
        visibility: parts.get('visibility')?.data.toString('utf8') ?? 'private',
        data: Buffer.from(file.data),
        ...(password !== undefined ? { password } : {}),
        created_at: now,
        updated_at: now,
      };
      files.set(stored._id, stored);
      const { data: _data, password: _pw, ...meta } = stored;
      sendJson(res, 200, {
        success: true,
        message: 'File uploaded successfully',
        data: { ...meta, file_size_byte_native: stored.data.length, file_size_byte_encrypted: stored.data.length + 16 },
      });
      return;
    }
    if (req.method === 'POST' && path === '/storage/download') {
      const body = JSON.parse((await readBody(req, log, maxFileBytes + MULTIPART_SLACK)).toString('utf8') || '{}') as { id?: string; password?: string };
      const file = body.id !== undefined ? files.get(body.id) : undefined;
      if (!file) return fail(res, 404, 'File not found');
      if (file.password !== undefined && body.password !== file.password) return fail(res, 403, 'Wrong password');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(file.data.length) });
      if (fault?.type === 'stall') {
        res.write(file.data.subarray(0, Math.floor(file.data.length / 2)));
        return;
      }
      if (fault?.type === 'drop') {
        res.write(file.data.subarray(0, Math.floor(file.data.length / 2)), () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      res.end(file.data);
      return;
    }
    const fileMatch = /^\/storage\/file\/([^/]+)$/.exec(path);
    if (req.method === 'DELETE' && fileMatch) {
      await readBody(req, log, maxFileBytes + MULTIPART_SLACK);
      if (!files.delete(decodeURIComponent(fileMatch[1]!))) return fail(res, 404, 'File not found');
      sendJson(res, 200, { success: true, message: 'File deleted' });
      return;
    }
    if (req.method === 'POST' && path === '/storage/directory') {
      const body = JSON.parse((await readBody(req, log, maxFileBytes + MULTIPART_SLACK)).toString('utf8') || '{}') as {
        directory_name?: string;
        visibility?: string;
        parent_directory_id?: string;
      };
      if (!body.directory_name) return fail(res, 400, 'directory_name is required');
      const dir: StoredDirectory = {
        _id: newId(),
        directory_name: body.directory_name,
        parent_directory_id: body.parent_directory_id ?? null,
        visibility: body.visibility ?? 'private',
        created_at: now,
        updated_at: now,
      };
      directories.set(dir._id, dir);
      sendJson(res, 200, { success: true, message: 'Directory created', data: dir });
      return;
    }
    if (req.method === 'GET' && path === '/storage/directory') {
      const parent = url.searchParams.get('parent_directory_id') || null;
      const visibility = url.searchParams.get('visibility');
      if (parent !== null && !directories.has(parent)) return fail(res, 404, 'Directory not found');
      const visible = (v: string): boolean => visibility === null || v === visibility;
      sendJson(res, 200, {
        success: true,
        data: {
          directories: [...directories.values()].filter((d) => d.parent_directory_id === parent && visible(d.visibility)),
          files: [...files.values()]
            .filter((f) => f.parent_directory_id === parent && visible(f.visibility))
            .map(({ data, password: _pw, ...meta }) => ({ ...meta, file_size_byte_native: data.length, file_size_byte_encrypted: data.length + 16 })),
        },
      });
      return;
    }
    fail(res, 404, `no route ${req.method} ${path}`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) : url.pathname;
    const log: LoggedRequest = { method: req.method ?? '', path, bodyBytes: 0, status: 0 };
    requests.push(log);
    res.once('finish', () => (log.status = res.statusCode));
    const gated = await gate(req, res, path);
    if (gated === 'answered') {
      // Refused before the body: like a real gateway, do not wait for it.
      if (!expectsContinue) req.resume();
      return;
    }
    if (expectsContinue) res.writeContinue();
    await route(req, res, path, url, log, gated);
  };

  const onError = (res: ServerResponse) => (err: unknown): void => {
    if (!res.headersSent) fail(res, 500, `contract server: ${err instanceof Error ? err.message : String(err)}`);
    else res.destroy();
  };
  const server = http.createServer((req, res) => void handle(req, res, false).catch(onError(res)));
  server.on('checkContinue', (req, res) => void handle(req, res, true).catch(onError(res)));
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    baseUrl: `http://127.0.0.1:${port}${API_PREFIX}`,
    apiKey,
    token,
    maxFileBytes,
    files,
    directories,
    requests,
    failNext: (n, status, o = {}) =>
      faults.push({
        fault: { type: 'fail', status, ...(o.retryAfterSec !== undefined ? { retryAfterSec: o.retryAfterSec } : {}) },
        remaining: n,
        ...(o.pathSuffix !== undefined ? { pathSuffix: o.pathSuffix } : {}),
      }),
    delayNext: (n, ms, o = {}) => faults.push({ fault: { type: 'delay', ms }, remaining: n, ...(o.pathSuffix !== undefined ? { pathSuffix: o.pathSuffix } : {}) }),
    dropNext: (n, o = {}) => faults.push({ fault: { type: 'drop' }, remaining: n, ...(o.pathSuffix !== undefined ? { pathSuffix: o.pathSuffix } : {}) }),
    stallNext: (n) => faults.push({ fault: { type: 'stall' }, remaining: n, pathSuffix: '/storage/download' }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
