/**
 * The MetaStore methods that let several gateways share one store (leases, the shared repair queue, the cluster-wide
 * hot budget, compare-and-set manifest updates), exercised through two connections (SQLite) or pools (PostgreSQL) to
 * one store: the same situation as gateway processes sharing it.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ObjectManifest } from '../src/model/manifest.js';
import type { MetaStore } from '../src/meta/store.js';
import type { ObjectRecord } from '../src/model/records.js';
import { metaEngines, useEngine } from './helpers/meta-engines.js';

let now = 1_700_000_000_000;
const clock = (): number => now;

function manifest(objectId: string, handle = 'h0'): ObjectManifest {
  return {
    version: 1,
    objectId,
    wrappedKey: 'w',
    keyId: 'k1',
    size: 10,
    segments: [{ segId: `${objectId}-s0`, part: 1, index: 0, plainSize: 10, chunkSize: 65536, k: 2, m: 1, coder: 'rs', shardSize: 100, shards: [{ node: 'n1', handle }] }],
  };
}

function record(key: string, objectId: string): ObjectRecord {
  return {
    bucket: 'bkt',
    key,
    objectId,
    size: 10,
    etag: '"e"',
    lastModified: now,
    headers: { userMeta: {} },
    tags: {},
    manifest: manifest(objectId),
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
  };
}

describe.each(metaEngines())('%s', (engine) => {
const env = useEngine(engine);
let a: MetaStore;
let b: MetaStore;

beforeEach(async () => {
  const fresh = await env.fresh({ now: clock });
  a = fresh.store;
  b = await fresh.another({ now: clock });
  await a.createBucket({ name: 'bkt', createdAt: now, owner: 'o', region: 'us-east-1' });
});

describe('leases', () => {
  // A lease runs on the database's clock where it has one (PostgreSQL: real time passes) and on the store's clock
  // otherwise (SQLite: the pinned test clock moves by as much).
  const sleep = async (ms: number): Promise<void> => {
    now += ms;
    await new Promise((r) => setTimeout(r, ms));
  };
  it('one holder at a time; renewable by its holder; taken over after expiry or release', async () => {
    expect(await a.acquireLease('gc', 'gw-a', 600)).toBe(true);
    expect(await b.acquireLease('gc', 'gw-b', 600)).toBe(false);
    // Another lease name is independent.
    expect(await b.acquireLease('scrub', 'gw-b', 600)).toBe(true);
    await sleep(350);
    expect(await a.acquireLease('gc', 'gw-a', 600)).toBe(true); // renewed
    await sleep(350);
    expect(await b.acquireLease('gc', 'gw-b', 600)).toBe(false); // the renewal still holds
    await sleep(400);
    expect(await b.acquireLease('gc', 'gw-b', 600)).toBe(true); // expired: a killed holder is replaced
    expect(await a.acquireLease('gc', 'gw-a', 600)).toBe(false);
    // Releasing someone else's lease does nothing; the holder's release frees it at once.
    await a.releaseLease('gc', 'gw-a');
    expect(await a.acquireLease('gc', 'gw-a', 600)).toBe(false);
    await b.releaseLease('gc', 'gw-b');
    expect(await a.acquireLease('gc', 'gw-a', 600)).toBe(true);
  });
});

describe('repair queue', () => {
  it('deduplicates, bounds, and never hands a live claim to a second claimer', async () => {
    expect(await a.queueRepair('o1', 's1', 3)).toBe(true);
    expect(await b.queueRepair('o1', 's1', 3)).toBe(true); // already queued: still one item
    expect(await b.queueRepair('o1', 's2', 3)).toBe(true);
    expect(await b.queueRepair('o2', 's1', 3)).toBe(true);
    expect(await a.queueRepair('o3', 's1', 3)).toBe(false); // full

    const first = await a.claimRepairs('gw-a', 2, 30_000);
    const second = await b.claimRepairs('gw-b', 10, 30_000);
    expect(first).toHaveLength(2);
    expect(second).toHaveLength(1);
    const all = [...first, ...second].map((i) => `${i.objectId}:${i.segId}`).sort();
    expect(all).toEqual(['o1:s1', 'o1:s2', 'o2:s1']);
    expect(await b.claimRepairs('gw-b', 10, 30_000)).toEqual([]);

    // gw-b finishes its item; gw-a dies: after its claims expire they are handed out again; its late finish is ignored.
    for (const item of second) await b.finishRepair(item.id, 'gw-b');
    now += 30_001;
    const retaken = await b.claimRepairs('gw-b', 10, 30_000);
    expect(retaken.map((i) => i.id).sort()).toEqual(first.map((i) => i.id).sort());
    for (const item of first) await a.finishRepair(item.id, 'gw-a');
    now += 30_001;
    expect(await a.claimRepairs('gw-a', 10, 30_000)).toHaveLength(2);
    for (const item of first) await a.finishRepair(item.id, 'gw-a');
    now += 30_001;
    expect(await b.claimRepairs('gw-b', 10, 30_000)).toEqual([]);
  });
});

describe('cluster-wide hot budget', () => {
  it('reserves only within one budget for every connection, and only cold objects', async () => {
    for (const id of ['o1', 'o2', 'o3']) await a.putObject(record(id, id));
    expect(await a.reserveHot('o1', 60, 100, now)).toEqual({ outcome: 'reserved', usedBytes: 0 });
    expect(await b.reserveHot('o2', 60, 100, now)).toEqual({ outcome: 'over-budget', usedBytes: 60 });
    expect(await b.reserveHot('o1', 10, 100, now)).toEqual({ outcome: 'not-cold', usedBytes: 60 });
    expect(await b.reserveHot('o2', 40, 100, now)).toEqual({ outcome: 'reserved', usedBytes: 60 });
    expect(await a.hotBytesTotal()).toBe(100);
    expect((await b.getObjectById('o2'))?.hot).toBe('promoting');
  });

  it('rolls back promotions older than the cut-off only', async () => {
    for (const id of ['o1', 'o2']) await a.putObject(record(id, id));
    await a.reserveHot('o1', 10, 100, now);
    now += 60_000;
    await b.reserveHot('o2', 10, 100, now);
    expect(await b.resetStalePromotions(now - 30_000)).toEqual(['o1']);
    expect((await a.getObjectById('o1'))?.hot).toBe('cold');
    expect((await a.getObjectById('o2'))?.hot).toBe('promoting');
    expect(await a.hotBytesTotal()).toBe(10);
  });
});

describe('compare-and-set manifests', () => {
  it('updateManifest with expected refuses a manifest that changed meanwhile', async () => {
    await a.putObject(record('k', 'o1'));
    const original = manifest('o1');
    // Key order does not matter, only content.
    const reordered = JSON.parse(JSON.stringify({ segments: original.segments, size: 10, keyId: 'k1', wrappedKey: 'w', objectId: 'o1', version: 1 })) as ObjectManifest;
    expect(await a.updateManifest('o1', manifest('o1', 'h1'), reordered)).toBe(true);
    expect(await b.updateManifest('o1', manifest('o1', 'h2'), original)).toBe(false);
    expect((await b.getObjectById('o1'))?.manifest.segments[0]?.shards[0]?.handle).toBe('h1');
  });

  it('updatePartManifest updates an in-progress part only while it is unchanged, and iterateManifests names parts', async () => {
    await a.createUpload({ uploadId: 'u1', bucket: 'bkt', key: 'mp', initiated: now, owner: 'o', headers: { userMeta: {} }, tags: {}, objectId: 'ou', wrappedKey: 'w', keyId: 'k1' });
    await a.putPart({ uploadId: 'u1', partNumber: 2, size: 10, etag: '"p"', lastModified: now, manifest: manifest('ou') });
    const items = [];
    for await (const item of b.iterateManifests()) items.push(item);
    expect(items).toHaveLength(1);
    expect(items[0]?.part).toEqual({ uploadId: 'u1', partNumber: 2 });
    expect(await b.updatePartManifest('u1', 2, manifest('ou', 'h9'), manifest('ou'))).toBe(true);
    expect(await a.updatePartManifest('u1', 2, manifest('ou', 'h8'), manifest('ou'))).toBe(false);
    expect(await a.updatePartManifest('u1', 3, manifest('ou', 'h8'), manifest('ou'))).toBe(false);
    expect((await a.getParts('u1', [2]))[0]?.manifest.segments[0]?.shards[0]?.handle).toBe('h9');
  });

  it('rewrapUpload rewraps the upload and every part manifest at once, only from the expected key', async () => {
    await a.createUpload({ uploadId: 'u1', bucket: 'bkt', key: 'mp', initiated: now, owner: 'o', headers: { userMeta: {} }, tags: {}, objectId: 'ou', wrappedKey: 'w', keyId: 'k1' });
    for (const n of [1, 2]) await a.putPart({ uploadId: 'u1', partNumber: n, size: 10, etag: '"p"', lastModified: now, manifest: manifest('ou') });
    expect(await b.rewrapUpload('u1', 'k0', { keyId: 'k2', wrappedKey: 'w2' })).toBe(false);
    expect(await b.rewrapUpload('u1', 'k1', { keyId: 'k2', wrappedKey: 'w2' })).toBe(true);
    expect(await a.rewrapUpload('u1', 'k1', { keyId: 'k3', wrappedKey: 'w3' })).toBe(false); // already rewrapped
    expect(await a.getUpload('u1')).toMatchObject({ keyId: 'k2', wrappedKey: 'w2' });
    for (const part of await a.getParts('u1', [1, 2])) expect(part.manifest).toMatchObject({ keyId: 'k2', wrappedKey: 'w2', segments: manifest('ou').segments });
    expect(await a.rewrapUpload('nope', 'k1', { keyId: 'k2', wrappedKey: 'w2' })).toBe(false);
  });
});
});
