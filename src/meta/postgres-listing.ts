/**
 * ListObjects pages on PostgreSQL, each one bounded statement. A flat page is a keyset range scan of the covering
 * (bucket, key) index. A delimiter page is a recursive CTE of index seeks: a step reads keys from its cursor; a key
 * with the delimiter after the prefix becomes a common prefix and the cursor jumps past every key under it (the
 * prefix's successor), objects move the cursor just past them. Keys grouped away are not read (beyond one batch
 * after a run of objects), and the page costs one round trip.
 *
 * The prefix successor is computed in SQL by incrementing the prefix's last byte: a common prefix ends with the
 * delimiter's last byte, and well-formed UTF-8 has no 0xFF byte, so the increment never carries.
 */

import type { ListQuery, ListResult, ObjectSummary } from '../model/records.js';
import { objectListingBounds, summaryOf, type RawSummaryRow } from './listing-objects.js';

/** Above every stored key: keys are well-formed UTF-8, which never contains 0xFF. Stands for "no upper bound". */
export const KEY_CEILING = Buffer.from([0xff]);

// Keys come back as bytea and are decoded here: PostgreSQL text cannot hold U+0000, which S3 keys may contain.
const SUMMARY = `o.key, o.size, o.etag, o.last_modified, o.checksum, o.storage_class, o.owner`;

export const FLAT_PAGE_SQL = `SELECT ${SUMMARY} FROM objects o WHERE o.bucket = $1 AND o.key >= $2 AND o.key < $3 AND o.current = 1 ORDER BY o.key LIMIT $4`;

// $1 bucket, $2 lower, $3 upper, $4 prefix byte length, $5 delimiter, $6 entries wanted (maxKeys + 1).
// Each step reads up to k keys from its cursor and keeps them up to the first one that rolls up into a common prefix
// (that one becomes the prefix). k grows fourfold while steps find only objects (a directory of files costs a handful
// of seeks, not one per key) and drops back to 1 after a common prefix (so keys grouped away are not read).
export const DELIMITER_PAGE_SQL = `WITH RECURSIVE walk (n, key, size, etag, last_modified, checksum, storage_class, owner, cut, next, last, k) AS (
  SELECT 0::bigint, NULL::bytea, NULL::bigint, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::text, 0, $2::bytea, true, 1
  UNION ALL
  SELECT w.n + b.i, b.key, b.size, b.etag, b.last_modified, b.checksum, b.storage_class, b.owner, b.cut,
    CASE WHEN b.cut = 0 THEN b.key || '\\x00'::bytea
      ELSE substring(b.key FROM 1 FOR b.cut - 1) || set_byte('\\x00'::bytea, 0, get_byte(b.key, b.cut - 1) + 1) END,
    b.i = b.stop,
    CASE WHEN b.cut = 0 THEN least(w.k * 4, 1024) ELSE 1 END
  FROM walk w CROSS JOIN LATERAL (
    SELECT c.*, coalesce(c.first_group, c.cnt) AS stop FROM (
      SELECT r.*, min(CASE WHEN r.cut > 0 THEN r.i END) OVER () AS first_group, count(*) OVER () AS cnt FROM (
        SELECT o.key, o.size, o.etag, o.last_modified, o.checksum, o.storage_class, o.owner,
          CASE WHEN position($5::bytea IN substring(o.key FROM $4::int + 1)) = 0 THEN 0
            ELSE $4::int + position($5::bytea IN substring(o.key FROM $4::int + 1)) + length($5::bytea) - 1 END AS cut,
          row_number() OVER (ORDER BY o.key) AS i
        FROM objects o WHERE o.bucket = $1 AND o.key >= w.next AND o.key < $3 AND o.current = 1 ORDER BY o.key LIMIT least(w.k, $6::int - w.n)
      ) r
    ) c
  ) b
  WHERE w.last AND w.n < $6 AND b.i <= b.stop
)
SELECT CASE WHEN cut = 0 THEN key ELSE substring(key FROM 1 FOR cut) END, size, etag, last_modified,
  checksum, storage_class, owner, cut FROM walk WHERE n > 0 AND n <= $6 ORDER BY n`;

function textKey(row: unknown[]): unknown[] {
  row[0] = (row[0] as Buffer).toString('utf8');
  return row;
}

/** What the store gives the page: run one of the statements above, rows as arrays in their column order. */
export type PageQuery = (sql: 'flat' | 'delimiter', values: unknown[]) => Promise<unknown[][]>;

export async function listObjectPagePg(bucket: string, query: ListQuery, run: PageQuery): Promise<ListResult> {
  const objects: ObjectSummary[] = [];
  const commonPrefixes: string[] = [];
  const result: ListResult = { objects, commonPrefixes, isTruncated: false };
  const maxKeys = query.maxKeys;
  if (maxKeys <= 0) return result;
  const bounds = objectListingBounds(query);
  if (bounds === null) return result;
  const upper = bounds.upper ?? KEY_CEILING;

  if (bounds.delimiter.length === 0) {
    const rows = await run('flat', [bucket, bounds.lower, upper, maxKeys + 1]);
    const count = Math.min(rows.length, maxKeys);
    for (let i = 0; i < count; i++) objects.push(summaryOf(textKey(rows[i] as unknown[]) as RawSummaryRow));
    result.isTruncated = rows.length > maxKeys;
    const last = objects[objects.length - 1];
    if (last !== undefined) result.lastReturned = last.key;
    return result;
  }

  const rows = await run('delimiter', [bucket, bounds.lower, upper, bounds.prefix.length, bounds.delimiter, maxKeys + 1]);
  const count = Math.min(rows.length, maxKeys);
  for (let i = 0; i < count; i++) {
    const row = textKey(rows[i] as unknown[]) as [...RawSummaryRow, number];
    if (row[7] === 0) objects.push(summaryOf(row.slice(0, 7) as RawSummaryRow));
    else commonPrefixes.push(row[0]);
    result.lastReturned = row[0];
  }
  result.isTruncated = rows.length > maxKeys;
  return result;
}
