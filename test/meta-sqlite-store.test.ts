import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectManifest } from '../src/model/manifest.js';
import { SqliteMetaStore } from '../src/meta/sqlite-store.js';
import type { ObjectRecord } from '../src/model/records.js';
import { MetaError } from '../src/meta/errors.js';

const NOW = 1_700_000_000_000;

function manifest(objectId: string, segIds: string[] = [`${objectId}-s0`]): ObjectManifest {
  return {
    version: 1,
    objectId,
    wrappedKey: `wrapped-${objectId}`,
    keyId: 'k1',
    size: 10 * segIds.length,
    segments: segIds.map((segId, index) => ({
      segId,
      part: 1,
      index,
      plainSize: 10,
      chunkSize: 65536,
      k: 2,
      m: 1,
      coder: 'rs-cauchy',
      shardSize: 100,
      shards: [
        { node: 'n1', handle: `${segId}/0` },
        { node: 'n2', handle: `${segId}/1` },
        { node: 'n3', handle: '' },
      ],
    })),
  };
}

function objectRecord(key: string, objectId: string, extra: Partial<ObjectRecord> = {}): ObjectRecord {
  return {
    bucket: 'bkt',
    key,
    objectId,
    size: 10,
    etag: `"etag-${objectId}"`,
    lastModified: NOW,
    headers: { contentType: 'text/plain', userMeta: { a: '1' } },
    tags: {},
    manifest: manifest(objectId),
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
    ...extra,
  };
}

async function metaErrorKind(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof MetaError) return err.kind;
    throw err;
  }
  throw new Error('expected the call to fail');
}

let dir: string;
let store: SqliteMetaStore;
let path: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meta-store-'));
  path = join(dir, 'nested', 'meta.db');
  store = SqliteMetaStore.open(path, { now: () => NOW });
  await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'AKIA1', region: 'us-east-1' });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('opening', () => {
  it('creates the directory, uses WAL and keeps data across reopen', async () => {
    await store.putObject(objectRecord('k', 'o1'));
    await store.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    store = SqliteMetaStore.open(path);
    expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o1');
    await store.ping();
  });

  it('refuses a schema version it does not know', async () => {
    await store.close();
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => SqliteMetaStore.open(path)).toThrow(/schema version 99/);
    store = SqliteMetaStore.open(join(dir, 'other.db'));
  });
});


describe('lock contention', () => {
  it('a write blocked past the busy timeout fails as Busy (the protocol answers a retryable 503) and succeeds once the lock is gone', async () => {
    const impatient = SqliteMetaStore.open(path, { now: () => NOW, busyTimeoutMs: 50 });
    const holder = new Database(path);
    try {
      holder.exec('BEGIN IMMEDIATE');
      expect(await metaErrorKind(impatient.putObject(objectRecord('k', 'o1')))).toBe('Busy');
      expect(await metaErrorKind(impatient.touch('o1', 5))).toBe('Busy');
      expect(await impatient.getBucket('bkt')).not.toBeNull(); // WAL readers are not blocked by the writer
      holder.exec('COMMIT');
      await impatient.putObject(objectRecord('k', 'o1'));
      expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o1');
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
      await impatient.close();
    }
  });
});


describe('bulk commit', () => {
  it('a bulk commit that throws midway commits none of its records', async () => {
    await store.putObject(objectRecord('k0', 'o0'));
    function* records(): Generator<ObjectRecord> {
      yield objectRecord('k0', 'o0-new');
      for (let i = 1; i <= 50; i++) yield objectRecord(`k${i}`, `o${i}`);
      throw new Error('source died');
    }
    expect(() => store.putObjects(records())).toThrow('source died');
    expect(await store.countObjects()).toBe(1);
    expect((await store.getObject('bkt', 'k0'))?.objectId).toBe('o0');
    expect(await store.dueGarbage(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    expect(store.putObjects([objectRecord('k0', 'o0-new'), objectRecord('k1', 'o1')], 0)).toBe(2);
    expect((await store.dueGarbage(NOW, 10)).map((g) => g.manifest.objectId)).toEqual(['o0']);
  });
});
