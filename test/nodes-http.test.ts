import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeError } from '../src/cold/nodes/driver.js';
import { createNodeDriver } from '../src/cold/nodes/factory.js';
import { HttpNodeDriver } from '../src/cold/nodes/http.js';
import { kindForStatus } from '../src/cold/nodes/http-status.js';
import { parseRange, startNodeServer, type NodeServer, type NodeServerLogger } from '../src/node/server.js';
import { chunked, readAll } from './helpers/streams.js';
import { filesUnder } from './helpers/files.js';
import { eventually } from './helpers/wait.js';

const SECRET = 'node-secret-' + 'x'.repeat(20);
const id = (n: number): string => `${n.toString(16).padStart(2, '0')}${'cd'.repeat(15)}`;

async function errorOf(p: Promise<unknown>): Promise<NodeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof NodeError) return err;
    throw err;
  }
  throw new Error('expected a NodeError, got success');
}

/** A raw request, for what the driver would never send. */
function rawRequest(
  url: string,
  opts: { method: string; path: string; headers?: http.OutgoingHttpHeaders; body?: Buffer },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ hostname: u.hostname, port: u.port, method: opts.method, path: opts.path, headers: opts.headers, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      readAll(res)
        .then((b) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b.toString() }))
        .catch(reject);
    });
    req.end(opts.body);
  });
}

const auth = { Authorization: `Bearer ${SECRET}` };

let dir: string;
let server: NodeServer;
let driver: HttpNodeDriver;
let logLines: string[];

const logger: NodeServerLogger = {
  info: (fields, msg) => logLines.push(JSON.stringify({ msg, ...fields })),
  warn: (fields, msg) => logLines.push(JSON.stringify({ msg, ...fields })),
};

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'tessera-http-node-'));
  logLines = [];
  server = await startNodeServer({ dataDir: dir, port: 0, host: '127.0.0.1', secret: SECRET, logger, headersTimeoutMs: 400 });
  driver = new HttpNodeDriver({ name: 'h1', url: server.url, secret: SECRET, weight: 1, timeoutMs: 5_000 });
});

