import http from 'node:http';
import { PassThrough } from 'node:stream';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, raw, startApi, USERS, type Api } from './helpers/s3-api.js';

let api: Api;
const logLines: string[] = [];

beforeAll(async () => {
  const logs = new PassThrough();
  logs.on('data', (chunk: Buffer) => logLines.push(...chunk.toString().split('\n').filter(Boolean)));
  api = await startApi({ server: { maxSinglePutSize: 1000, maxConcurrentRequests: 2, baseDomain: 's3.test', metricsToken: 'sekrit-token' } }, logs);
  expect((await raw(api, { method: 'PUT', path: '/srv' })).status).toBe(200);
});
afterAll(async () => {
  await api?.close();
});

describe('server limits', () => {
  it('a single PUT over maxSinglePutBytes is EntityTooLarge before any byte is stored', async () => {
    const res = await raw(api, { method: 'PUT', path: '/srv/big', body: Buffer.alloc(1001) });
    expect([res.status, errorCode(res)]).toEqual([400, 'EntityTooLarge']);
    expect(res.text).toContain('<MaxSizeAllowed>1000</MaxSizeAllowed>');
    expect((await raw(api, { method: 'HEAD', path: '/srv/big' })).status).toBe(404);
    expect((await raw(api, { method: 'PUT', path: '/srv/ok', body: Buffer.alloc(1000) })).status).toBe(200);
  });

  it('requests beyond maxConcurrentRequests get 503 SlowDown; held requests still complete', async () => {
    // Two PUTs that have sent only half their body are in flight until we finish them.
    const held = [0, 1].map((i) => {
      const body = Buffer.alloc(10, i);
      const opts = { host: `127.0.0.1:${api.port}`, path: `/srv/held${i}`, method: 'PUT', service: 's3', region: 'us-east-1', headers: {} as Record<string, string>, body };
      aws4.sign(opts, { accessKeyId: USERS.admin.accessKey, secretAccessKey: USERS.admin.secretKey });
      let resolveStatus: (n: number) => void = () => undefined;
      const status = new Promise<number>((r) => (resolveStatus = r));
      const req = http.request({ host: '127.0.0.1', port: api.port, path: opts.path, method: 'PUT', headers: opts.headers }, (res) => {
        res.resume();
        res.on('end', () => resolveStatus(res.statusCode ?? 0));
      });
      req.write(body.subarray(0, 5));
      return { req, body, status };
    });
    // The server counts a request once its headers arrive; wait until both are counted.
    for (let i = 0; i < 200; i++) {
      const text = await (await fetch(`http://127.0.0.1:${api.port}/metrics`, { headers: { authorization: 'Bearer sekrit-token' } })).text();
      if (/tessera_s3_inflight_requests 2\b/.test(text)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const refused = await raw(api, { method: 'GET', path: '/srv?list-type=2' });
    expect([refused.status, errorCode(refused)]).toEqual([503, 'SlowDown']);
    for (const h of held) h.req.end(h.body.subarray(5));
    expect(await Promise.all(held.map((h) => h.status))).toEqual([200, 200]);
    const after = await raw(api, { method: 'GET', path: '/srv/held1' });
    expect(after.body.equals(Buffer.alloc(10, 1))).toBe(true);
  });
});

describe('addressing', () => {
  it('virtual-hosted style: Host BUCKET.baseDomain addresses the bucket', async () => {
    const host = `srv.s3.test:${api.port}`;
    expect((await raw(api, { method: 'PUT', path: '/vh/key', body: 'virtual', host })).status).toBe(200);
    expect((await raw(api, { method: 'GET', path: '/srv/vh/key' })).text).toBe('virtual');
    const listed = await raw(api, { method: 'GET', path: '/?list-type=2&prefix=vh', host });
    expect(listed.text).toContain('<Key>vh/key</Key>');
    expect(listed.text).toContain('<Name>srv</Name>');
    // /health on a bucket host is an S3 request for that bucket's key "health".
    const health = await raw(api, { method: 'GET', path: '/health', host, user: null });
    expect(health.status).toBe(403);
  });
});

describe('operational endpoints with a metrics token', () => {
  it('/metrics wants the Bearer token; /health does not', async () => {
    expect((await fetch(`http://127.0.0.1:${api.port}/metrics`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${api.port}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const ok = await fetch(`http://127.0.0.1:${api.port}/metrics`, { headers: { authorization: 'Bearer sekrit-token' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('tessera_s3_request_seconds_bucket');
    expect((await fetch(`http://127.0.0.1:${api.port}/health`)).status).toBe(200);
  });
});

describe('access log', () => {
  it('one line per request with id, op, status and access key, never a secret or signature', async () => {
    const res = await raw(api, { method: 'PUT', path: '/srv/logged', body: 'x' });
    const id = String(res.headers['x-amz-request-id']);
    await new Promise((r) => setTimeout(r, 20));
    const lines = logLines.filter((l) => l.includes(id));
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ op: 'PutObject', bucket: 'srv', key: 'logged', status: 200, accessKey: USERS.admin.accessKey, bytesIn: 1 });
    const all = logLines.join('\n');
    expect(all).not.toContain(USERS.admin.secretKey);
    expect(all).not.toContain('Signature=');
  });
});

describe('graceful close', () => {
  it('finishes the in-flight request, then stops listening', async () => {
    const body = Buffer.alloc(100, 7);
    const opts = { host: `127.0.0.1:${api.port}`, path: '/srv/closing', method: 'PUT', service: 's3', region: 'us-east-1', headers: {} as Record<string, string>, body };
    aws4.sign(opts, { accessKeyId: USERS.admin.accessKey, secretAccessKey: USERS.admin.secretKey });
    const status = new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: api.port, path: opts.path, method: 'PUT', headers: opts.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write(body.subarray(0, 50));
      setTimeout(() => {
        closed = api.server.close();
        setTimeout(() => req.end(body.subarray(50)), 50);
      }, 50);
    });
    let closed: Promise<void> | undefined;
    expect(await status).toBe(200);
    await closed;
    expect(api.server.server.listening).toBe(false);
    // Stored intact: read through the service directly, the server is gone.
    const record = await api.gateway.service.headObject('srv', 'closing');
    expect(record.size).toBe(100);
    // close() again from afterAll must not hang or throw.
    api.server.close = async () => undefined;
  });
});
