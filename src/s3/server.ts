import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { UserConfig } from '../config/types.js';
import { Errors } from './s3-error.js';
import { anonymousAuth, authenticate, isAnonymous } from './auth/index.js';
import { BucketAccessCache } from './access/bucket-access.js';
import { authorizeRequest } from './access/decide.js';
import { isFormUpload } from './handlers/post-object.js';
import { setCommonHeaders, type RequestContext, type S3Deps } from './context.js';
import { sendError } from './error-response.js';
import { serveOperational } from './operational.js';
import { ADMIN_BUCKET, serveSnapshotAdmin, serveSnapshotBucket } from './handlers/snapshots.js';
import { HANDLERS } from './operations.js';
import { applyCorsHeaders } from './handlers/cors.js';
import { resolveOperation, resolveTarget } from './routing.js';
import { assertBucketName, assertKey } from './validation.js';
import { FairShare } from './fair-share.js';

export type { S3Deps } from './context.js';

/** SigV4 allows 15 minutes of clock skew for header-signed requests. */
const MAX_SKEW_MS = 15 * 60 * 1000;
/** Request headers larger than this are refused by node with 431 before we see them. */
export const MAX_HEADER_BYTES = 16 * 1024;

export type S3RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

interface HandlerState {
  inflight: number;
  closing: boolean;
}

/** The per-client shares of the request slots (server.maxConcurrentRequestsPerKey / PerAddress). */
interface Shares {
  byKey: FairShare;
  byAddress: FairShare;
}

/** The shares one request holds, released when its response closes. */
interface Held {
  address?: string;
  key?: string;
}

/** Where the request came from: the connecting address, or the last hop a trusted proxy recorded. */
function sourceAddress(req: IncomingMessage, trustForwarded: boolean): string {
  if (trustForwarded) {
    const raw = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(raw) ? raw.join(',') : raw ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '');
    const last = hops[hops.length - 1];
    if (last !== undefined) return last;
  }
  return req.socket.remoteAddress ?? '';
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v?.split(',')[0]?.trim();
}

function splitUrl(url: string): { rawPath: string; rawQuery: string } {
  // Absolute-form request targets (proxies) carry scheme and authority; S3 signs only the path.
  const path = /^https?:\/\//i.test(url) ? url.replace(/^https?:\/\/[^/]*/i, '') || '/' : url;
  const q = path.indexOf('?');
  return q < 0 ? { rawPath: path, rawQuery: '' } : { rawPath: path.slice(0, q), rawQuery: path.slice(q + 1) };
}

/**
 * The request handler, usable without our server (tests, embedding). Uses plain node:http: bodies stream straight
 * from the socket into the service with backpressure, and nothing parses bodies behind our back.
 */
export function createS3Handler(deps: S3Deps, state: HandlerState = { inflight: 0, closing: false }): S3RequestHandler {
  const users = new Map<string, UserConfig>(deps.config.users.map((u) => [u.accessKey, u]));
  const lookup = (accessKey: string) => users.get(accessKey)?.secretKey;
  const { config, metrics, logger } = deps;
  const access = new BucketAccessCache(deps.service);
  const shares: Shares = {
    byKey: new FairShare(config.server.maxConcurrentRequestsPerKey),
    byAddress: new FairShare(config.server.maxConcurrentRequestsPerAddress),
  };

  return (req, res) => {
    const started = process.hrtime.bigint();
    const { rawPath, rawQuery } = splitUrl(req.url ?? '/');
    const trustedHost = config.server.trustForwardedHeaders ? firstValue(req.headers['x-forwarded-host']) : undefined;
    const forwardedProto = config.server.trustForwardedHeaders ? firstValue(req.headers['x-forwarded-proto']) : undefined;
    const ctx: RequestContext = {
      deps,
      req,
      res,
      requestId: randomBytes(8).toString('hex').toUpperCase(),
      hostId: randomBytes(32).toString('base64'),
      method: req.method ?? 'GET',
      rawPath,
      rawQuery,
      query: new URLSearchParams(rawQuery),
      host: trustedHost ?? req.headers.host ?? '',
      bytesIn: 0,
      bytesOut: 0,
      bodyStarted: false,
      access,
      sourceAddress: sourceAddress(req, config.server.trustForwardedHeaders),
      secure: forwardedProto !== undefined ? forwardedProto === 'https' : config.server.tls !== undefined,
    };
    setCommonHeaders(ctx);
    if (state.closing) res.setHeader('connection', 'close');

    if (serveOperational(ctx, rawPath)) return;

    state.inflight++;
    metrics.inflight.inc();
    const held: Held = {};
    res.on('close', () => {
      state.inflight--;
      metrics.inflight.dec();
      if (held.address !== undefined) shares.byAddress.release(held.address);
      if (held.key !== undefined) shares.byKey.release(held.key);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const op = ctx.op ?? 'unknown';
      const status = res.headersSent ? res.statusCode : 0;
      metrics.requests.inc({ op, status: String(status) });
      metrics.requestSeconds.observe({ op }, seconds);
      if (ctx.bytesOut > 0 && op !== 'GetObject') metrics.bytesOut.inc(ctx.bytesOut);
      logger.info(
        {
          reqId: ctx.requestId,
          op,
          method: ctx.method,
          bucket: ctx.bucket,
          key: ctx.key,
          status,
          complete: res.writableFinished,
          bytesIn: ctx.bytesIn,
          bytesOut: ctx.bytesOut,
          ms: Math.round(seconds * 1000),
          accessKey: ctx.auth?.accessKey,
        },
        's3 request',
      );
    });

    if (state.inflight > config.server.maxConcurrentRequests) {
      sendError(ctx, Errors.slowDown());
      return;
    }
    const address = ctx.sourceAddress;
    if (!shares.byAddress.tryTake(address)) {
      metrics.fairShareRefusals.inc({ by: 'address' });
      sendError(ctx, Errors.slowDown());
      return;
    }
    held.address = address;
    serve(ctx, lookup, users, shares.byKey, held).catch((err: unknown) => sendError(ctx, err));
  };
}

