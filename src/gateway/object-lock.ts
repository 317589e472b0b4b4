import type { ObjectLock, ObjectLockConfig } from '../model/records.js';
import { GatewayError } from './errors.js';

/** The bucket's Object Lock configuration from its stored setting; null when Object Lock was never enabled. */
export function parseLockConfig(doc: string | null): ObjectLockConfig | null {
  if (doc === null) return null;
  const parsed = JSON.parse(doc) as ObjectLockConfig;
  return parsed.enabled === true ? parsed : null;
}

/** When the bucket's default retention, applied to a version written at `now`, ends (S3 counts calendar years). */
export function defaultRetentionUntil(rule: NonNullable<ObjectLockConfig['defaultRetention']>, now: number): number {
  const d = new Date(now);
  if (rule.years !== undefined) d.setUTCFullYear(d.getUTCFullYear() + rule.years);
  else d.setUTCDate(d.getUTCDate() + (rule.days ?? 0));
  return d.getTime();
}

/**
 * The lock state a new version takes: what the request asked for, the bucket's default retention where it asked
 * for none. Asking for any of it in a bucket without Object Lock is refused, as S3 does.
 */
export function lockOfNewVersion(bucket: string, config: ObjectLockConfig | null, requested: ObjectLock | undefined, now: number): ObjectLock | undefined {
  if (config === null) {
    if (requested !== undefined) throw new GatewayError('ObjectLockNotEnabled', bucket);
    return undefined;
  }
  const rule = config.defaultRetention;
  const retention = requested?.retention ?? (rule !== undefined ? { mode: rule.mode, until: defaultRetentionUntil(rule, now) } : undefined);
  const lock: ObjectLock = { ...(retention ? { retention } : {}), ...(requested?.legalHold === true ? { legalHold: true } : {}) };
  return lock.retention === undefined && lock.legalHold === undefined ? undefined : lock;
}
