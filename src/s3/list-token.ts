import { Errors } from './s3-error.js';

const VERSION = 't1:';

/** Opaque ListObjectsV2 continuation token: base64url of a versioned prefix and the last returned key. */
export function encodeContinuationToken(lastReturned: string): string {
  return Buffer.from(VERSION + lastReturned, 'utf8').toString('base64url');
}

export function decodeContinuationToken(token: string): string {
  const invalid = () => Errors.invalidArgument('The continuation token provided is incorrect', 'continuation-token', token);
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  const bytes = Buffer.from(token, 'base64url');
  const text = bytes.toString('utf8');
  // Round-trip check rejects invalid UTF-8 and non-canonical base64.
  if (!Buffer.from(text, 'utf8').equals(bytes) || bytes.toString('base64url') !== token || !text.startsWith(VERSION)) throw invalid();
  return text.slice(VERSION.length);
}
