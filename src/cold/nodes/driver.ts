import type { Readable } from 'node:stream';

/**
 * A storage node holds opaque shard blobs. It never sees names, keys, sizes to the byte or plaintext: the gateway
 * hands it random shard ids and ciphertext. Drivers: `fs` (a local directory), `http` (a `tessera node` server),
 * `s3` (an S3-compatible bucket), `iagon` (the Iagon storage API).
 */
export interface NodeDriver {
  /** The node's name in config; stored in manifests, so it must stay stable. */
  readonly name: string;
  readonly kind: 'fs' | 'http' | 's3' | 'iagon';
  /** Relative capacity weight for placement (rendezvous hashing). */
  readonly weight: number;

  /**
   * Store a shard. `body` yields exactly `length` bytes; the driver must consume it with backpressure and must not
   * resolve before the shard is durable (fsync on disk, 200 from a remote). Returns the handle to read it back:
   * the shard id itself for most drivers, a server-assigned id for Iagon.
   */
  put(shardId: string, body: Readable, length: number, signal?: AbortSignal): Promise<string>;

  /**
   * Read a shard, or the byte range [offset, offset+length) of it. A driver whose backend cannot serve ranges skips
   * the prefix itself, so the returned stream always starts at `offset`. Rejects with NodeError('not-found') when the
   * shard does not exist.
   */
  get(handle: string, range?: { offset: number; length: number }, signal?: AbortSignal): Promise<Readable>;

  /** Delete a shard; deleting a missing shard is not an error. */
  delete(handle: string, signal?: AbortSignal): Promise<void>;

  /** Size of a stored shard, or null when it does not exist. */
  stat(handle: string, signal?: AbortSignal): Promise<{ size: number } | null>;

  /** Every shard the node holds (for gc and recover-index). */
  list(signal?: AbortSignal): AsyncIterable<{ handle: string; size: number; mtimeMs?: number }>;

  /** Reachability and capacity. Never throws: a failure is reported as ok=false with a reason. */
  health(signal?: AbortSignal): Promise<NodeHealth>;

  /** Release sockets and timers. */
  close(): Promise<void>;
}

export interface NodeHealth {
  ok: boolean;
  reason?: string;
  capacityBytes?: number;
  freeBytes?: number;
}

export type NodeErrorKind = 'not-found' | 'unavailable' | 'timeout' | 'auth' | 'full' | 'too-large' | 'corrupt' | 'bad-request';

/** Every driver failure is mapped to one of these, so the cold tier can decide: retry elsewhere, mark unhealthy, heal. */
export class NodeError extends Error {
  readonly kind: NodeErrorKind;
  readonly node: string;
  constructor(node: string, kind: NodeErrorKind, message: string, options?: { cause?: unknown }) {
    super(`node ${node}: ${message}`, options);
    this.name = 'NodeError';
    this.kind = kind;
    this.node = node;
  }
}
