import { Readable } from 'node:stream';
import { decodeSegment, type ShardProblemKind } from './codec/decoder.js';
import { segmentsForRange } from '../model/layout.js';
import type { ObjectManifest, SegmentManifest } from '../model/manifest.js';
import type { GuardedNode } from './nodes/breaker.js';
import { NodeError } from './nodes/driver.js';
import { isColdError } from './errors.js';

/** Heal-on-read: a reader saw a bad shard. */
export type ShardProblemReporter = (objectId: string, segment: SegmentManifest, shard: number, kind: ShardProblemKind, err: Error) => void;

/** What a segment read needs from the cold store (the store passes itself; this module never imports it). */
export interface ShardAccess {
  readonly config: { readonly hedgeAfterMs: number };
  node(name: string): GuardedNode | undefined;
  hasOpenCircuits(): boolean;
  reportProblem: ShardProblemReporter;
}

/**
 * Plaintext of an object range, decoded segment by segment from the nodes. The first stripe is decoded before this
 * resolves, so "not enough shards" becomes a clean 503 before any byte is sent; after that a failure errors the
 * stream (the HTTP layer then cuts the connection rather than end a response short). While one segment streams, the
 * next one is already being fetched, so segment boundaries do not stall the client.
 */
export async function openSegmentRange(
  cold: ShardAccess,
  manifest: ObjectManifest,
  dk: Buffer,
  range: { offset: number; length: number },
  opts: { onCiphertext?: (sealed: Buffer) => Promise<void> } = {},
): Promise<Readable> {
  const slices = segmentsForRange(manifest.segments, range.offset, range.length);
  const abort = new AbortController();
  // Ciphertext must reach the hot tier in object order; a prefetched segment's first stripe waits here meanwhile.
  let currentSlice = 0;
  const held = new Map<number, Buffer[]>();
  const sink = opts.onCiphertext;
  const ciphertextFor = (i: number) =>
    sink &&
    ((sealed: Buffer): void | Promise<void> => {
      if (i === currentSlice) return sink(sealed);
      const list = held.get(i) ?? [];
      list.push(sealed);
      held.set(i, list);
    });
  const advance = async (i: number): Promise<void> => {
    const list = held.get(i) ?? [];
    // Chunks may still arrive while flushing; switch to direct delivery only once the backlog is empty.
    for (let sealed = list.shift(); sealed !== undefined; sealed = list.shift()) await sink?.(sealed);
    held.delete(i);
    currentSlice = i;
  };

  /**
   * `lastResort`: also ask nodes whose circuit is open. A node that just came back is refused by its breaker until
   * the cool-down ends; when that is the difference between serving the segment and a 503, asking it is right.
   */
  const decoderFor = (i: number, lastResort = false): AsyncGenerator<Buffer, void, undefined> => {
    // One controller per segment, so shard requests' abort listeners do not pile up on one signal over a long read.
    const segmentAbort = new AbortController();
    const onAbort = (): void => segmentAbort.abort();
    abort.signal.addEventListener('abort', onAbort, { once: true });
    const slice = slices[i]!;
    const segment = manifest.segments[slice.segment]!;
    const unavailable: number[] = [];
    segment.shards.forEach((s, idx) => {
      if (s.handle === '' || !cold.node(s.node)) unavailable.push(idx);
    });
    const decoder = decodeSegment({
      manifest: segment,
      objectId: manifest.objectId,
      dk,
      range: { offset: slice.offset, length: slice.length },
      unavailable,
      hedgeAfterMs: cold.config.hedgeAfterMs,
      signal: segmentAbort.signal,
      openShard: async (shardIndex, req, signal) => {
        const ref = segment.shards[shardIndex]!;
        const node = cold.node(ref.node);
        if (!node) throw new NodeError(ref.node, 'unavailable', 'node is not configured');
        if (node.isHealthy()) return node.get(ref.handle, { offset: req.offset, length: req.length }, signal);
        if (!lastResort) throw new NodeError(ref.node, 'unavailable', 'node circuit is open');
        return node.inner.get(ref.handle, { offset: req.offset, length: req.length }, signal);
      },
      onShardProblem: (shard, kind, err) => cold.reportProblem(manifest.objectId, segment, shard, kind, err),
      ...(sink ? { onCiphertext: ciphertextFor(i)! } : {}),
    });
    return (async function* scoped(): AsyncGenerator<Buffer, void, undefined> {
      try {
        yield* decoder;
      } finally {
        abort.signal.removeEventListener('abort', onAbort);
        segmentAbort.abort();
      }
    })();
  };

  /** The first stripe of segment i; on a 503 with nodes held out by open circuits, once more asking those too. */
  const openSegment = async (
    i: number,
    gen: AsyncGenerator<Buffer, void, undefined>,
    head: Promise<IteratorResult<Buffer, void>>,
  ): Promise<{ gen: AsyncGenerator<Buffer, void, undefined>; head: IteratorResult<Buffer, void> }> => {
    try {
      return { gen, head: await head };
    } catch (err) {
      if (!isColdError(err, 'Unavailable') || !cold.hasOpenCircuits()) throw err;
      const retry = decoderFor(i, true);
      return { gen: retry, head: await retry.next() };
    }
  };

  const finished = new WeakSet<AsyncGenerator<Buffer, void, undefined>>();
  const completed = (g: AsyncGenerator<Buffer, void, undefined>): boolean => finished.has(g);

  // Lookahead: the next segment's first stripe is requested while the current one streams.
  async function* all(first: IteratorResult<Buffer, void>, current: AsyncGenerator<Buffer, void, undefined>): AsyncGenerator<Buffer> {
    let gen = current;
    let head: IteratorResult<Buffer, void> | undefined = first;
    for (let i = 0; i < slices.length; i++) {
      let nextHead: Promise<IteratorResult<Buffer, void>> | undefined;
      let nextGen: AsyncGenerator<Buffer, void, undefined> | undefined;
      const prefetch = (): void => {
        if (nextGen || i + 1 >= slices.length) return;
        nextGen = decoderFor(i + 1);
        nextHead = nextGen.next();
        // Errors surface when the head is awaited.
        nextHead.catch(() => undefined);
      };
      try {
        if (head && !head.done) {
          prefetch();
          yield head.value;
        }
        for (;;) {
          const r = await gen.next();
          if (r.done) {
            finished.add(gen);
            break;
          }
          yield r.value;
        }
      } finally {
        // Normal end, error, or a consumer that stopped early: no decoder of this read stays open.
        if (!completed(gen)) await gen.return(undefined).catch(() => undefined);
      }
      if (i + 1 < slices.length) {
        await advance(i + 1);
        const g = nextGen ?? decoderFor(i + 1);
        ({ gen, head } = await openSegment(i + 1, g, nextHead ?? g.next()));
      }
    }
  }

  if (slices.length === 0) return Readable.from([]);
  const candidate = decoderFor(0);
  let opened: { gen: AsyncGenerator<Buffer, void, undefined>; head: IteratorResult<Buffer, void> };
  try {
    opened = await openSegment(0, candidate, candidate.next());
  } catch (err) {
    abort.abort();
    throw err;
  }
  const stream = Readable.from(all(opened.head, opened.gen), { objectMode: false, highWaterMark: 1 << 20 });
  stream.once('close', () => abort.abort());
  return stream;
}
