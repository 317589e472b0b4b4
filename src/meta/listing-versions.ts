/**
 * ListObjectVersions over both stores: object versions and delete markers of a bucket in key order (UTF-8 bytes),
 * newest first within a key, grouped by delimiter. The engine supplies one query (`fetch`); the walk, the markers and
 * the grouping live here once.
 */
import type { StoredChecksum, VersionEntry, VersionListQuery, VersionListResult } from '../model/records.js';
import { decodeKey, encodeKey, immediateSuccessor, prefixSuccessor } from './sqlite-listing.js';

/** A row of the union of object versions and delete markers, as both engines select it. */
export interface VersionRow {
  key: Buffer;
  version_id: string;
  seq: number;
  /** 1 for a delete marker. */
  marker: number;
  latest: number;
  size: number;
  etag: string;
  last_modified: number;
  checksum: string | null;
  storage_class: string | null;
  owner: string | null;
}

/** Rows with (key = from.key and seq < from.seqBelow) or key > from.key, below `upper` (none: unbounded). */
export interface VersionCursor {
  key: Buffer;
  seqBelow: number;
}

export type FetchVersions = (from: VersionCursor, upper: Buffer | null, limit: number) => Promise<VersionRow[]>;

const EVERY_SEQ = Number.MAX_SAFE_INTEGER;
const BATCH = 256;
/** Above every stored key: keys are well-formed UTF-8, which never contains 0xFF. Stands for "no upper bound". */
const KEY_CEILING = Buffer.from([0xff]);

export type VersionParam = 'bucket' | 'key' | 'seq' | 'upper' | 'limit';
export type VersionStream = 'sameCurrent' | 'sameNoncurrent' | 'sameMarkers' | 'afterCurrent' | 'afterNoncurrent' | 'afterMarkers';
export interface VersionStreamQuery {
  sql: string;
  /** The parameters in the order of their placeholders' positions. */
  params: VersionParam[];
}

const OBJECT_VERSION_COLUMNS = 'key, version_id, seq, 0 AS marker, current AS latest, size, etag, last_modified, checksum, storage_class, owner';
const MARKER_VERSION_COLUMNS = "key, version_id, seq, 1 AS marker, latest, 0 AS size, '' AS etag, last_modified, NULL AS checksum, NULL AS storage_class, owner";

/**
 * The six statements of a page, each a plain range of one index in its own order (latest versions by the listing
 * index, noncurrent versions and markers by their (bucket, key, seq DESC) indexes): the rows of the cursor's key
 * below its seq, and the rows of the keys after it. Merged in fetchVersions; no statement sorts.
 */
export function versionStreamQueries(placeholder: (param: VersionParam, position: number) => string): Record<VersionStream, VersionStreamQuery> {
  const build = (body: (use: (param: VersionParam) => string) => string): VersionStreamQuery => {
    const params: VersionParam[] = [];
    const use = (param: VersionParam): string => {
      if (!params.includes(param)) params.push(param);
      return placeholder(param, params.indexOf(param) + 1);
    };
    return { sql: body(use), params };
  };
  const objects = (u: (p: VersionParam) => string, current: 0 | 1) => `SELECT ${OBJECT_VERSION_COLUMNS} FROM objects WHERE bucket = ${u('bucket')} AND current = ${current}`;
  const markers = (u: (p: VersionParam) => string) => `SELECT ${MARKER_VERSION_COLUMNS} FROM delete_markers WHERE bucket = ${u('bucket')}`;
  const same = (u: (p: VersionParam) => string) => `AND key = ${u('key')} AND seq < ${u('seq')}`;
  const after = (u: (p: VersionParam) => string) => `AND key > ${u('key')} AND key < ${u('upper')}`;
  return {
    sameCurrent: build((u) => `${objects(u, 1)} ${same(u)}`),
    sameNoncurrent: build((u) => `${objects(u, 0)} ${same(u)} ORDER BY seq DESC LIMIT ${u('limit')}`),
    sameMarkers: build((u) => `${markers(u)} ${same(u)} ORDER BY seq DESC LIMIT ${u('limit')}`),
    afterCurrent: build((u) => `${objects(u, 1)} ${after(u)} ORDER BY key LIMIT ${u('limit')}`),
    afterNoncurrent: build((u) => `${objects(u, 0)} ${after(u)} ORDER BY key, seq DESC LIMIT ${u('limit')}`),
    afterMarkers: build((u) => `${markers(u)} ${after(u)} ORDER BY key, seq DESC LIMIT ${u('limit')}`),
  };
}

export type RunVersionStream = (stream: VersionStream, values: Record<VersionParam, unknown>) => Promise<VersionRow[]>;

