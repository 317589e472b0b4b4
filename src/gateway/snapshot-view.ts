import type { BucketRecord, ListQuery, ListResult, ObjectRecord, SnapshotEntry, SnapshotRecord } from '../model/records.js';
import { GatewayError } from './errors.js';
import type { ObjectService } from './types.js';

/**
 * A ready snapshot read as a bucket of its name, by unchanged S3 clients: listing, HEAD and GET serve the versions it
 * pinned (from the source bucket, through the usual read path); anything that would write is refused.
 */

/** Sorts after every key that starts with the string it is appended to (U+10FFFF is the largest code point). */
const BEYOND = '\u{10FFFF}';

/** S3's listing (prefix, delimiter, start after, max keys) over a snapshot's entries. */
export async function listSnapshotPage(fetch: (q: { after?: string; prefix?: string; limit: number }) => Promise<SnapshotEntry[]>, query: ListQuery): Promise<ListResult> {
  const prefix = query.prefix ?? '';
  const delimiter = query.delimiter;
  const commonPrefixOf = (key: string): string | undefined => {
    if (delimiter === undefined || !key.startsWith(prefix)) return undefined;
    const i = key.indexOf(delimiter, prefix.length);
    return i < 0 ? undefined : key.slice(0, i + delimiter.length);
  };
  const result: ListResult = { objects: [], commonPrefixes: [], isTruncated: false };
  if (query.maxKeys === 0) return result;
  let cursor = query.after;
  // Starting after a common prefix skips everything under it, as S3 does.
  if (cursor !== undefined && commonPrefixOf(cursor) === cursor) cursor += BEYOND;
  let count = 0;
  for (;;) {
    const limit = Math.min(1000, query.maxKeys - count + 1);
    const page = await fetch({ ...(cursor !== undefined ? { after: cursor } : {}), ...(prefix !== '' ? { prefix } : {}), limit });
    let refetch = false;
    for (const e of page) {
      const cp = commonPrefixOf(e.key);
      if (count === query.maxKeys) {
        result.isTruncated = true;
        return result;
      }
      if (cp !== undefined) {
        result.commonPrefixes.push(cp);
        result.lastReturned = cp;
        count++;
        cursor = cp + BEYOND;
        refetch = true;
        break;
      }
      result.objects.push({ key: e.key, size: e.size, etag: e.etag, lastModified: e.lastModified });
      result.lastReturned = e.key;
      cursor = e.key;
      count++;
    }
    if (!refetch && page.length < limit) return result;
  }
}

function readOnly(): never {
  throw new GatewayError('SnapshotReadOnly');
}

/** The object service as a snapshot bucket shows it: reads of pinned versions, and nothing else. */
export function snapshotView(service: ObjectService, snapshot: SnapshotRecord, source: BucketRecord): ObjectService {
  const entry = async (key: string): Promise<SnapshotEntry | null> => {
    const [e] = await service.snapshots.entriesPage(snapshot.name, { prefix: key, limit: 1 });
    return e !== undefined && e.key === key ? e : null;
  };
  const pinned = async (key: string, versionId?: string): Promise<ObjectRecord> => {
    const e = await entry(key);
    if (e === null) throw new GatewayError('NoSuchKey', key);
    if (versionId !== undefined && versionId !== e.versionId) throw new GatewayError('NoSuchVersion', key, { versionId });
    return service.headObject(snapshot.bucket, key, e.versionId);
  };
  const overrides: Partial<ObjectService> = {
    getBucket: async (name) => (name === snapshot.name ? { name, owner: source.owner, region: source.region, createdAt: snapshot.createdAt } : service.getBucket(name)),
    listObjects: (_bucket, query) => listSnapshotPage((q) => service.snapshots.entriesPage(snapshot.name, q), query),
    headObject: (_bucket, key, versionId) => pinned(key, versionId),
    findObject: async (_bucket, key) => pinned(key).catch(() => null),
    openObject: (record, range) => service.openObject(record, range),
    getBucketConfig: async () => null,
    getBucketConfigs: async () => ({}),
  };
  return new Proxy(service, {
    get(target, prop, receiver) {
      if (prop in overrides) return overrides[prop as keyof ObjectService];
      if (prop === 'snapshots') return Reflect.get(target, prop, receiver) as unknown;
      return readOnly;
    },
  });
}
