/**
 * Repair: rebuild missing or corrupt shards of a segment from any k good ones with the erasure code alone (no keys:
 * shards hold ciphertext). Work streams stripe by stripe: read the stripe's blocks from k good shards (crc-checked),
 * reconstruct the lost blocks, push them (header first, each block followed by its crc32) into one upload stream
 * per rebuilt shard. The manifest is switched to the new shards only when every upload is durable, and the old
 * shards are deleted only after the switch is committed, so a crash at any point loses nothing (at worst it leaves
 * orphans for `tessera gc`).
 */
import { crc32 } from 'node:zlib';
import { isMetaError } from '../meta/errors.js';
import type { MetaStore } from '../meta/store.js';
import type { ObjectRecord } from '../model/records.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { encodeShardHeader } from '../cold/codec/header.js';
import { BLOCK_CRC_BYTES, roundUp8, shardByteRange, stripeBlockSize, stripeCount, TAG_BYTES } from '../model/layout.js';
import { coderCodeFor, coderFor, type ErasureCoder } from '../cold/codec/rs/index.js';
import { ShardSource, SourceClosed } from '../cold/codec/shard-source.js';
import { ShardStream } from '../cold/codec/shard-stream.js';
import { newShardId, type ColdStore } from '../cold/cold-store.js';
import type { ObjectManifest, SegmentManifest, ShardRef } from '../model/manifest.js';
import { rankNodes } from '../cold/placement.js';
import {
  BytePacer,
  countStatuses,
  emptyScrubSummary,
  expectedHeader,
  needsRepair,
  scrubOf,
  type ScrubSummary,
  type SegmentScrub,
} from './scrub.js';

export interface RepairSegmentOptions {
  coder?: ErasureCoder;
  pacer?: BytePacer;
  signal?: AbortSignal;
  log?: Logger;
}

export interface SegmentRepair {
  /** The segment with every rebuilt shard's ref replaced by its new one. */
  segment: SegmentManifest;
  /** Shard numbers that now point at freshly written shards. */
  rebuilt: number[];
  /** Shard numbers that needed a rebuild but did not get one (no healthy node left, or the upload failed). */
  failed: number[];
  /** The new shards (to delete if the manifest update loses a race). */
  written: ShardRef[];
  /** The refs the new shards replace (to delete once the new manifest is committed). */
  superseded: ShardRef[];
}

/** A segment with fewer than k verifiable shards: nothing can be rebuilt until more come back. */
export class NotEnoughShardsError extends Error {
  constructor(
    readonly segId: string,
    readonly good: number,
    readonly k: number,
  ) {
    super(`segment ${segId} has ${good} readable shards, ${k} are needed to rebuild the others`);
    this.name = 'NotEnoughShardsError';
  }
}

/** Nodes for the rebuilt shards: a corrupt shard's own node when healthy, else the best-ranked healthy free node. */
function chooseTargets(cold: ColdStore, segment: SegmentManifest, problems: SegmentScrub, rebuild: number[]): Map<number, string> {
  const holding = new Set<string>();
  segment.shards.forEach((ref, i) => {
    if (ref.handle !== '' && problems[i] !== 'missing' && !rebuild.includes(i)) holding.add(ref.node);
  });
  const ranked = rankNodes(
    segment.segId,
    [...cold.nodes.values()].map((n) => ({ name: n.name, weight: n.weight })),
  );
  const chosen = new Map<number, string>();
  const taken = new Set<string>();
  // Corrupt shards first: they keep their node, so a fresh node is not handed to a missing shard meanwhile.
  for (const i of rebuild) {
    const own = segment.shards[i]!.node;
    if (problems[i] === 'corrupt' && cold.node(own)?.isHealthy() === true && !taken.has(own)) {
      chosen.set(i, own);
      taken.add(own);
    }
  }
  for (const i of rebuild) {
    if (chosen.has(i)) continue;
    const name = ranked.find((n) => !holding.has(n) && !taken.has(n) && cold.node(n)?.isHealthy() === true);
    if (name === undefined) continue;
    chosen.set(i, name);
    taken.add(name);
  }
  return chosen;
}

interface Upload {
  index: number;
  node: string;
  stream: ShardStream;
  done: Promise<string>;
}

/** Reads stripes from good shards, replacing a shard that fails mid-way by another good one. */
class StripeReader {
  private readonly active = new Map<number, ShardSource>();
  private readonly spare: number[];

  constructor(
    private readonly cold: ColdStore,
    private readonly segment: SegmentManifest,
    good: number[],
  ) {
    this.spare = [...good];
  }

