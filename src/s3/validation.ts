import { Errors } from './s3-error.js';
import { ProtocolErrors } from './errors.js';

const BUCKET_SHAPE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4_SHAPE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/** AWS general-purpose bucket naming rules. */
export function isValidBucketName(name: string): boolean {
  if (!BUCKET_SHAPE.test(name)) return false;
  if (name.includes('..') || name.includes('.-') || name.includes('-.')) return false;
  if (IPV4_SHAPE.test(name)) return false;
  if (RESERVED_PREFIXES.some((p) => name.startsWith(p))) return false;
  if (RESERVED_SUFFIXES.some((s) => name.endsWith(s))) return false;
  return true;
}

export function assertBucketName(name: string): void {
  if (!isValidBucketName(name)) throw Errors.invalidBucketName(name);
}

export const MAX_KEY_BYTES = 1024;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Keys are any non-empty UTF-8 up to 1024 bytes (percent-decoding already rejected invalid UTF-8). */
export function assertKey(key: string): void {
  if (key.length === 0) throw Errors.invalidArgument('Object key must not be empty', 'key', '');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw Errors.keyTooLong();
  // Lone surrogates cannot be encoded as UTF-8 and would silently become U+FFFD on the way down.
  if (LONE_SURROGATE.test(key)) throw ProtocolErrors.invalidURI();
}

export const STORAGE_CLASSES = new Set([
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'OUTPOSTS',
  'GLACIER_IR',
  'SNOW',
  'EXPRESS_ONEZONE',
]);

export function parseStorageClass(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!STORAGE_CLASSES.has(value)) throw ProtocolErrors.invalidStorageClass(value);
  return value;
}

export const MAX_USER_METADATA_BYTES = 2048;

/** Sum of UTF-8 bytes of every name (without x-amz-meta-) and value, as AWS measures it. */
export function assertMetadataSize(userMeta: Record<string, string>): void {
  let total = 0;
  for (const [name, value] of Object.entries(userMeta)) total += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value, 'utf8');
  if (total > MAX_USER_METADATA_BYTES) throw Errors.metadataTooLarge();
}

export const MAX_TAGS = 10;
export const MAX_BUCKET_TAGS = 50;
export const MAX_TAG_KEY = 128;
export const MAX_TAG_VALUE = 256;

const codePoints = (s: string) => [...s].length;

/** Validates a tag set given as ordered pairs (duplicates are an error, so pairs rather than a record). */
export function validateTags(pairs: Array<[string, string]>, max = MAX_TAGS, what = 'Object'): Record<string, string> {
  if (pairs.length > max) throw ProtocolErrors.invalidTag(`${what} tags cannot be greater than ${max}`);
  const tags: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of pairs) {
    if (codePoints(key) < 1 || codePoints(key) > MAX_TAG_KEY) throw ProtocolErrors.invalidTag('The TagKey you have provided is invalid');
    if (codePoints(value) > MAX_TAG_VALUE) throw ProtocolErrors.invalidTag('The TagValue you have provided is invalid');
    if (key.startsWith('aws:')) throw ProtocolErrors.invalidTag('Your TagKey cannot be prefixed with aws:');
    if (Object.prototype.hasOwnProperty.call(tags, key)) throw ProtocolErrors.invalidTag('Cannot provide multiple Tags with the same key');
    tags[key] = value;
  }
  return { ...tags };
}

/** x-amz-tagging: a URL query string "k1=v1&k2=v2". */
export function parseTaggingHeader(value: string | undefined): Record<string, string> {
  if (value === undefined || value === '') return {};
  const pairs: Array<[string, string]> = [];
  for (const part of value.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    try {
      pairs.push([decodeURIComponent(rawKey.replace(/\+/g, ' ')), decodeURIComponent(rawValue.replace(/\+/g, ' '))]);
    } catch {
      throw ProtocolErrors.invalidTag('The header x-amz-tagging is not correctly URL encoded');
    }
  }
  return validateTags(pairs);
}

/** Content-MD5 must be base64 of 16 bytes. */
export function parseContentMd5(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!isStrictBase64(value) || Buffer.from(value, 'base64').length !== 16) throw Errors.invalidDigest();
  return value;
}

export function isStrictBase64(value: string): boolean {
  return /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value);
}

/** A non-negative decimal integer query parameter; garbage -> InvalidArgument naming the parameter. */
export function parseIntParam(value: string | null, name: string, min: number, max: number, fallback: number): number {
  if (value === null || value === '') return fallback;
  if (!/^\d{1,10}$/.test(value)) throw Errors.invalidArgument(`Provided ${name} not an integer or within integer range`, name, value);
  const n = Number(value);
  if (n < min) throw Errors.invalidArgument(`Argument ${name} must be an integer between ${min} and ${max}`, name, value);
  return Math.min(n, max);
}
