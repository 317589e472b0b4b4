import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const SERVICE = 's3';
export const TERMINATOR = 'aws4_request';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function hmacHex(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data, 'utf8').digest('hex');
}

export function credentialScope(date: string, region: string): string {
  return `${date}/${region}/${SERVICE}/${TERMINATOR}`;
}

const SIGNING_KEY_CACHE_LIMIT = 256;
// Derivation is four HMACs per request; keys only change per day/region/secret, so a small cache removes that work.
// Keyed by the secret itself so a rotated secret can never hit a stale key.
const signingKeyCache = new Map<string, Buffer>();

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request"). */
export function signingKey(secret: string, date: string, region: string): Buffer {
  const cacheKey = `${date}\n${region}\n${secret}`;
  const cached = signingKeyCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), SERVICE), TERMINATOR);
  if (signingKeyCache.size >= SIGNING_KEY_CACHE_LIMIT) {
    const oldest = signingKeyCache.keys().next();
    if (oldest.done !== true) signingKeyCache.delete(oldest.value);
  }
  signingKeyCache.set(cacheKey, key);
  return key;
}

const HEX_SIGNATURE = /^[0-9a-f]{64}$/;

export function isHexSignature(value: string): boolean {
  return HEX_SIGNATURE.test(value);
}

/** Constant-time comparison of two lower-case hex signatures (lengths are public, contents are not). */
export function signaturesEqual(expectedHex: string, providedHex: string): boolean {
  if (!HEX_SIGNATURE.test(providedHex)) return false;
  return timingSafeEqual(Buffer.from(expectedHex, 'latin1'), Buffer.from(providedHex, 'latin1'));
}
