/**
 * What the cold tier reports to its callers. Its own kinds, not protocol errors: the S3 layer maps them to responses
 * (src/s3/error-mapping.ts), and callers below it decide on the kind (retry with open circuits, evict a hot copy).
 */
export type ColdErrorKind =
  /** Too few storage nodes could store or deliver the data; a retry may succeed. */
  | 'Unavailable'
  /** Stored or cached ciphertext failed authentication. */
  | 'Corrupt'
  /** The data source ended before the declared number of bytes. */
  | 'SourceEnded';

export class ColdError extends Error {
  constructor(
    readonly kind: ColdErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ColdError';
  }
}

export function isColdError(err: unknown, kind?: ColdErrorKind): err is ColdError {
  return err instanceof ColdError && (kind === undefined || err.kind === kind);
}
