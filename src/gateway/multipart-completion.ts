import { MIN_PART_BYTES } from '../model/limits.js';
import { sameEtag } from '../model/etag.js';
import type { PartRecord } from '../model/records.js';
import { GatewayError } from './errors.js';
import type { CompletePart } from './types.js';

/**
 * The content checks AWS makes on CompleteMultipartUpload, in one place: every listed part is stored with the listed
 * ETag (and checksum, when both sides have one), and every part but the last is at least MIN_PART_BYTES. The list's
 * syntax (non-empty, ascending, part numbers in range) is the protocol layer's; the store's transaction rechecks that
 * the parts did not change meanwhile. Returns the stored parts in the listed order.
 */
export function checkCompletionParts(requested: readonly CompletePart[], stored: ReadonlyMap<number, PartRecord>): PartRecord[] {
  return requested.map((want, index) => {
    const have = stored.get(want.partNumber);
    if (!have || !sameEtag(want.etag, have.etag)) throw new GatewayError('InvalidPart', String(want.partNumber));
    if (want.checksum !== undefined && have.checksum && want.checksum !== have.checksum.value) throw new GatewayError('InvalidPart', String(want.partNumber));
    if (index < requested.length - 1 && have.size < MIN_PART_BYTES) {
      throw new GatewayError('PartTooSmall', String(want.partNumber), { size: String(have.size), etag: have.etag });
    }
    return have;
  });
}
