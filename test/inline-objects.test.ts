import { mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDurabilityCommand } from '../src/cli/durability.js';
import { applyTiering } from '../src/gateway/tiering.js';
import { scrubAll } from '../src/maintenance/scrub.js';
import { redundancyOf } from '../src/maintenance/inventory.js';
import { isInline } from '../src/model/manifest.js';
import type { Gateway } from '../src/gateway/gateway.js';
import type { TesseraConfig } from '../src/config/types.js';
import { putBytes, randomBody, shardFile, tempGateway } from './helpers/durability.js';
import { readAll } from './helpers/streams.js';
import { walkFiles } from './helpers/files.js';

type Env = Awaited<ReturnType<typeof tempGateway>>;

async function nodeFiles(config: TesseraConfig): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const n of config.cold.nodes) if (n.kind === 'fs') out.set(n.name, (await walkFiles(n.path)).sort());
  return out;
}

function newFiles(before: Map<string, string[]>, after: Map<string, string[]>): Array<{ node: string; file: string }> {
  const added: Array<{ node: string; file: string }> = [];
  for (const [node, files] of after) for (const f of files) if (!(before.get(node) ?? []).includes(f)) added.push({ node, file: f });
  return added;
}

async function bytesOf(g: Gateway, key: string, range?: { offset: number; length: number }): Promise<Buffer> {
  const rec = await g.service.headObject('b', key);
  return readAll(await g.reader.open(rec, range));
}

/** A body whose plaintext is easy to spot in a node's files. */
function recognisable(size: number): Buffer {
  const b = Buffer.alloc(size);
  const word = Buffer.from('TESSERA-PLAINTEXT-');
  for (let i = 0; i < size; i += word.length) word.copy(b, i);
  return b;
}

