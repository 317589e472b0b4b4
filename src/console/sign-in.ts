import type { UserConfig } from '../config/types.js';
import { sameSecret } from './sessions.js';

/** A console administrator: a user granted admin on every bucket ("*": admin), as the S3 side defines an admin. */
export function isConsoleAdmin(user: UserConfig): boolean {
  return user.buckets['*'] === 'admin';
}

export type SignInOutcome = { ok: true; user: UserConfig } | { ok: false; reason: 'bad-credentials' | 'not-admin' };

/**
 * Checks an access key and secret against the configured users. Every key is compared in constant time (no early
 * exit that tells a known key from an unknown one by timing); only a caller who knows the secret learns that the key
 * is not an admin's.
 */
export function signIn(users: readonly UserConfig[], accessKey: string, secretKey: string): SignInOutcome {
  let match: UserConfig | undefined;
  for (const u of users) if (sameSecret(u.accessKey, accessKey) && sameSecret(u.secretKey, secretKey)) match ??= u;
  if (!match) return { ok: false, reason: 'bad-credentials' };
  return isConsoleAdmin(match) ? { ok: true, user: match } : { ok: false, reason: 'not-admin' };
}

/** Failed sign-ins per source address: after `limit` in `windowMs`, further tries are refused until the window passes. */
export class SignInThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 10,
    private readonly windowMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until this address may try again; 0 when it may now. */
  retryAfterMs(address: string): number {
    const recent = this.recent(address);
    if (recent.length < this.limit) return 0;
    return Math.max(1, (recent[0] ?? 0) + this.windowMs - this.now());
  }

  failed(address: string): void {
    const recent = this.recent(address);
    recent.push(this.now());
    this.failures.set(address, recent);
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value ?? address);
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }

  private recent(address: string): number[] {
    const cutoff = this.now() - this.windowMs;
    return (this.failures.get(address) ?? []).filter((t) => t > cutoff);
  }
}
