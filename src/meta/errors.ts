/**
 * What the metadata store refuses, as data: the S3 layer maps each kind to its response (src/s3/error-mapping.ts).
 * `subject` names what the refusal is about (bucket name, upload id, key, or the failed condition header).
 */
export type MetaErrorKind =
  | 'NoSuchBucket'
  | 'BucketExists'
  | 'BucketNotEmpty'
  | 'NoSuchUpload'
  /** If-Match named a key that has no object (S3 answers 404 there, not 412); subject is the key. */
  | 'NoSuchKey'
  /** A write condition failed inside the committing transaction; subject is the header (If-Match, If-None-Match). */
  | 'PreconditionFailed'
  /** A completion names a part that is not (or no longer) stored as the caller read it. */
  | 'InvalidPart'
  /** The key has no representation the store can keep (not valid UTF-8). */
  | 'InvalidKey'
  /** Object Lock protects the version from this deletion or change (src/meta/object-lock.ts); subject is the key. */
  | 'ObjectLocked'
  /** A snapshot of this name exists (subject: the name). */
  | 'SnapshotExists'
  /**
   * The store is locked by another writer for longer than its busy timeout, or (PostgreSQL) unreachable, over its
   * statement timeout or out of retries after serialization failures; a retry may succeed.
   */
  | 'Busy'
  /** The store cannot answer at all now (down, failing over, its disk failing); a retry after a while may succeed. */
  | 'Unavailable';

export class MetaError extends Error {
  constructor(
    readonly kind: MetaErrorKind,
    readonly subject = '',
    message: string = kind,
  ) {
    super(message);
    this.name = 'MetaError';
  }
}

export function isMetaError(err: unknown, kind?: MetaErrorKind): err is MetaError {
  return err instanceof MetaError && (kind === undefined || err.kind === kind);
}
