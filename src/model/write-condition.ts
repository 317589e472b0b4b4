import { sameEtag } from './etag.js';
import type { WriteCondition } from './records.js';

/**
 * The one rule for conditional writes (PutObject, CopyObject, CompleteMultipartUpload): the header whose condition
 * fails against the key's current ETag (undefined: no object at the key), or undefined when the write may proceed.
 * If-Match on a missing key is 'NoSuchKey' (S3's user guide, "Conditional write behavior": no current version, 404
 * Not Found), whether checked early or inside the committing transaction; a mismatch is the header (412).
 */
export function failedWriteCondition(currentEtag: string | undefined, condition: WriteCondition | undefined): 'If-None-Match' | 'If-Match' | 'NoSuchKey' | undefined {
  if (condition === undefined) return undefined;
  if (condition.ifNoneMatch === true && currentEtag !== undefined) return 'If-None-Match';
  if (condition.ifMatch !== undefined) {
    const wanted = condition.ifMatch.trim();
    if (currentEtag === undefined) return 'NoSuchKey';
    if (wanted !== '*' && !sameEtag(wanted, currentEtag)) return 'If-Match';
  }
  return undefined;
}

/** True when the condition needs the key's current state at all. */
export function hasWriteCondition(condition: WriteCondition | undefined): condition is WriteCondition {
  return condition !== undefined && (condition.ifNoneMatch === true || condition.ifMatch !== undefined);
}
