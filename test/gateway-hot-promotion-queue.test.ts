/**
 * Many cold readers at once: beyond the few hot-tier writers that run together, promotions are deferred and run as
 * writers free up (not dropped), and the hot budget holds throughout.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { readAll } from './helpers/streams.js';

const SIZE = 150_000;
const OBJECTS = 12;

describe('promotions under many concurrent cold readers', () => {
  const dirs: string[] = [];
  const open: Gateway[] = [];
  afterEach(async () => {
    for (const g of open.splice(0)) await g.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function start(budget: number): Promise<{ g: Gateway; bodies: Buffer[] }> {
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-promo-'));
    dirs.push(dir);
    const config = embeddedConfig(dir, { hot: { budget, writeThrough: false, promote: 'full-read' }, cold: { segmentSize: '128KiB', chunkSize: '16KiB' } });
    const g = await openGateway(config, { logger: createLogger('silent'), metrics: createMetrics(), background: false });
    open.push(g);
    await g.service.createBucket('b', 'o');
    const bodies: Buffer[] = [];
    for (let i = 0; i < OBJECTS; i++) {
      const body = randomBytes(SIZE);
      bodies.push(body);
      await g.service.putObject({ bucket: 'b', key: `k${i}`, body: Readable.from([body]), size: SIZE, headers: { userMeta: {} }, tags: {} });
    }
    return { g, bodies };
  }

  /** Every object read whole at the same time; the bytes must be right whatever tier served them. */
  async function readAllAtOnce(g: Gateway, bodies: Buffer[]): Promise<void> {
    const got = await Promise.all(bodies.map(async (_, i) => readAll(await g.service.openObject(await g.service.headObject('b', `k${i}`)))));
    got.forEach((b, i) => expect(b.equals(bodies[i]!)).toBe(true));
  }

  const hotCount = async (g: Gateway) => (await Promise.all(Array.from({ length: OBJECTS }, (_, i) => g.service.headObject('b', `k${i}`)))).filter((r) => r.hot === 'hot').length;

  it('promotes every object read at once when they fit, not only the first few', async () => {
    const { g, bodies } = await start(OBJECTS * SIZE * 2);
    expect(await hotCount(g)).toBe(0);
    await readAllAtOnce(g, bodies);
    await g.reader.drain();
    expect(await hotCount(g)).toBe(OBJECTS);
    // The second epoch is served from the hot tier, bytes intact.
    await readAllAtOnce(g, bodies);
  });

  it('never exceeds the hot budget while deferred promotions fill it, and keeps as much as fits', async () => {
    const budget = Math.floor(4.5 * SIZE * 1.01);
    const { g, bodies } = await start(budget);
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await g.meta.hotBytesTotal());
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await readAllAtOnce(g, bodies);
    await g.reader.drain();
    await readAllAtOnce(g, bodies);
    await g.reader.drain();
    sampling = false;
    await sampler;
    expect(peak).toBeLessThanOrEqual(budget);
    expect(await g.meta.hotBytesTotal()).toBeLessThanOrEqual(budget);
    expect(await hotCount(g)).toBeGreaterThanOrEqual(3);
  });
});
