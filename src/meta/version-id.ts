import { randomBytes } from 'node:crypto';

/** A new S3 version id: opaque, URL-safe, 32 characters, never 'null'. Order comes from the store's seq, not the id. */
export function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}

/** The version id a write gets in a bucket with versioning Enabled: the one the gateway sealed on nodes, else new. */
export function chosenVersionId(proposed: string | undefined): string {
  return proposed !== undefined && proposed !== 'null' ? proposed : newVersionId();
}
