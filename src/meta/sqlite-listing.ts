/**
 * Byte-order listing over keys stored as BLOBs of their UTF-8 encoding. SQLite compares BLOBs with memcmp, which is
 * exactly S3's UTF-8 byte order (a TEXT column would also memcmp, but a byte-wise successor is not always valid
 * UTF-8 and SQLite orders every TEXT before every BLOB, so the bounds could not be expressed).
 */

import { MetaError } from './errors.js';

const ZERO_BYTE = Buffer.from([0]);
/** With the u flag, only a lone surrogate matches \p{Cs}; well-formed pairs are read as one astral code point. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * UTF-8 bytes of a key. A string with a lone surrogate has no UTF-8 form (Buffer would substitute U+FFFD and two
 * different keys would alias), so it is refused.
 */
export function encodeKey(key: string): Buffer {
  if (LONE_SURROGATE.test(key)) throw new MetaError('InvalidKey', key, 'Object key is not valid UTF-8.');
  return Buffer.from(key, 'utf8');
}

export function decodeKey(bytes: Buffer): string {
  return bytes.toString('utf8');
}

/** Smallest byte string strictly greater than `bytes` (append a 0x00). */
export function immediateSuccessor(bytes: Buffer): Buffer {
  return Buffer.concat([bytes, ZERO_BYTE]);
}

/**
 * Smallest byte string greater than every string starting with `prefix`: drop trailing 0xFF bytes, then increment
 * the last byte. Null when no such string exists (empty or all-0xFF prefix), meaning "no upper bound".
 */
export function prefixSuccessor(prefix: Buffer): Buffer | null {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return null;
  const successor = Buffer.from(prefix.subarray(0, end));
  successor[end - 1] = (successor[end - 1] ?? 0) + 1;
  return successor;
}

export interface KeyedRow {
  key: Buffer;
}

export type ListingEntry<R extends KeyedRow> = { kind: 'row'; row: R } | { kind: 'prefix'; prefix: Buffer };

export interface ListingScan<R extends KeyedRow> {
  prefix: Buffer;
  /** Empty means no grouping. */
  delimiter: Buffer;
  /** Exclusive lower bound; when it is itself a common prefix, everything under it is skipped. */
  after: Buffer | null;
  /** Rows with lower <= key < upper (no upper bound when null), in key order; may be closed early. */
  seek(lower: Buffer, upper: Buffer | null): IterableIterator<R>;
  /** Rows whose key equals `after` that still belong to the listing (uploads after an upload-id marker). */
  leading?: Iterable<R>;
}

/**
 * The listing's entries in order, lazily. Each common prefix costs one index seek past all keys under it, so keys
 * that are grouped away are never read.
 */
export function* listingEntries<R extends KeyedRow>(scan: ListingScan<R>): Generator<ListingEntry<R>, void, undefined> {
  const { prefix, delimiter, after } = scan;
  const upper = prefixSuccessor(prefix);
  const commonPrefixOf = (key: Buffer): Buffer | null => {
    if (delimiter.length === 0) return null;
    const at = key.indexOf(delimiter, prefix.length);
    return at < 0 ? null : key.subarray(0, at + delimiter.length);
  };
  const inRange = (key: Buffer): boolean =>
    key.length >= prefix.length && key.subarray(0, prefix.length).equals(prefix) && (upper === null || Buffer.compare(key, upper) < 0);

  let lower: Buffer = prefix;
  if (after !== null) {
    const afterIsCommonPrefix = inRange(after) && commonPrefixOf(after)?.equals(after) === true;
    const afterBound = afterIsCommonPrefix ? prefixSuccessor(after) : immediateSuccessor(after);
    if (afterBound === null) return;
    if (Buffer.compare(afterBound, lower) > 0) lower = afterBound;
  }

  let lastPrefix: Buffer | null = null;
  for (const row of scan.leading ?? []) {
    if (!inRange(row.key)) continue;
    const group = commonPrefixOf(row.key);
    if (group === null) {
      yield { kind: 'row', row };
      continue;
    }
    if ((after !== null && group.equals(after)) || (lastPrefix !== null && group.equals(lastPrefix))) continue;
    lastPrefix = group;
    yield { kind: 'prefix', prefix: group };
    const beyond = prefixSuccessor(group);
    if (beyond === null) return;
    if (Buffer.compare(beyond, lower) > 0) lower = beyond;
  }

  for (;;) {
    if (upper !== null && Buffer.compare(lower, upper) >= 0) return;
    let next: Buffer | null = null;
    for (const row of scan.seek(lower, upper)) {
      const group = commonPrefixOf(row.key);
      if (group === null) {
        yield { kind: 'row', row };
        continue;
      }
      yield { kind: 'prefix', prefix: group };
      // Leaving the loop closes the statement; the next seek starts past the whole group.
      next = prefixSuccessor(group);
      break;
    }
    if (next === null) return;
    lower = next;
  }
}

/** Up to `limit` entries, and whether at least one more exists. */
export function takePage<E>(entries: Generator<E, void, undefined>, limit: number): { page: E[]; isTruncated: boolean } {
  const page: E[] = [];
  try {
    if (limit <= 0) return { page, isTruncated: false };
    for (;;) {
      const step = entries.next();
      if (step.done === true) return { page, isTruncated: false };
      if (page.length === limit) return { page, isTruncated: true };
      page.push(step.value);
    }
  } finally {
    entries.return(undefined);
  }
}
