import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { FsHotTier } from '../src/hot/fs.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { readAll } from './helpers/streams.js';

/**
 * The gateway and `tessera warm` (or two warms side by side) are separate processes over one hot tier and one store.
 * The conformance run's warm pass found objects cold right after `tessera warm` reported them warmed: a process that
 * opened the hot directory deleted another's in-progress temp files, and the failed hot write still counted as warmed.
 */
describe('hot tier shared by several processes', () => {
  const dirs: string[] = [];
  const open: Gateway[] = [];
  afterEach(async () => {
    for (const g of open.splice(0)) await g.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const d = mkdtempSync(path.join(tmpdir(), 'tessera-hot-shared-'));
    dirs.push(d);
    return d;
  };

  /** Resolves once the directory holds a temp file (the write has started). */
  async function tempFileAppears(dir: string): Promise<string> {
    for (;;) {
      const tmp = readdirSync(dir).find((n) => n.startsWith('.tmp-'));
      if (tmp) return tmp;
      await new Promise((r) => setImmediate(r));
    }
  }

  it("opening the hot directory leaves another live writer's blob in progress alone", async () => {
    const dir = tempDir();
    const writer = await FsHotTier.open(dir);
    const id = randomBytes(16).toString('hex');
    const body = new PassThrough();
    const data = randomBytes(3 << 20);
    const stored = writer.put(id, body, data.length);
    body.write(data.subarray(0, 1 << 20));
    await tempFileAppears(dir);
    // What `tessera warm` does at start while the gateway (or another warm) is writing.
    const other = await FsHotTier.open(dir);
    body.end(data.subarray(1 << 20));
    await expect(stored).resolves.toBeUndefined();
    const got = await other.get(id);
    expect(got).not.toBeNull();
    expect((await readAll(got!)).equals(data)).toBe(true);
  });

  it('removes the temp files of writers that are gone (crashed processes, the old unnamed form)', async () => {
    const dir = tempDir();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const ofDead = `.tmp-${dead}-0123456789abcdef`;
    const legacy = '.tmp-0123456789abcdef';
    const ofLive = `.tmp-${process.pid}-fedcba9876543210`;
    for (const n of [ofDead, legacy, ofLive]) writeFileSync(path.join(dir, n), 'partial');
    await FsHotTier.open(dir);
    expect(existsSync(path.join(dir, ofDead))).toBe(false);
    expect(existsSync(path.join(dir, legacy))).toBe(false);
    expect(existsSync(path.join(dir, ofLive))).toBe(true);
  });

  it('a promotion whose hot-tier write fails is not reported as warmed, and the object stays cold', async () => {
    const dir = tempDir();
    const config = embeddedConfig(dir, { cold: { segmentSize: '128KiB', chunkSize: '16KiB' } });
    const g = await openGateway(config, { logger: createLogger('silent'), metrics: createMetrics(), background: false });
    open.push(g);
    await g.service.createBucket('b', 'o');
    const body = randomBytes(300_000);
    await g.service.putObject({ bucket: 'b', key: 'k', body: Readable.from([body]), size: body.length, headers: { userMeta: {} }, tags: {} });
    const rec = await g.service.headObject('b', 'k');
    expect(rec.hot).toBe('cold');
    // The blob cannot be stored (its directory is gone): the write fails after admission.
    rmSync(config.hot.fs.path, { recursive: true, force: true });
    expect(await g.reader.promote(rec)).toBe(false);
    expect((await g.service.headObject('b', 'k')).hot).toBe('cold');
    expect(await g.meta.hotBytesTotal()).toBe(0);
  });

  it('promote is true when another process made the object hot meanwhile', async () => {
    const dir = tempDir();
    const config = embeddedConfig(dir, { cold: { segmentSize: '128KiB', chunkSize: '16KiB' } });
    const opts = { logger: createLogger('silent'), metrics: createMetrics(), background: false, reconcile: false };
    const gateway = await openGateway(config, opts);
    const cli = await openGateway(config, opts);
    open.push(gateway, cli);
    await gateway.service.createBucket('b', 'o');
    const body = randomBytes(300_000);
    await gateway.service.putObject({ bucket: 'b', key: 'k', body: Readable.from([body]), size: body.length, headers: { userMeta: {} }, tags: {} });
    const seenCold = await cli.service.headObject('b', 'k');
    expect(await gateway.reader.promote(seenCold)).toBe(true);
    // The CLI still holds the record it listed as cold: the object is hot, so warming it succeeded.
    expect(await cli.reader.promote(seenCold)).toBe(true);
    expect((await cli.service.headObject('b', 'k')).hot).toBe('hot');
    expect((await readAll(await cli.service.openObject(await cli.service.headObject('b', 'k')))).equals(body)).toBe(true);
  });
});
