import type { Permission, UserConfig } from '../config/types.js';
import type { Need } from './routing.js';

const RANK: Record<Permission, number> = { read: 1, write: 2, admin: 3 };
const NEED_RANK: Record<Need, number> = { none: 0, read: 1, write: 2, admin: 3 };

/**
 * The user's effective permission on a bucket: the stronger of its own entry and the "*" entry (a "*" grant applies
 * to every bucket, so a per-bucket entry can add rights but not take away what "*" gives).
 */
export function permissionOn(user: UserConfig, bucket: string): number {
  const own = Object.prototype.hasOwnProperty.call(user.buckets, bucket) ? user.buckets[bucket] : undefined;
  const star = user.buckets['*'];
  return Math.max(own ? RANK[own] : 0, star ? RANK[star] : 0);
}

export function may(user: UserConfig, bucket: string, need: Need): boolean {
  return permissionOn(user, bucket) >= NEED_RANK[need];
}
