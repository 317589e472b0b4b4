import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway } from '../src/gateway/gateway.js';
import { SqliteMetaStore } from '../src/meta/sqlite-store.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { readAll } from './helpers/streams.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

/** Object names, metadata, tags and object bytes are for the gateway's user only, whatever the umask. */
describe('owner-only files: metadata database, hot tier, keys', () => {
  const dirs: string[] = [];
  let saved: number | undefined;
  afterEach(() => {
    if (saved !== undefined) process.umask(saved);
    saved = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it.each([
    ['000', 0o000],
    ['022', 0o022],
  ])('with umask %s: 0700 directories and 0600 files, -wal and -shm included', async (_, umask) => {
    saved = process.umask(umask);
    const root = mkdtempSync(path.join(tmpdir(), 'tessera-perm-'));
    dirs.push(root);
    const dataDir = path.join(root, 'data');
    const config = embeddedConfig(dataDir, { cold: { segmentSize: '128KiB', chunkSize: '16KiB' } });
    const g = await openGateway(config, { logger: createLogger('silent'), metrics: createMetrics(), background: false });
    try {
      await g.service.createBucket('b', 'o');
      const body = randomBytes(100_000);
      await g.service.putObject({ bucket: 'b', key: 'secret-name', body: Readable.from([body]), size: body.length, headers: { userMeta: { m: 'v' } }, tags: { t: 'v' } });
      expect((await readAll(await g.service.openObject(await g.service.headObject('b', 'secret-name')))).equals(body)).toBe(true);
      await g.reader.drain();
      expect((await g.service.headObject('b', 'secret-name')).hot).toBe('hot');

      expect(mode(dataDir)).toBe(0o700);
      for (const f of ['master.key', 'credentials.json']) expect(mode(path.join(dataDir, f))).toBe(0o600);
      const db = config.meta.path;
      expect(mode(path.dirname(db))).toBe(0o700);
      for (const f of [db, `${db}-wal`, `${db}-shm`]) {
        expect(existsSync(f)).toBe(true);
        expect(mode(f)).toBe(0o600);
      }
      const hot = config.hot.fs.path;
      expect(mode(hot)).toBe(0o700);
      const blobs = readdirSync(hot);
      expect(blobs).toHaveLength(1);
      expect(mode(path.join(hot, blobs[0]!))).toBe(0o600);
    } finally {
      await g.close();
    }
  });

  it('an existing database (and its -wal/-shm) readable by others is made owner-only when opened', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'tessera-perm-'));
    dirs.push(root);
    const db = path.join(root, 'meta', 'tessera.db');
    const first = SqliteMetaStore.open(db);
    chmodSync(db, 0o644);
    for (const side of [`${db}-wal`, `${db}-shm`]) if (existsSync(side)) chmodSync(side, 0o644);
    const second = SqliteMetaStore.open(db);
    try {
      expect(mode(db)).toBe(0o600);
      for (const side of [`${db}-wal`, `${db}-shm`]) if (existsSync(side)) expect(mode(side)).toBe(0o600);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('a directory that already exists (a configured shared path) keeps its mode', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'tessera-perm-'));
    dirs.push(root);
    chmodSync(root, 0o755);
    const store = SqliteMetaStore.open(path.join(root, 'tessera.db'));
    await store.close();
    expect(mode(root)).toBe(0o755);
    expect(mode(path.join(root, 'tessera.db'))).toBe(0o600);
  });
});