async function serve(
  ctx: RequestContext,
  lookup: (accessKey: string) => string | undefined,
  users: Map<string, UserConfig>,
  byKey: FairShare,
  held: Held,
): Promise<void> {
  const { config } = ctx.deps;
  // The path must decode before anything else: an undecodable URI is InvalidURI whatever the signature says.
  const target = resolveTarget(ctx.rawPath, ctx.host, config.server.baseDomain);
  // Known before authentication, so even an auth error names the resource it was about.
  if (target.bucket !== undefined) ctx.bucket = target.bucket;
  if (target.key !== undefined) ctx.key = target.key;
  // A browser's preflight carries no signature; it is answered from the bucket's CORS rules alone.
  if (ctx.method === 'OPTIONS') {
    ctx.op = 'PreflightRequest';
    if (target.bucket !== undefined) assertBucketName(target.bucket);
    await HANDLERS.PreflightRequest(ctx);
    return;
  }
  // CORS headers first, so that a browser can read the error too, not only the success.
  if (target.bucket !== undefined && ctx.req.headers.origin !== undefined) await applyCorsHeaders(ctx, target.bucket);
  // A browser form upload is signed inside the form (its policy), not in headers: the handler authenticates it.
  if (ctx.method === 'POST' && target.bucket !== undefined && target.key === undefined && !ctx.query.has('delete') && isFormUpload(ctx.req.headers)) {
    ctx.op = 'PostObject';
    assertBucketName(target.bucket);
    await HANDLERS.PostObject(ctx);
    return;
  }
  // No signature at all: an anonymous request, served only where a bucket policy or ACL grants everyone.
  const anonymous = isAnonymous({ headers: ctx.req.headers, rawQuery: ctx.rawQuery });
  const auth = anonymous
    ? anonymousAuth(ctx.req.headers)
    : authenticate({ method: ctx.method, rawPath: ctx.rawPath, rawQuery: ctx.rawQuery, headers: ctx.req.headers, host: ctx.host }, lookup, {
        region: config.server.region,
        now: new Date(),
        maxSkewMs: MAX_SKEW_MS,
      });
  ctx.auth = auth;
  const user = anonymous ? undefined : users.get(auth.accessKey);
  if (user) ctx.user = user;
  if (!anonymous) {
    // Counted once the signature holds, so nobody can use up another user's share by naming its key.
    const key = auth.accessKey;
    if (!byKey.tryTake(key)) {
      ctx.deps.metrics.fairShareRefusals.inc({ by: 'key' });
      throw Errors.slowDown();
    }
    held.key = key;
  }
  // Tessera's own admin API (snapshots): a path no bucket can have, signed like any S3 request.
  if (target.bucket === ADMIN_BUCKET) {
    await serveSnapshotAdmin(ctx, target.key);
    return;
  }
  const op = resolveOperation(ctx.method, target, ctx.query, ctx.req.headers);
  ctx.op = op;
  // A dataset snapshot is read as a read-only bucket of its name.
  if (target.bucket !== undefined && (await serveSnapshotBucket(ctx, target.bucket, target.key, op, HANDLERS[op]))) return;
  if (target.bucket !== undefined) {
    assertBucketName(target.bucket);
    await authorizeRequest(ctx, target.bucket, target.key, op);
  } else if (!user) {
    throw Errors.accessDenied();
  }
  if (target.key !== undefined) assertKey(target.key);
  await HANDLERS[op](ctx);
}

export interface RunningS3Server {
  url: string;
  server: http.Server | https.Server;
  close(): Promise<void>;
}

/** Starts the S3 endpoint (HTTPS when config.server.tls is set) and resolves once it listens. */
export async function startS3Server(deps: S3Deps): Promise<RunningS3Server> {
  const { server: cfg } = deps.config;
  const state: HandlerState = { inflight: 0, closing: false };
  const handler = createS3Handler(deps, state);
  const options = {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: cfg.headersTimeoutMs,
    // node enforces headersTimeout only when it sweeps connections (every 30 s by default): sweep every second.
    connectionsCheckingInterval: 1000,
    // node's requestTimeout bounds the whole upload, which would cut multi-GB PUTs; the configured value is applied
    // as an idle timeout on the socket instead (a stalled client is dropped, a slow but moving one is not).
    requestTimeout: 0,
    // Longer than typical client idle pools, so a client rarely reuses a socket the server is just closing.
    keepAliveTimeout: 65_000,
  };
  const server = cfg.tls
    ? https.createServer({ ...options, cert: readFileSync(cfg.tls.certFile), key: readFileSync(cfg.tls.keyFile) }, handler)
    : http.createServer(options, handler);
  server.timeout = cfg.requestTimeoutMs;
  // Answer 'Expect: 100-continue' ourselves: the handler sends 100 only once auth and validation passed.
  server.on('checkContinue', handler);
  // Any other Expect value: node would answer a bare 417 with no S3 error body; serve the request as if unexpected.
  server.on('checkExpectation', handler);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    res.on('close', () => {
      if (state.closing) server.closeIdleConnections();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${cfg.tls ? 'https' : 'http'}://${host}:${address.port}`;
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        state.closing = true;
        // Stops accepting; resolves once in-flight requests have finished and their connections closed.
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

