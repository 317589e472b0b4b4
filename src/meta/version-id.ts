import { randomBytes } from 'node:crypto';

/** A new S3 version id: opaque, URL-safe, 32 characters, never 'null'. Order comes from the store's seq, not the id. */
export function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}
