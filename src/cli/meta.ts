import { loadConfig } from '../config/load.js';
import type { MetaConfig } from '../config/types.js';
import { copyMetaStore, TargetNotEmptyError, VersionsNotCopiedError, type BulkMetaStore } from '../meta/copy.js';
import { openMetaStore } from '../meta/open.js';
import { redactUrl } from '../meta/postgres-url.js';
import { SCHEMA_VERSION as SQLITE_SCHEMA_VERSION } from '../meta/sqlite-schema.js';
import { parseFlags, UsageError } from '../util/cli-flags.js';
import { Progress } from './args.js';

/** A store named on the command line: a PostgreSQL URL or an SQLite path. */
function storeConfig(spec: string, base: MetaConfig): MetaConfig {
  if (/^postgres(ql)?:\/\//.test(spec)) {
    return { driver: 'postgres', path: base.path, postgres: { ...(base.postgres ?? { poolSize: 4, statementTimeoutMs: 300_000 }), url: spec } };
  }
  const path = spec.startsWith('sqlite:') ? spec.slice('sqlite:'.length) : spec;
  return { driver: 'sqlite', path };
}

function describeStore(meta: MetaConfig): string {
  return meta.driver === 'sqlite' ? `sqlite ${meta.path}` : `postgres ${redactUrl(meta.postgres?.url ?? '')}`;
}

/** `tessera meta migrate|copy` (its --help is answered by main.ts from src/cli/usage.ts). */
export async function metaMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    'meta',
    argv,
    { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, to: { type: 'string' }, from: { type: 'string' } },
    { positionals: [1, 1], missing: 'name the subcommand: meta migrate or meta copy' },
  );
  const command = positionals[0];
  if (command !== 'copy' && command !== 'migrate') throw new UsageError('meta', `unknown subcommand ${command} (migrate or copy)`);
  if (command === 'copy' && typeof values.to !== 'string') throw new UsageError('meta', 'copy needs --to TARGET');
  const file = typeof values.config === 'string' ? values.config : process.env.TESSERA_CONFIG;
  const config = loadConfig(file ? { file } : {}).config;
  const json = values.json === true;
  const print = (obj: Record<string, unknown>, line: string): void => {
    process.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${line}\n`);
  };

  switch (command) {
    case 'migrate': {
      if (config.meta.driver === 'sqlite') {
        // SQLite creates or checks its schema on open.
        await (await openMetaStore(config.meta)).close();
        print({ store: describeStore(config.meta), from: SQLITE_SCHEMA_VERSION, applied: [], version: SQLITE_SCHEMA_VERSION }, `meta migrate: ${describeStore(config.meta)} at schema version ${SQLITE_SCHEMA_VERSION}`);
        return 0;
      }
      const pg = config.meta.postgres!;
      const { PostgresMetaStore } = await import('../meta/postgres-store.js');
      const r = await PostgresMetaStore.migrate({
        url: pg.url,
        poolSize: 1,
        statementTimeoutMs: 0,
        ...(pg.ssl !== undefined ? { ssl: pg.ssl } : {}),
        ...(pg.sslCaFile !== undefined ? { sslCaFile: pg.sslCaFile } : {}),
      });
      const applied = r.applied.length === 0 ? 'nothing to apply' : `applied ${r.applied.join(', ')}`;
      print({ store: describeStore(config.meta), ...r }, `meta migrate: ${describeStore(config.meta)} from version ${r.from}: ${applied}; now at ${r.version}`);
      return 0;
    }
    case 'copy': {
      if (typeof values.to !== 'string') return 2; // checked above
      const fromMeta = typeof values.from === 'string' ? storeConfig(values.from, config.meta) : config.meta;
      const toMeta = storeConfig(values.to, config.meta);
      if (describeStore(fromMeta) === describeStore(toMeta)) {
        process.stderr.write('tessera meta copy: source and target are the same store\n');
        return 2;
      }
      const source = (await openMetaStore(fromMeta)) as BulkMetaStore;
      try {
        const target = (await openMetaStore(toMeta)) as BulkMetaStore;
        try {
          const bar = new Progress('copying objects', await source.countObjects());
          const s = await copyMetaStore(source, target, (p) => bar.update(p.objects));
          const line = `meta copy: ${describeStore(fromMeta)} -> ${describeStore(toMeta)}: ${s.buckets} buckets, ${s.objects} objects, ${s.uploads} uploads (${s.parts} parts), ${s.garbage} garbage items`;
          if (json) {
            bar.done('');
            print({ from: describeStore(fromMeta), to: describeStore(toMeta), ...s }, line);
          } else bar.done(line);
          return 0;
        } finally {
          await target.close();
        }
      } catch (err) {
        if (err instanceof TargetNotEmptyError || err instanceof VersionsNotCopiedError) {
          process.stderr.write(`tessera meta copy: ${err.message}\n`);
          return 1;
        }
        throw err;
      } finally {
        await source.close();
      }
    }
  }
}
