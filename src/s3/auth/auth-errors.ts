import { S3Error } from '../s3-error.js';

/** Authentication failures with the codes, statuses and messages AWS S3 uses, so SDK error handling behaves the same. */
export const AuthErrors = {
  missingAuth: () => new S3Error('AccessDenied', 'Access Denied', 403),
  headerMalformed: (detail: string, fields: Record<string, string> = {}) =>
    new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; ${detail}`, 400, fields),
  queryMalformed: (message: string, fields: Record<string, string> = {}) =>
    new S3Error('AuthorizationQueryParametersError', message, 400, fields),
  unsupportedAuthType: () =>
    new S3Error('InvalidArgument', 'Unsupported Authorization Type', 400, { ArgumentName: 'Authorization' }),
  unsupportedMechanism: () =>
    new S3Error('InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.', 400),
  multipleMechanisms: () =>
    new S3Error(
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
      400,
      { ArgumentName: 'Authorization' },
    ),
  invalidAccessKeyId: (accessKey: string) =>
    new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 403, { AWSAccessKeyId: accessKey }),
  signatureDoesNotMatch: (accessKey: string, stringToSign: string, signatureProvided: string, canonicalRequest: string) =>
    new S3Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      403,
      // Same diagnostics AWS returns: derived only from the request, never from the secret.
      { AWSAccessKeyId: accessKey, StringToSign: stringToSign, SignatureProvided: signatureProvided, CanonicalRequest: canonicalRequest },
    ),
  chunkSignatureDoesNotMatch: () =>
    new S3Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      403,
    ),
  invalidDate: () => new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header', 403),
  timeTooSkewed: (requestTime: Date, serverTime: Date, maxSkewMs: number) =>
    new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', 403, {
      RequestTime: requestTime.toISOString(),
      ServerTime: serverTime.toISOString(),
      MaxAllowedSkewMilliseconds: String(maxSkewMs),
    }),
  expired: (expiresSeconds: number, expiresAt: Date, serverTime: Date) =>
    new S3Error('AccessDenied', 'Request has expired', 403, {
      'X-Amz-Expires': String(expiresSeconds),
      Expires: expiresAt.toISOString(),
      ServerTime: serverTime.toISOString(),
    }),
  notYetValid: () => new S3Error('AccessDenied', 'Request is not valid yet', 403),
  headersNotSigned: (names: string[]) =>
    new S3Error('AccessDenied', 'There were headers present in the request which were not signed', 403, { HeadersNotSigned: names.join(', ') }),
  missingContentSha256: () => new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256', 400),
  invalidContentSha256: () =>
    new S3Error(
      'InvalidArgument',
      'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.',
      400,
      { ArgumentName: 'x-amz-content-sha256' },
    ),
  sigV4aNotImplemented: () =>
    new S3Error('NotImplemented', 'A header or query you provided implies functionality that is not implemented: SigV4a (ECDSA) signing', 501),
  contentSha256Mismatch: (clientHash: string, computedHash: string) =>
    new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", 400, {
      ClientComputedContentSHA256: clientHash,
      S3ComputedContentSHA256: computedHash,
    }),
  missingDecodedLength: () => new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.', 411),
  malformedChunk: (detail: string) => new S3Error('InvalidRequest', `Malformed aws-chunked body: ${detail}`, 400),
  malformedTrailer: (detail: string) =>
    new S3Error('MalformedTrailerError', `The request contained trailing data that was not well-formed or did not conform to our published schema: ${detail}`, 400),
} as const;
