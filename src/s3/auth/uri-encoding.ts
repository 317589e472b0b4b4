/**
 * Percent-encoding as SigV4 canonicalization wants it: RFC 3986 unreserved characters stay literal, every other byte
 * becomes %XX with upper-case hex. Requests arrive already encoded by the client, and clients disagree on which
 * characters they escape, so we decode to bytes and re-encode instead of trusting the wire form.
 */

const UNRESERVED = new Uint8Array(256);
for (const range of [
  [0x41, 0x5a],
  [0x61, 0x7a],
  [0x30, 0x39],
] as const) {
  for (let c = range[0]; c <= range[1]; c++) UNRESERVED[c] = 1;
}
for (const c of '-_.~') UNRESERVED[c.charCodeAt(0)] = 1;

const ESCAPED: string[] = Array.from({ length: 256 }, (_, b) => '%' + b.toString(16).toUpperCase().padStart(2, '0'));
const SLASH = 0x2f;
const PERCENT = 0x25;
const PLUS = 0x2b;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Percent-decodes to raw bytes (not a string: encoded bytes need not be valid UTF-8). A '%' that does not start a
 * valid escape is kept literally, as lenient servers do. `plusAsSpace` applies form-style decoding to query strings.
 */
export function percentDecode(text: string, plusAsSpace: boolean): Buffer {
  const input = Buffer.from(text, 'utf8');
  if (input.indexOf(PERCENT) < 0 && (!plusAsSpace || input.indexOf(PLUS) < 0)) return input;
  const out = Buffer.allocUnsafe(input.length);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const c = input[i] as number;
    if (c === PERCENT && i + 2 < input.length) {
      const hi = hexValue(input[i + 1] as number);
      const lo = hexValue(input[i + 2] as number);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = plusAsSpace && c === PLUS ? 0x20 : c;
  }
  return out.subarray(0, n);
}

/** RFC 3986 encoding of raw bytes; `keepSlash` leaves '/' literal (S3 object paths). */
export function uriEncode(bytes: Buffer, keepSlash: boolean): string {
  let clean = true;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (UNRESERVED[c] !== 1 && !(keepSlash && c === SLASH)) {
      clean = false;
      break;
    }
  }
  if (clean) return bytes.toString('latin1');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    out += UNRESERVED[c] === 1 || (keepSlash && c === SLASH) ? String.fromCharCode(c) : (ESCAPED[c] as string);
  }
  return out;
}

/**
 * Canonical URI for S3: the path encoded exactly once (S3 is the one service whose path is not double-encoded), no
 * dot-segment or double-slash normalization because those are meaningful in object keys. '+' is a literal plus.
 */
export function canonicalPath(rawPath: string): string {
  if (rawPath === '') return '/';
  return uriEncode(percentDecode(rawPath, false), true);
}

export interface QueryParam {
  /** Decoded name and value, as the application sees them. */
  name: string;
  value: string;
  /** Canonically encoded forms used in the canonical request. */
  encodedName: string;
  encodedValue: string;
}

/** Splits a raw query string into parameters; a name without '=' has an empty value (e.g. `?uploads`). */
export function parseQuery(rawQuery: string): QueryParam[] {
  const params: QueryParam[] = [];
  if (rawQuery === '') return params;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const nameBytes = percentDecode(eq < 0 ? part : part.slice(0, eq), true);
    const valueBytes = percentDecode(eq < 0 ? '' : part.slice(eq + 1), true);
    params.push({
      name: nameBytes.toString('utf8'),
      value: valueBytes.toString('utf8'),
      encodedName: uriEncode(nameBytes, false),
      encodedValue: uriEncode(valueBytes, false),
    });
  }
  return params;
}

/** Canonical query string: encoded pairs sorted by name then value, excluding `excludeName` (the presigned signature). */
export function canonicalQuery(params: readonly QueryParam[], excludeName?: string): string {
  const pairs: Array<[string, string]> = [];
  for (const p of params) {
    if (p.name !== excludeName) pairs.push([p.encodedName, p.encodedValue]);
  }
  // Encoded forms are pure ASCII, so UTF-16 code unit order equals the byte order the spec asks for.
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}
