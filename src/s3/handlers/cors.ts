import { readSmallBody } from '../body.js';
import { header, send, sendXml, type RequestContext } from '../context.js';
import { ProtocolErrors } from '../errors.js';
import { corsHeaders, corsXml, matchCors, parseCors, type CorsRule } from '../access/cors.js';
import { S3Error, Errors } from '../s3-error.js';
import { requireBucketConfig, storeBucketConfig } from './bucket-config.js';
import { bucketOf } from './common.js';

export async function getBucketCors(ctx: RequestContext): Promise<void> {
  sendXml(ctx, corsXml(JSON.parse(await requireBucketConfig(ctx, bucketOf(ctx), 'cors')) as CorsRule[]));
}

export async function putBucketCors(ctx: RequestContext): Promise<void> {
  const rules = parseCors((await readSmallBody(ctx)).toString('utf8'));
  await storeBucketConfig(ctx, bucketOf(ctx), 'cors', JSON.stringify(rules));
  send(ctx, 200, {});
}

export async function deleteBucketCors(ctx: RequestContext): Promise<void> {
  await storeBucketConfig(ctx, bucketOf(ctx), 'cors', null);
  send(ctx, 204, {});
}

function forbidden(message: string): S3Error {
  return new S3Error('AccessForbidden', `CORSResponse: ${message}`, 403);
}

const requestedHeaders = (ctx: RequestContext): string[] =>
  (header(ctx, 'access-control-request-headers') ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');

/** OPTIONS: a browser's preflight, answered from the bucket's CORS rules without any signature (as S3). */
export async function preflightRequest(ctx: RequestContext): Promise<void> {
  const bucket = ctx.bucket;
  if (bucket === undefined) throw ProtocolErrors.methodNotAllowed('OPTIONS');
  const origin = header(ctx, 'origin');
  const method = header(ctx, 'access-control-request-method');
  if (origin === undefined) throw new S3Error('BadRequest', 'Insufficient information. Origin request header needed.', 400);
  if (method === undefined) throw new S3Error('BadRequest', 'Invalid Access-Control-Request-Method: null', 400);
  const access = await ctx.access.get(bucket);
  if (access === null) throw Errors.noSuchBucket(bucket);
  if (!access.cors) throw forbidden('CORS is not enabled for this bucket.');
  const wanted = requestedHeaders(ctx);
  const rule = matchCors(access.cors, origin, method, wanted);
  if (!rule) throw forbidden('This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource\'s CORS spec.');
  send(ctx, 200, corsHeaders(rule, origin, { requestHeaders: wanted }));
}

/** The CORS headers of an actual (non-preflight) request from a browser, set before its handler answers. */
export async function applyCorsHeaders(ctx: RequestContext, bucket: string): Promise<void> {
  const origin = header(ctx, 'origin');
  if (origin === undefined) return;
  const access = await ctx.access.get(bucket);
  if (!access?.cors) return;
  const rule = matchCors(access.cors, origin, ctx.method === 'HEAD' ? 'HEAD' : ctx.method);
  if (!rule) return;
  for (const [name, value] of Object.entries(corsHeaders(rule, origin, undefined))) ctx.res.setHeader(name, value);
}