  private open(index: number, fromStripe: number): void {
    const seg = this.segment;
    const g = { plainSize: seg.plainSize, chunkSize: seg.chunkSize, k: seg.k };
    const range = shardByteRange(g, fromStripe, stripeCount(g));
    const ref = seg.shards[index]!;
    const src = new ShardSource(
      index,
      fromStripe,
      async (signal) => {
        const node = this.cold.node(ref.node);
        if (!node) throw new Error(`node ${ref.node} is not configured`);
        return node.get(ref.handle, range, signal);
      },
      expectedHeader(seg),
    );
    this.active.set(index, src);
  }

  /** Fill `k` blocks of stripe s into `stripe` (block i at i*B); returns which shards delivered. */
  async read(s: number, B: number, stripe: Buffer, log?: Logger): Promise<Set<number>> {
    const k = this.segment.k;
    const delivered = new Set<number>();
    while (delivered.size < k) {
      while (this.active.size < k) {
        const next = this.spare.shift();
        if (next === undefined) throw new NotEnoughShardsError(this.segment.segId, delivered.size + this.active.size, k);
        this.open(next, s);
      }
      const round = [...this.active.values()].filter((src) => !delivered.has(src.index));
      const results = await Promise.allSettled(round.map((src) => src.readBlock(s, stripe, src.index * B, B)));
      results.forEach((r, j) => {
        const src = round[j]!;
        if (r.status === 'fulfilled') {
          delivered.add(src.index);
        } else {
          if (!(r.reason instanceof SourceClosed)) {
            log?.warn({ segId: this.segment.segId, shard: src.index, err: (r.reason as Error).message }, 'repair source failed; using another shard');
          }
          src.close();
          this.active.delete(src.index);
        }
      });
    }
    return delivered;
  }

  close(): void {
    for (const src of this.active.values()) src.close();
    this.active.clear();
  }
}

/**
 * Rebuild the segment's missing and corrupt shards (per `problems`, from scrubSegment) onto healthy nodes. Does not
 * touch the metadata store or delete anything: the caller commits `segment` and then deletes `superseded` (see
 * repairObject). Throws NotEnoughShardsError when fewer than k shards are ok.
 */
export async function repairSegment(
  cold: ColdStore,
  segment: SegmentManifest,
  problems: SegmentScrub,
  opts: RepairSegmentOptions = {},
): Promise<SegmentRepair> {
  const { k, m } = segment;
  const n = k + m;
  const rebuild = problems.flatMap((p, i) => (p === 'missing' || p === 'corrupt' ? [i] : []));
  const good = problems.flatMap((p, i) => (p === 'ok' ? [i] : []));
  const result: SegmentRepair = { segment, rebuilt: [], failed: [], written: [], superseded: [] };
  if (rebuild.length === 0) return result;
  if (good.length < k) throw new NotEnoughShardsError(segment.segId, good.length, k);

  const coder = opts.coder ?? coderFor(segment.coder);
  const g = { plainSize: segment.plainSize, chunkSize: segment.chunkSize, k };
  const stripes = stripeCount(g);
  const targets = chooseTargets(cold, segment, problems, rebuild);
  const fullBlock = roundUp8(segment.chunkSize + TAG_BYTES);
  const uploads: Upload[] = [];
  for (const [index, nodeName] of targets) {
    const node = cold.node(nodeName)!;
    const stream = new ShardStream(fullBlock + BLOCK_CRC_BYTES);
    stream.push(encodeShardHeader({ coderCode: coderCodeFor(segment.coder), k, m, shardIndex: index, chunkSize: segment.chunkSize, stripeCount: stripes }));
    const done = node.put(newShardId(), stream, segment.shardSize, opts.signal).catch((err: unknown) => {
      // A failed upload must not hold the pump: a destroyed stream counts as drained.
      stream.destroy();
      throw err;
    });
    done.catch(() => undefined);
    uploads.push({ index, node: nodeName, stream, done });
  }
  result.failed.push(...rebuild.filter((i) => !targets.has(i)));
  if (uploads.length === 0) return result;

  const reader = new StripeReader(cold, segment, good);
  const targetIdx = uploads.map((u) => u.index);
  try {
    for (let s = 0; s < stripes; s++) {
      opts.signal?.throwIfAborted();
      if (uploads.every((u) => !u.stream.live)) break;
      const B = stripeBlockSize(g, s);
      // Fresh per stripe: the rebuilt blocks are handed to the upload streams, which may hold them a while.
      const stripe = Buffer.allocUnsafe(n * B);
      const delivered = await reader.read(s, B, stripe, opts.log);
      const blocks = Array.from({ length: n }, (_, i) => stripe.subarray(i * B, (i + 1) * B));
      await coder.reconstruct(k, m, blocks, blocks.map((_, i) => delivered.has(i)), targetIdx);
      for (const u of uploads) {
        if (!u.stream.live) continue;
        const block = blocks[u.index]!;
        const crc = Buffer.allocUnsafe(BLOCK_CRC_BYTES);
        crc.writeUInt32BE(crc32(block), 0);
        u.stream.push(block);
        u.stream.push(crc);
      }
      await Promise.all(uploads.map((u) => u.stream.drained()));
      await opts.pacer?.take(B * (k + uploads.length));
    }
    for (const u of uploads) if (u.stream.live) u.stream.push(null);
  } catch (err) {
    for (const u of uploads) u.stream.destroy(err instanceof Error ? err : new Error(String(err)));
    const settled = await Promise.allSettled(uploads.map((u) => u.done));
    // An upload may have completed just before the failure; it is not referenced by anything, so remove it.
    await cold.deleteShards(settled.flatMap((r, j) => (r.status === 'fulfilled' ? [{ node: uploads[j]!.node, handle: r.value }] : [])));
    throw err;
  } finally {
    reader.close();
  }

  const settled = await Promise.allSettled(uploads.map((u) => u.done));
  const shards = [...segment.shards];
  settled.forEach((r, j) => {
    const u = uploads[j]!;
    if (r.status === 'fulfilled') {
      const ref: ShardRef = { node: u.node, handle: r.value };
      result.written.push(ref);
      result.superseded.push(segment.shards[u.index]!);
      result.rebuilt.push(u.index);
      shards[u.index] = ref;
    } else {
      opts.log?.warn({ segId: segment.segId, shard: u.index, node: u.node, err: (r.reason as Error).message }, 'rebuilt shard upload failed');
      result.failed.push(u.index);
    }
  });
  result.segment = { ...segment, shards };
  return result;
}

