import type { Readable } from 'node:stream';

/**
 * The hot tier is a byte cache of whole objects keyed by the gateway's internal object id (never by bucket or key).
 * What it stores is decided above it (by default the object's AEAD ciphertext, see docs/FORMAT.md); the driver only
 * moves bytes. Budget and LRU eviction are enforced by the gateway (src/gateway/hot-cache.ts), not by drivers.
 */
export interface HotTier {
  readonly kind: 'fs' | 's3';

  /** Store `length` bytes under `id`, replacing any previous blob. Resolves once the blob is fully stored. */
  put(id: string, body: Readable, length: number, signal?: AbortSignal): Promise<void>;

  /** Read the blob, or [offset, offset+length) of it; null when it is not there. */
  get(id: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable | null>;

  /** Delete the blob; a missing blob is not an error. */
  delete(id: string): Promise<void>;

  /** Every stored blob (reconciliation at start). */
  list(): AsyncIterable<{ id: string; size: number }>;

  /** Never throws. */
  health(): Promise<{ ok: boolean; reason?: string }>;

  close(): Promise<void>;
}
