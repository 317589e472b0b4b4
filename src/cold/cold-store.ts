import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ColdConfig } from '../config/types.js';
import type { DeleteMarkerRecord, ObjectRecord } from '../model/records.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';
import { encodeSegment, type EncodeSummary } from './codec/encoder.js';
import { ColdError } from './errors.js';
import { planSegments, writerChunkSize } from '../model/layout.js';
import { inlineCopiesWanted, isInline, type ObjectManifest, type SegmentManifest, type ShardRef } from '../model/manifest.js';
import { GuardedNode } from './nodes/breaker.js';
import type { NodeDriver } from './nodes/driver.js';
import { placeShards, rankNodes } from './placement.js';
import { sealDocument, sealedDigest, type SealedDocument, type Tombstone } from './record-copy.js';
import { openInline, sealInline } from './inline.js';
import { openSegmentRange, type ShardProblemReporter } from './segment-reader.js';
import type { ShardProblemKind } from './codec/decoder.js';

/** Pulls exact-size slices of a body (src/gateway/ingest.ts implements it). */
export interface SegmentSource {
  take(length: number): AsyncIterable<Buffer>;
}

/** Receives the hot-tier form of the bytes while they are written (PUT write-through). */
export interface HotWriter {
  readonly form: 'ciphertext' | 'plaintext';
  write(chunk: Buffer): Promise<void>;
}

export interface WriteDataInput {
  objectId: string;
  dk: Buffer;
  part: number;
  size: number;
  erasure: { k: number; m: number };
  source: SegmentSource;
  hotSink?: HotWriter;
  /** A whole single-request object: stored inline when it is small enough (then nothing reaches `hotSink`). */
  mayInline?: boolean;
}

export function newShardId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The cold tier: turns plaintext into encrypted, erasure-coded shards on distinct nodes and back. It owns placement,
 * write quorum, the per-node circuit breakers and the encrypted record copies; the byte format is src/cold/codec/.
 */
export class ColdStore {
  readonly nodes: Map<string, GuardedNode>;

  constructor(
    drivers: NodeDriver[],
    readonly config: ColdConfig,
    private readonly masterKey: { id: string; key: Buffer },
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.nodes = new Map(
      drivers.map((d) => {
        const g = new GuardedNode(d, { failureThreshold: 3, coolDownMs: 3_000 });
        metrics.nodeHealthy.set({ node: d.name }, 1);
        g.onStateChange((c) => {
          metrics.nodeHealthy.set({ node: c.node }, c.to === 'open' ? 0 : 1);
          log.warn({ node: c.node, from: c.from, to: c.to, cause: c.cause?.message }, 'node circuit state changed');
        });
        return [d.name, g];
      }),
    );
  }

  /** True when some node is held out by its circuit breaker. */
  hasOpenCircuits(): boolean {
    return [...this.nodes.values()].some((n) => !n.isHealthy());
  }

  private prober: NodeJS.Timeout | undefined;

  /**
   * Probe nodes whose circuit is open, so a node that comes back is used again within about a cool-down, without
   * waiting for traffic to try it (the health call is the breaker's half-open trial).
   */
  startProbing(intervalMs = 1000): void {
    this.prober ??= setInterval(() => {
      for (const n of this.nodes.values()) if (!n.isHealthy()) void n.health().catch(() => undefined);
    }, intervalMs);
    this.prober.unref();
  }

  /** Set by the gateway to queue heal-on-read repairs. */
  onProblem: ShardProblemReporter | undefined;

  reportProblem(objectId: string, segment: SegmentManifest, shard: number, kind: ShardProblemKind, err: Error): void {
    this.metrics.shardProblems.inc({ kind });
    if (kind !== 'slow') this.log.warn({ objectId, segId: segment.segId, shard, node: segment.shards[shard]?.node, kind, err: err.message }, 'shard problem on read');
    this.onProblem?.(objectId, segment, shard, kind, err);
  }

  node(name: string): GuardedNode | undefined {
    return this.nodes.get(name);
  }

  private placementView(): Array<{ name: string; weight: number; healthy: boolean }> {
    return [...this.nodes.values()].map((n) => ({ name: n.name, weight: n.weight, healthy: n.isHealthy() }));
  }

  /** Minimum shards that must be durable for a write to be acknowledged. */
  quorum(erasure: { k: number; m: number }): number {
    return Math.min(Math.max(this.config.writeQuorum, erasure.k + 1), erasure.k + erasure.m);
  }

