import type { IncomingHttpHeaders } from 'node:http';
import { AuthErrors } from './auth-errors.js';
import { buildCanonicalRequest, buildStringToSign } from './canonical-request.js';
import { describeCredentialProblem, formatAmzDate, isCredential, parseAmzDate, parseCredential, type Credential } from './credential.js';
import { ALGORITHM, credentialScope, hmacHex, signaturesEqual, signingKey } from './signing.js';
import type { AuthContext, AuthOptions, AuthRequest, PayloadMode, SecretLookup } from './types.js';
import { parseQuery, type QueryParam } from './uri-encoding.js';

/** Presigned URLs may not outlive a week (AWS limit). */
export const MAX_PRESIGN_EXPIRES_SECONDS = 604800;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Verifies a SigV4 request signed either in the Authorization header or as a presigned URL. Throws S3Error on every
 * failure; the returned context carries what the body decoder needs to keep verifying an aws-chunked payload.
 */
/** A request with no signature at all (no Authorization header, no presigned query): an anonymous request. */
export function isAnonymous(req: Pick<AuthRequest, 'headers' | 'rawQuery'>): boolean {
  if (req.headers.authorization !== undefined) return false;
  return !parseQuery(req.rawQuery).some((p) => p.name === 'X-Amz-Algorithm' || p.name === 'X-Amz-Credential' || p.name === 'X-Amz-Signature' || p.name === 'AWSAccessKeyId' || p.name === 'Signature');
}

