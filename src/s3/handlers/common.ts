import type { ObjectHeaders, ObjectLock, ObjectRecord, RetentionMode } from '../../model/records.js';
import { Errors } from '../s3-error.js';
import { httpDate } from '../conditionals.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestContext } from '../context.js';
import { assertMetadataSize, parseStorageClass } from '../validation.js';

export function bucketOf(ctx: RequestContext): string {
  if (ctx.bucket === undefined) throw Errors.internal();
  return ctx.bucket;
}

export function keyOf(ctx: RequestContext): string {
  if (ctx.key === undefined) throw Errors.internal();
  return ctx.key;
}

/** The ?versionId= a request names (absent: the latest version); 'null' names the null version, as in S3. */
export function versionIdOf(ctx: RequestContext): string | undefined {
  return parseVersionId(ctx.query.get('versionId'), 'versionId');
}

export function parseVersionId(value: string | null, name: string): string | undefined {
  if (value === null) return undefined;
  if (value === '') throw Errors.invalidArgument('Version id cannot be the empty string', name, '');
  if (value.length > 1024 || !/^[\x21-\x7e]+$/.test(value)) throw Errors.invalidArgument('Invalid version id specified', name, value);
  return value;
}

/** x-amz-version-id for a version that has one (objects of a bucket that never had versioning have none). */
export function versionHeaders(versionId: string | undefined): Record<string, string> {
  return versionId === undefined ? {} : { 'x-amz-version-id': versionId };
}

/** Content-Encoding minus the aws-chunked transfer coding, which describes the request, not the object. */
function storedContentEncoding(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const kept = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s.toLowerCase() !== 'aws-chunked');
  return kept.length > 0 ? kept.join(', ') : undefined;
}

/** Node hands header bytes over as latin1 (a char per byte): the UTF-8 text the client sent. */
function headerText(value: string): string {
  return /[^ -~\t]/.test(value) ? Buffer.from(value, 'latin1').toString('utf8') : value;
}

/** RFC 2047 encoded words (=?charset?B|Q?text?=) in a metadata value, decoded as S3 does before storing it. */
function decodeEncodedWords(value: string): string {
  return value.replace(/=\?(utf-8|us-ascii|iso-8859-1)\?([bq])\?([^?]*)\?=/gi, (word, charset: string, enc: string, text: string) => {
    const bytes = enc.toLowerCase() === 'b' ? Buffer.from(text, 'base64') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    return bytes.toString(charset.toLowerCase() === 'iso-8859-1' ? 'latin1' : 'utf8');
  });
}

/** A stored metadata value as S3 returns it: RFC 2047-encoded (UTF-8, base64) when it is not printable ASCII. */
function metadataHeaderValue(value: string): string {
  return /[^\x20-\x7e]/.test(value) ? `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=` : value;
}

/**
 * Stored headers from a PUT / CreateMultipartUpload / CopyObject(REPLACE) request (or a POST form's fields, given
 * as headers), validated.
 */
