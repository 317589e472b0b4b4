/**
 * What the object service refuses, as data; the S3 layer maps each kind to its response (src/s3/error-mapping.ts).
 * `subject` names what it is about (bucket, key, upload id, failed condition header, part number, checksum algorithm).
 */
export type GatewayErrorKind =
  | 'NoSuchBucket'
  | 'NoSuchKey'
  | 'NoSuchUpload'
  /** A write condition failed in the early check; subject is the header. */
  | 'PreconditionFailed'
  /** The body's digest differs from the one the client declared; subject is the algorithm, '' for Content-MD5. */
  | 'DigestMismatch'
  /** subject is the part number as given. */
  | 'PartNumberOutOfRange'
  /** A completion names a part that is not stored with that ETag or checksum; subject is the part number. */
  | 'InvalidPart'
  /** A part other than the last is below the minimum part size; subject is the part number, detail size and etag. */
  | 'PartTooSmall'
  /** The body ended (or the client went away) before its declared length. */
  | 'BodyTooShort'
  | 'BodyTooLong'
  /** The key has no version with this id; subject is the key, detail.versionId the id asked for. */
  | 'NoSuchVersion'
  /**
   * A delete marker stands where an object was asked for; subject is the key, detail carries the marker's versionId
   * and lastModified (ms), and asked: 'latest' (a read without version id) or 'by-version'.
   */
  | 'DeleteMarker'
  /** Object Lock settings were given for a bucket that does not have Object Lock enabled; subject is the bucket. */
  | 'ObjectLockNotEnabled'
  /** The change conflicts with the bucket's state (Object Lock needs versioning Enabled, and keeps it); subject is the bucket. */
  | 'InvalidBucketState'
  /** No (ready) dataset snapshot of this name; subject is the name. */
  | 'NoSuchSnapshot'
  /** A snapshot name must be a valid bucket name (it is read as one); subject is the name. */
  | 'InvalidSnapshotName'
  /** The name belongs to a bucket or a snapshot already (they share one namespace); subject is the name. */
  | 'NameTaken'
  /** A write (or a configuration) was asked of a snapshot, which is read-only; subject is the snapshot. */
  | 'SnapshotReadOnly';

export class GatewayError extends Error {
  constructor(
    readonly kind: GatewayErrorKind,
    readonly subject = '',
    readonly detail: Readonly<Record<string, string>> = {},
    message: string = kind,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

export function isGatewayError(err: unknown, kind?: GatewayErrorKind): err is GatewayError {
  return err instanceof GatewayError && (kind === undefined || err.kind === kind);
}
