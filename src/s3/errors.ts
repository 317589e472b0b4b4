import { S3Error } from './s3-error.js';

/** More S3 errors (the common constructors are `Errors` in s3-error.ts). Codes and statuses follow AWS S3. */
export const ProtocolErrors = {
  invalidURI: () => new S3Error('InvalidURI', "Couldn't parse the specified URI.", 400),
  methodNotAllowed: (method: string) =>
    new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405, { Method: method, ResourceType: 'OBJECT' }),
  missingContentLength: () => new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.', 411),
  invalidStorageClass: (value: string) =>
    new S3Error('InvalidStorageClass', 'The storage class you specified is not valid', 400, { StorageClassRequested: value }),
  invalidTag: (message: string) => new S3Error('InvalidTag', message, 400),
  invalidPartOrder: () => new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.', 400),
  invalidPartNumber: () => new S3Error('InvalidPartNumber', 'The requested partnumber is not satisfiable', 416),
  restoreInProgress: () => new S3Error('RestoreAlreadyInProgress', 'Object restore is already in progress', 409),
  notConfigured: (code: string, message: string, bucket: string) => new S3Error(code, message, 404, { BucketName: bucket }),
  illegalLocationConstraint: (value: string) =>
    new S3Error('IllegalLocationConstraintException', `The ${value} location constraint is incompatible for the region specific endpoint this request was sent to.`, 400),
  missingSecurityHeader: () => new S3Error('InvalidRequest', 'Missing required header for this request: Content-MD5', 400),
  requestHeaderTooLarge: () => new S3Error('RequestHeaderSectionTooLarge', 'Your request header section exceeds the maximum allowed size.', 400),
  invalidEncodingType: () => new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', 400, { ArgumentName: 'encoding-type' }),
  malformedAcl: () => new S3Error('MalformedACLError', 'The XML you provided was not well-formed or did not validate against our published schema', 400),
  unresolvableGrantByEmailAddress: (email: string) =>
    new S3Error('UnresolvableGrantByEmailAddress', 'The e-mail address you provided does not match any account on record.', 400, { EmailAddress: email }),
  accessControlListNotSupported: () => new S3Error('AccessControlListNotSupported', 'The bucket does not allow ACLs', 400),
  invalidBucketAclWithObjectOwnership: () =>
    new S3Error('InvalidBucketAclWithObjectOwnership', 'Bucket cannot have ACLs set with ObjectOwnership\'s BucketOwnerEnforced setting', 400),
  noObjectLockState: (key: string) => new S3Error('NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration', 404, { Key: key }),
  notModified: (headers: Record<string, string>) => new S3Error('NotModified', 'Not Modified', 304, {}, headers),
} as const;
