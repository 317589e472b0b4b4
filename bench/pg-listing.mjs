// The PostgreSQL metadata store at scale, store level (no HTTP): listing pages at 10^6 keys, with and without a
// delimiter, and metadata commits per second, next to the SQLite store on the same records. Not part of npm test.
//   npm run build && node bench/pg-listing.mjs [--keys 1000000] [--samples 200] [--commits 5000] [--concurrency 64]
//   [--url postgres://...]   (default: a throwaway server from scripts/pg-up.sh, fsync off: listing is read-only;
//                             for commit rates against a durable server pass --url)
// Key scheme as bench/ listing (bench/lib/keys.mjs): flat pages of 1000 from a random start-after; delimiter pages
// under a random top-level dNN/ with '/' (100 common prefixes over n/100 keys); delimiter pages of 1000 objects.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listingKey } from './lib/keys.mjs';
import { quantile } from './lib/stats.mjs';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    samples: { type: 'string', default: '200' },
    commits: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '64' },
    url: { type: 'string' },
    'no-sqlite': { type: 'boolean', default: false },
  },
});
const n = Number(values.keys);
const samples = Number(values.samples);
const commits = Number(values.commits);
const concurrency = Number(values.concurrency);

const { PostgresMetaStore } = await import(path.join(ROOT, 'dist/meta/postgres-store.js'));
const { SqliteMetaStore } = await import(path.join(ROOT, 'dist/meta/sqlite-store.js'));

function record(bucket, key, i) {
  const objectId = `${i.toString(16).padStart(32, '0')}`;
  return {
    bucket,
    key,
    objectId,
    size: 0,
    etag: '"d41d8cd98f00b204e9800998ecf8427e"',
    lastModified: Date.now(),
    headers: { userMeta: {} },
    tags: {},
    manifest: { version: 1, objectId, wrappedKey: 'none', keyId: 'bench', size: 0, segments: [] },
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
  };
}

function* records(bucket) {
  for (let i = 0; i < n; i++) yield record(bucket, listingKey(i), i);
}

async function measure(store, label) {
  const bucket = 'list';
  await store.createBucket({ name: bucket, createdAt: Date.now(), owner: 'bench', region: 'us-east-1' });
  let t0 = performance.now();
  await store.insertObjects(records(bucket));
  const loadSeconds = (performance.now() - t0) / 1000;
  console.error(`${label}: ${n} rows loaded in ${loadSeconds.toFixed(1)} s`);
  if (store.vacuum) await store.vacuum();
  const out = { loadSeconds };
  // flat: 1000 keys from a random start-after. delim: dNN/ with '/', 100 common prefixes. delim-files: dNN/ with a
  // delimiter no key holds, so the delimiter page is 1000 objects (a directory of files listed with '/').
  for (const mode of ['flat', 'delim', 'delim-files']) {
    const lat = [];
    let entries = 0;
    for (let i = 0; i < samples + 10; i++) {
      const r = listingKey(Math.floor(Math.random() * n));
      const dir = `${r.split('/')[0]}/`;
      const query = mode === 'flat' ? { after: r, maxKeys: 1000 } : { prefix: dir, delimiter: mode === 'delim' ? '/' : '|', maxKeys: 1000 };
      const t = performance.now();
      const page = await store.listObjects(bucket, query);
      const ms = performance.now() - t;
      if (i >= 10) {
        lat.push(ms); // the first pages warm caches and prepared statements
        entries += page.objects.length + page.commonPrefixes.length;
      }
    }
    out[mode] = { p50: quantile(lat, 0.5), p95: quantile(lat, 0.95), entriesPerPage: entries / lat.length };
    console.error(`${label} ${mode}: p50 ${out[mode].p50.toFixed(2)} ms, p95 ${out[mode].p95.toFixed(2)} ms, ${out[mode].entriesPerPage} entries/page`);
  }
  // Metadata commits of new keys (a small PUT's store work), `concurrency` at once.
  await store.createBucket({ name: 'puts', createdAt: Date.now(), owner: 'bench', region: 'us-east-1' });
  let next = 0;
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < commits; i = next++) await store.putObject(record('puts', `p/${i}`, n + i));
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  out.commitsPerSecond = commits / seconds;
  console.error(`${label} putObject: ${out.commitsPerSecond.toFixed(0)} commits/s (${concurrency} concurrent)`);
  return out;
}

const result = { date: new Date().toISOString(), keys: n, samples, commits, concurrency, host: { cpus: os.cpus().length } };
let pgDir;
let url = values.url;
try {
  if (url === undefined) {
    pgDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-pg-'));
    chmodSync(pgDir, 0o755);
    const out = execFileSync(path.join(ROOT, 'scripts/pg-up.sh'), [pgDir], { encoding: 'utf8' });
    url = /TESSERA_DATABASE_URL=(\S+)/.exec(out)[1];
    result.server = 'throwaway (scripts/pg-up.sh: fsync off, synchronous_commit off)';
  } else result.server = 'given by --url';
  const pg = await PostgresMetaStore.open({ url, poolSize: 16 });
  pg.vacuum = async () => {
    const { default: pgLib } = await import('pg');
    const c = new pgLib.Client({ connectionString: url });
    await c.connect();
    await c.query('VACUUM ANALYZE objects');
    await c.end();
  };
  try {
    result.postgres = await measure(pg, 'postgres');
  } finally {
    await pg.close();
  }
  if (!values['no-sqlite']) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-sqlite-'));
    const sqlite = SqliteMetaStore.open(path.join(dir, 'meta.db'));
    try {
      result.sqlite = await measure(sqlite, 'sqlite');
    } finally {
      await sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    }
    result.commitRatio = result.postgres.commitsPerSecond / result.sqlite.commitsPerSecond;
  }
} finally {
  if (pgDir !== undefined) execFileSync(path.join(ROOT, 'scripts/pg-down.sh'), [pgDir]);
}
mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
const file = path.join(ROOT, 'bench/results', `pg-listing-${result.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
console.error(`written to ${path.relative(ROOT, file)}`);