  /**
   * Encode and store `size` bytes from `source` as segments; resolves when every segment reached the write quorum.
   * Two segments are in flight at once: segment n+1 is read and encoded while segment n's shards are flushed and
   * fsynced by the nodes (otherwise the pipeline drains at every segment boundary). The body is still read strictly
   * in order, one segment after the other, so the hot-tier sink and the manifest keep the object's order.
   */
  async writeData(input: WriteDataInput): Promise<SegmentManifest[]> {
    if (this.inlines(input)) return [await this.writeInline(input)];
    const stop = new AbortController();
    const inFlight: Array<Promise<SegmentManifest>> = [];
    // Rejects as soon as any segment fails, so the loop does not keep reading the body for a PUT that is lost.
    let failed!: (err: unknown) => void;
    const failure = new Promise<never>((_, reject) => (failed = reject));
    failure.catch(() => undefined);
    try {
      for (const plan of planSegments(input.size, this.config.segmentSize)) {
        // Bound: segment n+1 starts only once segment n-1 is stored.
        if (inFlight.length >= 2) await Promise.race([inFlight[inFlight.length - 2]!, failure]);
        const seg = this.writeSegment(input, plan.index, plan.plainSize, stop.signal);
        seg.stored.catch(failed);
        inFlight.push(seg.stored);
        // An encoder that stopped (e.g. "every shard consumer went away") is a symptom; the segment's settled outcome
        // carries the error the client should get (503 below quorum, or its own bad body).
        await Promise.race([seg.consumed.catch(() => seg.stored), failure]);
      }
      return await Promise.all(inFlight);
    } catch (err) {
      stop.abort(err);
      // Wait for the other segment in flight to stop (it no longer reads the body after this), then delete what was stored.
      const settled = await Promise.allSettled(inFlight);
      const stored = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      void this.deleteSegments(stored).catch(() => undefined);
      throw err;
    }
  }

  /** Whether a write is stored inline: its record copies carry it (see sealInline). */
  inlines(input: Pick<WriteDataInput, 'size' | 'part' | 'mayInline'>): boolean {
    return input.mayInline === true && input.part === 1 && input.size > 0 && input.size <= this.config.inlineMaxBytes;
  }

  /** A small object sealed whole in memory (at most inlineMaxBytes); durable once its record copies are written. */
  private async writeInline(input: WriteDataInput): Promise<SegmentManifest> {
    const parts: Buffer[] = [];
    for await (const chunk of input.source.take(input.size)) parts.push(chunk);
    return sealInline({ objectId: input.objectId, dk: input.dk, part: input.part, plain: Buffer.concat(parts), maxChunk: this.config.chunkSize, k: input.erasure.k, m: input.erasure.m });
  }

  /**
   * Starts one segment. `consumed` settles when the encoder has taken all of the segment's input (the next segment
   * may then read the body); `stored` when the segment reached its write quorum (or failed, its shards deleted).
   */
  private writeSegment(
    input: WriteDataInput,
    index: number,
    plainSize: number,
    stop: AbortSignal,
  ): { consumed: Promise<unknown>; stored: Promise<SegmentManifest> } {
    const { k, m } = input.erasure;
    const segId = randomBytes(16).toString('hex');
    const targets = placeShards(segId, this.placementView(), k + m);
    const quorum = this.quorum(input.erasure);
    if (targets.length < quorum) {
      const err = new ColdError('Unavailable', `Only ${targets.length} storage nodes are healthy; ${quorum} are needed to store data durably.`);
      return { consumed: Promise.reject(err), stored: Promise.reject(err) };
    }
    const sink = input.hotSink;
    // A failing request body (client gone, bad chunk signature) must reach the node uploads as a cancellation, not as
    // a broken stream: otherwise it counts against the nodes' circuit breakers and a few bad clients take every node
    // out of placement. The abort happens before the encoder tears the shard streams down.
    const uploads = new AbortController();
    // Another segment of the same PUT failed: this one is cancelled the same way (a cancellation, not a node failure).
    const onStop = (): void => uploads.abort(stop.reason);
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
    let plain = abortOnError(input.source.take(plainSize), uploads);
    if (sink?.form === 'plaintext') plain = teePlain(plain, sink);
    const encoded = encodeSegment({
      objectId: input.objectId,
      dk: input.dk,
      segId,
      part: input.part,
      index,
      plain,
      plainSize,
      chunkSize: writerChunkSize(plainSize, this.config.chunkSize, k),
      k,
      m,
      signal: uploads.signal,
      ...(sink?.form === 'ciphertext' ? { onCiphertext: (sealed: Buffer) => sink.write(sealed) } : {}),
    });
    const shardIds = encoded.shards.map(() => newShardId());
    // The encoder destroys every shard stream with its error on failure; the failure is reported through `done`.
    for (const stream of encoded.shards) stream.on('error', () => undefined);
    const puts = encoded.shards.map(async (stream, i): Promise<ShardRef> => {
      const name = targets[i];
      const node = name !== undefined ? this.nodes.get(name) : undefined;
      if (!node) {
        // Fewer healthy nodes than shards: this shard is owed by repair. Drain it so the encoder is not held back.
        stream.resume();
        return { node: '', handle: '' };
      }
      try {
        const handle = await node.put(shardIds[i]!, stream, encoded.segment.shardSize, uploads.signal);
        this.metrics.nodeRequests.inc({ node: node.name, op: 'put', result: 'ok' });
        return { node: node.name, handle };
      } catch (err) {
        stream.resume();
        if (uploads.signal.aborted) return { node: node.name, handle: '' };
        this.metrics.nodeRequests.inc({ node: node.name, op: 'put', result: 'error' });
        this.log.warn({ node: node.name, err: (err as Error).message }, 'shard write failed');
        stream.resume();
        return { node: node.name, handle: '' };
      }
    });
    const stored = this.settleSegment(encoded.done, puts, uploads.signal, quorum, k + m);
    void stored.finally(() => stop.removeEventListener('abort', onStop)).catch(() => undefined);
    return { consumed: encoded.done, stored };
  }

