import { S3Error, Errors } from './s3-error.js';
import { toProtocolError } from './error-mapping.js';
import type { RequestContext } from './context.js';
import { escapeXml, textEl } from './xml.js';

/** The S3 error document: Code, Message, extra fields, Resource, RequestId, HostId. */
export function errorXml(err: S3Error, resource: string, requestId: string, hostId: string): string {
  const fields = Object.entries(err.fields)
    .map(([name, value]) => textEl(name, value))
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
    `<Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message>${fields}` +
    `<Resource>${escapeXml(resource)}</Resource><RequestId>${requestId}</RequestId><HostId>${escapeXml(hostId)}</HostId></Error>`
  );
}

/** Anything the mapping does not know is our bug: logged with the request id, answered as a generic 500. */
export function toS3Error(ctx: RequestContext, err: unknown): S3Error {
  const mapped = toProtocolError(err);
  if (mapped) return mapped;
  ctx.deps.logger.error({ reqId: ctx.requestId, op: ctx.op, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'internal error');
  return Errors.internal();
}

/**
 * Answers an error. After headers went out there is no honest way to report one, so the connection is cut. When the
 * request body was not (fully) read, the connection is closed after the answer so unread bytes cannot be taken for
 * the next request.
 */
export function sendError(ctx: RequestContext, err: unknown): void {
  const { req, res } = ctx;
  const s3 = toS3Error(ctx, err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) {
    // The handler's headers go; the request's identity and its CORS answer stay (a browser must be able to read errors).
    if (name !== 'x-amz-request-id' && name !== 'x-amz-id-2' && name !== 'server' && !name.startsWith('access-control-') && name !== 'vary') res.removeHeader(name);
  }
  for (const [name, value] of Object.entries(s3.headers)) res.setHeader(name, value);
  if (!req.complete) res.setHeader('connection', 'close');
  res.statusCode = s3.status;
  if (s3.status === 304 || ctx.method === 'HEAD') {
    // HEAD errors (and 304) carry no body; the code goes in a header so HEAD failures are still diagnosable.
    if (s3.status !== 304) res.setHeader('x-amz-error-code', s3.code);
    res.end();
    return;
  }
  const body = Buffer.from(errorXml(s3, resourceOf(ctx), ctx.requestId, ctx.hostId), 'utf8');
  res.setHeader('content-type', 'application/xml');
  res.setHeader('content-length', body.length);
  ctx.bytesOut += body.length;
  res.end(body);
}

function resourceOf(ctx: RequestContext): string {
  if (ctx.bucket === undefined) return '/';
  return ctx.key === undefined ? `/${ctx.bucket}` : `/${ctx.bucket}/${ctx.key}`;
}
