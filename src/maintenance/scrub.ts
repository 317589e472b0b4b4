/**
 * Scrub: prove that every shard of a segment is present, has the right size and header, and that every block still
 * matches its crc32. Shards are streamed block by block (one block buffer per shard), never held whole. Scrubbing
 * needs no keys: it checks the erasure-coded ciphertext, not the plaintext.
 */
import type { MetaStore } from '../meta/store.js';
import { roundUp8, shardByteRange, stripeBlockSize, stripeCount, TAG_BYTES } from '../model/layout.js';
import { coderCodeFor } from '../cold/codec/rs/index.js';
import { ShardFault, ShardSource, type ExpectedHeader } from '../cold/codec/shard-source.js';
import type { ColdStore } from '../cold/cold-store.js';
import { createHash } from 'node:crypto';
import { inlineCopiesWanted, type ObjectManifest, type SegmentManifest, type ShardRef } from '../model/manifest.js';
import { NodeError } from '../cold/nodes/driver.js';
import { RECORD_MAGIC } from '../cold/record-copy.js';
import { sleep } from '../util/abortable-sleep.js';

/** What scrub found for one shard. `unreachable` = its node could not be asked (down, circuit open, timeout). */
export type ShardStatus = 'ok' | 'missing' | 'corrupt' | 'unreachable';

/** Shard number -> status, for shards 0..k+m-1 of a segment. */
export type SegmentScrub = ShardStatus[];

export interface ScrubSummary {
  objects: number;
  segments: number;
  shards: number;
  ok: number;
  missing: number;
  corrupt: number;
  unreachable: number;
}

export function emptyScrubSummary(): ScrubSummary {
  return { objects: 0, segments: 0, shards: 0, ok: 0, missing: 0, corrupt: 0, unreachable: 0 };
}

/** Holds work to a byte rate, allowing at most one second of burst after idle time (maintenance must not starve clients). */
export class BytePacer {
  private dueAt = Date.now();

  constructor(
    private readonly bytesPerSecond: number,
    private readonly signal?: AbortSignal,
  ) {}

  /** Account `n` bytes, then wait until the rate is back under the limit. */
  async take(n: number): Promise<void> {
    if (!(this.bytesPerSecond > 0) || !Number.isFinite(this.bytesPerSecond)) return;
    const now = Date.now();
    this.dueAt = Math.max(this.dueAt, now - 1000) + (n / this.bytesPerSecond) * 1000;
    const wait = this.dueAt - now;
    if (wait > 0) await sleep(wait, this.signal, 'resolve');
  }
}

export interface ScrubOptions {
  pacer?: BytePacer;
  signal?: AbortSignal;
}

/** The header every shard of this segment must carry (except for its own shard number). */
export function expectedHeader(segment: SegmentManifest): ExpectedHeader {
  const g = { plainSize: segment.plainSize, chunkSize: segment.chunkSize, k: segment.k };
  return { coderCode: coderCodeFor(segment.coder), k: segment.k, m: segment.m, chunkSize: segment.chunkSize, stripeCount: stripeCount(g) };
}

/** Maps a failure of a node call to what it says about the shard. */
export function statusOfError(err: unknown): ShardStatus {
  if (err instanceof ShardFault) return err.kind === 'missing' ? 'missing' : err.kind === 'corrupt' ? 'corrupt' : 'unreachable';
  if (err instanceof NodeError) return err.kind === 'not-found' ? 'missing' : err.kind === 'corrupt' ? 'corrupt' : 'unreachable';
  return 'unreachable';
}

/** Check one shard: presence, size, header, every block's crc32. */
export async function scrubShard(cold: ColdStore, segment: SegmentManifest, index: number, opts: ScrubOptions = {}): Promise<ShardStatus> {
  const ref = segment.shards[index];
  if (ref === undefined || ref.handle === '') return 'missing';
  const node = cold.node(ref.node);
  // A node removed from the configuration takes its shards with it: repair must rebuild them elsewhere.
  if (!node) return 'missing';
  if (!node.isHealthy()) return 'unreachable';
  try {
    const st = await node.stat(ref.handle, opts.signal);
    if (st === null) return 'missing';
    if (st.size !== segment.shardSize) return 'corrupt';
  } catch (err) {
    return statusOfError(err);
  }
  const g = { plainSize: segment.plainSize, chunkSize: segment.chunkSize, k: segment.k };
  const stripes = stripeCount(g);
  const range = shardByteRange(g, 0, stripes);
  const source = new ShardSource(index, 0, (signal) => node.get(ref.handle, range, signal), expectedHeader(segment));
  const block = Buffer.allocUnsafe(roundUp8(segment.chunkSize + TAG_BYTES));
  try {
    for (let s = 0; s < stripes; s++) {
      opts.signal?.throwIfAborted();
      const B = stripeBlockSize(g, s);
      await source.readBlock(s, block, 0, B);
      await opts.pacer?.take(B);
    }
    return 'ok';
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    return statusOfError(err);
  } finally {
    source.close();
  }
}

