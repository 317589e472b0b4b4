import type { IncomingHttpHeaders } from 'node:http';
import type { ExpectedChecksum } from '../gateway/types.js';
import type { ChecksumAlgorithm, StoredChecksum } from '../model/records.js';
import { Errors } from './s3-error.js';
import { isStrictBase64 } from './validation.js';

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

/** Digest length in bytes per algorithm, to reject a value of the wrong shape before reading the body. */
const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 };

export const checksumHeaderName = (algorithm: ChecksumAlgorithm) => `x-amz-checksum-${algorithm.toLowerCase()}`;

export function parseAlgorithm(value: string | undefined, headerName: string): ChecksumAlgorithm | undefined {
  if (value === undefined) return undefined;
  const upper = value.trim().toUpperCase();
  const found = CHECKSUM_ALGORITHMS.find((a) => a === upper);
  if (!found) throw Errors.invalidRequest(`Value for ${headerName} header is invalid.`);
  return found;
}

export function assertChecksumValue(algorithm: ChecksumAlgorithm, value: string): void {
  if (!isStrictBase64(value) || Buffer.from(value, 'base64').length !== DIGEST_BYTES[algorithm]) {
    throw Errors.invalidRequest(`Value for ${checksumHeaderName(algorithm)} header is invalid.`);
  }
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** The one x-amz-checksum-<alg> value header present, if any; more than one is InvalidRequest. */
export function checksumValueHeader(headers: IncomingHttpHeaders): { algorithm: ChecksumAlgorithm; value: string } | undefined {
  const present = CHECKSUM_ALGORITHMS.filter((a) => headers[checksumHeaderName(a)] !== undefined);
  if (present.length > 1) throw Errors.invalidRequest('Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  const algorithm = present[0];
  if (algorithm === undefined) return undefined;
  const value = header(headers, checksumHeaderName(algorithm)) ?? '';
  assertChecksumValue(algorithm, value);
  return { algorithm, value };
}

/**
 * What the client wants verified on an upload body: a header value, a trailer (x-amz-trailer names it; the value is
 * read from the decoded body's trailers at the end), or just an algorithm to compute (x-amz-sdk-checksum-algorithm).
 */
export function parseExpectedChecksum(headers: IncomingHttpHeaders, trailers: () => Record<string, string>): ExpectedChecksum | undefined {
  const sdkAlgorithm = parseAlgorithm(header(headers, 'x-amz-sdk-checksum-algorithm'), 'x-amz-sdk-checksum-algorithm');
  const fromHeader = checksumValueHeader(headers);
  const trailerName = header(headers, 'x-amz-trailer')?.trim().toLowerCase();
  let trailerAlgorithm: ChecksumAlgorithm | undefined;
  if (trailerName !== undefined && trailerName !== '') {
    trailerAlgorithm = CHECKSUM_ALGORITHMS.find((a) => checksumHeaderName(a) === trailerName);
    if (!trailerAlgorithm) throw Errors.invalidRequest('The value specified in the x-amz-trailer header is not supported');
    if (fromHeader) throw Errors.invalidRequest('Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  }
  const algorithm = fromHeader?.algorithm ?? trailerAlgorithm ?? sdkAlgorithm;
  if (algorithm === undefined) return undefined;
  if (sdkAlgorithm !== undefined && sdkAlgorithm !== algorithm) {
    throw Errors.invalidRequest('Value for x-amz-sdk-checksum-algorithm header is invalid.');
  }
  if (fromHeader) return { algorithm, value: () => fromHeader.value };
  if (trailerAlgorithm) {
    const name = checksumHeaderName(trailerAlgorithm);
    return { algorithm, value: () => trailers()[name] };
  }
  return { algorithm, value: () => undefined };
}

/** Response headers describing a stored checksum (x-amz-checksum-<alg> and x-amz-checksum-type). */
export function checksumResponseHeaders(checksum: StoredChecksum | undefined): Record<string, string> {
  if (!checksum) return {};
  return { [checksumHeaderName(checksum.algorithm)]: checksum.value, 'x-amz-checksum-type': checksum.type };
}

/** XML element name for a checksum in listings and results, e.g. ChecksumCRC32C. */
export const checksumElementName = (algorithm: ChecksumAlgorithm) => `Checksum${algorithm}`;
