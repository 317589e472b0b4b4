import { ColdError } from '../cold/errors.js';
import { MetaError } from '../meta/errors.js';
import { Errors, S3Error } from '../util/s3-error.js';

/**
 * The one place where the inner layers' error kinds become S3 errors. Layers below the protocol raise their own kinds
 * (MetaError, ColdError); the response path asks here. Undefined means "not a client-facing error": a bug, answered 500.
 */
export function toProtocolError(err: unknown): S3Error | undefined {
  if (err instanceof S3Error) return err;
  if (err instanceof MetaError) return fromMeta(err);
  if (err instanceof ColdError) return fromCold(err);
  return undefined;
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
    case 'PreconditionFailed':
      return Errors.preconditionFailed(err.subject);
    case 'InvalidPart':
      return Errors.invalidPart(Number(err.subject));
    case 'InvalidKey':
      return Errors.invalidArgument('Object key is not valid UTF-8.', 'key');
    case 'Busy':
      return Errors.serviceUnavailable(err.message);
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