/**
 * Check one record copy of an inline object: present, and its bytes hash to what was written (copies written before
 * the digest was recorded are checked for presence and magic only). Copies are small: read whole.
 */
export async function scrubCopy(cold: ColdStore, ref: ShardRef, opts: ScrubOptions = {}): Promise<ShardStatus> {
  if (ref.handle === '') return 'missing';
  const node = cold.node(ref.node);
  if (!node) return 'missing';
  if (!node.isHealthy()) return 'unreachable';
  try {
    const hash = createHash('sha256');
    let head: Buffer | undefined;
    let bytes = 0;
    for await (const chunk of await node.get(ref.handle, undefined, opts.signal)) {
      const b = chunk as Buffer;
      head ??= b;
      bytes += b.length;
      hash.update(b);
    }
    await opts.pacer?.take(bytes);
    if (ref.sha256 !== undefined) return hash.digest('hex') === ref.sha256 ? 'ok' : 'corrupt';
    return head !== undefined && head.subarray(0, 4).equals(RECORD_MAGIC) ? 'ok' : 'corrupt';
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    return statusOfError(err);
  }
}

/**
 * Check a segment of an object: its shards, or, for an inline segment, the record copies that carry it (as many as
 * it should have: a copy never written counts missing, so repair writes it).
 */
export async function scrubOf(cold: ColdStore, manifest: ObjectManifest, segment: SegmentManifest, opts: ScrubOptions = {}): Promise<SegmentScrub> {
  if (segment.inline === undefined) return scrubSegment(cold, segment, opts);
  const copies = manifest.copies ?? [];
  const statuses = await Promise.all(copies.map((c) => scrubCopy(cold, c, opts)));
  for (let i = copies.length; i < inlineCopiesWanted(segment); i++) statuses.push('missing');
  return statuses;
}

/** Check every shard of a coded segment (in parallel: one block buffer each). */
export async function scrubSegment(cold: ColdStore, segment: SegmentManifest, opts: ScrubOptions = {}): Promise<SegmentScrub> {
  const n = segment.k + segment.m;
  return Promise.all(Array.from({ length: n }, (_, i) => scrubShard(cold, segment, i, opts)));
}

export function countStatuses(summary: ScrubSummary, statuses: ReadonlyArray<ShardStatus>): void {
  summary.segments++;
  for (const s of statuses) {
    summary.shards++;
    summary[s]++;
  }
}

/** Whether a scrub result calls for a repair (unreachable shards are not rebuilt: their node may come back). */
export function needsRepair(statuses: ReadonlyArray<ShardStatus>): boolean {
  return statuses.some((s) => s === 'missing' || s === 'corrupt');
}

export interface ScrubProblem {
  objectId: string;
  bucket: string;
  key: string;
  segment: number;
  statuses: SegmentScrub;
}

/**
 * Scrub every committed object and every uploaded part of in-progress uploads. `onProgress` is called after each
 * manifest; `onProblem` for each segment with a shard that is not ok.
 */
export async function scrubAll(
  meta: MetaStore,
  cold: ColdStore,
  onProgress?: (summary: ScrubSummary) => void,
  opts: ScrubOptions & { onProblem?: (p: ScrubProblem) => void } = {},
): Promise<ScrubSummary> {
  const summary = emptyScrubSummary();
  for await (const item of meta.iterateManifests()) {
    opts.signal?.throwIfAborted();
    summary.objects++;
    for (const [i, segment] of item.manifest.segments.entries()) {
      const statuses = await scrubOf(cold, item.manifest, segment, opts);
      countStatuses(summary, statuses);
      if (statuses.some((s) => s !== 'ok')) opts.onProblem?.({ objectId: item.objectId, bucket: item.bucket, key: item.key, segment: i, statuses });
    }
    onProgress?.(summary);
  }
  return summary;
}
