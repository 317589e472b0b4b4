import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { durabilityMain, runDurabilityCommand } from '../src/cli/durability.js';
import { nodesMain } from '../src/cli/nodes-check.js';
import { UsageError } from '../src/util/cli-flags.js';
import { scrubAll } from '../src/maintenance/scrub.js';
import type { TesseraConfig } from '../src/config/types.js';
import type { Gateway } from '../src/gateway/gateway.js';
import type { ObjectRecord } from '../src/model/records.js';
import { putBytes, randomBody, shardFile, tempGateway } from './helpers/durability.js';
import { readAll } from './helpers/streams.js';
import { walkFiles } from './helpers/files.js';

type Env = Awaited<ReturnType<typeof tempGateway>>;

async function allShardFiles(config: TesseraConfig): Promise<string[]> {
  const lists = await Promise.all(config.cold.nodes.map((n) => (n.kind === 'fs' ? walkFiles(n.path) : [])));
  return lists.flat().sort();
}

function durable(r: ObjectRecord): unknown {
  const { hot: _hot, hotBytes: _hotBytes, lastAccess: _lastAccess, manifest, ...rest } = r;
  const { copies, ...m } = manifest;
  return { ...rest, manifest: m, copies: [...(copies ?? [])].map((c) => `${c.node}/${c.handle}`).sort() };
}

async function bytesOf(g: Gateway, bucket: string, key: string): Promise<Buffer> {
  const rec = await g.meta.getObject(bucket, key);
  if (!rec) throw new Error(`no ${bucket}/${key}`);
  return readAll(await g.reader.open(rec));
}

