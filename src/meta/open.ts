import type { MetaConfig } from '../config/types.js';
import { SqliteMetaStore } from './sqlite-store.js';
import type { MetaStore } from './store.js';

export interface OpenMetaOptions {
  /** Apply pending PostgreSQL migrations while opening (default true). */
  migrate?: boolean;
}

/** The configured metadata store. PostgreSQL's driver is loaded only when configured. */
export async function openMetaStore(meta: MetaConfig, opts: OpenMetaOptions = {}): Promise<MetaStore> {
  if (meta.driver === 'sqlite') return SqliteMetaStore.open(meta.path);
  if (meta.postgres === undefined) throw new Error('meta.postgres is required when meta.driver is postgres');
  const { PostgresMetaStore } = await import('./postgres-store.js');
  const pg = meta.postgres;
  return PostgresMetaStore.open({
    url: pg.url,
    poolSize: pg.poolSize,
    statementTimeoutMs: pg.statementTimeoutMs,
    ...(pg.ssl !== undefined ? { ssl: pg.ssl } : {}),
    ...(pg.sslCaFile !== undefined ? { sslCaFile: pg.sslCaFile } : {}),
    ...(opts.migrate === false ? { migrate: false } : {}),
  });
}