afterEach(async () => {
  await driver.close();
  await server.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('node server + HttpNodeDriver', () => {
  it('round-trips a shard: put, stat, get whole and ranged, list, delete', async () => {
    const data = randomBytes(1_000_000);
    expect(await driver.put(id(0x3c), chunked(data), data.length)).toBe(id(0x3c));
    expect(await driver.stat(id(0x3c))).toEqual({ size: data.length });
    expect((await readAll(await driver.get(id(0x3c)))).equals(data)).toBe(true);
    const part = await readAll(await driver.get(id(0x3c), { offset: 999_000, length: 1000 }));
    expect(part.equals(data.subarray(999_000))).toBe(true);
    expect((await readAll(await driver.get(id(0x3c), { offset: 5, length: 0 }))).length).toBe(0);
    // the server stores with the fs layout
    expect(await filesUnder(path.join(dir, '3c'))).toEqual([id(0x3c)]);
    const listed = [];
    for await (const item of driver.list()) listed.push(item);
    expect(listed).toEqual([{ handle: id(0x3c), size: data.length, mtimeMs: expect.any(Number) }]);
    expect(Math.abs((listed[0]?.mtimeMs ?? 0) - Date.now())).toBeLessThan(3_600_000);
    await driver.delete(id(0x3c));
    await driver.delete(id(0x3c));
    expect(await driver.stat(id(0x3c))).toBeNull();
  });

  it('maps a missing shard to not-found and a range past the end to bad-request', async () => {
    expect((await errorOf(driver.get(id(1)))).kind).toBe('not-found');
    expect((await errorOf(driver.get(id(1), { offset: 0, length: 0 }))).kind).toBe('not-found');
    await driver.put(id(1), Readable.from([Buffer.alloc(10)]), 10);
    expect((await errorOf(driver.get(id(1), { offset: 10, length: 5 }))).kind).toBe('bad-request');
  });

  it('pages through a listing larger than one page', async () => {
    const paged = new HttpNodeDriver({ name: 'h1', url: server.url, secret: SECRET, weight: 1, timeoutMs: 5_000, listPageSize: 3 });
    const ids = Array.from({ length: 10 }, (_, i) => id(i * 25));
    for (const shard of ids) await paged.put(shard, Readable.from([Buffer.from(shard)]), shard.length);
    const listed: string[] = [];
    for await (const item of paged.list()) listed.push(item.handle);
    expect(listed).toEqual([...ids].sort());
    await paged.close();
  });

  it('rejects a wrong secret with auth, on every route including health', async () => {
    const wrong = new HttpNodeDriver({ name: 'h1', url: server.url, secret: 'nope', weight: 1, timeoutMs: 5_000 });
    expect((await errorOf(wrong.put(id(2), Readable.from([Buffer.alloc(100)]), 100))).kind).toBe('auth');
    expect((await errorOf(wrong.get(id(2)))).kind).toBe('auth');
    expect((await errorOf(wrong.stat(id(2)))).kind).toBe('auth');
    expect((await errorOf(wrong.delete(id(2)))).kind).toBe('auth');
    const health = await wrong.health();
    expect(health.ok).toBe(false);
    expect(health.reason).toMatch(/401/);
    for (const headers of [{}, { Authorization: SECRET }, { Authorization: `Bearer ${SECRET}x` }, { Authorization: `Basic ${SECRET}` }]) {
      const res = await rawRequest(server.url, { method: 'GET', path: '/health', headers });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body)).toMatchObject({ error: 'auth' });
      expect(res.body).not.toContain(SECRET);
    }
    expect(await filesUnder(dir)).toEqual([]);
    await wrong.close();
  });

  it('reports health with capacity', async () => {
    const health = await driver.health();
    expect(health.ok).toBe(true);
    expect(health.capacityBytes).toBeGreaterThan(0);
    expect(health.freeBytes).toBeGreaterThan(0);
  });

  it('answers bad ids and escapes with 400 and never touches files outside', async () => {
    for (const p of ['/shards/..%2f..%2fetc%2fpasswd', '/shards/../../etc/passwd', '/shards/%2e%2e', '/shards/ABCDEFABCDEFABCDEF', '/shards/ab']) {
      const res = await rawRequest(server.url, { method: 'GET', path: p, headers: auth });
      expect([400, 404]).toContain(res.status);
      expect(res.status === 400 ? JSON.parse(res.body).error : 'not-found').toMatch(/bad-request|not-found/);
    }
    const put = await rawRequest(server.url, { method: 'PUT', path: '/shards/..%2f..%2fescape000000000', headers: auth, body: Buffer.from('x') });
    expect(put.status).toBe(400);
    expect(await filesUnder(dir)).toEqual([]);
    expect((await errorOf(driver.get('../../etc/passwd'))).kind).toBe('bad-request');
  });

  it('serves Range forms and 416 over raw HTTP, and HEAD gives the size', async () => {
    await driver.put(id(4), Readable.from([Buffer.from('0123456789')]), 10);
    const get = (range?: string) =>
      rawRequest(server.url, { method: 'GET', path: `/shards/${id(4)}`, headers: range ? { ...auth, Range: range } : auth });
    expect(await get('bytes=2-4')).toMatchObject({ status: 206, body: '234' });
    expect((await get('bytes=2-4')).headers['content-range']).toBe('bytes 2-4/10');
    expect(await get('bytes=7-')).toMatchObject({ status: 206, body: '789' });
    expect(await get('bytes=-2')).toMatchObject({ status: 206, body: '89' });
    expect(await get('bytes=8-100')).toMatchObject({ status: 206, body: '89' });
    expect(await get()).toMatchObject({ status: 200, body: '0123456789' });
    expect(await get('bytes=0-1,4-5')).toMatchObject({ status: 200, body: '0123456789' });
    expect((await get('bytes=10-12')).status).toBe(416);
    const head = await rawRequest(server.url, { method: 'HEAD', path: `/shards/${id(4)}`, headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('10');
    expect(parseRange('bytes=5-3', 10)).toBe('unsatisfiable');
    expect(parseRange('items=1-2', 10)).toBeUndefined();
  });

  it('accepts a chunked upload without Content-Length and refuses an upload with neither', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url);
      const req = http.request({ hostname: u.hostname, port: u.port, method: 'PUT', path: `/shards/${id(5)}`, headers: auth, agent: false });
      req.on('error', reject);
      req.on('response', (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.write('hello ');
      req.end('world');
    });
    expect(res).toBe(201);
    expect((await readAll(await driver.get(id(5)))).toString()).toBe('hello world');
    const again = await rawRequest(server.url, { method: 'PUT', path: `/shards/${id(5)}`, headers: { ...auth, 'Content-Length': 3 }, body: Buffer.from('abc') });
    expect(again.status).toBe(200); // replaced
    const u = new URL(server.url);
    const neither = await new Promise<string>((resolve) => {
      const s = net.connect(Number(u.port), u.hostname, () =>
        s.write(`PUT /shards/${id(0x55)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\nConnection: close\r\n\r\n`),
      );
      let text = '';
      s.on('data', (d) => (text += d.toString()));
      s.on('close', () => resolve(text));
    });
    expect(neither).toMatch(/^HTTP\/1\.1 411/);
    expect(await driver.stat(id(0x55))).toBeNull();
  });

  it('leaves no shard and no temp file when an upload is cut off mid-body', async () => {
    const u = new URL(server.url);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      `PUT /shards/${id(6)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\nContent-Length: 1000000\r\n\r\n`,
    );
    socket.write(Buffer.alloc(300_000, 7));
    // the server has started writing a temp file before we cut the connection
    await eventually(async () => (await filesUnder(dir)).length > 0, 'temp file created');
    socket.destroy();
    await eventually(async () => (await filesUnder(dir)).length === 0, 'temp file removed');
    expect(await driver.stat(id(6))).toBeNull();
  });

  it('a small (buffered) upload cut off mid-body stores nothing, and small shards answer 201 then 200 on replace', async () => {
    const u = new URL(server.url);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise((r) => socket.once('connect', r));
    socket.write(`PUT /shards/${id(0x66)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\nContent-Length: 100000\r\n\r\n`);
    socket.write(Buffer.alloc(30_000, 7));
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    // The node still serves, and the cut upload left neither a shard nor a temp file.
    await driver.put(id(0x67), Readable.from([Buffer.alloc(4000, 1)]), 4000);
    expect(await driver.stat(id(0x66))).toBeNull();
    expect((await filesUnder(dir)).length).toBe(1);
    const put = async (fill: number): Promise<string> => {
      const res = await fetch(`${server.url}/shards/${id(0x68)}`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${SECRET}` },
        body: Buffer.alloc(2000, fill),
      });
      return `${res.status} ${await res.text()}`;
    };
    expect(await put(1)).toMatch(/^201 /);
    expect(await put(2)).toMatch(/^200 /);
    const body = await driver.get(id(0x68));
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(Buffer.alloc(2000, 2))).toBe(true);
    await driver.delete(id(0x67));
    await driver.delete(id(0x68));
  });

  it('rejects an upload whose body is shorter than promised, via the driver, leaving nothing', async () => {
    const err = await errorOf(driver.put(id(7), Readable.from([Buffer.alloc(500)]), 1000));
    expect(err.kind).toBe('bad-request');
    await eventually(async () => (await filesUnder(dir)).length === 0, 'temp file removed');
    expect(await driver.stat(id(7))).toBeNull();
  });

  it('aborting a put via AbortSignal rejects with AbortError and stores nothing', async () => {
    const ac = new AbortController();
    let pushed = 0;
    const body = new Readable({
      read() {
        if (pushed < 4) {
          pushed++;
          this.push(Buffer.alloc(64 * 1024));
          if (pushed === 4) setImmediate(() => ac.abort());
        }
        // then stall: the abort must end it, not the body
      },
    });
    const err = await driver.put(id(8), body, 10_000_000, ac.signal).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    await eventually(async () => (await filesUnder(dir)).length === 0, 'temp file removed');
    expect(await driver.stat(id(8))).toBeNull();
  });

  it('a download whose server dies mid-body errors instead of ending short', async () => {
    const data = randomBytes(32 * 1024 * 1024);
    await driver.put(id(9), chunked(data, 1024 * 1024), data.length);
    const stream = await driver.get(id(9));
    let received = 0;
    const result = new Promise<Error | null>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      stream.on('end', () => resolve(null));
      stream.on('error', (err) => resolve(err));
    });
    // pause after the first chunk so the server is still mid-body when it goes away
    await new Promise((r) => stream.once('data', r));
    stream.pause();
    await server.close();
    stream.resume();
    const err = await result;
    expect(err).toBeInstanceOf(NodeError);
    expect((err as NodeError).kind).toBe('unavailable');
    expect(received).toBeLessThan(data.length);
  });

  it('maps a dead node to unavailable and health to ok=false', async () => {
    await server.close();
    const dead = new HttpNodeDriver({ name: 'h1', url: server.url, secret: SECRET, weight: 1, timeoutMs: 2_000 });
    expect((await errorOf(dead.stat(id(1)))).kind).toBe('unavailable');
    expect((await errorOf(dead.put(id(1), Readable.from([Buffer.alloc(10)]), 10))).kind).toBe('unavailable');
    expect((await dead.health()).ok).toBe(false);
    await dead.close();
  });

  it('times out a node that accepts connections but never answers', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((s) => held.push(s)); // holds sockets open, says nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const slow = new HttpNodeDriver({ name: 'slow', url: `http://127.0.0.1:${port}`, secret: SECRET, weight: 1, timeoutMs: 300 });
    expect((await errorOf(slow.get(id(1)))).kind).toBe('timeout');
    expect((await errorOf(slow.put(id(1), Readable.from([Buffer.alloc(10)]), 10))).kind).toBe('timeout');
    await slow.close();
    for (const s of held) s.destroy();
    await new Promise<void>((r) => {
      silent.close(() => r());
      for (const s of held) s.destroy();
    });
  });

  it('errors a download that stalls mid-body with timeout', async () => {
    const held: net.Socket[] = [];
    const stalling = net.createServer((sock) => {
      held.push(sock);
      sock.once('data', () => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100)));
    });
    await new Promise<void>((r) => stalling.listen(0, '127.0.0.1', r));
    const port = (stalling.address() as net.AddressInfo).port;
    const d = new HttpNodeDriver({ name: 'stall', url: `http://127.0.0.1:${port}`, secret: SECRET, weight: 1, timeoutMs: 300 });
    const stream = await d.get(id(1));
    const err = await readAll(stream).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NodeError);
    expect((err as NodeError).kind).toBe('timeout');
    await d.close();
    for (const s of held) s.destroy();
    await new Promise<void>((r) => stalling.close(() => r()));
  });

  it('handles many concurrent puts and gets through the pooled agent', async () => {
    const shards = Array.from({ length: 40 }, (_, i) => ({ id: id(i * 6), data: randomBytes(50_000 + i * 997) }));
    await Promise.all(shards.map((s) => driver.put(s.id, chunked(s.data, 8192), s.data.length)));
    const back = await Promise.all(shards.map(async (s) => readAll(await driver.get(s.id, { offset: 100, length: s.data.length - 200 }))));
    back.forEach((b, i) => {
      const s = shards[i] as { data: Buffer };
      expect(b.equals(s.data.subarray(100, s.data.length - 100))).toBe(true);
    });
  });

  it('survives garbage and oversized headers, and closes a slowloris connection', async () => {
    const u = new URL(server.url);
    const sendRaw = (payload: string): Promise<string> =>
      new Promise((resolve) => {
        const s = net.connect(Number(u.port), u.hostname, () => s.write(payload));
        let text = '';
        s.on('data', (d) => (text += d.toString()));
        s.on('close', () => resolve(text));
        s.on('error', () => undefined);
      });
    expect(await sendRaw('this is not http\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await sendRaw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
    // headers never finished: the server must hang up on its own (headersTimeoutMs = 400 in this suite)
    const slowloris = await sendRaw('GET /health HTTP/1.1\r\nHost: x\r\n');
    expect(slowloris === '' || /^HTTP\/1\.1 408/.test(slowloris)).toBe(true);
    // and it still works
    expect((await driver.health()).ok).toBe(true);
  });

  it('never logs the secret', async () => {
    const wrong = new HttpNodeDriver({ name: 'h1', url: server.url, secret: 'wrong-secret-value', weight: 1, timeoutMs: 5_000 });
    await wrong.stat(id(1)).catch(() => undefined);
    await driver.put(id(1), Readable.from([Buffer.alloc(10)]), 10);
    await server.close();
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) {
      expect(line).not.toContain(SECRET);
      expect(line).not.toContain('wrong-secret-value');
    }
    await wrong.close();
  });

  it('is built by the factory from an http node config', async () => {
    const d = await createNodeDriver({ kind: 'http', name: 'hx', url: server.url, secret: SECRET, weight: 4, timeoutMs: 5_000 });
    expect([d.name, d.kind, d.weight]).toEqual(['hx', 'http', 4]);
    expect((await d.health()).ok).toBe(true);
    await d.close();
  });

  it('maps HTTP statuses to NodeError kinds', () => {
    expect([401, 403, 404, 413, 507, 500, 502, 503, 429, 400, 408].map(kindForStatus)).toEqual([
      'auth',
      'auth',
      'not-found',
      'too-large',
      'full',
      'unavailable',
      'unavailable',
      'unavailable',
      'unavailable',
      'bad-request',
      'timeout',
    ]);
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('node server over TLS', () => {
  let tlsDir: string;
  beforeEach(async () => {
    tlsDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'tessera-tls-node-'));
  });
  afterEach(async () => {
    await fsp.rm(tlsDir, { recursive: true, force: true });
  });

  it('serves https and the driver trusts it through caFile', async (ctx) => {
    if (!hasOpenssl()) {
      if (process.env.CI) throw new Error('openssl is required in CI');
      ctx.skip();
      return;
    }
    const certFile = path.join(tlsDir, 'cert.pem');
    const keyFile = path.join(tlsDir, 'key.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
      { stdio: 'ignore' },
    );
    const tlsServer = await startNodeServer({
      dataDir: path.join(tlsDir, 'data'),
      port: 0,
      host: '127.0.0.1',
      secret: SECRET,
      tls: { cert: await fsp.readFile(certFile), key: await fsp.readFile(keyFile) },
    });
    try {
      expect(tlsServer.url).toMatch(/^https:/);
      const trusted = new HttpNodeDriver({ name: 't', url: tlsServer.url, secret: SECRET, weight: 1, timeoutMs: 5_000, caFile: certFile });
      await trusted.put(id(0xee), Readable.from([Buffer.from('over tls')]), 8);
      expect((await readAll(await trusted.get(id(0xee)))).toString()).toBe('over tls');
      await trusted.close();
      const untrusted = new HttpNodeDriver({ name: 't', url: tlsServer.url, secret: SECRET, weight: 1, timeoutMs: 5_000 });
      expect((await errorOf(untrusted.stat(id(0xee)))).kind).toBe('unavailable');
      await untrusted.close();
    } finally {
      await tlsServer.close();
    }
  });
});
