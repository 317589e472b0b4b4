/**
 * Where an object's bytes live in the cold tier. Stored (as JSON) in the metadata store with the object, and an
 * encrypted copy is written to nodes so `tessera recover-index` can rebuild the store. Format: docs/FORMAT.md.
 */
export interface ShardRef {
  /** Node name from config. */
  node: string;
  /** What the node's driver returned from put(); empty when the shard could not be written (repair owes it). */
  handle: string;
  /** Record copies only: SHA-256 (hex) of the sealed blob, so scrub checks a copy without keys. */
  sha256?: string;
}

export interface SegmentManifest {
  /** 128-bit random id (hex). The segment key is derived from the object data key and this id. */
  segId: string;
  /** 1-based part number (1 for a single PUT); binds the segment into the AEAD associated data. */
  part: number;
  /** Index of the segment inside its part. */
  index: number;
  /** Plaintext bytes in this segment. */
  plainSize: number;
  /** Plaintext bytes per AEAD chunk (every chunk but the segment's last is full). */
  chunkSize: number;
  k: number;
  m: number;
  /** Erasure coder identity; shards from different coders are not interchangeable. */
  coder: string;
  /** Bytes of every shard file of this segment (header + blocks + checksums). */
  shardSize: number;
  /** Length k+m, indexed by shard number (0..k-1 data, k..k+m-1 parity); empty for an inline segment. */
  shards: ShardRef[];
  /**
   * A small object's only segment, stored inline (base64 of its ciphertext chunks, the hot-tier form): the object
   * record carries it, so its m+1 record copies on distinct nodes are its redundancy and no shard is written.
   */
  inline?: string;
}

export interface ObjectManifest {
  version: 1;
  /** 128-bit random id (hex); names the object in the hot tier and binds its AEAD chunks. */
  objectId: string;
  /** The per-object data key, wrapped by a master key (base64). */
  wrappedKey: string;
  /** Which master key wrapped it. */
  keyId: string;
  /** Plaintext size of the object. */
  size: number;
  segments: SegmentManifest[];
  /** Where encrypted copies of the object's record live (m+1 nodes), for `tessera recover-index`. */
  copies?: ShardRef[];
  /**
   * Garbage only: tombstones standing in for copies that could not be deleted when the version was; collected after
   * everything else the item names is gone.
   */
  tombstones?: ShardRef[];
}

/** Whether the object's bytes live in its record (an inline segment) rather than in shards. */
export function isInline(manifest: Pick<ObjectManifest, 'segments'>): boolean {
  return manifest.segments.some((s) => s.inline !== undefined);
}

/** Record copies an inline object keeps: m+1, so that losing any m nodes leaves one. */
export function inlineCopiesWanted(segment: Pick<SegmentManifest, 'm'>): number {
  return segment.m + 1;
}
