import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IagonNodeConfig } from '../src/config/types.js';
import { ConfigError } from '../src/config/errors.js';
import { NodeError } from '../src/cold/nodes/driver.js';
import { IagonNodeDriver, validateIagonConfig } from '../src/cold/nodes/iagon.js';
import { startIagonContractServer, type IagonContractServer } from './helpers/iagon-contract-server.js';
import { readAll } from './helpers/streams.js';
import { nodeErrorKind, rejection } from './helpers/errors.js';

let server: IagonContractServer;
const drivers: IagonNodeDriver[] = [];

function config(overrides: Partial<IagonNodeConfig> = {}): IagonNodeConfig {
  return {
    name: 'iagon-a',
    kind: 'iagon',
    baseUrl: server.baseUrl,
    apiKey: server.apiKey,
    directoryName: 'tessera-iagon-a',
    weight: 1,
    timeoutMs: 3000,
    maxAttempts: 4,
    maxFileBytes: server.maxFileBytes,
    ...overrides,
  };
}

function driver(overrides: Partial<IagonNodeConfig> = {}): IagonNodeDriver {
  const d = new IagonNodeDriver(config(overrides), { baseDelayMs: 5, maxDelayMs: 100 });
  drivers.push(d);
  return d;
}

beforeEach(async () => {
  server = await startIagonContractServer({ maxFileBytes: 8_000_000 });
});

afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.close()));
  await server.close();
});