describe('small objects stored inline in their record copies', () => {
  let env: Env;
  beforeEach(async () => {
    env = await tempGateway();
    await env.g.service.createBucket('b', 'tessera-admin');
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('a small PUT writes m+1 record copies on distinct nodes and no shard; nodes see only ciphertext; reads whole and in ranges', async () => {
    const m = env.config.cold.m;
    const body = recognisable(40_000);
    const before = await nodeFiles(env.config);
    const rec = await putBytes(env.g, 'b', 'small', body);
    const added = newFiles(before, await nodeFiles(env.config));
    expect(isInline(rec.manifest)).toBe(true);
    expect(rec.manifest.segments).toHaveLength(1);
    expect(rec.manifest.segments[0]!.shards).toEqual([]);
    expect(added).toHaveLength(m + 1);
    expect(new Set(added.map((a) => a.node)).size).toBe(m + 1);
    expect(rec.manifest.copies?.map((c) => c.node).sort()).toEqual(added.map((a) => a.node).sort());
    for (const a of added) {
      const stored = await readFile(a.file);
      expect(stored.includes(Buffer.from('TESSERA-PLAINTEXT'))).toBe(false);
      expect(stored.includes(Buffer.from('"key":"small"'))).toBe(false);
    }

    expect((await bytesOf(env.g, 'small')).equals(body)).toBe(true);
    for (const [offset, length] of [
      [0, 1],
      [39_999, 1],
      [1, 39_998],
      [10_000, 12_345],
      [16_383, 2],
      [20_000, 20_000],
    ] as const) {
      expect((await bytesOf(env.g, 'small', { offset, length })).equals(body.subarray(offset, offset + length))).toBe(true);
    }
    // Nothing was rebuilt from shards and nothing went to the hot tier.
    expect((await env.g.service.headObject('b', 'small')).hot).toBe('cold');
  });

  it('objects above cold.inlineMax, and multipart parts, are erasure-coded as before', async () => {
    const limit = env.config.cold.inlineMaxBytes;
    const big = await putBytes(env.g, 'b', 'big', randomBody(limit + 1));
    expect(isInline(big.manifest)).toBe(false);
    expect(big.manifest.segments[0]!.shards.filter((s) => s.handle !== '')).toHaveLength(env.config.cold.k + env.config.cold.m);
    const at = await putBytes(env.g, 'b', 'at', randomBody(limit));
    expect(isInline(at.manifest)).toBe(true);

    const upload = await env.g.service.createUpload({ bucket: 'b', key: 'mp', owner: 'tessera-admin', headers: { userMeta: {} }, tags: {} });
    const partBody = randomBody(1000);
    const part = await env.g.service.uploadPart({ bucket: 'b', key: 'mp', uploadId: upload.uploadId, partNumber: 1, body: Readable.from([partBody]), size: partBody.length });
    const done = await env.g.service.completeUpload(upload, [{ partNumber: 1, etag: part.etag }]);
    expect(isInline(done.manifest)).toBe(false);
    expect((await bytesOf(env.g, 'mp')).equals(partBody)).toBe(true);
  });

  it('with cold.inlineMax 0 a small object is sharded', async () => {
    const config: TesseraConfig = { ...env.config, cold: { ...env.config.cold, inlineMaxBytes: 0 } };
    const g = await env.reopen(config);
    const rec = await putBytes(g, 'b', 'tiny', randomBody(100));
    expect(isInline(rec.manifest)).toBe(false);
    expect(rec.manifest.segments[0]!.shards).toHaveLength(config.cold.k + config.cold.m);
  });

  it('survives the loss of any m nodes: recover-index rebuilds inline objects from the copies left', async () => {
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 8; i++) bodies.set(`o${i}`, randomBody(1 + i * 7_000));
    const recs = new Map<string, string[]>();
    for (const [key, body] of bodies) recs.set(key, (await putBytes(env.g, 'b', key, body)).manifest.copies!.map((c) => c.node));
    // The m nodes that hold a copy of o0 are wiped (every other object loses whatever copies it had there too).
    const lost = recs.get('o0')!.slice(0, env.config.cold.m);
    await env.g.close();
    for (const suffix of ['', '-wal', '-shm']) await rm(env.config.meta.path + suffix, { force: true });
    for (const name of lost) {
      const node = env.config.cold.nodes.find((n) => n.name === name)!;
      if (node.kind !== 'fs') throw new Error('fs node expected');
      await rm(node.path, { recursive: true, force: true });
      await mkdir(node.path, { recursive: true });
    }
    const g = await env.reopen();
    const r = await runDurabilityCommand('recover-index', g, env.config);
    expect(r.summary).toMatch(/8 object versions and 0 delete markers restored, .* 0 lost/);
    for (const [key, body] of bodies) {
      const rec = await g.service.headObject('b', key);
      expect(isInline(rec.manifest)).toBe(true);
      expect(rec.manifest.copies!.every((c) => !lost.includes(c.node))).toBe(true);
      expect((await bytesOf(g, key)).equals(body)).toBe(true);
    }
    // The copies lost with the nodes are owed: scrub sees them, repair writes them again.
    const scrub = await scrubAll(g.meta, g.cold);
    expect(scrub.missing).toBeGreaterThan(0);
    const repaired = await runDurabilityCommand('repair', g, env.config);
    expect(repaired.code).toBe(0);
    const clean = await scrubAll(g.meta, g.cold);
    expect(clean).toMatchObject({ objects: 8, missing: 0, corrupt: 0, ok: 8 * (env.config.cold.m + 1) });
  });

  it('scrub finds a missing and a corrupt record copy without keys; repair rewrites the copies; reads never fail', async () => {
    const body = randomBody(20_000);
    const rec = await putBytes(env.g, 'b', 'k', body);
    const [first, second] = rec.manifest.copies!;
    await unlink(shardFile(env.config, first!));
    const file = shardFile(env.config, second!);
    const damaged = await readFile(file);
    damaged[damaged.length - 5]! ^= 0xff;
    await writeFile(file, damaged);

    const scrub = await scrubAll(env.g.meta, env.g.cold);
    expect(scrub).toMatchObject({ objects: 1, segments: 1, missing: 1, corrupt: 1, ok: env.config.cold.m - 1 });
    expect(redundancyOf(rec.manifest, () => true)).toBe('full');

    const repaired = await runDurabilityCommand('repair', env.g, env.config);
    expect(repaired.code).toBe(0);
    const after = await env.g.service.headObject('b', 'k');
    expect(after.manifest.copies).toHaveLength(env.config.cold.m + 1);
    for (const c of after.manifest.copies!) expect(rec.manifest.copies!.some((o) => o.handle === c.handle)).toBe(false);
    // The old copies are gone from the nodes: recover-index will not meet two versions of the record.
    for (const c of rec.manifest.copies!) await expect(readFile(shardFile(env.config, c))).rejects.toThrow();
    expect(await scrubAll(env.g.meta, env.g.cold)).toMatchObject({ missing: 0, corrupt: 0, ok: env.config.cold.m + 1 });
    expect((await bytesOf(env.g, 'k')).equals(body)).toBe(true);
  });

  it('its tier state follows warm, evict and write-through, with nothing in the hot tier; reconcile and budget eviction leave it alone', async () => {
    const rec = await putBytes(env.g, 'b', 'k', randomBody(3000));
    expect(rec.hot).toBe('cold');
    expect(await env.g.reader.promote(rec)).toBe(true);
    const warm = await env.g.service.headObject('b', 'k');
    expect([warm.hot, warm.hotBytes]).toEqual(['hot', 0]);
    expect(await env.g.meta.evictionCandidates(10)).toEqual([]);
    expect(await env.g.hot.reconcile()).toMatchObject({ markedCold: 0 });
    expect((await env.g.service.headObject('b', 'k')).hot).toBe('hot');
    await applyTiering(env.g, 'evict', { bucket: 'b', prefix: '' });
    expect((await env.g.service.headObject('b', 'k')).hot).toBe('cold');
    expect(await env.g.reader.restore(await env.g.service.headObject('b', 'k'))).toBe('hot');
    expect((await env.g.service.headObject('b', 'k')).hot).toBe('hot');

    const through = await env.reopen({ ...env.config, hot: { ...env.config.hot, writeThrough: true } });
    const written = await putBytes(through, 'b', 'w', randomBody(3000));
    expect([written.hot, (await through.service.headObject('b', 'w')).hot, (await through.service.headObject('b', 'w')).hotBytes]).toEqual(['hot', 'hot', 0]);
    expect(await through.meta.hotBytesTotal()).toBe(0);
  });

  it('a redundancy report counts an inline object by its copies', async () => {
    const rec = await putBytes(env.g, 'b', 'k', randomBody(1000));
    const nodes = rec.manifest.copies!.map((c) => c.node);
    expect(redundancyOf(rec.manifest, () => true)).toBe('full');
    expect(redundancyOf(rec.manifest, (n) => n !== nodes[0])).toBe('degraded');
    expect(redundancyOf(rec.manifest, (n) => n === nodes[0])).toBe('at-risk');
    expect(redundancyOf(rec.manifest, () => false)).toBe('lost');
  });
});
