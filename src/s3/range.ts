import type { ByteRange } from '../gateway/types.js';
import { Errors } from './s3-error.js';

/**
 * Parses a Range header against an object size, as S3 does:
 * - absent, syntactically invalid, or multiple ranges -> undefined (the whole object, 200);
 * - unsatisfiable (start beyond the end, suffix of 0, or any range on an empty object) -> 416 InvalidRange.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, startText = '', endText = ''] = m;
  if (startText === '' && endText === '') return undefined;
  if (startText === '') {
    const suffix = Number(endText);
    if (suffix === 0 || size === 0) throw Errors.invalidRange(size);
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(startText);
  if (endText !== '' && Number(endText) < start) return undefined;
  if (start >= size) throw Errors.invalidRange(size);
  const end = endText === '' ? size - 1 : Math.min(Number(endText), size - 1);
  return { offset: start, length: end - start + 1 };
}

export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`;
}

/**
 * x-amz-copy-source-range: exactly "bytes=first-last"; a malformed value is InvalidArgument, a well-formed range
 * that is empty or reaches past the source is 400 InvalidRange (what S3's conformance suites expect).
 */
export function parseCopySourceRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d+)-(\d+)$/.exec(header.trim());
  if (!m) throw Errors.invalidArgument('The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', 'x-amz-copy-source-range', header);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start || end >= size) throw Errors.invalidCopySourceRange(size);
  return { offset: start, length: end - start + 1 };
}
