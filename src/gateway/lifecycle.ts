import { isMetaError } from '../meta/errors.js';
import type { LifecycleRule, VersionEntry } from '../model/records.js';
import type { Logger } from '../util/logger.js';
import type { ObjectService } from './types.js';

/**
 * The lifecycle job: applies each bucket's rules (S3's Expiration, NoncurrentVersionExpiration, expired delete
 * markers, AbortIncompleteMultipartUpload) through the object service, so every delete is the one an S3 client would
 * make: a delete marker in a versioned bucket, Object Lock enforced by the store (a protected version is skipped and
 * counted, never forced), the nodes' records updated.
 */

const DAY_MS = 86_400_000;

export interface LifecycleSummary {
  buckets: number;
  /** Current versions expired (removed, or hidden behind a delete marker in a versioned bucket). */
  expired: number;
  /** Noncurrent versions deleted for good. */
  noncurrentDeleted: number;
  /** Delete markers removed because no version was left behind them. */
  markersRemoved: number;
  uploadsAborted: number;
  /** Versions a rule would have deleted but Object Lock protects. */
  locked: number;
  failed: number;
}

/** When something `days` after `from` is due: S3 rounds up to the next midnight UTC. */
export function dueAt(from: number, days: number): number {
  const t = from + days * DAY_MS;
  return Math.ceil(t / DAY_MS) * DAY_MS;
}

export function parseRules(doc: string | null): LifecycleRule[] {
  return doc === null ? [] : (JSON.parse(doc) as LifecycleRule[]);
}

/** A key's versions, newest first, across listing pages. */
async function* keyHistories(service: ObjectService, bucket: string, prefix: string, signal?: AbortSignal): AsyncIterable<VersionEntry[]> {
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  let group: VersionEntry[] = [];
  for (;;) {
    if (signal?.aborted) return;
    const page = await service.listObjectVersions(bucket, {
      prefix,
      maxKeys: 1000,
      ...(keyMarker !== undefined ? { keyMarker } : {}),
      ...(versionIdMarker !== undefined ? { versionIdMarker } : {}),
    });
    for (const entry of page.entries) {
      if (group.length > 0 && group[0]!.key !== entry.key) {
        yield group;
        group = [];
      }
      group.push(entry);
    }
    if (!page.isTruncated || page.last === undefined) break;
    keyMarker = page.last.key;
    versionIdMarker = page.last.versionId;
  }
  if (group.length > 0) yield group;
}

export async function runLifecycle(service: ObjectService, now: number, log?: Logger, signal?: AbortSignal): Promise<LifecycleSummary> {
  const sum: LifecycleSummary = { buckets: 0, expired: 0, noncurrentDeleted: 0, markersRemoved: 0, uploadsAborted: 0, locked: 0, failed: 0 };
  for (const bucket of await service.listBuckets()) {
    const rules = parseRules(await service.getBucketConfig(bucket.name, 'lifecycle')).filter((r) => r.enabled);
    if (rules.length === 0) continue;
    sum.buckets++;
    const attempt = async (what: keyof LifecycleSummary, work: () => Promise<unknown>): Promise<void> => {
      try {
        await work();
        sum[what]++;
      } catch (err) {
        if (err instanceof SkippedError) return;
        if (isMetaError(err, 'ObjectLocked')) sum.locked++;
        else {
          sum.failed++;
          log?.warn({ bucket: bucket.name, err: (err as Error).message }, 'lifecycle action failed');
        }
      }
    };
    for (const rule of rules) {
      if (rule.expiration !== undefined || rule.noncurrentExpiration !== undefined) {
        for await (const versions of keyHistories(service, bucket.name, rule.prefix, signal)) {
          await applyToKey(service, bucket.name, rule, versions, now, attempt);
        }
      }
      if (rule.abortIncompleteUploadDays !== undefined) {
        const days = rule.abortIncompleteUploadDays;
        let keyMarker: string | undefined;
        let uploadIdMarker: string | undefined;
        for (;;) {
          if (signal?.aborted) break;
          const page = await service.listUploads(bucket.name, {
            prefix: rule.prefix,
            maxUploads: 1000,
            ...(keyMarker !== undefined ? { keyMarker } : {}),
            ...(uploadIdMarker !== undefined ? { uploadIdMarker } : {}),
          });
          for (const u of page.uploads) {
            if (dueAt(u.initiated, days) <= now) await attempt('uploadsAborted', () => service.abortUpload(bucket.name, u.key, u.uploadId));
          }
          const last = page.uploads.at(-1);
          if (!page.isTruncated || last === undefined) break;
          keyMarker = last.key;
          uploadIdMarker = last.uploadId;
        }
      }
    }
  }
  return sum;
}

async function applyToKey(
  service: ObjectService,
  bucket: string,
  rule: LifecycleRule,
  versions: VersionEntry[],
  now: number,
  attempt: (what: keyof LifecycleSummary, work: () => Promise<unknown>) => Promise<void>,
): Promise<void> {
  const latest = versions[0]!;
  const exp = rule.expiration;
  if (exp !== undefined && latest.isLatest) {
    if (latest.kind === 'object' && !('expiredObjectDeleteMarker' in exp)) {
      const due = 'days' in exp ? dueAt(latest.lastModified, exp.days) : exp.date;
      if (due <= now) {
        await attempt('expired', async () => {
          // The key may have been written since the listing: expire only the version the rule saw.
          const current = await service.findObject(bucket, latest.key);
          if (current === null || current.etag !== latest.etag || current.lastModified !== latest.lastModified) throw new SkippedError();
          await service.deleteObject(bucket, latest.key);
        });
      }
    }
    // A delete marker with nothing behind it is removed (Expiration with ExpiredObjectDeleteMarker, or Days: S3 does both).
    if (latest.kind === 'marker' && versions.length === 1 && ('expiredObjectDeleteMarker' in exp || 'days' in exp)) {
      await attempt('markersRemoved', () => service.deleteObject(bucket, latest.key, { versionId: latest.versionId }));
    }
  }
  const nc = rule.noncurrentExpiration;
  if (nc !== undefined) {
    let noncurrent = 0;
    for (let i = 1; i < versions.length; i++) {
      const v = versions[i]!;
      if (v.kind !== 'object') continue;
      noncurrent++;
      if (nc.newerNoncurrentVersions !== undefined && noncurrent <= nc.newerNoncurrentVersions) continue;
      // A version became noncurrent when the next newer one was written.
      if (dueAt(versions[i - 1]!.lastModified, nc.days) <= now) {
        await attempt('noncurrentDeleted', () => service.deleteObject(bucket, v.key, { versionId: v.versionId }));
      }
    }
  }
}

/** The version changed since the listing: nothing to do, nothing failed. */
class SkippedError extends Error {}