  private async settleSegment(
    done: Promise<EncodeSummary>,
    puts: Array<Promise<ShardRef>>,
    uploads: AbortSignal,
    quorum: number,
    n: number,
  ): Promise<SegmentManifest> {
    const [summary, ...refs] = await Promise.allSettled([done, ...puts]);
    const shards = refs.map((r) => (r.status === 'fulfilled' ? r.value : { node: '', handle: '' }));
    const stored = shards.filter((s) => s.handle !== '');
    if (summary.status === 'rejected' || stored.length < quorum) {
      await this.deleteShards(stored);
      // The client's own failure (bad body) is its error, whichever part of the pipeline noticed first; anything else
      // below quorum is the nodes' fault: 503.
      const clientError: unknown = uploads.aborted ? uploads.reason : undefined;
      if (clientError instanceof Error) throw clientError;
      if (summary.status === 'rejected' && summary.reason instanceof ColdError) throw summary.reason;
      if (summary.status === 'rejected') this.log.warn({ err: (summary.reason as Error).message }, 'segment encoding stopped');
      throw new ColdError('Unavailable', `Only ${stored.length} of ${n} shards could be stored; ${quorum} are needed.`);
    }
    if (stored.length < n) this.metrics.shardProblems.inc({ kind: 'write-degraded' }, n - stored.length);
    return { ...summary.value.segment, shards };
  }

  /** Plaintext of [range.offset, +length) of an object, reconstructed segment by segment as the consumer reads. */
  async openRange(
    manifest: ObjectManifest,
    dk: Buffer,
    range: { offset: number; length: number },
    opts: { onCiphertext?: (sealed: Buffer) => Promise<void> } = {},
  ): Promise<Readable> {
    if (isInline(manifest)) return openInline(manifest, dk, range);
    return openSegmentRange(this, manifest, dk, range, opts);
  }

  /**
   * Encrypted record copies on m+1 healthy nodes (preferring distinct ones), for recover-index. An inline object's
   * copies are its data: they need the same write quorum as a segment's shards (as many losses tolerated), or the
   * write fails with nothing left behind.
   */
  async writeRecordCopies(record: ObjectRecord, m: number = this.config.m): Promise<ShardRef[]> {
    const inline = record.manifest.segments.find((s) => s.inline !== undefined);
    const least = inline ? this.quorum(inline) - inline.k + 1 : 1;
    const refs = await this.writeSealed({ kind: 'object', record }, record.objectId, inline ? inlineCopiesWanted(inline) : m + 1);
    if (refs.length < least) {
      await this.deleteShards(refs);
      throw new ColdError('Unavailable', `Only ${refs.length} storage nodes accepted the object; ${least} are needed to store it durably.`);
    }
    return refs;
  }

  /** A delete marker's copies, as an object's (m+1 nodes): recover-index restores the marker. */
  async writeMarkerCopies(marker: DeleteMarkerRecord, m: number = this.config.m): Promise<ShardRef[]> {
    return this.writeSealed({ kind: 'marker', marker }, `${marker.bucket}\0${marker.key}\0${marker.versionId}`, m + 1);
  }

