import { MAX_PART_NUMBER, MIN_PART_NUMBER } from '../model/limits.js';

/**
 * An S3 error response: code, status, extra XML fields and headers. Only the protocol layer raises these; the layers
 * below raise their own kinds, which src/s3/error-mapping.ts turns into these. Anything else that escapes is an
 * internal error (500) and is logged.
 */
export class S3Error extends Error {
  readonly code: string;
  readonly status: number;
  /** Extra XML fields for the error body (e.g. BucketName, Key, ArgumentName). Never put secrets here. */
  readonly fields: Record<string, string>;
  /** Extra response headers (e.g. x-amz-request-charged). */
  readonly headers: Record<string, string>;

  constructor(code: string, message: string, status: number, fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'S3Error';
    this.code = code;
    this.status = status;
    this.fields = fields;
    this.headers = headers;
  }
}

/** Constructors for the common S3 errors. Status codes follow the AWS S3 error table. */
export const Errors = {
  noSuchBucket: (bucket: string) => new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket }),
  noSuchKey: (key: string) => new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: key }),
  noSuchUpload: (uploadId: string) =>
    new S3Error('NoSuchUpload', 'The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 404, { UploadId: uploadId }),
  bucketAlreadyExists: (bucket: string) =>
    new S3Error('BucketAlreadyExists', 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.', 409, { BucketName: bucket }),
  bucketAlreadyOwnedByYou: (bucket: string) =>
    new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409, { BucketName: bucket }),
  bucketNotEmpty: (bucket: string) => new S3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', 409, { BucketName: bucket }),
  invalidBucketName: (bucket: string) => new S3Error('InvalidBucketName', 'The specified bucket is not valid.', 400, { BucketName: bucket }),
  preconditionFailed: (condition = 'If-Match') =>
    new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, { Condition: condition }),
  badDigest: (message = 'The Content-MD5 you specified did not match what we received.') => new S3Error('BadDigest', message, 400),
  invalidDigest: () => new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid.', 400),
  invalidArgument: (message: string, argumentName?: string, argumentValue?: string) =>
    new S3Error('InvalidArgument', message, 400, {
      ...(argumentName !== undefined ? { ArgumentName: argumentName } : {}),
      ...(argumentValue !== undefined ? { ArgumentValue: argumentValue } : {}),
    }),
  invalidPart: (partNumber: number) =>
    new S3Error(
      'InvalidPart',
      "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
      400,
      { PartNumber: String(partNumber) },
    ),
  partNumberOutOfRange: (value: string) =>
    new S3Error('InvalidArgument', `Part number must be an integer between ${MIN_PART_NUMBER} and ${MAX_PART_NUMBER}, inclusive`, 400, {
      ArgumentName: 'partNumber',
      ArgumentValue: value,
    }),
  invalidRequest: (message: string) => new S3Error('InvalidRequest', message, 400),
  requestTimeout: () =>
    new S3Error('RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.', 400),
  incompleteBody: () => new S3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.', 400),
  entityTooLarge: (max: number) => new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', 400, { MaxSizeAllowed: String(max) }),
  entityTooSmall: () => new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', 400),
  keyTooLong: () => new S3Error('KeyTooLongError', 'Your key is too long', 400),
  metadataTooLarge: () => new S3Error('MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size.', 400),
  malformedXML: () => new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.', 400),
  invalidCopySourceRange: (size: number) =>
    new S3Error('InvalidRange', `The requested range is not valid for the request: the source object has ${size} bytes. Try another range.`, 400, { ActualObjectSize: String(size) }),
  invalidRange: (size: number) =>
    new S3Error('InvalidRange', 'The requested range is not satisfiable', 416, { ActualObjectSize: String(size) }, { 'content-range': `bytes */${size}` }),
  accessDenied: () => new S3Error('AccessDenied', 'Access Denied', 403),
  notImplemented: (what: string) => new S3Error('NotImplemented', `A header or query you provided implies functionality that is not implemented: ${what}`, 501),
  serviceUnavailable: (message: string) => new S3Error('ServiceUnavailable', message, 503),
  /** The metadata store cannot answer now (locked, down, failing over): nothing was decided, the client retries. */
  metaUnavailable: (message: string, retryAfterSeconds = 1) =>
    new S3Error('ServiceUnavailable', message, 503, {}, { 'retry-after': String(retryAfterSeconds) }),
  slowDown: () => new S3Error('SlowDown', 'Please reduce your request rate.', 503),
  internal: () => new S3Error('InternalError', 'We encountered an internal error. Please try again.', 500),
} as const;
