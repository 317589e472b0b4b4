import { createHash } from 'node:crypto';
import { el, textEl } from './xml.js';

/** Stable opaque owner id for an access key (the canonical-user-id shape: 64 hex). Never derived from a secret. */
export function ownerId(accessKey: string): string {
  return createHash('sha256').update(`tessera-owner:${accessKey}`).digest('hex');
}

export function ownerXml(accessKey: string, name = 'Owner'): string {
  return el(name, [textEl('ID', ownerId(accessKey)), textEl('DisplayName', accessKey)]);
}
