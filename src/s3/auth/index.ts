export { anonymousAuth, authenticate, isAnonymous, MAX_PRESIGN_EXPIRES_SECONDS } from './authenticate.js';
export { decodeBody } from './decode-body.js';
export { AwsChunkedDecoder, MAX_CHUNK_LINE_BYTES, type AwsChunkedOptions } from './aws-chunked.js';
export { PayloadVerifier, type PayloadVerifierOptions } from './payload-verifier.js';
export type { AuthContext, AuthOptions, AuthRequest, DecodedBody, PayloadMode, SecretLookup } from './types.js';

import { buildCanonicalRequest, buildStringToSign, canonicalHeaderValue } from './canonical-request.js';
import { formatAmzDate, parseAmzDate, parseCredential } from './credential.js';
import { credentialScope, EMPTY_SHA256, hmacHex, sha256Hex, signingKey } from './signing.js';
import { canonicalPath, canonicalQuery, parseQuery, percentDecode, uriEncode } from './uri-encoding.js';

/** SigV4 building blocks, exported so tests and tools can reproduce exactly what the verifier computes. */
export const signatureV4Helpers = {
  buildCanonicalRequest,
  buildStringToSign,
  canonicalHeaderValue,
  canonicalPath,
  canonicalQuery,
  parseQuery,
  percentDecode,
  uriEncode,
  credentialScope,
  signingKey,
  hmacHex,
  sha256Hex,
  formatAmzDate,
  parseAmzDate,
  parseCredential,
  EMPTY_SHA256,
} as const;
