/**
 * PostgreSQL-only behaviour: migrations, the listing statements' plans, failures as 503s without the password,
 * configuration, and moving up: `tessera meta copy` SQLite -> PostgreSQL -> SQLite and recover-index into
 * PostgreSQL, through a real gateway on real fs nodes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDurabilityCommand } from '../src/cli/durability.js';
import { ConfigError } from '../src/config/errors.js';
import { embeddedConfig, loadConfig } from '../src/config/load.js';
import type { TesseraConfig } from '../src/config/types.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { DELIMITER_PAGE_SQL, FLAT_PAGE_SQL, KEY_CEILING } from '../src/meta/postgres-listing.js';
import { SCHEMA_VERSION } from '../src/meta/postgres-schema.js';
import { PostgresMetaStore } from '../src/meta/postgres-store.js';
import type { ObjectRecord } from '../src/model/records.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { MetaError } from '../src/meta/errors.js';
import { putBytes, randomBody } from './helpers/durability.js';
import { readAll } from './helpers/streams.js';
import { postgresAvailable, startPostgres, type PostgresServer } from './helpers/postgres.js';

const run = promisify(execFile);
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
const NOW = 1_700_000_000_000;

function objectRecord(key: string, objectId: string): ObjectRecord {
  return {
    bucket: 'bkt',
    key,
    objectId,
    size: 1,
    etag: '"e"',
    lastModified: NOW,
    headers: { userMeta: {} },
    tags: {},
    manifest: { version: 1, objectId, wrappedKey: 'w', keyId: 'k', size: 1, segments: [] },
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
  };
}

async function withClient<T>(url: string, body: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

describe.runIf(postgresAvailable())('PostgreSQL store', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  describe('migrations', () => {
    it('a new database gets every migration once; gateways opening together agree', async () => {
      const url = await server.createDatabase();
      const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresMetaStore.open({ url, poolSize: 2 })));
      for (const s of stores) await s.close();
      const versions = await withClient(url, async (c) => (await c.query<{ version: number }>('SELECT version FROM tessera_migrations ORDER BY version')).rows);
      expect(versions.map((v) => v.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      expect(await PostgresMetaStore.migrate({ url })).toEqual({ from: SCHEMA_VERSION, applied: [], version: SCHEMA_VERSION });
    });

    it('tessera meta migrate applies them to an empty database and reports the version', async () => {
      const url = await server.createDatabase();
      const dir = await mkdtemp(path.join(tmpdir(), 'meta-migrate-'));
      try {
        const env = { ...process.env, TESSERA_DATA_DIR: dir, TESSERA_DATABASE_URL: url };
        const first = await run(process.execPath, [CLI, 'meta', 'migrate', '--json'], { env });
        expect(JSON.parse(first.stdout)).toMatchObject({ from: 0, applied: Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), version: SCHEMA_VERSION });
        const again = await run(process.execPath, [CLI, 'meta', 'migrate'], { env });
        expect(again.stdout).toMatch(new RegExp(`nothing to apply; now at ${SCHEMA_VERSION}`));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('refuses a database migrated by a newer version', async () => {
      const url = await server.createDatabase();
      await (await PostgresMetaStore.open({ url })).close();
      await withClient(url, (c) => c.query("INSERT INTO tessera_migrations (version, name) VALUES (99, 'future')"));
      await expect(PostgresMetaStore.open({ url })).rejects.toThrow(/schema version 99 is newer/);
    });
  });

  describe('listing statements', () => {
    it('a page with or without delimiter is an index scan of the key index, with no sort and no sequential scan', async () => {
      const url = await server.createDatabase();
      const store = await PostgresMetaStore.open({ url });
      try {
        await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
        const records = Array.from({ length: 20_000 }, (_, i) => objectRecord(`d${i % 50}/s${i % 97}/f${i}`, `o${i}`));
        await store.insertObjects(records);
        await withClient(url, async (c) => {
          await c.query('VACUUM ANALYZE objects');
          const explain = async (sql: string, values: unknown[]): Promise<string> => {
            await c.query('PREPARE page AS ' + sql);
            const placeholders = values.map((v) => (Buffer.isBuffer(v) ? `'\\x${v.toString('hex')}'::bytea` : typeof v === 'string' ? `'${v}'` : String(v)));
            const plan = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE page (${placeholders.join(', ')})`)).rows.map((r) => r['QUERY PLAN']).join('\n');
            await c.query('DEALLOCATE page');
            return plan;
          };
          const flat = await explain(FLAT_PAGE_SQL, ['bkt', Buffer.from('d1/'), KEY_CEILING, 1001]);
          expect(flat).toMatch(/Index Only Scan using objects_bucket_key/);
          expect(flat).not.toMatch(/Seq Scan|Sort/);
          const delimited = await explain(DELIMITER_PAGE_SQL, ['bkt', Buffer.from('d1/'), Buffer.from('d10'), 3, Buffer.from('/'), 1001]);
          expect(delimited).toMatch(/Recursive Union/);
          expect(delimited).toMatch(/Index Only Scan using objects_bucket_key/);
          expect(delimited).not.toMatch(/Seq Scan/);
        });
        const page = await store.listObjects('bkt', { prefix: 'd1/', delimiter: '/', maxKeys: 1000 });
        expect(page.commonPrefixes).toHaveLength(97);
      } finally {
        await store.close();
      }
    });
  });

  describe('failures', () => {
    it('a store that cannot connect fails without printing the password', async () => {
      const closed = server.url.replace(/:\/\/postgres@127\.0\.0\.1:\d+/, '://postgres:hunter2-secret@127.0.0.1:1');
      const err = await PostgresMetaStore.open({ url: closed }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/ECONNREFUSED/);
      expect((err as Error).message).toContain('***');
      expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain('hunter2-secret');
    });

    it('a statement over the timeout (waiting for a lock) becomes a retryable 503', async () => {
      const url = await server.createDatabase();
      const store = await PostgresMetaStore.open({ url, statementTimeoutMs: 200 });
      try {
        await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
        await store.putObject(objectRecord('k', 'o1'));
        await withClient(url, async (c) => {
          await c.query('BEGIN');
          await c.query('LOCK TABLE objects IN ACCESS EXCLUSIVE MODE');
          const err = await store.putObject(objectRecord('k', 'o2')).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(MetaError);
          expect((err as MetaError).kind).toBe('Busy');
          await c.query('ROLLBACK');
        });
        await store.putObject(objectRecord('k', 'o2'));
        expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o2');
      } finally {
        await store.close();
      }
    });
  });

  describe('outage', () => {
    it('while the server is down every call is a retryable 503 and /ready-style pings fail; afterwards the pool reconnects', async () => {
      const url = await server.createDatabase();
      const store = await PostgresMetaStore.open({ url, poolSize: 2 });
      try {
        await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
        await store.putObject(objectRecord('k', 'o1'));
        await server.pause();
        for (const call of [store.getObject('bkt', 'k'), store.putObject(objectRecord('k2', 'o2')), store.ping()]) {
          const err = await call.then(() => null, (e: unknown) => e);
          expect(err).toBeInstanceOf(MetaError);
          expect((err as MetaError).kind).toBe('Busy');
        }
        await server.resume();
        expect((await store.getObject('bkt', 'k'))?.objectId).toBe('o1');
        await store.putObject(objectRecord('k2', 'o2'));
        expect(await store.countObjects('bkt')).toBe(2);
      } finally {
        await server.resume().catch(() => undefined);
        await store.close();
      }
    }, 60_000);
  });

  describe('connections ended by the server', () => {
    it('backends terminated mid-transaction (a restart, a failover) fail those calls retryably and never crash the process', async () => {
      const url = await server.createDatabase();
      const store = await PostgresMetaStore.open({ url, poolSize: 8 });
      try {
        await store.createBucket({ name: 'bkt', createdAt: NOW, owner: 'o', region: 'r' });
        const outcomes = { ok: 0, retryable: 0 };
        const load = Promise.all(
          Array.from({ length: 400 }, (_, i) =>
            store.putObject(objectRecord(`t${i % 40}`, `ot${i}`)).then(
              () => outcomes.ok++,
              (err: unknown) => {
                // Anything but the store's own retryable kinds would be a wrong answer.
                expect(err).toBeInstanceOf(MetaError);
                expect(['Busy', 'Unavailable']).toContain((err as MetaError).kind);
                outcomes.retryable++;
              },
            ),
          ),
        );
        let terminated = 0;
        for (let round = 0; round < 6; round++) {
          await new Promise((r) => setTimeout(r, 15));
          terminated += await withClient(url, async (c) => {
            const r = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
            return r.rowCount ?? 0;
          });
        }
        await load;
        expect(terminated).toBeGreaterThan(0);
        expect(outcomes.ok + outcomes.retryable).toBe(400);
        // The pool replaced the dead connections by itself.
        await store.putObject(objectRecord('after', 'o-after'));
        expect((await store.getObject('bkt', 'after'))?.objectId).toBe('o-after');
      } finally {
        await store.close();
      }
    }, 60_000);
  });

  describe('configuration', () => {
    it('TESSERA_DATABASE_URL selects the store; settings are validated', () => {
      const dataDir = '/tmp/tessera-config-check';
      const env = { TESSERA_DATABASE_URL: 'postgres://u:pw@db:5432/t' };
      const c = loadConfig({ overrides: { dataDir }, env }).config;
      expect(c.meta).toMatchObject({ driver: 'postgres', postgres: { url: 'postgres://u:pw@db:5432/t', poolSize: 10, statementTimeoutMs: 30_000 } });
      const tuned = loadConfig({
        overrides: { dataDir, meta: { driver: 'postgres', postgres: { url: 'postgres://db/t', poolSize: 3, statementTimeout: '5s', ssl: 'verify-full', sslCaFile: 'ca.pem' } } },
        env: {},
      }).config;
      expect(tuned.meta.postgres).toEqual({ url: 'postgres://db/t', poolSize: 3, statementTimeoutMs: 5000, ssl: 'verify-full', sslCaFile: path.join(dataDir, 'ca.pem') });
      // The environment overrides a URL the file also sets (the file stays valid: this was "not a known setting").
      const both = loadConfig({ overrides: { dataDir, meta: { driver: 'postgres', postgres: { url: 'postgres://file/t' } } }, env }).config;
      expect(both.meta.postgres?.url).toBe('postgres://u:pw@db:5432/t');
      const bad = (meta: unknown, e: NodeJS.ProcessEnv = {}): string => {
        try {
          loadConfig({ overrides: { dataDir, meta }, env: e });
        } catch (err) {
          if (err instanceof ConfigError) return err.key;
          throw err;
        }
        return 'accepted';
      };
      expect(bad({ driver: 'postgres' })).toBe('meta.postgres.url');
      expect(bad({ driver: 'postgres', postgres: { url: 'mysql://x' } })).toBe('meta.postgres.url');
      expect(bad({ driver: 'postgres', postgres: { url: 'postgres://x/y?sslmode=require', ssl: 'require' } })).toBe('meta.postgres.ssl');
      expect(bad({ driver: 'postgres', postgres: { url: 'postgres://x/y', sslCaFile: 'ca.pem' } })).toBe('meta.postgres.sslCaFile');
      expect(bad({ driver: 'postgres', postgres: { url: 'postgres://x/y', pool: 3 } })).toBe('meta.postgres.pool');
      expect(bad({ driver: 'sqlite', postgres: { url: 'postgres://x/y' } })).toBe('meta.postgres');
      expect(bad({ driver: 'sqlite' }, env)).toBe('meta.driver');
      expect(bad({ driver: 'postgres', path: 'x.db', postgres: { url: 'postgres://x/y' } })).toBe('meta.path');
    });
  });

  describe('moving up', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'meta-move-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const open = (config: TesseraConfig): Promise<Gateway> =>
      openGateway(config, { logger: createLogger('silent'), metrics: createMetrics(), background: false, reconcile: false });
    const bytesOf = async (g: Gateway, key: string): Promise<Buffer> => {
      const rec = await g.meta.getObject('b', key);
      if (!rec) throw new Error(`no b/${key}`);
      return readAll(await g.reader.open(rec));
    };

    it('meta copy moves a store SQLite -> PostgreSQL -> SQLite; recover-index rebuilds into PostgreSQL', async () => {
      const overrides = { cold: { segmentSize: '1MiB', chunkSize: '64KiB' }, hot: { writeThrough: false, promote: 'never' } };
      const sqliteConfig = embeddedConfig(dir, overrides);
      const bodies = new Map([
        ['small', randomBody(10_000)],
        ['dir/big', randomBody(2_500_000)],
        ['ключ 😀', randomBody(1)],
      ]);
      const g1 = await open(sqliteConfig);
      await g1.service.createBucket('b', 'tessera-admin');
      for (const [key, body] of bodies) await putBytes(g1, 'b', key, body);
      await putBytes(g1, 'b', 'small', bodies.get('small')!); // a replaced version: one garbage item
      const records = await Promise.all([...bodies.keys()].map((k) => g1.meta.getObject('b', k)));
      await g1.service.putBucketConfig('b', 'tagging', JSON.stringify({ team: 'vision' }));
      await g1.close();

      const url = await server.createDatabase();
      const cliEnv = { ...process.env, TESSERA_DATA_DIR: dir };
      const copied = await run(process.execPath, [CLI, 'meta', 'copy', '--to', url, '--json'], { env: cliEnv });
      expect(JSON.parse(copied.stdout.trim().split('\n').at(-1)!)).toMatchObject({ buckets: 1, objects: 3, uploads: 0, garbage: 1 });
      // Into a store that is not empty: refused.
      const again = await run(process.execPath, [CLI, 'meta', 'copy', '--to', url], { env: cliEnv }).catch((e: unknown) => e as { code: number; stderr: string });
      expect(again).toMatchObject({ code: 1 });
      expect((again as { stderr: string }).stderr).toMatch(/not empty/);

      const pgConfig = embeddedConfig(dir, { ...overrides, meta: { driver: 'postgres', postgres: { url } } });
      const g2 = await open(pgConfig);
      expect(g2.meta).toBeInstanceOf(PostgresMetaStore);
      for (const [i, key] of [...bodies.keys()].entries()) {
        expect(await g2.meta.getObject('b', key)).toEqual(records[i]);
        expect((await bytesOf(g2, key)).equals(bodies.get(key)!)).toBe(true);
      }
      expect((await g2.meta.dueGarbage(Number.MAX_SAFE_INTEGER, 10)).length).toBe(1);
      expect(await g2.service.getBucketConfig('b', 'tagging')).toBe(JSON.stringify({ team: 'vision' }));
      await g2.close();

      // And back, into a new SQLite file.
      const back = path.join(dir, 'back.db');
      await run(process.execPath, [CLI, 'meta', 'copy', '--from', url, '--to', back], { env: cliEnv });
      const g3 = await open({ ...sqliteConfig, meta: { driver: 'sqlite', path: back } });
      for (const [i, key] of [...bodies.keys()].entries()) expect(await g3.meta.getObject('b', key)).toEqual(records[i]);
      expect(await g3.service.getBucketConfig('b', 'tagging')).toBe(JSON.stringify({ team: 'vision' }));
      await g3.close();

      // recover-index into an empty PostgreSQL database, from the nodes and the master key alone.
      const emptyUrl = await server.createDatabase();
      const g4 = await open(embeddedConfig(dir, { ...overrides, meta: { driver: 'postgres', postgres: { url: emptyUrl } } }));
      try {
        const r = await runDurabilityCommand('recover-index', g4, pgConfig);
        expect(r.summary).toMatch(/3 object versions and 0 delete markers restored/);
        for (const key of bodies.keys()) expect((await bytesOf(g4, key)).equals(bodies.get(key)!)).toBe(true);
      } finally {
        await g4.close();
      }
    }, 120_000);
  });
});
