import type { Readable } from 'node:stream';
import { readBounded } from '../util/bounded-read.js';
import { ExactLengthStream } from '../util/exact-length.js';
import { Errors } from './s3-error.js';
import { decodeBody } from './auth/index.js';
import { header, type RequestContext } from './context.js';
import { ProtocolErrors } from './errors.js';
import { guardBodyRate } from './body-rate.js';

/** Cap for XML request bodies (DeleteObjects with 1000 long keys fits comfortably). */
export const MAX_XML_BODY_BYTES = 1024 * 1024;

/**
 * Lets the client send its body: answers `Expect: 100-continue` (the server handles 'checkContinue' itself so that
 * requests rejected before this point get their error instead of a 100).
 */
export function allowBody(ctx: RequestContext): void {
  if (ctx.bodyStarted) return;
  ctx.bodyStarted = true;
  if (/100-continue/i.test(header(ctx, 'expect') ?? '') && !ctx.res.headersSent) ctx.res.writeContinue();
}

/** Transfer-Encoding: chunked without any length header: the size is known only at the body's end (src/s3/spool.ts). */
export function hasUnknownLength(ctx: RequestContext): boolean {
  return header(ctx, 'x-amz-decoded-content-length') === undefined && header(ctx, 'content-length') === undefined && /chunked/i.test(header(ctx, 'transfer-encoding') ?? '');
}

/** The declared payload size: x-amz-decoded-content-length for aws-chunked, else Content-Length; 411 when neither. */
export function declaredPayloadSize(ctx: RequestContext): number {
  const raw = header(ctx, 'x-amz-decoded-content-length') ?? header(ctx, 'content-length');
  if (raw === undefined) throw ProtocolErrors.missingContentLength();
  if (!/^\d{1,16}$/.test(raw.trim())) throw Errors.invalidArgument('Invalid content length', 'Content-Length', raw);
  return Number(raw);
}

export interface PayloadStream {
  /** Exactly `size` verified payload bytes; errors are S3Error. */
  stream: Readable;
  size: number;
  trailers: () => Record<string, string>;
}

/** Starts the body flowing: raw request -> SigV4/aws-chunked decoder -> exact-length check. */
export function openPayload(ctx: RequestContext, size: number): PayloadStream {
  if (!ctx.auth) throw Errors.accessDenied();
  const decoded = decodeBody(ctx.auth, ctx.req.headers);
  // Counts payload bytes and fails with IncompleteBody when the payload is shorter or longer than declared.
  const exact = new ExactLengthStream(size, {
    tooLong: () => Errors.incompleteBody(),
    tooShort: () => Errors.incompleteBody(),
    onBytes: (n) => {
      ctx.bytesIn += n;
      ctx.deps.metrics.bytesIn.inc(n);
    },
  });
  allowBody(ctx);
  // Not stream.pipeline: that would destroy the request (and with it the socket) on a body error, and the client must
  // still receive the XML error. Errors end up on `exact`, which the consumer reads; the connection closes after.
  const { req } = ctx;
  const decoder = decoded.stream;
  const fail = (err: Error) => {
    req.unpipe(decoder);
    decoder.unpipe(exact);
    if (!exact.destroyed) exact.destroy(err);
    if (!decoder.destroyed) decoder.destroy();
  };
  decoder.on('error', fail);
  // A body error can come before the consumer attaches its listeners; unheard, 'error' would crash the process.
  // The consumer still sees it: pipeline and async iteration report an already-errored stream.
  exact.on('error', () => undefined);
  req.on('error', () => fail(Errors.incompleteBody()));
  req.on('close', () => {
    if (!req.complete) fail(Errors.incompleteBody());
  });
  exact.on('close', () => {
    // The consumer gave up early (e.g. the service rejected the write): stop reading the client.
    if (!exact.writableFinished) {
      req.unpipe(decoder);
      decoder.unpipe(exact);
    }
  });
  const { minBodyRate, bodyRateWindowMs } = ctx.deps.config.server;
  const stopGuard = guardBodyRate(req, { minBytesPerSecond: minBodyRate, windowMs: bodyRateWindowMs }, () => {
    ctx.deps.metrics.slowBodies.inc();
    fail(Errors.requestTimeout());
  });
  exact.on('close', stopGuard);
  req.pipe(decoder).pipe(exact);
  return { stream: exact, size, trailers: decoded.trailers };
}

/** Reads a small body (XML) fully, refusing more than `cap` bytes. Absent body -> empty buffer. */
export async function readSmallBody(ctx: RequestContext, cap = MAX_XML_BODY_BYTES): Promise<Buffer> {
  const declared = header(ctx, 'x-amz-decoded-content-length') ?? header(ctx, 'content-length');
  const chunked = /chunked/i.test(header(ctx, 'transfer-encoding') ?? '');
  if (declared === undefined && !chunked) return Buffer.alloc(0);
  let size: number;
  if (declared !== undefined) {
    size = declaredPayloadSize(ctx);
    if (size > cap) throw Errors.entityTooLarge(cap);
  } else {
    throw ProtocolErrors.missingContentLength();
  }
  if (size === 0 && !ctx.auth?.payload.kind.startsWith('streaming')) {
    allowBody(ctx);
    return Buffer.alloc(0);
  }
  const payload = openPayload(ctx, size);
  return readBounded(payload.stream, {
    limit: cap,
    overflow: 'fail',
    tooLarge: (n) => Errors.entityTooLarge(n),
    // A client that goes away mid-body is the client's problem, never a 500.
    cut: () => Errors.incompleteBody(),
  });
}
