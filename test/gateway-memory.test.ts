import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GetObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pattern, patternDigest, startCluster, type Cluster } from './helpers/cluster.js';

// Issue 2: "gateway RSS under 250 MB while a 2 GiB object goes up and down" — memory, not time, so it is a test.
const SIZE = 2 * 2 ** 30;
const RSS_LIMIT = 250 * 2 ** 20;

function rssOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

describe('bounded memory with a 2 GiB object', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 6, logLevel: 'info' });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('keeps the gateway under 250 MB RSS while 2 GiB goes up (multipart) and comes back down', async () => {
    const pid = cluster.gateway.pid!;
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(pid).rss);
    }, 100);
    try {
      const s3 = cluster.s3();
      await s3.send(new CreateBucketCommand({ Bucket: 'mem' }));
      await new Upload({ client: s3, params: { Bucket: 'mem', Key: 'two-gib', Body: pattern('mem', 0, SIZE) }, partSize: 64 * 2 ** 20, queueSize: 4 }).done();
      const res = await s3.send(new GetObjectCommand({ Bucket: 'mem', Key: 'two-gib' }));
      const hash = createHash('sha256');
      let length = 0;
      for await (const chunk of res.Body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        length += chunk.length;
      }
      expect({ sha256: hash.digest('hex'), length }).toEqual(await patternDigest('mem', 0, SIZE));
    } finally {
      clearInterval(sampler);
    }
    const { hwm } = rssOf(pid);
    expect(Math.max(peak, hwm)).toBeLessThan(RSS_LIMIT);
  }, 900_000);
});
