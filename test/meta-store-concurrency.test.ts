/**
 * Several gateways on one store: every store below is its own connection (SQLite) or pool (PostgreSQL), as separate
 * gateway processes would have. PostgreSQL runs twice: at the server's default isolation (READ COMMITTED) and with
 * every transaction SERIALIZABLE (as CockroachDB and YugabyteDB run them).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetaStore } from '../src/meta/store.js';
import type { ObjectRecord, UploadRecord } from '../src/model/records.js';
import { MetaError } from '../src/meta/errors.js';
import { metaEngines, useEngine, type FreshStore } from './helpers/meta-engines.js';

const NOW = 1_700_000_000_000;
const WRITERS = 8;

function record(key: string, objectId: string, size: number, segIds: string[] = [`${objectId}-s0`]): ObjectRecord {
  return {
    bucket: 'bkt',
    key,
    objectId,
    size,
    etag: `"etag-${objectId}"`,
    lastModified: NOW,
    headers: { userMeta: {} },
    tags: {},
    manifest: {
      version: 1,
      objectId,
      wrappedKey: 'w',
      keyId: 'k',
      size,
      segments: segIds.map((segId, index) => ({ segId, part: 1, index, plainSize: 1, chunkSize: 65536, k: 1, m: 0, coder: 'rs-cauchy', shardSize: 1, shards: [] })),
    },
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    if (err instanceof MetaError) return err.kind;
    throw err;
  }
}

describe.each(metaEngines({ serializable: true }))('%s store, several gateways', (engineName) => {
  const engine = useEngine(engineName);
  let fresh: FreshStore;
  let gateways: MetaStore[];

  beforeEach(async () => {
    fresh = await engine.fresh();
    await fresh.store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
    gateways = [];
    for (let i = 0; i < WRITERS; i++) gateways.push(await fresh.another());
  });

  afterEach(async () => {
    for (const g of gateways) await g.close();
    await fresh.store.close();
  });

  it(`${WRITERS} writers doing read, then If-Match write, lose no update`, async () => {
    await fresh.store.putObject(record('counter', 'v0', 0));
    const perWriter = 25;
    let busy = 0;
    await Promise.all(
      gateways.map(async (g, w) => {
        for (let done = 0, attempt = 0; done < perWriter; attempt++) {
          const current = await g.getObject('bkt', 'counter');
          if (current === null) throw new Error('counter vanished');
          const code = await codeOf(g.putObject(record('counter', `w${w}-${attempt}`, current.size + 1), { ifMatch: current.etag }));
          if (code === 'ok') done++;
          else if (code === 'Busy') busy++;
          else expect(code).toBe('PreconditionFailed');
        }
      }),
    );
    const final = await fresh.store.getObject('bkt', 'counter');
    expect(final?.size).toBe(WRITERS * perWriter);
    // Every replaced version went to the garbage queue exactly once.
    const garbage = await fresh.store.dueGarbage(Number.MAX_SAFE_INTEGER, 10_000);
    expect(garbage).toHaveLength(WRITERS * perWriter);
    expect(new Set(garbage.map((g) => g.manifest.objectId)).size).toBe(WRITERS * perWriter);
    expect(busy).toBeLessThan(WRITERS * perWriter);
  }, 120_000);

  it('of writers racing If-None-Match on a new key, exactly one wins', async () => {
    for (let round = 0; round < 10; round++) {
      const codes = await Promise.all(gateways.map((g, w) => codeOf(g.putObject(record(`new-${round}`, `n${round}-${w}`, w), { ifNoneMatch: true }))));
      expect(codes.filter((c) => c === 'ok'), JSON.stringify(codes)).toHaveLength(1);
      expect(codes.filter((c) => c !== 'ok').every((c) => c === 'PreconditionFailed'), JSON.stringify(codes)).toBe(true);
      const winner = codes.indexOf('ok');
      expect((await fresh.store.getObject('bkt', `new-${round}`))?.objectId).toBe(`n${round}-${winner}`);
    }
    expect(await fresh.store.dueGarbage(Number.MAX_SAFE_INTEGER, 100)).toEqual([]);
  }, 60_000);

  it('unconditional writers racing on one key queue every replaced version exactly once', async () => {
    for (let round = 0; round < 5; round++) {
      const key = `race-${round}`;
      await Promise.all(gateways.map((g, w) => g.putObject(record(key, `r${round}-${w}`, w))));
      const live = await fresh.store.getObject('bkt', key);
      expect(live).not.toBeNull();
    }
    const garbage = (await fresh.store.dueGarbage(Number.MAX_SAFE_INTEGER, 1000)).map((g) => g.manifest.objectId);
    expect(garbage).toHaveLength(5 * (WRITERS - 1));
    const live = new Set<string>();
    for (let round = 0; round < 5; round++) live.add((await fresh.store.getObject('bkt', `race-${round}`))!.objectId);
    // Every written version is either live or queued, never both, never neither.
    const all = [...garbage, ...live].sort();
    expect(all).toEqual(Array.from({ length: 5 }, (_, r) => Array.from({ length: WRITERS }, (_, w) => `r${r}-${w}`)).flat().sort());
  }, 60_000);

  it('completeUpload racing abortUpload: exactly one wins, and every part is either used or queued', async () => {
    for (let round = 0; round < 10; round++) {
      const upload: UploadRecord = {
        uploadId: `u${round}`,
        bucket: 'bkt',
        key: `mp-${round}`,
        initiated: NOW,
        owner: 'o',
        headers: { userMeta: {} },
        tags: {},
        objectId: `mpo-${round}`,
        wrappedKey: 'w',
        keyId: 'k',
      };
      await fresh.store.createUpload(upload);
      for (const partNumber of [1, 2, 3]) {
        const manifest = { ...record('x', upload.objectId, 1, [`${upload.uploadId}-p${partNumber}`]).manifest };
        await fresh.store.putPart({ uploadId: upload.uploadId, partNumber, size: 1, etag: `"p${partNumber}"`, lastModified: NOW, manifest });
      }
      const completed = record(upload.key, upload.objectId, 2, [`${upload.uploadId}-p1`, `${upload.uploadId}-p2`]);
      const [a, b] = [gateways[round % WRITERS]!, gateways[(round + 1) % WRITERS]!];
      const racers = [codeOf(a.completeUpload(upload.uploadId, completed, [1, 2])), codeOf(b.abortUpload(upload.uploadId))];
      const [complete, abort] = round % 2 === 0 ? await Promise.all(racers) : (await Promise.all([...racers].reverse())).reverse();
      expect([complete, abort].filter((c) => c === 'ok'), JSON.stringify({ complete, abort })).toHaveLength(1);
      expect(await fresh.store.getUpload(upload.uploadId)).toBeNull();
      const object = await fresh.store.getObject('bkt', upload.key);
      const queued = (await fresh.store.dueGarbage(Number.MAX_SAFE_INTEGER, 10_000))
        .filter((g) => g.manifest.objectId === upload.objectId)
        .flatMap((g) => g.manifest.segments.map((s) => s.segId))
        .sort();
      if (complete === 'ok') {
        expect(abort).toBe('NoSuchUpload');
        expect(object?.objectId).toBe(upload.objectId);
        expect(queued).toEqual([`${upload.uploadId}-p3`]);
      } else {
        expect(complete).toBe('NoSuchUpload');
        expect(object).toBeNull();
        expect(queued).toEqual([1, 2, 3].map((n) => `${upload.uploadId}-p${n}`));
      }
    }
  }, 60_000);

  it('deleteBucket racing putObject: either the put fails with NoSuchBucket or the delete with BucketNotEmpty', async () => {
    for (let round = 0; round < 10; round++) {
      const bucket = `race-${round}`;
      await fresh.store.createBucket({ name: bucket, createdAt: NOW, owner: 'o', region: 'r' });
      const [put, del] = await Promise.all([
        codeOf(gateways[0]!.putObject({ ...record('k', `b${round}`, 1), bucket })),
        codeOf(gateways[1]!.deleteBucket(bucket)),
      ]);
      const exists = (await fresh.store.getBucket(bucket)) !== null;
      if (put === 'ok') {
        expect(del).toBe('BucketNotEmpty');
        expect(exists).toBe(true);
        expect((await fresh.store.getObject(bucket, 'k'))?.objectId).toBe(`b${round}`);
      } else {
        expect(put).toBe('NoSuchBucket');
        expect(del).toBe('ok');
        expect(exists).toBe(false);
      }
    }
    expect(await fresh.store.countObjects()).toBe((await fresh.store.listBuckets()).length - 1);
  }, 60_000);

  it('leases: one holder at a time, renewable by the holder, free again after release or expiry', async () => {
    const grants = await Promise.all(gateways.map((g, i) => g.acquireLease('gc', `gw${i}`, 60_000)));
    expect(grants.filter(Boolean)).toHaveLength(1);
    const holder = grants.indexOf(true);
    const other = (holder + 1) % WRITERS;
    expect(await gateways[holder]!.acquireLease('gc', `gw${holder}`, 60_000)).toBe(true);
    expect(await gateways[other]!.acquireLease('gc', `gw${other}`, 60_000)).toBe(false);
    expect(await gateways[other]!.acquireLease('repair', `gw${other}`, 60_000)).toBe(true); // leases are independent
    await gateways[other]!.releaseLease('gc', `gw${other}`); // not the holder: no effect
    expect(await gateways[other]!.acquireLease('gc', `gw${other}`, 60_000)).toBe(false);
    await gateways[holder]!.releaseLease('gc', `gw${holder}`);
    expect(await gateways[other]!.acquireLease('gc', `gw${other}`, 50)).toBe(true);
    expect(await gateways[holder]!.acquireLease('gc', `gw${holder}`, 60_000)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await gateways[holder]!.acquireLease('gc', `gw${holder}`, 60_000)).toBe(true);
  });
});
