import type { IncomingHttpHeaders } from 'node:http';
import { ALGORITHM, sha256Hex } from './signing.js';
import { canonicalPath, canonicalQuery, type QueryParam } from './uri-encoding.js';

export interface CanonicalRequestInput {
  method: string;
  rawPath: string;
  query: readonly QueryParam[];
  /** Query parameter left out of the canonical query (X-Amz-Signature for presigned URLs). */
  excludeQueryParam?: string;
  headers: IncomingHttpHeaders;
  /** The Host as the client addressed it; used for the `host` signed header. */
  host: string;
  /** Lower-case header names in the order the client listed them. */
  signedHeaders: readonly string[];
  payloadHash: string;
}

/** Header value in canonical form: trimmed, runs of whitespace collapsed, repeated headers comma-joined. */
export function canonicalHeaderValue(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  const joined = Array.isArray(value) ? value.map((v) => v.trim()).join(',') : value;
  return joined.trim().replace(/\s+/g, ' ');
}

export function buildCanonicalRequest(input: CanonicalRequestInput): string {
  let headerBlock = '';
  for (const name of input.signedHeaders) {
    const value = name === 'host' ? input.host : input.headers[name];
    headerBlock += `${name}:${canonicalHeaderValue(value)}\n`;
  }
  return [
    input.method.toUpperCase(),
    canonicalPath(input.rawPath),
    canonicalQuery(input.query, input.excludeQueryParam),
    headerBlock,
    input.signedHeaders.join(';'),
    input.payloadHash,
  ].join('\n');
}

/**
 * The canonical request is hashed as the bytes the client sent: Node hands header values over as latin1 (one char per
 * byte), so a UTF-8 metadata value the client signed byte by byte is hashed back into those same bytes; every other
 * part is ASCII.
 */
export function buildStringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(Buffer.from(canonicalRequest, 'latin1'))}`;
}