/** The auth context of an anonymous request: no key, an unverified payload (aws-chunked needs a signature). */
export function anonymousAuth(headers: AuthRequest['headers']): AuthContext {
  if (String(headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-')) throw AuthErrors.missingAuth();
  return { accessKey: '', payload: { kind: 'unsigned' }, presigned: false, signing: { signature: '', signingKey: Buffer.alloc(0), scope: '', amzDate: '' } };
}

export function authenticate(req: AuthRequest, lookup: SecretLookup, opts: AuthOptions): AuthContext {
  const authorization = singleHeader(req.headers.authorization);
  const query = parseQuery(req.rawQuery);
  const hasPresignV4 = query.some((p) => p.name === 'X-Amz-Algorithm' || p.name === 'X-Amz-Credential' || p.name === 'X-Amz-Signature');
  const hasPresignV2 = query.some((p) => p.name === 'AWSAccessKeyId') && query.some((p) => p.name === 'Signature');
  if (authorization !== undefined && (hasPresignV4 || hasPresignV2)) throw AuthErrors.multipleMechanisms();
  if (authorization !== undefined) return authenticateHeader(req, authorization, query, lookup, opts);
  if (hasPresignV4) return authenticatePresigned(req, query, lookup, opts);
  if (hasPresignV2) throw AuthErrors.unsupportedMechanism();
  throw AuthErrors.missingAuth();
}

interface AuthorizationFields {
  credential: string;
  signedHeaders: string;
  signature: string;
}

function parseAuthorizationHeader(header: string): AuthorizationFields {
  const trimmed = header.trim();
  if (trimmed.startsWith('AWS ')) throw AuthErrors.unsupportedMechanism();
  if (trimmed.startsWith('AWS4-ECDSA-P256-SHA256')) throw AuthErrors.sigV4aNotImplemented();
  const space = trimmed.search(/\s/);
  if (space < 0 || trimmed.slice(0, space) !== ALGORITHM) {
    if (trimmed.startsWith(ALGORITHM)) throw AuthErrors.headerMalformed('the authorization header requires three components: Credential, SignedHeaders, and Signature.');
    throw AuthErrors.unsupportedAuthType();
  }
  const fields = new Map<string, string>();
  for (const component of trimmed.slice(space + 1).split(',')) {
    const part = component.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw AuthErrors.headerMalformed(`the authorization component "${truncate(part)}" is malformed.`);
    const name = part.slice(0, eq).trim();
    if (fields.has(name)) throw AuthErrors.headerMalformed(`the authorization component "${truncate(name)}" is repeated.`);
    fields.set(name, part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw AuthErrors.headerMalformed('the authorization header requires three components: Credential, SignedHeaders, and Signature.');
  }
  return { credential, signedHeaders, signature };
}

function authenticateHeader(req: AuthRequest, authorization: string, query: QueryParam[], lookup: SecretLookup, opts: AuthOptions): AuthContext {
  const fields = parseAuthorizationHeader(authorization);
  const parsed = parseCredential(fields.credential, opts.region);
  if (!isCredential(parsed)) {
    const { detail, fields: extra } = describeCredentialProblem(parsed, opts.region);
    throw AuthErrors.headerMalformed(detail, extra);
  }
  const signedHeaders = parseSignedHeaders(fields.signedHeaders, (detail) => AuthErrors.headerMalformed(detail));
  const secret = lookup(parsed.accessKey);
  if (secret === undefined) throw AuthErrors.invalidAccessKeyId(parsed.accessKey);

  const { time, amzDate, headerName } = requestTime(req.headers);
  if (amzDate.slice(0, 8) !== parsed.date) {
    throw AuthErrors.headerMalformed(`Invalid credential date "${parsed.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
  }
  if (Math.abs(opts.now.getTime() - time.getTime()) > opts.maxSkewMs) throw AuthErrors.timeTooSkewed(time, opts.now, opts.maxSkewMs);

  const contentSha256 = singleHeader(req.headers['x-amz-content-sha256']);
  if (contentSha256 === undefined) throw AuthErrors.missingContentSha256();
  const payload = headerPayloadMode(contentSha256);
  requireSigned(req.headers, signedHeaders, [headerName], []);

  return verify(req, query, undefined, signedHeaders, contentSha256, parsed, amzDate, secret, fields.signature, payload, false);
}

function authenticatePresigned(req: AuthRequest, query: QueryParam[], lookup: SecretLookup, opts: AuthOptions): AuthContext {
  const param = (name: string): string | undefined => query.find((p) => p.name === name)?.value;
  const algorithm = param('X-Amz-Algorithm');
  const credential = param('X-Amz-Credential');
  const dateValue = param('X-Amz-Date');
  const expiresValue = param('X-Amz-Expires');
  const signedHeadersValue = param('X-Amz-SignedHeaders');
  const signature = param('X-Amz-Signature');
  if (algorithm === 'AWS4-ECDSA-P256-SHA256') throw AuthErrors.sigV4aNotImplemented();
  if (algorithm !== undefined && algorithm !== ALGORITHM) throw AuthErrors.queryMalformed('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  if (
    algorithm === undefined ||
    credential === undefined ||
    dateValue === undefined ||
    expiresValue === undefined ||
    signedHeadersValue === undefined ||
    signature === undefined
  ) {
    throw AuthErrors.queryMalformed(
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  const parsed = parseCredential(credential, opts.region);
  if (!isCredential(parsed)) {
    const { detail, fields } = describeCredentialProblem(parsed, opts.region);
    throw AuthErrors.queryMalformed(`Error parsing the X-Amz-Credential parameter; ${detail}`, fields);
  }
  const time = parseAmzDate(dateValue);
  if (time === undefined) throw AuthErrors.queryMalformed(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  if (dateValue.slice(0, 8) !== parsed.date) {
    throw AuthErrors.queryMalformed(`Invalid credential date "${parsed.date}". This date is not the same as X-Amz-Date: "${dateValue.slice(0, 8)}".`);
  }
  if (!/^\d{1,10}$/.test(expiresValue)) throw AuthErrors.queryMalformed('X-Amz-Expires should be a number');
  const expires = Number(expiresValue);
  if (expires > MAX_PRESIGN_EXPIRES_SECONDS) {
    throw AuthErrors.queryMalformed(`X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGN_EXPIRES_SECONDS}`);
  }
  const signedHeaders = parseSignedHeaders(signedHeadersValue, (detail) => AuthErrors.queryMalformed(`Error parsing the X-Amz-SignedHeaders parameter; ${detail}`));
  const secret = lookup(parsed.accessKey);
  if (secret === undefined) throw AuthErrors.invalidAccessKeyId(parsed.accessKey);

  if (time.getTime() - opts.now.getTime() > opts.maxSkewMs) throw AuthErrors.notYetValid();
  const expiresAt = new Date(time.getTime() + expires * 1000);
  if (opts.now.getTime() > expiresAt.getTime()) throw AuthErrors.expired(expires, expiresAt, opts.now);

  // The SDK presigner records the payload hash as a (signed) query parameter; without it S3 assumes UNSIGNED-PAYLOAD.
  const declaredHash = param('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD;
  let payload: PayloadMode;
  if (declaredHash === UNSIGNED_PAYLOAD) payload = { kind: 'unsigned' };
  else if (HEX_SHA256.test(declaredHash)) payload = { kind: 'sha256', hash: declaredHash.toLowerCase() };
  else throw AuthErrors.invalidContentSha256();
  // A presigned URL is handed to someone else; extra x-amz-* headers could change what the signer authorized.
  requireSigned(req.headers, signedHeaders, [], ['x-amz-content-sha256', 'x-amz-date']);

  return verify(req, query, 'X-Amz-Signature', signedHeaders, declaredHash, parsed, dateValue, secret, signature, payload, true);
}

function verify(
  req: AuthRequest,
  query: QueryParam[],
  excludeQueryParam: string | undefined,
  signedHeaders: string[],
  payloadHash: string,
  credential: Credential,
  amzDate: string,
  secret: string,
  providedSignature: string,
  payload: PayloadMode,
  presigned: boolean,
): AuthContext {
  const canonicalRequest = buildCanonicalRequest({
    method: req.method,
    rawPath: req.rawPath,
    query,
    ...(excludeQueryParam !== undefined ? { excludeQueryParam } : {}),
    headers: req.headers,
    host: req.host,
    signedHeaders,
    payloadHash,
  });
  const scope = credentialScope(credential.date, credential.region);
  const stringToSign = buildStringToSign(amzDate, scope, canonicalRequest);
  const key = signingKey(secret, credential.date, credential.region);
  const expected = hmacHex(key, stringToSign);
  if (!signaturesEqual(expected, providedSignature)) {
    throw AuthErrors.signatureDoesNotMatch(credential.accessKey, stringToSign, truncate(providedSignature), canonicalRequest);
  }
  return { accessKey: credential.accessKey, payload, presigned, signing: { signature: expected, signingKey: key, scope, amzDate } };
}

function parseSignedHeaders(value: string, malformed: (detail: string) => Error): string[] {
  const names = value.split(';');
  for (const name of names) {
    if (!HEADER_NAME.test(name)) throw malformed(`the SignedHeaders value "${truncate(value)}" is malformed.`);
  }
  if (!names.includes('host')) throw AuthErrors.headersNotSigned(['host']);
  return names;
}

/** Every x-amz-* header present (and each of `alsoRequired`) must be covered by the signature, as AWS enforces. */
function requireSigned(headers: IncomingHttpHeaders, signedHeaders: string[], alsoRequired: string[], exempt: string[]): void {
  const signed = new Set(signedHeaders);
  const missing: string[] = [];
  for (const name of alsoRequired) if (!signed.has(name)) missing.push(name);
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-amz-') && !signed.has(name) && !exempt.includes(name) && !missing.includes(name)) missing.push(name);
  }
  if (missing.length > 0) throw AuthErrors.headersNotSigned(missing);
}

/** The signing timestamp: x-amz-date, else the HTTP Date header (which then must be signed instead). */
function requestTime(headers: IncomingHttpHeaders): { time: Date; amzDate: string; headerName: string } {
  const amz = singleHeader(headers['x-amz-date']);
  if (amz !== undefined) {
    const time = parseAmzDate(amz);
    if (time === undefined) throw AuthErrors.invalidDate();
    return { time, amzDate: amz, headerName: 'x-amz-date' };
  }
  const httpDate = singleHeader(headers.date);
  if (httpDate !== undefined) {
    const ms = Date.parse(httpDate);
    if (Number.isNaN(ms)) throw AuthErrors.invalidDate();
    const time = new Date(ms);
    return { time, amzDate: formatAmzDate(time), headerName: 'date' };
  }
  throw AuthErrors.invalidDate();
}

function headerPayloadMode(value: string): PayloadMode {
  switch (value) {
    case UNSIGNED_PAYLOAD:
      return { kind: 'unsigned' };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD':
      return { kind: 'streaming-signed', trailer: false };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER':
      return { kind: 'streaming-signed', trailer: true };
    case 'STREAMING-UNSIGNED-PAYLOAD-TRAILER':
      return { kind: 'streaming-unsigned', trailer: true };
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD':
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER':
      throw AuthErrors.sigV4aNotImplemented();
  }
  if (HEX_SHA256.test(value)) return { kind: 'sha256', hash: value.toLowerCase() };
  throw AuthErrors.invalidContentSha256();
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Echoed client input is capped so an error body can't be inflated by a huge header. */
function truncate(value: string): string {
  return value.length > 128 ? value.slice(0, 128) + '...' : value;
}
