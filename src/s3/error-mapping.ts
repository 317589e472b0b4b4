import { ColdError } from '../cold/errors.js';
import { GatewayError } from '../gateway/errors.js';
import { MetaError } from '../meta/errors.js';
import { MIN_PART_BYTES } from '../model/limits.js';
import { Errors, S3Error } from './s3-error.js';

/**
 * The one place where the inner layers' error kinds become S3 errors. Layers below the protocol raise their own kinds
 * (GatewayError, MetaError, ColdError); the response path asks here. Undefined means "not a client-facing error": a bug, answered 500.
 */
export function toProtocolError(err: unknown): S3Error | undefined {
  if (err instanceof S3Error) return err;
  if (err instanceof GatewayError) return fromGateway(err);
  if (err instanceof MetaError) return fromMeta(err);
  if (err instanceof ColdError) return fromCold(err);
  return undefined;
}

function fromGateway(err: GatewayError): S3Error {
  switch (err.kind) {
    case 'NoSuchBucket':
      return Errors.noSuchBucket(err.subject);
    case 'NoSuchKey':
      return Errors.noSuchKey(err.subject);
    case 'NoSuchUpload':
      return Errors.noSuchUpload(err.subject);
    case 'PreconditionFailed':
      return Errors.preconditionFailed(err.subject);
    case 'DigestMismatch':
      return err.subject === '' ? Errors.badDigest() : Errors.badDigest(`The ${err.subject} you specified did not match the calculated checksum.`);
    case 'PartNumberOutOfRange':
      return Errors.partNumberOutOfRange(err.subject);
    case 'InvalidPart':
      return Errors.invalidPart(Number(err.subject));
    case 'PartTooSmall':
      return new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', 400, {
        ProposedSize: err.detail.size ?? '',
        MinSizeAllowed: String(MIN_PART_BYTES),
        PartNumber: err.subject,
        ETag: err.detail.etag ?? '',
      });
    case 'BodyTooShort':
      return Errors.incompleteBody();
    case 'BodyTooLong':
      return Errors.invalidRequest('The request body is longer than its declared length.');
    case 'NoSuchVersion':
      return new S3Error('NoSuchVersion', 'The specified version does not exist.', 404, { Key: err.subject, VersionId: err.detail.versionId ?? '' });
    case 'DeleteMarker': {
      const headers = { 'x-amz-delete-marker': 'true', 'x-amz-version-id': err.detail.versionId ?? '' };
      if (err.detail.asked === 'latest') return new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: err.subject }, headers);
      const lastModified = new Date(Number(err.detail.lastModified)).toUTCString();
      return new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405, { Method: 'GET', ResourceType: 'DeleteMarker' }, {
        ...headers,
        'last-modified': lastModified,
      });
    }
    case 'ObjectLockNotEnabled':
      return Errors.invalidRequest('Bucket is missing Object Lock Configuration');
    case 'InvalidBucketState':
      return new S3Error('InvalidBucketState', err.message, 409, { BucketName: err.subject });
    case 'NoSuchSnapshot':
      return new S3Error('NoSuchSnapshot', 'The specified snapshot does not exist.', 404, { SnapshotName: err.subject });
    case 'InvalidSnapshotName':
      return new S3Error('InvalidSnapshotName', 'A snapshot name must be a valid bucket name (it is read as a bucket).', 400, { SnapshotName: err.subject });
    case 'NameTaken':
      return Errors.bucketAlreadyExists(err.subject);
    case 'SnapshotReadOnly':
      return new S3Error('AccessDenied', 'A snapshot is read-only.', 403);
  }
}

function fromMeta(err: MetaError): S3Error {
  switch (err.kind) {
    case 'NoSuchBucket':
      return Errors.noSuchBucket(err.subject);
    case 'BucketExists':
      return Errors.bucketAlreadyOwnedByYou(err.subject);
    case 'BucketNotEmpty':
      return Errors.bucketNotEmpty(err.subject);
    case 'NoSuchUpload':
      return Errors.noSuchUpload(err.subject);
    case 'NoSuchKey':
      return Errors.noSuchKey(err.subject);
    case 'PreconditionFailed':
      return Errors.preconditionFailed(err.subject);
    case 'InvalidPart':
      return Errors.invalidPart(Number(err.subject));
    case 'InvalidKey':
      return Errors.invalidArgument('Object key is not valid UTF-8.', 'key');
    case 'SnapshotExists':
      return new S3Error('SnapshotAlreadyExists', `A snapshot named ${err.subject} already exists.`, 409, { SnapshotName: err.subject });
    case 'ObjectLocked':
      // S3's answer to destroying (or weakening the lock of) a protected version.
      return new S3Error('AccessDenied', 'Access Denied because object protected by object lock.', 403);
    case 'Busy':
    case 'Unavailable':
      // Nothing was decided: the client retries, and the gateway answers again by itself once the store is back.
      return Errors.metaUnavailable(err.message);
  }
}

function fromCold(err: ColdError): S3Error {
  switch (err.kind) {
    case 'Unavailable':
      return Errors.serviceUnavailable(err.message);
    case 'Corrupt':
      // Stored or cached data failed authentication: our fault, never the client's; the message names no secret.
      return new S3Error('InternalError', err.message, 500);
    case 'SourceEnded':
      return Errors.incompleteBody();
  }
}
