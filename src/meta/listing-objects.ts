/**
 * One ListObjects page, the same entries as `listingEntries` + `takePage` (sqlite-listing.ts) over object summaries,
 * shaped for speed: a page without a delimiter is one bounded statement, rows come back as arrays with the key
 * already text (SQLite reads the UTF-8 BLOB as TEXT), and delimiter rollups are found on the string.
 *
 * Searching the decoded key for the decoded delimiter finds the same split as searching the bytes: both are
 * well-formed UTF-8 (encodeKey refuses lone surrogates), and a well-formed UTF-8 sequence can only match another at a
 * character boundary, so byte offsets and UTF-16 offsets name the same positions. Every row lies within the prefix's
 * range, so it starts with the prefix as a string too.
 */

import { encodeKey, immediateSuccessor, prefixSuccessor } from './sqlite-listing.js';
import type { ListQuery, ListResult, ObjectSummary, StoredChecksum } from '../model/records.js';

/** Column order of the raw listing statements (sqlite-statements.ts). */
export type RawSummaryRow = [key: string, size: number, etag: string, lastModified: number, checksum: string | null, storageClass: string | null, owner: string | null];

export interface ObjectListingSource {
  /** Up to `limit` rows with lower <= key < upper (no upper bound when null), in key order. */
  page(lower: Buffer, upper: Buffer | null, limit: number): RawSummaryRow[];
  /** The same rows, lazily; closed early when a common prefix ends the walk. */
  scan(lower: Buffer, upper: Buffer | null): IterableIterator<RawSummaryRow>;
}

export function summaryOf(row: RawSummaryRow): ObjectSummary {
  const summary: ObjectSummary = { key: row[0], size: row[1], etag: row[2], lastModified: row[3] };
  // The checksum JSON is written only by the store from a typed record.
  if (row[4] !== null) summary.checksum = JSON.parse(row[4]) as StoredChecksum;
  if (row[5] !== null) summary.storageClass = row[5];
  if (row[6] !== null) summary.owner = row[6];
  return summary;
}

function maxBuffer(a: Buffer, b: Buffer): Buffer {
  return Buffer.compare(a, b) >= 0 ? a : b;
}

/**
 * Where a ListObjects page starts: the byte range [lower, upper) (no upper bound when null) and the prefix/delimiter
 * in both forms; null when the page is empty whatever the store holds. A marker that is itself a common prefix skips
 * everything under it. Shared by both stores so their pages cannot differ.
 */
export interface ObjectListingBounds {
  prefix: Buffer;
  prefixText: string;
  delimiter: Buffer;
  delimiterText: string;
  lower: Buffer;
  upper: Buffer | null;
}

export function objectListingBounds(query: ListQuery): ObjectListingBounds | null {
  const prefixText = query.prefix ?? '';
  const delimiterText = query.delimiter ?? '';
  const prefix = encodeKey(prefixText);
  const delimiter = encodeKey(delimiterText);
  const after = query.after === undefined ? null : encodeKey(query.after);
  const upper = prefixSuccessor(prefix);
  let lower = prefix;
  if (after !== null) {
    let afterIsCommonPrefix = false;
    if (delimiter.length > 0) {
      const inRange = after.length >= prefix.length && after.subarray(0, prefix.length).equals(prefix) && (upper === null || Buffer.compare(after, upper) < 0);
      const at = inRange ? after.indexOf(delimiter, prefix.length) : -1;
      afterIsCommonPrefix = at >= 0 && at + delimiter.length === after.length;
    }
    const afterBound = afterIsCommonPrefix ? prefixSuccessor(after) : immediateSuccessor(after);
    if (afterBound === null) return null;
    lower = maxBuffer(afterBound, lower);
  }
  if (upper !== null && Buffer.compare(lower, upper) >= 0) return null;
  return { prefix, prefixText, delimiter, delimiterText, lower, upper };
}

export function listObjectPage(source: ObjectListingSource, query: ListQuery): ListResult {
  const objects: ObjectSummary[] = [];
  const commonPrefixes: string[] = [];
  const result: ListResult = { objects, commonPrefixes, isTruncated: false };
  const maxKeys = query.maxKeys;
  // maxKeys 0 returns an empty, untruncated page (AWS reports IsTruncated=true when keys exist; nobody pages with 0).
  if (maxKeys <= 0) return result;
  const bounds = objectListingBounds(query);
  if (bounds === null) return result;
  const { prefixText, delimiter, delimiterText, upper } = bounds;

  if (delimiter.length === 0) {
    const rows = source.page(bounds.lower, upper, maxKeys + 1);
    const count = Math.min(rows.length, maxKeys);
    for (let i = 0; i < count; i++) objects.push(summaryOf(rows[i] as RawSummaryRow));
    result.isTruncated = rows.length > maxKeys;
    const last = objects[objects.length - 1];
    if (last !== undefined) result.lastReturned = last.key;
    return result;
  }

  let lower = bounds.lower;
  let returned = 0;
  let lastReturned: string | undefined;
  walk: for (;;) {
    if (upper !== null && Buffer.compare(lower, upper) >= 0) break;
    let next: Buffer | null = null;
    for (const row of source.scan(lower, upper)) {
      const key = row[0];
      const at = key.indexOf(delimiterText, prefixText.length);
      if (returned === maxKeys) {
        result.isTruncated = true;
        break walk;
      }
      returned++;
      if (at < 0) {
        objects.push(summaryOf(row));
        lastReturned = key;
        continue;
      }
      lastReturned = key.slice(0, at + delimiterText.length);
      commonPrefixes.push(lastReturned);
      // Leaving the loop closes the statement; the next seek starts past the whole group.
      next = prefixSuccessor(encodeKey(lastReturned));
      break;
    }
    if (next === null) break;
    lower = next;
  }
  if (lastReturned !== undefined) result.lastReturned = lastReturned;
  return result;
}