export interface RepairDeps {
  cold: ColdStore;
  meta: MetaStore;
  metrics: Metrics;
  log: Logger;
  coder?: ErasureCoder;
}

export interface ObjectRepairResult extends ScrubSummary {
  /** Shards rebuilt and committed. */
  rebuilt: number;
  /** Missing or corrupt shards still owed after this pass (no healthy node, too few good shards, upload failed). */
  failed: number;
  /** Segments whose repair was discarded because the object changed meanwhile (the next pass sees the new state). */
  stale: number;
  /** True when the object no longer exists. */
  gone: boolean;
}

function emptyObjectResult(): ObjectRepairResult {
  return { ...emptyScrubSummary(), rebuilt: 0, failed: 0, stale: 0, gone: false };
}

function sameSegment(a: SegmentManifest | undefined, b: SegmentManifest): boolean {
  return a !== undefined && a.segId === b.segId && JSON.stringify(a.shards) === JSON.stringify(b.shards);
}

// Manifest rewrites of one object in this process run one at a time (heal-on-read, the background sweep and key
// rotation may meet). Other processes are covered only by re-reading before each update (see commitSegmentRepair).
const objectLocks = new Map<string, Promise<unknown>>();

export async function withObjectLock<T>(objectId: string, fn: () => Promise<T>): Promise<T> {
  const prev = objectLocks.get(objectId) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  objectLocks.set(objectId, tail);
  try {
    return await run;
  } finally {
    if (objectLocks.get(objectId) === tail) objectLocks.delete(objectId);
  }
}

/**
 * What a repair rewrites: a committed object (its manifest and record copies) or a part of an in-progress multipart
 * upload (its part manifest; parts have no record copies until the upload completes).
 */
export interface RepairTarget {
  /** The object id the shards belong to (a part's upload object id); serializes rewrites in this process. */
  objectId: string;
  describe: Record<string, string | number>;
  load(): Promise<ObjectManifest | null>;
  /**
   * Switch from `before` to `after` in one compare-and-set; false when the manifest changed meanwhile. With
   * `requireNewCopies`, a failure to write fresh record copies throws instead of keeping the old ones.
   */
  commit(before: ObjectManifest, after: ObjectManifest, deps: RepairDeps, opts?: { requireNewCopies?: boolean }): Promise<boolean>;
}