/** Newest first within a key, keys in byte order. */
function compareRows(a: VersionRow, b: VersionRow): number {
  return Buffer.compare(a.key, b.key) || b.seq - a.seq;
}

/** `fetch` for listVersionPage from an engine's runner of the six statements. */
export function fetchVersions(bucket: string, run: RunVersionStream): FetchVersions {
  return async (from, upper, limit) => {
    const values = { bucket, key: from.key, seq: from.seqBelow, upper: upper ?? KEY_CEILING, limit };
    const same = (await Promise.all((['sameCurrent', 'sameNoncurrent', 'sameMarkers'] as const).map((s) => run(s, values)))).flat().sort(compareRows);
    if (same.length >= limit) return same.slice(0, limit);
    const rest = { ...values, limit: limit - same.length };
    const after = (await Promise.all((['afterCurrent', 'afterNoncurrent', 'afterMarkers'] as const).map((s) => run(s, rest)))).flat().sort(compareRows);
    return [...same, ...after].slice(0, limit);
  };
}

/**
 * One page. `markerSeq` resolves version-id-marker to its position (null: the version is gone, so the listing goes
 * on after the key, as S3 does).
 */
export async function listVersionPage(query: VersionListQuery, fetch: FetchVersions, markerSeq: (key: Buffer, versionId: string) => Promise<number | null>): Promise<VersionListResult> {
  const prefix = encodeKey(query.prefix ?? '');
  const delimiter = encodeKey(query.delimiter ?? '');
  const upper = prefixSuccessor(prefix);
  const groupOf = (key: Buffer): Buffer | null => {
    if (delimiter.length === 0) return null;
    const at = key.indexOf(delimiter, prefix.length);
    return at < 0 ? null : key.subarray(0, at + delimiter.length);
  };

  let cursor: VersionCursor = { key: prefix, seqBelow: EVERY_SEQ };
  const keyMarker = query.keyMarker === undefined || query.keyMarker === '' ? null : encodeKey(query.keyMarker);
  if (keyMarker !== null) {
    const seq = query.versionIdMarker !== undefined && query.versionIdMarker !== '' ? await markerSeq(keyMarker, query.versionIdMarker) : null;
    let start: VersionCursor | null;
    if (seq !== null) start = { key: keyMarker, seqBelow: seq };
    else if (groupOf(keyMarker)?.equals(keyMarker) === true) {
      const beyond = prefixSuccessor(keyMarker);
      start = beyond === null ? null : { key: beyond, seqBelow: EVERY_SEQ };
    } else start = { key: immediateSuccessor(keyMarker), seqBelow: EVERY_SEQ };
    if (start === null) return { entries: [], commonPrefixes: [], isTruncated: false };
    if (Buffer.compare(start.key, cursor.key) >= 0) cursor = start;
  }

  const entries: VersionEntry[] = [];
  const commonPrefixes: string[] = [];
  const page = (isTruncated: boolean): VersionListResult => ({ entries, commonPrefixes, isTruncated, ...(last !== undefined ? { last } : {}) });
  let last: VersionListResult['last'];
  let taken = 0;
  for (;;) {
    if (upper !== null && Buffer.compare(cursor.key, upper) >= 0) return page(false);
    const rows = await fetch(cursor, upper, BATCH);
    let next: VersionCursor | null = null;
    let pastGroup = false;
    for (const row of rows) {
      if (taken === query.maxKeys) return page(true);
      const group = groupOf(row.key);
      if (group !== null) {
        const text = decodeKey(group);
        commonPrefixes.push(text);
        last = { key: text };
        taken++;
        const beyond = prefixSuccessor(group);
        if (beyond === null) return page(false);
        next = { key: beyond, seqBelow: EVERY_SEQ };
        pastGroup = true;
        break;
      }
      const entry = entryOf(row);
      entries.push(entry);
      last = { key: entry.key, versionId: entry.versionId };
      taken++;
      next = { key: row.key, seqBelow: row.seq };
    }
    if (next === null || (!pastGroup && rows.length < BATCH)) return page(false);
    cursor = next;
  }
}

function entryOf(row: VersionRow): VersionEntry {
  const key = decodeKey(row.key);
  const owner = row.owner !== null ? { owner: row.owner } : {};
  if (row.marker === 1) return { kind: 'marker', key, versionId: row.version_id, isLatest: row.latest === 1, lastModified: row.last_modified, ...owner };
  return {
    kind: 'object',
    key,
    versionId: row.version_id,
    isLatest: row.latest === 1,
    size: row.size,
    etag: row.etag,
    lastModified: row.last_modified,
    ...(row.checksum !== null ? { checksum: JSON.parse(row.checksum) as StoredChecksum } : {}),
    ...(row.storage_class !== null ? { storageClass: row.storage_class } : {}),
    ...owner,
  };
}
