import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TesseraConfig, UserConfig } from '../config/types.js';
import type { ObjectService } from '../gateway/types.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import type { AuthContext } from './auth/types.js';
import type { OpName } from './routing.js';
import type { BucketAccessCache } from './access/bucket-access.js';

export interface S3Deps {
  service: ObjectService;
  config: TesseraConfig;
  logger: Logger;
  metrics: Metrics;
}

/** Everything one S3 request carries through routing, auth and its handler. */
export interface RequestContext {
  deps: S3Deps;
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  hostId: string;
  method: string;
  /** As received, still percent-encoded, without the query. */
  rawPath: string;
  rawQuery: string;
  query: URLSearchParams;
  /** The Host the client addressed (X-Forwarded-Host when trusted). */
  host: string;
  bucket?: string;
  key?: string;
  op?: OpName;
  auth?: AuthContext;
  /** Absent for an anonymous request (no signature at all). */
  user?: UserConfig;
  /** Bucket owners, ACLs, policies: the access decision's per-process cache. */
  access: BucketAccessCache;
  /** The client's address (the last hop a trusted proxy recorded), for policies' aws:SourceIp. */
  sourceAddress: string;
  /** Whether the client reached us over TLS (or a trusted proxy says it did), for aws:SecureTransport. */
  secure: boolean;
  bytesIn: number;
  bytesOut: number;
  /** Set once the request body has started to flow (100 Continue sent or body piped). */
  bodyStarted: boolean;
}

/** A request header as one string (repeated headers joined, as node does for most). */
export function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

export function setCommonHeaders(ctx: RequestContext): void {
  ctx.res.setHeader('x-amz-request-id', ctx.requestId);
  ctx.res.setHeader('x-amz-id-2', ctx.hostId);
  ctx.res.setHeader('server', 'Tessera');
}

/** Sends a complete small body (XML) or none. */
export function send(ctx: RequestContext, status: number, headers: Record<string, string | number>, body?: string): void {
  const { res } = ctx;
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body === undefined) {
    if (!res.hasHeader('content-length') && status !== 204 && status !== 304) res.setHeader('content-length', 0);
    res.end();
    return;
  }
  const bytes = Buffer.from(body, 'utf8');
  res.setHeader('content-type', 'application/xml');
  res.setHeader('content-length', bytes.length);
  ctx.bytesOut += ctx.method === 'HEAD' ? 0 : bytes.length;
  res.end(ctx.method === 'HEAD' ? undefined : bytes);
}

export function sendXml(ctx: RequestContext, xml: string, status = 200, headers: Record<string, string | number> = {}): void {
  send(ctx, status, headers, xml);
}