describe('durability maintenance', () => {
  let env: Env;
  beforeEach(async () => {
    env = await tempGateway();
    await env.g.service.createBucket('b', 'tessera-admin');
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('gc deletes an orphan, spares referenced shards, pending garbage and (by default) young or undated blobs', async () => {
    const keep = await putBytes(env.g, 'b', 'keep', randomBody(1_500_000));
    const dropped = await putBytes(env.g, 'b', 'dropped', randomBody(100_000));
    await env.g.service.deleteObject('b', 'dropped');
    const node1 = env.config.cold.nodes[0]!;
    if (node1.kind !== 'fs') throw new Error('fs node expected');
    const orphanId = 'ab' + randomBytes(15).toString('hex');
    await mkdir(path.join(node1.path, 'ab'), { recursive: true });
    const orphan = path.join(node1.path, 'ab', orphanId);
    await writeFile(orphan, randomBytes(1000));
    const before = await allShardFiles(env.config);

    // Default minimum age: the fs node reports no mtime, so nothing can be proven old enough.
    const cautious = await runDurabilityCommand('gc', env.g, env.config);
    expect(cautious.code).toBe(0);
    expect(cautious.summary).toMatch(/1 orphans \(1000 bytes\): 0 deleted, 1 too young/);
    await stat(orphan);

    const r = await runDurabilityCommand('gc', env.g, env.config, { minAgeMs: 0 });
    expect(r.code).toBe(0);
    expect(r.summary).toMatch(/1 orphans \(1000 bytes\): 1 deleted/);
    await expect(stat(orphan)).rejects.toThrow();
    expect(await allShardFiles(env.config)).toEqual(before.filter((f) => f !== orphan));
    // The deleted object's shards wait for their grace period in the garbage queue; gc leaves them to it.
    for (const ref of dropped.manifest.segments[0]!.shards) await stat(shardFile(env.config, ref));
    const scrub = await scrubAll(env.g.meta, env.g.cold);
    expect(scrub).toMatchObject({ objects: 1, ok: scrub.shards, missing: 0, corrupt: 0 });
    expect(scrub.segments).toBe(keep.manifest.segments.length);
  });

  it('recover-index rebuilds an emptied store from record copies: newest version per key, buckets, lost objects skipped, deleted ones never', async () => {
    await env.g.service.createBucket('other', 'tessera-admin');
    const v1 = randomBody(200_000);
    await putBytes(env.g, 'b', 'a', v1);
    await new Promise((r) => setTimeout(r, 5));
    const v2 = randomBody(300_000);
    await putBytes(env.g, 'b', 'a', v2);
    const big = randomBody(2_600_000);
    await putBytes(env.g, 'other', 'dir/big', big);
    const gone = await putBytes(env.g, 'b', 'gone', randomBody(100_000));
    for (const ref of gone.manifest.segments[0]!.shards) await unlink(shardFile(env.config, ref));
    // Deleted: its shards wait for the collector's grace period, but its record leaves the nodes with the delete.
    await putBytes(env.g, 'b', 'deleted', randomBody(10_000));
    await env.g.service.deleteObject('b', 'deleted');
    const originals = new Map<string, unknown>();
    for (const [bucket, key] of [
      ['b', 'a'],
      ['other', 'dir/big'],
    ] as const) {
      originals.set(`${bucket}/${key}`, durable((await env.g.meta.getObject(bucket, key))!));
    }

    // The store refuses to be "recovered" over live data.
    const refused = runDurabilityCommand('recover-index', env.g, env.config);
    await expect(refused).rejects.toThrow(/already holds 3 objects/);

    await env.g.close();
    for (const suffix of ['', '-wal', '-shm']) await rm(env.config.meta.path + suffix, { force: true });
    const g = await env.reopen();
    expect(await g.meta.countObjects()).toBe(0);

    const r = await runDurabilityCommand('recover-index', g, env.config);
    // The replaced version's copies went with the overwrite (finished by close), the deleted object's with its delete;
    // the object whose shards were removed under it is lost.
    expect(r.summary).toMatch(/2 object versions and 0 delete markers restored, 0 deleted versions left out, 0 rewritten null versions ignored, 0 already present, 1 lost/);
    expect(await g.meta.getObject('b', 'deleted')).toBeNull();
    expect(r.code).toBe(1);
    expect((await g.meta.listBuckets()).map((b) => b.name).sort()).toEqual(['b', 'other']);
    for (const [id, original] of originals) {
      const [bucket, key] = [id.slice(0, id.indexOf('/')), id.slice(id.indexOf('/') + 1)];
      expect(durable((await g.meta.getObject(bucket, key))!)).toEqual(original);
    }
    expect((await bytesOf(g, 'b', 'a')).equals(v2)).toBe(true);
    expect((await bytesOf(g, 'other', 'dir/big')).equals(big)).toBe(true);

    // Running again with --force changes nothing: every key is present with the same object.
    const again = await runDurabilityCommand('recover-index', g, env.config, { force: true });
    expect(again.summary).toMatch(/0 object versions and 0 delete markers restored, .* 2 already present, 1 lost/);
  });

  it('rotate-key rewraps data keys and reseals record copies; the old master key can then be retired', async () => {
    const body = randomBody(1_200_000);
    const before = await putBytes(env.g, 'b', 'k', body);
    const oldKey = env.config.keys.masterKeys[0]!;
    const newKey = { id: 'k2', key: randomBytes(32) };
    const rotated: TesseraConfig = { ...env.config, keys: { masterKeys: [newKey, oldKey] } };
    const g = await env.reopen(rotated);
    // One more object written under the new key needs nothing.
    await putBytes(g, 'b', 'new', randomBody(10_000));

    const r = await runDurabilityCommand('rotate-key', g, rotated);
    expect(r.code).toBe(0);
    expect(r.summary).toMatch(/2 objects, 1 rewrapped under k2, 1 already current, 0 failed/);
    const after = (await g.meta.getObjectById(before.objectId))!;
    expect(after.manifest.keyId).toBe('k2');
    expect(after.manifest.wrappedKey).not.toBe(before.manifest.wrappedKey);
    expect(after.manifest.segments).toEqual(before.manifest.segments);
    for (const c of before.manifest.copies ?? []) await expect(stat(shardFile(env.config, c))).rejects.toThrow();

    // Only the new key from here on: reads and recovery work without the old one.
    const retired: TesseraConfig = { ...env.config, keys: { masterKeys: [newKey] } };
    const g2 = await env.reopen(retired);
    expect((await bytesOf(g2, 'b', 'k')).equals(body)).toBe(true);
    await g2.close();
    for (const suffix of ['', '-wal', '-shm']) await rm(env.config.meta.path + suffix, { force: true });
    const g3 = await env.reopen(retired);
    const rec = await runDurabilityCommand('recover-index', g3, retired);
    expect(rec.summary).toMatch(/2 object versions and 0 delete markers restored.*0 unreadable copies/);
    expect((await bytesOf(g3, 'b', 'k')).equals(body)).toBe(true);
  });

  it('scrub and repair exit codes follow what is left', async () => {
    const rec = await putBytes(env.g, 'b', 'k', randomBody(400_000));
    expect((await runDurabilityCommand('scrub', env.g, env.config)).code).toBe(0);
    await unlink(shardFile(env.config, rec.manifest.segments[0]!.shards[2]!));
    const scrub = await runDurabilityCommand('scrub', env.g, env.config);
    expect(scrub.code).toBe(1);
    expect(scrub.summary).toMatch(/5 ok, 1 missing, 0 corrupt/);
    const repair = await runDurabilityCommand('repair', env.g, env.config);
    expect(repair).toMatchObject({ code: 0 });
    expect(repair.summary).toMatch(/1 rebuilt, 0 could not be rebuilt/);
    expect((await runDurabilityCommand('scrub', env.g, env.config)).code).toBe(0);
  });
});

describe('CLI entry points', () => {
  it('parse flags, open and close the gateway, and return exit codes', async () => {
    const env = await tempGateway();
    try {
      await env.g.service.createBucket('b', 'tessera-admin');
      const rec = await putBytes(env.g, 'b', 'k', randomBody(100_000));
      await env.g.close();
      const file = path.join(env.dir, 'tessera.yaml');
      await writeFile(file, `dataDir: ${JSON.stringify(env.dir)}\nlog:\n  level: silent\ncold:\n  segmentSize: 1MiB\n  chunkSize: 64KiB\n`);
      expect(await durabilityMain('scrub', ['--config', file])).toBe(0);
      await unlink(shardFile(env.config, rec.manifest.segments[0]!.shards[1]!));
      expect(await durabilityMain('scrub', ['--config', file])).toBe(1);
      expect(await durabilityMain('repair', ['--config', file])).toBe(0);
      expect(await durabilityMain('gc', ['--config', file, '--min-age', '0'])).toBe(0);
      await expect(durabilityMain('gc', ['--config', file, '--min-age', 'soon'])).rejects.toThrow(UsageError);
      expect(await durabilityMain('recover-index', ['--config', file])).toBe(1);
      expect(await nodesMain(['check', '--config', file])).toBe(0);
      await expect(nodesMain(['--config', file])).rejects.toThrow(UsageError);
      expect(await durabilityMain('scrub', ['--config', file])).toBe(0);
    } finally {
      await env.cleanup();
    }
  });
});
