import type { ShardRef } from '../model/manifest.js';
import type { LockChange, ObjectLock, ObjectRecord } from '../model/records.js';
import { MetaError } from './errors.js';

/**
 * S3 Object Lock's rules, applied by both stores inside the transaction that would destroy or change a version, so
 * they hold under races and on every path (API, DeleteObjects, lifecycle, bucket deletion): a legal hold and an
 * unexpired COMPLIANCE retention protect a version from everyone; an unexpired GOVERNANCE retention from everyone
 * who does not bypass it (the S3 layer decides who may).
 */
export type LockProtection = 'legal hold' | 'COMPLIANCE retention' | 'GOVERNANCE retention';

export function protectionOf(lock: ObjectLock | undefined, now: number, bypassGovernance: boolean): LockProtection | null {
  if (lock?.legalHold === true) return 'legal hold';
  const retention = lock?.retention;
  if (retention === undefined || retention.until <= now) return null;
  if (retention.mode === 'COMPLIANCE') return 'COMPLIANCE retention';
  return bypassGovernance ? null : 'GOVERNANCE retention';
}

/** Throws ObjectLocked when the version may not be destroyed now. */
export function assertDestroyable(key: string, lock: ObjectLock | undefined, now: number, bypassGovernance: boolean): void {
  const protection = protectionOf(lock, now, bypassGovernance);
  if (protection !== null) throw new MetaError('ObjectLocked', key, `the version is protected by its ${protection}`);
}


/**
 * The state after `change`, or ObjectLocked: an unexpired retention may be kept or extended by anyone allowed to
 * set retention; shortened, removed or given another mode only when it is GOVERNANCE and bypassed (as S3 and Ceph do:
 * even GOVERNANCE to COMPLIANCE takes the bypass).
 */
export function applyLockChange(key: string, current: ObjectLock | undefined, change: LockChange, now: number, bypassGovernance: boolean): ObjectLock | undefined {
  const next: ObjectLock = { ...current };
  if (change.retention !== undefined) {
    const held = current?.retention;
    const wanted = change.retention;
    if (held !== undefined && held.until > now) {
      const changes = wanted === null || wanted.until < held.until || wanted.mode !== held.mode;
      if (changes && (held.mode === 'COMPLIANCE' || !bypassGovernance)) {
        throw new MetaError('ObjectLocked', key, `the version's ${held.mode} retention can only be extended`);
      }
    }
    if (wanted === null) delete next.retention;
    else next.retention = wanted;
  }
  // A hold turned off stays recorded as OFF, which GetObjectLegalHold answers.
  if (change.legalHold !== undefined) next.legalHold = change.legalHold;
  return next.retention === undefined && next.legalHold === undefined ? undefined : next;
}

/** The record after a lock change, with its record copies swapped when `copies` is given: what both stores write. */
export function withLockChange(record: ObjectRecord, change: LockChange, now: number, bypassGovernance: boolean, copies?: ShardRef[]): ObjectRecord {
  const lock = applyLockChange(record.key, record.lock, change, now, bypassGovernance);
  const updated: ObjectRecord = { ...record, manifest: copies ? { ...record.manifest, copies } : record.manifest };
  if (lock === undefined) delete updated.lock;
  else updated.lock = lock;
  return updated;
}