describe('IagonNodeDriver against the contract server', () => {
  it('round-trips a shard as a private file in its own directory, handle = server _id', async () => {
    const d = driver();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const handle = await d.put('shard-1', Readable.from([data.subarray(0, 1000), data.subarray(1000)]), data.length);
    expect(handle).toMatch(/^[0-9a-f]{24}$/);
    expect(Buffer.compare(await readAll(await d.get(handle)), data)).toBe(0);

    const stored = server.files.get(handle);
    expect(stored?.name).toBe('shard-1');
    expect(stored?.visibility).toBe('private');
    const dirs = [...server.directories.values()];
    expect(dirs.map((x) => x.directory_name)).toEqual(['tessera-iagon-a']);
    expect(stored?.parent_directory_id).toBe(dirs[0]?._id);

    // A second shard reuses the directory; a new driver finds it by name instead of creating another.
    await d.put('shard-2', Readable.from([Buffer.from('x')]), 1);
    const d2 = driver();
    await d2.put('shard-3', Readable.from([Buffer.from('y')]), 1);
    expect(server.directories.size).toBe(1);
  });

  it('uses a configured directoryId and a Bearer token when no API key is set', async () => {
    const dirId = (await (async () => {
      const d = driver();
      await d.put('seed', Readable.from([Buffer.from('s')]), 1);
      return [...server.directories.keys()][0];
    })())!;
    const d = driver({ apiKey: undefined, token: server.token, directoryId: dirId });
    const before = server.directories.size;
    const handle = await d.put('tok', Readable.from([Buffer.from('bearer')]), 6);
    expect((await readAll(await d.get(handle))).toString()).toBe('bearer');
    expect(server.files.get(handle)?.parent_directory_id).toBe(dirId);
    expect(server.directories.size).toBe(before);
    expect(await d.health()).toEqual({ ok: true });
  });

  it('serves ranges by skipping the prefix client-side', async () => {
    const d = driver();
    const data = randomBytes(1_000_000);
    const handle = await d.put('r', Readable.from([data]), data.length);
    const cases = [
      { offset: 0, length: 10 },
      { offset: 123_456, length: 200_000 },
      { offset: 999_990, length: 10 },
      { offset: 500_000, length: 0 },
    ];
    for (const range of cases) {
      const got = await readAll(await d.get(handle, range));
      expect(Buffer.compare(got, data.subarray(range.offset, range.offset + range.length))).toBe(0);
    }
    expect(await nodeErrorKind(readAll(await d.get(handle, { offset: 999_990, length: 11 })))).toBe('corrupt');
  });

  it('retries 429 (before the body is sent) and 503, then succeeds', async () => {
    const d = driver();
    server.failNext(2, 429, { retryAfterSec: 0, pathSuffix: '/storage/upload' });
    const data = randomBytes(200_000);
    const handle = await d.put('retry', Readable.from([data]), data.length);
    const uploads = server.requests.filter((r) => r.path === '/storage/upload');
    expect(uploads.map((r) => r.status)).toEqual([429, 429, 200]);
    // Expect: 100-continue kept the one-shot body unsent until the server accepted it.
    expect(uploads.slice(0, 2).map((r) => r.bodyBytes)).toEqual([0, 0]);

    server.failNext(2, 503, { pathSuffix: '/storage/download' });
    expect(Buffer.compare(await readAll(await d.get(handle)), data)).toBe(0);
    expect(server.requests.filter((r) => r.path === '/storage/download').map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('gives up after maxAttempts with unavailable', async () => {
    const d = driver({ maxAttempts: 3 });
    const handle = await d.put('x', Readable.from([Buffer.from('abc')]), 3);
    server.failNext(5, 500, { pathSuffix: '/storage/download' });
    expect(await nodeErrorKind(d.get(handle))).toBe('unavailable');
    expect(server.requests.filter((r) => r.path === '/storage/download')).toHaveLength(3);
  });

  it('maps 401 to auth, for API key and token, and health reports it', async () => {
    const badKey = driver({ apiKey: 'wrong-key' });
    expect(await nodeErrorKind(badKey.put('a', Readable.from([Buffer.from('a')]), 1))).toBe('auth');
    const health = await badKey.health();
    expect(health.ok).toBe(false);
    expect(health.reason).toMatch(/^auth/);
    expect(health.reason).not.toContain('wrong-key');

    const badToken = driver({ apiKey: undefined, token: 'nope' });
    expect(await nodeErrorKind(badToken.put('a', Readable.from([Buffer.from('a')]), 1))).toBe('auth');
    expect((await badToken.health()).ok).toBe(false);
    expect(await driver().health()).toEqual({ ok: true });
  });

  it('enforces the per-file limit at config time, before a put, and from the server (413)', async () => {
    expect(() => validateIagonConfig(config({ maxFileBytes: 40_000_000 }), 40_000_001)).toThrow(ConfigError);
    expect(() => validateIagonConfig(config({ maxFileBytes: 40_000_000 }), 40_000_001)).toThrow(/maxFileBytes.*40000000/);
    expect(() => validateIagonConfig(config({ maxFileBytes: 40_000_000 }), 40_000_000)).not.toThrow();
    expect(() => validateIagonConfig(config({ apiKey: undefined }), 1)).toThrow(ConfigError);

    const d = driver();
    const requestsBefore = server.requests.length;
    expect(await nodeErrorKind(d.put('big', Readable.from([]), server.maxFileBytes + 1))).toBe('too-large');
    expect(server.requests.length).toBe(requestsBefore);

    // A driver that believes the limit is higher learns it from the server's 413, before sending the body.
    const optimistic = driver({ maxFileBytes: 100_000_000 });
    const body = Buffer.alloc(server.maxFileBytes + 100_000, 1);
    expect(await nodeErrorKind(optimistic.put('big', Readable.from([body]), body.length))).toBe('too-large');
    const last = server.requests.at(-1);
    expect(last?.status).toBe(413);
    expect(last?.bodyBytes).toBe(0);
  });

  it('turns a response slower than timeoutMs into a timeout', async () => {
    const d = driver({ timeoutMs: 300, maxAttempts: 2 });
    const handle = await d.put('slow', Readable.from([Buffer.from('zzz')]), 3);
    server.delayNext(2, 1500, { pathSuffix: '/storage/download' });
    expect(await nodeErrorKind(d.get(handle))).toBe('timeout');
  });

  it('reports a connection dropped mid-download as unavailable on the stream', async () => {
    const d = driver();
    const data = randomBytes(2_000_000);
    const handle = await d.put('drop', Readable.from([data]), data.length);
    server.dropNext(1, { pathSuffix: '/storage/download' });
    const stream = await d.get(handle);
    expect(await nodeErrorKind(readAll(stream))).toBe('unavailable');
  });

  it('lists, stats and deletes; missing shards are not-found / null / no error', async () => {
    const d = driver();
    const sizes = [5, 70_000, 1];
    const handles: string[] = [];
    for (const [i, size] of sizes.entries()) handles.push(await d.put(`s${i}`, Readable.from([randomBytes(size)]), size));
    const listed: Array<{ handle: string; size: number }> = [];
    for await (const item of d.list()) listed.push({ handle: item.handle, size: item.size });
    expect(listed.sort((a, b) => a.size - b.size)).toEqual(
      handles.map((h, i) => ({ handle: h, size: sizes[i]! })).sort((a, b) => a.size - b.size),
    );
    expect(await d.stat(handles[1]!)).toEqual({ size: 70_000 });

    await d.delete(handles[1]!);
    expect(await d.stat(handles[1]!)).toBeNull();
    await d.delete(handles[1]!);
    expect(await nodeErrorKind(d.get(handles[1]!))).toBe('not-found');
    expect(server.files.size).toBe(2);
  });

  it('never stores a body shorter than declared, and passes the source error through', async () => {
    const d = driver();
    const err = await rejection(d.put('short', Readable.from([Buffer.alloc(10)]), 20));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(NodeError);
    expect(String((err as Error).message)).toMatch(/10 of the declared 20/);
    expect([...server.files.values()].some((f) => f.name === 'short')).toBe(false);
  });

  it('sends the configured password with uploads and downloads', async () => {
    const d = driver({ password: 'pw-123' });
    const handle = await d.put('pw', Readable.from([Buffer.from('secret bytes')]), 12);
    expect(server.files.get(handle)?.password).toBe('pw-123');
    expect((await readAll(await d.get(handle))).toString()).toBe('secret bytes');
    const other = driver({ password: 'other' });
    expect(await nodeErrorKind(other.get(handle))).toBe('auth');
  });
});
