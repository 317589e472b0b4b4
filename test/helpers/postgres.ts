/**
 * A throwaway PostgreSQL server per test file, started with scripts/pg-up.sh (Debian's postgresql package: initdb in
 * a temp dir, a free port, no fsync) and stopped with scripts/pg-down.sh. Without PostgreSQL binaries the
 * PostgreSQL tests are skipped, visibly, on a developer machine; with CI=true they fail instead.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where initdb lives (PG_BIN, else the newest /usr/lib/postgresql/N/bin), or null. */
export function postgresBinaries(): string | null {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv !== undefined && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? null : join(base, versions[0], 'bin');
}

/** True when the PostgreSQL tests can run; throws under CI=true when they cannot (no silent skip in CI). */
export function postgresAvailable(): boolean {
  if (postgresBinaries() !== null) return true;
  if (process.env.CI === 'true') throw new Error('PostgreSQL binaries not found (install the postgresql package or set PG_BIN); CI=true, so the PostgreSQL tests fail instead of skipping');
  console.warn('PostgreSQL binaries not found: skipping the PostgreSQL store tests (install the postgresql package or set PG_BIN)');
  return false;
}

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust auth). */
  url: string;
  /** A new database on this server (a copy of `template` when given, else empty); returns its URL. */
  createDatabase(template?: string): Promise<string>;
  /** Stops the server but keeps its data (a database outage); `resume` starts it again on the same port. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

let databases = 0;

/** pg_ctl on the server in `dir`, as the `postgres` user when we are root (as scripts/pg-up.sh runs it). */
async function pgCtl(dir: string, args: string[]): Promise<void> {
  const bin = join(readFileSync(join(dir, 'pg_bin'), 'utf8').trim(), 'pg_ctl');
  const full = ['-D', join(dir, 'data'), ...args];
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', bin, ...full]);
  else await run(bin, full);
}

export async function startPostgres(): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-pg-'));
  // The server runs as `postgres` when we are root: it needs to reach its directory.
  chmodSync(dir, 0o755);
  const bin = postgresBinaries();
  let stdout: string;
  try {
    ({ stdout } = await run(join(ROOT, 'scripts/pg-up.sh'), [dir], { env: { ...process.env, ...(bin !== null ? { PG_BIN: bin } : {}) } }));
  } catch (err) {
    await run(join(ROOT, 'scripts/pg-down.sh'), [dir]).catch(() => undefined);
    throw new Error(`scripts/pg-up.sh failed: ${(err as Error).message}`, { cause: err });
  }
  const url = /TESSERA_DATABASE_URL=(\S+)/.exec(stdout)?.[1];
  if (url === undefined) throw new Error(`scripts/pg-up.sh printed no URL: ${stdout}`);
  return {
    url,
    async createDatabase(template?: string) {
      const name = `t${process.pid}_${++databases}_${Date.now().toString(36)}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}${template !== undefined ? ` TEMPLATE ${new URL(template).pathname.slice(1)}` : ''}`);
      } finally {
        await client.end();
      }
      return url.replace(/\/postgres$/, `/${name}`);
    },
    async pause() {
      await pgCtl(dir, ['-m', 'fast', '-w', 'stop']);
    },
    async resume() {
      const port = new URL(url).port;
      await pgCtl(dir, ['-l', join(dir, 'pg.log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
    },
    async stop() {
      await run(join(ROOT, 'scripts/pg-down.sh'), [dir]);
    },
  };
}