/** A committed object: fresh record copies name the new shards; the manifest swap is a compare-and-set. */
export function objectTarget(meta: MetaStore, objectId: string): RepairTarget {
  return {
    objectId,
    describe: { objectId },
    load: async () => (await meta.getObjectById(objectId))?.manifest ?? null,
    async commit(before, after, deps, opts = {}) {
      const fresh = await meta.getObjectById(objectId);
      if (!fresh) return false;
      const withoutCopies: ObjectManifest = { ...after };
      delete withoutCopies.copies;
      let copies: ShardRef[] | undefined;
      try {
        const sealed: ObjectRecord = { ...fresh, manifest: withoutCopies };
        copies = await deps.cold.writeRecordCopies(sealed);
      } catch (err) {
        if (opts.requireNewCopies) throw err;
        // The old copies still name the old shards; recover-index would then find them missing and repair again.
        // Better than not repairing at all.
        deps.log.warn({ objectId, err: (err as Error).message }, 'record copies could not be rewritten after repair');
      }
      const manifest: ObjectManifest = { ...withoutCopies, ...(copies ? { copies } : before.copies ? { copies: before.copies } : {}) };
      if (!(await meta.updateManifest(objectId, manifest, before))) {
        await deps.cold.deleteShards(copies ?? []);
        return false;
      }
      if (copies && before.copies) await deps.cold.deleteShards(before.copies);
      return true;
    },
  };
}

/** A part of an in-progress upload: repaired in place, so the upload completes with every shard present. */
export function partTarget(meta: MetaStore, objectId: string, uploadId: string, partNumber: number): RepairTarget {
  return {
    objectId,
    describe: { objectId, uploadId, partNumber },
    async load() {
      try {
        return (await meta.getParts(uploadId, [partNumber]))[0]?.manifest ?? null;
      } catch (err) {
        // Completed or aborted meanwhile: nothing of this part is left to repair.
        if (isMetaError(err, 'NoSuchUpload')) return null;
        throw err;
      }
    },
    commit: (before, after) => meta.updatePartManifest(uploadId, partNumber, after, before),
  };
}

/**
 * Commit a segment repair: re-read the manifest, and if the segment is still the one that was repaired, swap it in
 * (compare-and-set against the manifest re-read, so a concurrent rewrite by another gateway is never undone), then
 * delete the superseded shards. Returns false (after deleting the new shards) when the manifest changed meanwhile.
 */
async function commitSegmentRepair(deps: RepairDeps, target: RepairTarget, segIndex: number, before: SegmentManifest, repair: SegmentRepair): Promise<boolean> {
  const fresh = await target.load();
  if (!fresh || !sameSegment(fresh.segments[segIndex], before)) {
    await deps.cold.deleteShards(repair.written);
    return false;
  }
  const segments = [...fresh.segments];
  segments[segIndex] = repair.segment;
  if (!(await target.commit(fresh, { ...fresh, segments }, deps))) {
    await deps.cold.deleteShards(repair.written);
    return false;
  }
  await deps.cold.deleteShards(repair.superseded);
  return true;
}

/**
 * An inline object's missing or corrupt record copies: seal a full set afresh on healthy nodes, swap them into the
 * manifest (compare-and-set against the manifest scrubbed), then delete the old ones.
 */
async function resealInline(deps: RepairDeps, target: RepairTarget, before: ObjectManifest): Promise<'ok' | 'stale' | 'failed'> {
  const fresh = await target.load();
  if (!fresh || JSON.stringify(fresh) !== JSON.stringify(before)) return 'stale';
  const copiesBefore = before.copies ?? [];
  try {
    return (await target.commit(before, before, deps, { requireNewCopies: true })) ? 'ok' : 'stale';
  } catch (err) {
    deps.log.warn({ ...target.describe, copies: copiesBefore.length, err: (err as Error).message }, 'record copies of an inline object could not be rewritten');
    return 'failed';
  }
}

export interface RepairObjectOptions {
  /** Segment positions (in manifest.segments) to check; default all. */
  segments?: number[];
  pacer?: BytePacer;
  signal?: AbortSignal;
}

/** Scrub the object's segments and repair those with missing or corrupt shards, committing each segment on its own. */
export function repairObject(deps: RepairDeps, objectId: string, opts: RepairObjectOptions = {}): Promise<ObjectRepairResult> {
  return repairTarget(deps, objectTarget(deps.meta, objectId), opts);
}

/** The same for a part of an in-progress multipart upload. */
export function repairPart(deps: RepairDeps, part: { objectId: string; uploadId: string; partNumber: number }, opts: RepairObjectOptions = {}): Promise<ObjectRepairResult> {
  return repairTarget(deps, partTarget(deps.meta, part.objectId, part.uploadId, part.partNumber), opts);
}