export function objectHeadersFromRequest(ctx: RequestContext, source: IncomingHttpHeaders = ctx.req.headers): ObjectHeaders {
  const get = (name: string): string | undefined => {
    const v = source[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const userMeta: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    userMeta[name.slice('x-amz-meta-'.length)] = decodeEncodedWords(headerText(Array.isArray(value) ? value.join(',') : value));
  }
  assertMetadataSize(userMeta);
  const storageClass = parseStorageClass(get('x-amz-storage-class'));
  const optional = {
    contentType: get('content-type'),
    contentEncoding: storedContentEncoding(get('content-encoding')),
    contentDisposition: get('content-disposition'),
    contentLanguage: get('content-language'),
    cacheControl: get('cache-control'),
    expires: get('expires'),
    storageClass,
  };
  const headers: ObjectHeaders = { userMeta };
  for (const [name, value] of Object.entries(optional)) if (value !== undefined) (headers as unknown as Record<string, string>)[name] = value;
  return headers;
}

/** Server-side encryption requests: we always encrypt with our own keys; customer-provided keys are not supported. */
export function assertNoSseC(ctx: RequestContext, source: IncomingHttpHeaders = ctx.req.headers): void {
  if (source['x-amz-server-side-encryption-customer-algorithm'] !== undefined) throw Errors.notImplemented('SSE-C');
  const raw = source['x-amz-server-side-encryption'];
  const sse = Array.isArray(raw) ? raw.join(',') : raw;
  if (sse !== undefined && sse !== 'AES256') throw Errors.notImplemented(`x-amz-server-side-encryption: ${sse}`);
}

/** Tier reporting: S3 has no word for our hot cache, so x-tessera-tier carries it; x-amz-restore mirrors a restore. */
export function tierHeaders(record: ObjectRecord): Record<string, string> {
  const headers: Record<string, string> = { 'x-tessera-tier': record.hot };
  if (record.hot === 'promoting') headers['x-amz-restore'] = 'ongoing-request="true"';
  if (record.hot === 'hot') headers['x-amz-restore'] = 'ongoing-request="false"';
  return headers;
}

/** Headers GET and HEAD share: stored content headers, metadata, storage class, tags count, tier. */
export function objectResponseHeaders(record: ObjectRecord): Record<string, string> {
  const h = record.headers;
  const out: Record<string, string> = {
    etag: record.etag,
    'last-modified': httpDate(record.lastModified),
    'accept-ranges': 'bytes',
    'content-type': h.contentType ?? 'binary/octet-stream',
  };
  if (h.contentEncoding !== undefined) out['content-encoding'] = h.contentEncoding;
  if (h.contentDisposition !== undefined) out['content-disposition'] = h.contentDisposition;
  if (h.contentLanguage !== undefined) out['content-language'] = h.contentLanguage;
  if (h.cacheControl !== undefined) out['cache-control'] = h.cacheControl;
  if (h.expires !== undefined) out.expires = h.expires;
  for (const [name, value] of Object.entries(h.userMeta)) out[`x-amz-meta-${name}`] = metadataHeaderValue(value);
  if (h.storageClass !== undefined && h.storageClass !== 'STANDARD') out['x-amz-storage-class'] = h.storageClass;
  const tagCount = Object.keys(record.tags).length;
  if (tagCount > 0) out['x-amz-tagging-count'] = String(tagCount);
  out['x-amz-server-side-encryption'] = 'AES256';
  // The whole object's plaintext SHA-256 (hex), Tessera's own header: a loader can check what it read against it.
  if (record.sha256 !== undefined) out['x-tessera-content-sha256'] = record.sha256;
  return { ...out, ...versionHeaders(record.versionId), ...lockHeaders(record.lock), ...tierHeaders(record) };
}

/** x-amz-object-lock-* of a version (GET, HEAD), as S3 returns them. */
export function lockHeaders(lock: ObjectLock | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (lock?.retention !== undefined) {
    out['x-amz-object-lock-mode'] = lock.retention.mode;
    out['x-amz-object-lock-retain-until-date'] = new Date(lock.retention.until).toISOString();
  }
  if (lock?.legalHold !== undefined) out['x-amz-object-lock-legal-hold'] = lock.legalHold ? 'ON' : 'OFF';
  return out;
}

export function parseRetentionMode(value: string, name: string): RetentionMode {
  if (value !== 'GOVERNANCE' && value !== 'COMPLIANCE') throw Errors.invalidArgument('Unknown wormMode directive.', name, value);
  return value;
}

/** An Object Lock retain-until date (ISO 8601), which must lie in the future. */
export function parseRetainUntil(value: string, name: string, now = Date.now()): number {
  const until = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(until)) throw Errors.invalidArgument('The retain until date must be provided in ISO 8601 format', name, value);
  if (until <= now) throw Errors.invalidArgument('The retain until date must be in the future!', name, value);
  return until;
}

/** The Object Lock a write asks for (x-amz-object-lock-mode, -retain-until-date, -legal-hold); undefined: none. */
export function lockFromRequest(source: IncomingHttpHeaders): ObjectLock | undefined {
  const get = (name: string): string | undefined => {
    const v = source[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const mode = get('x-amz-object-lock-mode');
  const until = get('x-amz-object-lock-retain-until-date');
  const hold = get('x-amz-object-lock-legal-hold');
  if ((mode === undefined) !== (until === undefined)) {
    throw Errors.invalidArgument('x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied', mode === undefined ? 'x-amz-object-lock-mode' : 'x-amz-object-lock-retain-until-date');
  }
  if (hold !== undefined && hold !== 'ON' && hold !== 'OFF') throw Errors.invalidArgument("Legal Hold must be either of 'ON' or 'OFF'", 'x-amz-object-lock-legal-hold', hold);
  const lock: ObjectLock = {};
  if (mode !== undefined && until !== undefined) {
    lock.retention = { mode: parseRetentionMode(mode, 'x-amz-object-lock-mode'), until: parseRetainUntil(until, 'x-amz-object-lock-retain-until-date') };
  }
  if (hold !== undefined) lock.legalHold = hold === 'ON';
  return mode === undefined && hold === undefined ? undefined : lock;
}
