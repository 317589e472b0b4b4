/**
 * The store contract suite's engines: each test file runs its cases with `describe.each(metaEngines())` and gets
 * fresh, empty stores from `useEngine`. SQLite: a file in a temp dir. PostgreSQL: a new database on the file's own
 * throwaway server (test/helpers/postgres.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { PostgresMetaStore, type PostgresMetaStoreOptions } from '../../src/meta/postgres-store.js';
import { SqliteMetaStore } from '../../src/meta/sqlite-store.js';
import type { MetaStore } from '../../src/meta/store.js';
import type { ObjectRecord } from '../../src/model/records.js';
import { postgresAvailable, startPostgres, type PostgresServer } from './postgres.js';

export type EngineName = 'sqlite' | 'postgres' | 'postgres-serializable';

export interface StoreOptions {
  now?: () => number;
}

export interface FreshStore {
  store: MetaStore;
  /** Another connection (SQLite) or pool (PostgreSQL) to the same store: a second gateway. */
  another(opts?: StoreOptions): Promise<MetaStore>;
}

export interface Engine {
  name: EngineName;
  /** A new, empty store. Closed with every other store of the engine after the file's tests. */
  fresh(opts?: StoreOptions): Promise<FreshStore>;
}

/**
 * The engines to run a contract file against. `serializable` adds PostgreSQL with every transaction at SERIALIZABLE
 * (as CockroachDB and YugabyteDB run them) for the files that prove concurrency.
 */
export function metaEngines(opts: { serializable?: boolean; postgresOnly?: boolean } = {}): EngineName[] {
  const names: EngineName[] = opts.postgresOnly === true ? [] : ['sqlite'];
  if (postgresAvailable()) {
    names.push('postgres');
    if (opts.serializable === true) names.push('postgres-serializable');
  }
  return names;
}

/** Bulk insert into an empty store (fixtures): one transaction. */
export async function bulkInsert(store: MetaStore, records: Iterable<ObjectRecord>): Promise<number> {
  if (store instanceof SqliteMetaStore || store instanceof PostgresMetaStore) return store.insertObjects(records);
  throw new Error('bulkInsert: unknown store');
}

/** Registers the engine's set-up and tear-down hooks in the calling describe block. */
export function useEngine(name: EngineName): Engine {
  const opened: MetaStore[] = [];
  let dir: string | undefined;
  let server: PostgresServer | undefined;
  /** A migrated, empty database that every fresh store copies (CREATE DATABASE ... TEMPLATE): no migration per test. */
  let template: string | undefined;
  let stores = 0;

  beforeAll(async () => {
    if (name === 'sqlite') {
      dir = mkdtempSync(join(tmpdir(), 'meta-contract-'));
      return;
    }
    server = await startPostgres();
    template = await server.createDatabase();
    await (await PostgresMetaStore.open({ url: template, poolSize: 1 })).close();
  }, 60_000);

  afterAll(async () => {
    for (const store of opened) await store.close().catch(() => undefined);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    if (server !== undefined) await server.stop();
  }, 60_000);

  const track = <S extends MetaStore>(store: S): S => {
    opened.push(store);
    return store;
  };

  return {
    name,
    async fresh(opts: StoreOptions = {}) {
      if (name === 'sqlite') {
        if (dir === undefined) throw new Error('engine not set up');
        const path = join(dir, `store-${++stores}`, 'meta.db');
        const open = (o: StoreOptions): MetaStore => track(SqliteMetaStore.open(path, o.now !== undefined ? { now: o.now } : {}));
        return { store: open(opts), another: async (o = {}) => open(o) };
      }
      if (server === undefined) throw new Error('engine not set up');
      const url = await server.createDatabase(template);
      const open = async (o: StoreOptions): Promise<MetaStore> => {
        const options: PostgresMetaStoreOptions = { url, poolSize: 4, ...(o.now !== undefined ? { now: o.now } : {}) };
        if (name === 'postgres-serializable') options.isolation = 'serializable';
        return track(await PostgresMetaStore.open(options));
      };
      return { store: await open(opts), another: (o = {}) => open(o) };
    },
  };
}
