import { pipeline } from 'node:stream';
import type { ByteRange } from '../../gateway/types.js';
import { MAX_PART_NUMBER, MIN_PART_NUMBER } from '../../model/limits.js';
import type { ObjectRecord } from '../../model/records.js';
import { Errors } from '../s3-error.js';
import { checksumResponseHeaders } from '../checksum-headers.js';
import { evaluateReadConditions } from '../conditionals.js';
import { header, type RequestContext } from '../context.js';
import { ProtocolErrors } from '../errors.js';
import { contentRange, parseRange } from '../range.js';
import { parseIntParam } from '../validation.js';
import { bucketOf, keyOf, objectResponseHeaders, versionIdOf } from './common.js';

/** response-* query parameters that override stored headers on GET (S3 allows them on signed requests). */
const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

interface ReadPlan {
  status: 200 | 206;
  range?: ByteRange;
  headers: Record<string, string>;
}

/** The byte range of part N of a multipart object (a single-PUT object has one part: itself). */
function partRange(record: ObjectRecord, partNumber: number): { range: ByteRange; count: number; part?: NonNullable<ObjectRecord['parts']>[number] } {
  const parts = record.parts;
  if (!parts || parts.length === 0) {
    if (partNumber !== 1) throw ProtocolErrors.invalidPartNumber();
    return { range: { offset: 0, length: record.size }, count: 1 };
  }
  let offset = 0;
  for (const part of parts) {
    if (part.partNumber === partNumber) return { range: { offset, length: part.size }, count: parts.length, part };
    offset += part.size;
  }
  throw ProtocolErrors.invalidPartNumber();
}

function planRead(ctx: RequestContext, record: ObjectRecord): ReadPlan {
  const headers = objectResponseHeaders(record);
  const wantChecksum = (header(ctx, 'x-amz-checksum-mode') ?? '').toUpperCase() === 'ENABLED';
  const partParam = ctx.query.get('partNumber');
  const rangeHeader = header(ctx, 'range');
  if (partParam !== null) {
    if (rangeHeader !== undefined) throw Errors.invalidRequest('Cannot specify both Range header and partNumber query parameter');
    const partNumber = parseIntParam(partParam, 'partNumber', MIN_PART_NUMBER, MAX_PART_NUMBER, 1);
    if (partNumber < MIN_PART_NUMBER || partNumber > MAX_PART_NUMBER) throw Errors.partNumberOutOfRange(partParam);
    const { range, count, part } = partRange(record, partNumber);
    if (record.parts && record.parts.length > 0) headers['x-amz-mp-parts-count'] = String(count);
    if (wantChecksum) {
      // Only a checksum that describes exactly these bytes: the part's own, or the whole object's for a 1-part read.
      if (part?.checksum) Object.assign(headers, checksumResponseHeaders(part.checksum));
      else if (!part && record.checksum) Object.assign(headers, checksumResponseHeaders(record.checksum));
    }
    if (record.size === 0) return { status: 200, headers };
    headers['content-range'] = contentRange(range, record.size);
    return { status: 206, range, headers };
  }
  const range = parseRange(rangeHeader, record.size);
  if (range) {
    headers['content-range'] = contentRange(range, record.size);
    return { status: 206, range, headers };
  }
  if (wantChecksum && record.checksum) Object.assign(headers, checksumResponseHeaders(record.checksum));
  // No checksum of the client's: the plaintext SHA-256 computed at PUT, which is what S3's SHA256 would be.
  else if (wantChecksum && record.sha256 !== undefined) {
    Object.assign(headers, checksumResponseHeaders({ algorithm: 'SHA256', value: Buffer.from(record.sha256, 'hex').toString('base64'), type: 'FULL_OBJECT' }));
  }
  return { status: 200, headers };
}

/** The object, after the read conditions (If-Match, If-None-Match, If-(Un)Modified-Since) held. */
export async function loadWithConditions(ctx: RequestContext): Promise<ObjectRecord> {
  const record = await ctx.deps.service.headObject(bucketOf(ctx), keyOf(ctx), versionIdOf(ctx));
  evaluateReadConditions(
    {
      ifMatch: header(ctx, 'if-match'),
      ifNoneMatch: header(ctx, 'if-none-match'),
      ifModifiedSince: header(ctx, 'if-modified-since'),
      ifUnmodifiedSince: header(ctx, 'if-unmodified-since'),
    },
    record,
  );
  return record;
}

function applyOverrides(ctx: RequestContext, headers: Record<string, string>): void {
  for (const [param, name] of Object.entries(RESPONSE_OVERRIDES)) {
    const value = ctx.query.get(param);
    if (value === null) continue;
    // Query values decode to anything; only what HTTP can carry in a header value may be echoed back.
    if (!HEADER_VALUE.test(value)) throw Errors.invalidArgument(`Invalid value for ${param}`, param, value);
    headers[name] = value;
  }
}

/**
 * The null version of a bucket with versioning (Enabled or Suspended) is named `null` in x-amz-version-id, as S3
 * does; a bucket that never had versioning sends none. From the access settings this request already loaded.
 */
async function withNullVersionHeader(ctx: RequestContext, record: ObjectRecord, plan: ReadPlan): Promise<void> {
  if (record.versionId === undefined && (await ctx.access.get(record.bucket))?.versioned === true) plan.headers['x-amz-version-id'] = 'null';
}

export async function headObject(ctx: RequestContext): Promise<void> {
  const record = await loadWithConditions(ctx);
  const plan = planRead(ctx, record);
  await withNullVersionHeader(ctx, record, plan);
  applyOverrides(ctx, plan.headers);
  const { res } = ctx;
  res.statusCode = plan.status;
  for (const [name, value] of Object.entries(plan.headers)) res.setHeader(name, value);
  res.setHeader('content-length', plan.range ? plan.range.length : record.size);
  res.end();
}

export async function getObject(ctx: RequestContext): Promise<void> {
  const record = await loadWithConditions(ctx);
  const plan = planRead(ctx, record);
  await withNullVersionHeader(ctx, record, plan);
  applyOverrides(ctx, plan.headers);
  const length = plan.range ? plan.range.length : record.size;
  // Before the first byte: a failure here (e.g. not enough shards) is still a proper error response.
  const body = await ctx.deps.service.openObject(record, plan.range);
  const { res } = ctx;
  res.statusCode = plan.status;
  for (const [name, value] of Object.entries(plan.headers)) res.setHeader(name, value);
  res.setHeader('content-length', length);
  // Counted on the body's own 'data' events: a counting stage in between would cost a stream hop per chunk.
  body.on('data', (chunk: Buffer) => {
    ctx.bytesOut += chunk.length;
    ctx.deps.metrics.bytesOut.inc(chunk.length);
  });
  await new Promise<void>((resolve) => {
    pipeline(body, res, (err) => {
      if (err) {
        // Headers (and maybe bytes) are out: the only honest signal left is to cut the connection, never a short 200.
        ctx.deps.logger.warn({ reqId: ctx.requestId, err: err.message, bucket: record.bucket, key: record.key }, 'object stream failed mid-response');
        res.destroy(err);
      }
      resolve();
    });
  });
}