export async function repairTarget(deps: RepairDeps, target: RepairTarget, opts: RepairObjectOptions = {}): Promise<ObjectRepairResult> {
  return withObjectLock(target.objectId, async () => {
    const out = emptyObjectResult();
    const manifest = await target.load();
    if (!manifest) {
      out.gone = true;
      return out;
    }
    out.objects = 1;
    const indices = opts.segments ?? manifest.segments.map((_, i) => i);
    for (const i of indices) {
      const segment = manifest.segments[i];
      if (segment === undefined) continue;
      const statuses = await scrubOf(deps.cold, manifest, segment, opts);
      countStatuses(out, statuses);
      if (!needsRepair(statuses)) continue;
      const owed = statuses.filter((s) => s === 'missing' || s === 'corrupt').length;
      if (segment.inline !== undefined) {
        const result = await resealInline(deps, target, manifest);
        if (result === 'stale') out.stale++;
        else out[result === 'ok' ? 'rebuilt' : 'failed'] += owed;
        deps.metrics.repairs.inc({ result }, owed);
        if (result === 'ok') deps.log.info({ ...target.describe, copies: owed }, 'record copies of an inline object rewritten');
        continue;
      }
      let repair: SegmentRepair;
      try {
        repair = await repairSegment(deps.cold, segment, statuses, { ...opts, log: deps.log, ...(deps.coder ? { coder: deps.coder } : {}) });
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        deps.log.warn({ ...target.describe, segId: segment.segId, err: (err as Error).message }, 'segment repair failed');
        out.failed += owed;
        deps.metrics.repairs.inc({ result: 'failed' }, owed);
        continue;
      }
      if (repair.rebuilt.length > 0 && !(await commitSegmentRepair(deps, target, i, segment, repair))) {
        out.stale++;
        deps.metrics.repairs.inc({ result: 'stale' }, repair.rebuilt.length);
        continue;
      }
      out.rebuilt += repair.rebuilt.length;
      out.failed += repair.failed.length;
      if (repair.rebuilt.length > 0) deps.metrics.repairs.inc({ result: 'ok' }, repair.rebuilt.length);
      if (repair.failed.length > 0) deps.metrics.repairs.inc({ result: 'failed' }, repair.failed.length);
      if (repair.rebuilt.length > 0) {
        deps.log.info({ ...target.describe, segId: segment.segId, rebuilt: repair.rebuilt, failed: repair.failed }, 'segment repaired');
      }
    }
    return out;
  });
}

export interface RepairSummary extends ScrubSummary {
  rebuilt: number;
  failed: number;
  stale: number;
  /** Missing or corrupt shards of in-progress uploads' parts that could not be rebuilt. */
  unrepairedParts: number;
}

/** Problems left after the pass: shards not rebuilt, unreachable shards, damaged parts (stale repairs are not: the object was replaced). */
export function remainingProblems(s: RepairSummary): number {
  return s.failed + s.unreachable + s.unrepairedParts;
}

/**
 * One repair pass over every committed object and every part of an in-progress upload (the CLI's `tessera repair`),
 * at config.cold.repair.maxBytesPerSecond.
 */
export async function repairAll(
  deps: RepairDeps,
  opts: { maxBytesPerSecond: number; signal?: AbortSignal; onProgress?: (s: RepairSummary) => void },
): Promise<RepairSummary> {
  const pacer = new BytePacer(opts.maxBytesPerSecond, opts.signal);
  const sum: RepairSummary = { ...emptyScrubSummary(), rebuilt: 0, failed: 0, stale: 0, unrepairedParts: 0 };
  const add = (r: ScrubSummary): void => {
    sum.segments += r.segments;
    sum.shards += r.shards;
    sum.ok += r.ok;
    sum.missing += r.missing;
    sum.corrupt += r.corrupt;
    sum.unreachable += r.unreachable;
  };
  for await (const item of deps.meta.iterateManifests()) {
    opts.signal?.throwIfAborted();
    sum.objects++;
    const o = { pacer, ...(opts.signal ? { signal: opts.signal } : {}) };
    const r = item.part ? await repairPart(deps, { objectId: item.objectId, ...item.part }, o) : await repairObject(deps, item.objectId, o);
    add(r);
    sum.rebuilt += r.rebuilt;
    sum.stale += r.stale;
    // Shards of in-progress uploads' parts that could not be rebuilt are counted apart (complete or abort the upload).
    if (item.part) sum.unrepairedParts += r.failed;
    else sum.failed += r.failed;
    opts.onProgress?.(sum);
  }
  return sum;
}
