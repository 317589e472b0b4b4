/**
 * Fair limits against hostile clients (docs/SECURITY.md): one access key or one source address holding requests
 * open without sending their bodies cannot take the request slots from everyone else, and a body that trickles in
 * below server.minBodyRate is cut with 400 RequestTimeout, storing nothing.
 */
import http from 'node:http';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMetric } from './helpers/cluster.js';
import { errorCode, raw, startApi, USERS, type Api, type RawResponse, type UserName } from './helpers/s3-api.js';

interface OpenPut {
  /** Settles when the server answers (or the socket closes). */
  answer: Promise<RawResponse | undefined>;
  write(bytes: Buffer): void;
  destroy(): void;
}

/** A signed PUT whose headers go out at once and whose body the caller sends (or never sends). */
function openPut(api: Api, path: string, length: number, user: UserName, extraHeaders: Record<string, string> = {}): OpenPut {
  const host = `127.0.0.1:${api.port}`;
  const opts = {
    host,
    path,
    method: 'PUT',
    service: 's3',
    region: 'us-east-1',
    headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', 'Content-Length': String(length), ...extraHeaders } as Record<string, string>,
    doNotEncodePath: true,
  };
  aws4.sign(opts, { accessKeyId: USERS[user].accessKey, secretAccessKey: USERS[user].secretKey });
  const req = http.request({ host: '127.0.0.1', port: api.port, method: 'PUT', path, headers: { ...opts.headers, host }, agent: false });
  const answer = new Promise<RawResponse | undefined>((resolve) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('close', () => resolve(undefined));
  });
  req.flushHeaders();
  return { answer, write: (b) => req.write(b), destroy: () => req.destroy() };
}

const settled = <T>(p: Promise<T>, ms: number): Promise<T | 'pending'> =>
  Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);

/** A PUT and a GET by `user` succeed (the writer may write only to the bucket 'writable'). */
async function expectServed(api: Api, user: 'admin' | 'writer', xff: string, key: string): Promise<void> {
  const path = `/${user === 'writer' ? 'writable' : 'fair'}/${key}`;
  const put = await raw(api, { method: 'PUT', path, body: `from ${user}`, user, headers: { 'x-forwarded-for': xff } });
  expect(put.status).toBe(200);
  const get = await raw(api, { method: 'GET', path, user, headers: { 'x-forwarded-for': xff } });
  expect([get.status, get.text]).toEqual([200, `from ${user}`]);
}

describe('per-key and per-address shares of the request slots', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi({
      server: { maxConcurrentRequests: 64, maxConcurrentRequestsPerKey: 8, maxConcurrentRequestsPerAddress: 12, trustForwardedHeaders: true },
    });
    expect((await raw(api, { method: 'PUT', path: '/fair' })).status).toBe(200);
    expect((await raw(api, { method: 'PUT', path: '/writable' })).status).toBe(200);
    expect((await raw(api, { method: 'PUT', path: '/fair/sentinel', body: 'still here' })).status).toBe(200);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('a key flooding with bodies that never arrive gets SlowDown beyond its share; every other user keeps being served', async () => {
    const flood = Array.from({ length: 20 }, (_, i) => openPut(api, `/fair/flood-${i}`, 1000, 'admin', { 'x-forwarded-for': `10.1.0.${i}` }));
    const answers = await Promise.all(flood.map((p) => settled(p.answer, 1500)));
    const refused = answers.filter((a): a is RawResponse => a !== 'pending' && a !== undefined);
    expect(answers.filter((a) => a === 'pending')).toHaveLength(8);
    expect(refused).toHaveLength(12);
    for (const r of refused) expect([r.status, errorCode(r)]).toEqual([503, 'SlowDown']);
    expect(parseMetric(await api.metrics.registry.metrics(), 'tessera_s3_fair_share_refusals_total', { by: 'key' })).toBe(12);

    // The flood is still holding its 8 slots: other keys, from anywhere, are served.
    await expectServed(api, 'writer', '10.2.0.1', 'writer-during-flood');
    const read = await raw(api, { method: 'GET', path: '/fair/sentinel', user: 'reader', headers: { 'x-forwarded-for': '10.2.0.2' } });
    expect([read.status, read.text]).toEqual([200, 'still here']);

    for (const p of flood) p.destroy();
    // Released slots come back: the flooding key itself is served again.
    await expect.poll(async () => (await raw(api, { method: 'PUT', path: '/fair/admin-after', body: 'x' })).status, { timeout: 5000 }).toBe(200);
    const list = await raw(api, { method: 'GET', path: '/fair?list-type=2&prefix=flood-' });
    expect(list.text).not.toContain('<Key>flood-');
  });

  it('one source address cannot hold more than its share whichever keys it signs with', async () => {
    const flood = [
      ...Array.from({ length: 7 }, (_, i) => openPut(api, `/fair/addr-a-${i}`, 1000, 'admin', { 'x-forwarded-for': '10.3.0.1' })),
      ...Array.from({ length: 7 }, (_, i) => openPut(api, `/writable/addr-w-${i}`, 1000, 'writer', { 'x-forwarded-for': '10.3.0.1' })),
    ];
    const answers = await Promise.all(flood.map((p) => settled(p.answer, 1500)));
    expect(answers.filter((a) => a === 'pending')).toHaveLength(12);
    const refused = answers.filter((a): a is RawResponse => a !== 'pending' && a !== undefined);
    expect(refused.map((r) => [r.status, errorCode(r)])).toEqual([
      [503, 'SlowDown'],
      [503, 'SlowDown'],
    ]);
    // The same keys from another address are served: the limit is the address's.
    await expectServed(api, 'admin', '10.3.0.2', 'admin-elsewhere');
    for (const p of flood) p.destroy();
  });
});

describe('minimum body rate', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi({ server: { minBodyRate: '2KiB', bodyRateWindow: '1s' } });
    expect((await raw(api, { method: 'PUT', path: '/slow' })).status).toBe(200);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('a body trickling one byte at a time is cut with 400 RequestTimeout and nothing is stored', async () => {
    const put = openPut(api, '/slow/trickle', 100_000, 'admin');
    const timer = setInterval(() => put.write(Buffer.from('x')), 200);
    const started = Date.now();
    try {
      const answer = await put.answer;
      expect(answer).toBeDefined();
      expect([answer?.status, answer && errorCode(answer)]).toEqual([400, 'RequestTimeout']);
      expect(answer?.text).toContain('<RequestId>');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      clearInterval(timer);
      put.destroy();
    }
    expect((await raw(api, { method: 'HEAD', path: '/slow/trickle' })).status).toBe(404);
    expect(parseMetric(await api.metrics.registry.metrics(), 'tessera_s3_slow_bodies_total')).toBe(1);
  });

  it('a slow body above the floor, over several windows, is stored whole', async () => {
    const chunk = Buffer.alloc(1024, 'y');
    const total = 16 * 1024;
    const put = openPut(api, '/slow/steady', total, 'admin');
    let sent = 0;
    // 4 KiB/s for 4 s: twice the floor, four windows.
    const timer = setInterval(() => {
      if (sent < total) {
        put.write(chunk);
        sent += chunk.length;
      }
    }, 250);
    try {
      const answer = await put.answer;
      expect(answer?.status).toBe(200);
    } finally {
      clearInterval(timer);
    }
    const get = await raw(api, { method: 'GET', path: '/slow/steady' });
    expect([get.status, get.body.length, get.body.equals(Buffer.alloc(total, 'y'))]).toEqual([200, total, true]);
  });
});
