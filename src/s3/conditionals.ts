import { etagListMatches, quoteEtag, unquoteEtag } from '../model/etag.js';
import type { ObjectRecord } from '../model/records.js';
import { Errors } from './s3-error.js';
import { ProtocolErrors } from './errors.js';

/** HTTP dates compare at one-second resolution (Last-Modified has no milliseconds). Invalid dates are ignored. */
function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.floor(t / 1000);
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

interface ConditionHeaders {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifUnmodifiedSince?: string;
}

/**
 * S3's evaluation order (RFC 7232 section 6): If-Match, else If-Unmodified-Since -> 412; then If-None-Match, else
 * If-Modified-Since -> 304 (GET/HEAD). A passing If-Match makes S3 ignore a failing If-Unmodified-Since, and a present
 * If-None-Match makes it ignore If-Modified-Since.
 */
export function evaluateReadConditions(c: ConditionHeaders, record: Pick<ObjectRecord, 'etag' | 'lastModified'>): void {
  const modified = Math.floor(record.lastModified / 1000);
  if (c.ifMatch !== undefined) {
    if (!etagListMatches(c.ifMatch, record.etag)) throw Errors.preconditionFailed('If-Match');
  } else {
    const ius = parseHttpDate(c.ifUnmodifiedSince);
    if (ius !== undefined && modified > ius) throw Errors.preconditionFailed('If-Unmodified-Since');
  }
  const notModifiedHeaders = { etag: record.etag, 'last-modified': httpDate(record.lastModified) };
  if (c.ifNoneMatch !== undefined) {
    if (etagListMatches(c.ifNoneMatch, record.etag)) throw ProtocolErrors.notModified(notModifiedHeaders);
  } else {
    const ims = parseHttpDate(c.ifModifiedSince);
    if (ims !== undefined && modified <= ims) throw ProtocolErrors.notModified(notModifiedHeaders);
  }
}

/** x-amz-copy-source-if-*: every failure is 412 (copy has no 304). */
export function evaluateCopySourceConditions(c: ConditionHeaders, record: Pick<ObjectRecord, 'etag' | 'lastModified'>): void {
  const modified = Math.floor(record.lastModified / 1000);
  if (c.ifMatch !== undefined && !etagListMatches(c.ifMatch, record.etag)) throw Errors.preconditionFailed('x-amz-copy-source-If-Match');
  if (c.ifMatch === undefined) {
    const ius = parseHttpDate(c.ifUnmodifiedSince);
    if (ius !== undefined && modified > ius) throw Errors.preconditionFailed('x-amz-copy-source-If-Unmodified-Since');
  }
  if (c.ifNoneMatch !== undefined && etagListMatches(c.ifNoneMatch, record.etag)) throw Errors.preconditionFailed('x-amz-copy-source-If-None-Match');
  if (c.ifNoneMatch === undefined) {
    const ims = parseHttpDate(c.ifModifiedSince);
    if (ims !== undefined && modified <= ims) throw Errors.preconditionFailed('x-amz-copy-source-If-Modified-Since');
  }
}

/** If-None-Match: * / If-Match on writes become a WriteCondition the service enforces atomically. */
export function parseWriteCondition(ifNoneMatch: string | undefined, ifMatch: string | undefined): { ifNoneMatch?: boolean; ifMatch?: string } | undefined {
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw Errors.notImplemented('If-None-Match other than *');
  return {
    ...(ifNoneMatch !== undefined ? { ifNoneMatch: true } : {}),
    ...(ifMatch !== undefined ? { ifMatch: quoteEtag(unquoteEtag(ifMatch)) } : {}),
  };
}