  /**
   * Deletes the record copies of a version (object or marker) that was just removed for good, so recover-index cannot
   * bring it back. A copy whose node does not answer now is covered by tombstones on other nodes; the returned
   * garbage (the copies not deleted, the tombstones) is queued so the collector deletes the copies, then the tombstones.
   */
  async forgetCopies(copies: ReadonlyArray<ShardRef>, tombstone: Tombstone): Promise<{ copies: ShardRef[]; tombstones: ShardRef[] } | null> {
    const results = await Promise.allSettled(copies.map(async (c) => this.nodes.get(c.node)?.delete(c.handle)));
    const left = copies.filter((_, i) => results[i]!.status === 'rejected');
    if (left.length === 0) return null;
    const avoid = new Set(left.map((c) => c.node));
    let tombstones: ShardRef[] = [];
    try {
      // As many as the copies left (at least one per node that failed, on nodes that answered).
      tombstones = await this.writeSealed({ kind: 'tombstone', tombstone }, tombstone.objectId ?? `${tombstone.bucket}\0${tombstone.key}\0${tombstone.markerVersionId ?? ''}`, left.length, avoid);
    } catch (err) {
      this.log.warn({ bucket: tombstone.bucket, err: (err as Error).message }, 'tombstone write failed: recover-index could restore the deleted version until the collector deletes its copies');
    }
    return { copies: left, tombstones };
  }

  /** Seals `doc` once and writes it to `want` healthy nodes ranked by `placementId`, skipping `avoid` when it can. */
  private async writeSealed(doc: SealedDocument, placementId: string, want: number, avoid: ReadonlySet<string> = new Set()): Promise<ShardRef[]> {
    const blob = sealDocument(doc, this.masterKey);
    const digest = sealedDigest(blob);
    const healthy = this.placementView().filter((n) => n.healthy && !avoid.has(n.name));
    const ranked = rankNodes(placementId, healthy);
    const refs: ShardRef[] = [];
    // Write to the best-ranked nodes in parallel; a failed write moves on to the next node in the ranking.
    let next = 0;
    const writeOne = async (): Promise<void> => {
      while (next < ranked.length && refs.length < want) {
        const name = ranked[next++]!;
        const node = this.nodes.get(name)!;
        try {
          const handle = await node.put(newShardId(), Readable.from([blob]), blob.length);
          refs.push({ node: name, handle, sha256: digest });
          return;
        } catch (err) {
          this.log.warn({ node: name, err: (err as Error).message }, 'record copy write failed');
        }
      }
    };
    await Promise.all(Array.from({ length: want }, writeOne));
    if (refs.length === 0) throw new ColdError('Unavailable', 'No storage node accepted the object record.');
    return refs;
  }

  async deleteShards(refs: ReadonlyArray<ShardRef>): Promise<void> {
    await Promise.all(
      refs
        .filter((r) => r.handle !== '')
        .map(async (r) => {
          const node = this.nodes.get(r.node);
          if (!node) return;
          await node.delete(r.handle).catch((err: Error) => this.log.warn({ node: r.node, err: err.message }, 'shard delete failed'));
        }),
    );
  }

  async deleteSegments(segments: ReadonlyArray<SegmentManifest>): Promise<void> {
    for (const s of segments) await this.deleteShards(s.shards);
  }

  /**
   * Deletes everything a manifest references on nodes: shards and record copies, then (only once those are all gone)
   * the tombstones that stood in for them. Throws if any delete failed.
   */
  async deleteManifest(manifest: ObjectManifest): Promise<void> {
    await this.deleteAll([...manifest.segments.flatMap((s) => s.shards), ...(manifest.copies ?? [])]);
    if (manifest.tombstones) await this.deleteAll(manifest.tombstones);
  }

  private async deleteAll(refs: ReadonlyArray<ShardRef>): Promise<void> {
    const results = await Promise.allSettled(
      refs
        .filter((r) => r.handle !== '')
        .map(async (r) => {
          const node = this.nodes.get(r.node);
          if (node) await node.delete(r.handle);
        }),
    );
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) throw new Error(`${failed} shard deletes failed`);
  }

  async healthSummary(): Promise<{ healthy: number; total: number; minimum: number }> {
    const view = this.placementView();
    return { healthy: view.filter((n) => n.healthy).length, total: view.length, minimum: this.config.k };
  }

  async close(): Promise<void> {
    if (this.prober) clearInterval(this.prober);
    this.prober = undefined;
    await Promise.all([...this.nodes.values()].map((n) => n.close().catch(() => undefined)));
  }
}

async function* abortOnError(source: AsyncIterable<Buffer>, controller: AbortController): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (err) {
    controller.abort(err);
    throw err;
  }
}

async function* teePlain(source: AsyncIterable<Buffer>, sink: HotWriter): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    await sink.write(chunk);
    yield chunk;
  }
}
