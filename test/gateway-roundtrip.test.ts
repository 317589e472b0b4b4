import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { readAll } from './helpers/streams.js';
import { isInline } from '../src/model/manifest.js';

const SEG = 256 * 1024;

describe('gateway service round trip (embedded default, small segments)', () => {
  let dir: string;
  let g: Gateway;
  const bodies = new Map<string, Buffer>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-gw-'));
    const config = embeddedConfig(dir, { cold: { segmentSize: SEG, chunkSize: '16KiB' } });
    g = await openGateway(config, { logger: createLogger('silent'), metrics: createMetrics(), background: false });
    await g.service.createBucket('data', 'tester');
    for (const size of [0, 1, 1000, SEG, SEG + 1, 3 * SEG + 12345]) {
      const body = randomBytes(size);
      const key = `obj-${size}`;
      bodies.set(key, body);
      const rec = await g.service.putObject({ bucket: 'data', key, body: Readable.from([body]), size, headers: { userMeta: {} }, tags: {} });
      expect(rec.etag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    }
  });

  afterAll(async () => {
    await g?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads every object back whole and in ranges, cold then hot', async () => {
    for (const [key, body] of bodies) {
      const rec = await g.service.headObject('data', key);
      expect(rec.size).toBe(body.length);
      expect(await readAll(await g.service.openObject(rec))).toEqual(body);
      if (body.length > 2) {
        const offset = Math.floor(body.length / 3);
        const length = Math.max(1, Math.floor(body.length / 2));
        expect(await readAll(await g.service.openObject(rec, { offset, length }))).toEqual(body.subarray(offset, offset + length));
      }
    }
    // The full reads promoted the objects: now served hot. Those stored inline (small) are read from their record.
    for (const [key, body] of bodies) {
      const rec = await g.service.headObject('data', key);
      const inline = body.length > 0 && body.length <= g.config.cold.inlineMaxBytes;
      expect(isInline(rec.manifest)).toBe(inline);
      if (body.length > 0) expect(rec.hot).toBe('hot');
      // An inline object is hot by state only: nothing of it is in the hot tier.
      if (inline) expect(rec.hotBytes).toBe(0);
      expect(await readAll(await g.service.openObject(rec))).toEqual(body);
      if (body.length > 10) expect(await readAll(await g.service.openObject(rec, { offset: 5, length: body.length - 10 }))).toEqual(body.subarray(5, body.length - 5));
    }
  });

  it('rejects a body whose Content-MD5 does not match and stores nothing', async () => {
    const body = randomBytes(5000);
    await expect(
      g.service.putObject({ bucket: 'data', key: 'bad-md5', body: Readable.from([body]), size: body.length, contentMd5: createHash('md5').update('x').digest('base64'), headers: { userMeta: {} }, tags: {} }),
    ).rejects.toMatchObject({ name: 'GatewayError', kind: 'DigestMismatch' });
    await expect(g.service.headObject('data', 'bad-md5')).rejects.toMatchObject({ name: 'GatewayError', kind: 'NoSuchKey' });
  });

  it('rejects a short body', async () => {
    const body = randomBytes(5000);
    await expect(g.service.putObject({ bucket: 'data', key: 'short', body: Readable.from([body]), size: 6000, headers: { userMeta: {} }, tags: {} })).rejects.toMatchObject({ name: 'GatewayError', kind: 'BodyTooShort' });
    await expect(g.service.headObject('data', 'short')).rejects.toMatchObject({ name: 'GatewayError', kind: 'NoSuchKey' });
  });
});
