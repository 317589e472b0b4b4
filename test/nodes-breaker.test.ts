import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GuardedNode, type BreakerStateChange } from '../src/cold/nodes/breaker.js';
import { NodeError } from '../src/cold/nodes/driver.js';
import { FsNodeDriver } from '../src/cold/nodes/fs.js';
import { HttpNodeDriver } from '../src/cold/nodes/http.js';
import { startNodeServer, type NodeServer } from '../src/node/server.js';
import { nodeErrorKind } from './helpers/errors.js';

const SECRET = 'breaker-test-secret';
const id = (n: number): string => `${n.toString(16).padStart(2, '0')}${'ef'.repeat(15)}`;

/**
 * Real failures, not mocks: the guarded driver is an HttpNodeDriver pointed at a `tessera node` server that the test
 * stops and restarts on the same port. The clock is injected so cool-downs need no sleeping.
 */
let dir: string;
let server: NodeServer | undefined;
let port: number;
let clock: number;
let guarded: GuardedNode;
let changes: BreakerStateChange[];

async function startServer(): Promise<void> {
  server = await startNodeServer({ dataDir: dir, port, host: '127.0.0.1', secret: SECRET });
  port = Number(new URL(server.url).port);
}

async function stopServer(): Promise<void> {
  await server?.close();
  server = undefined;
}

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'tessera-breaker-'));
  port = 0;
  await startServer();
  clock = 1_000_000;
  const inner = new HttpNodeDriver({ name: 'b1', url: `http://127.0.0.1:${port}`, secret: SECRET, weight: 2, timeoutMs: 10_000 });
  guarded = new GuardedNode(inner, { failureThreshold: 3, coolDownMs: 10_000, now: () => clock });
  changes = [];
  guarded.onStateChange((c) => changes.push(c));
});

afterEach(async () => {
  await guarded.close();
  await stopServer();
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('GuardedNode circuit breaker', () => {
  it('passes identity and calls through while closed', async () => {
    expect([guarded.name, guarded.kind, guarded.weight]).toEqual(['b1', 'http', 2]);
    await guarded.put(id(1), Readable.from([Buffer.from('abc')]), 3);
    expect(await guarded.stat(id(1))).toEqual({ size: 3 });
    expect(guarded.isHealthy()).toBe(true);
    expect(guarded.counters()).toMatchObject({ state: 'closed', successes: 2, failures: 0 });
  });

  it("keeps the latency of the node's answered calls (p50 <= p99), not of calls its open circuit refused", async () => {
    expect(guarded.latency()).toEqual({ samples: 0, p50Ms: 0, p99Ms: 0 });
    for (let i = 0; i < 20; i++) await guarded.put(id(i), Readable.from([Buffer.from('abc')]), 3);
    expect(await guarded.health()).toMatchObject({ ok: true });
    const l = guarded.latency();
    expect(l.samples).toBe(21);
    expect(l.p50Ms).toBeGreaterThan(0);
    expect(l.p99Ms).toBeGreaterThanOrEqual(l.p50Ms);
    await stopServer();
    for (let i = 0; i < 6; i++) await guarded.stat(id(1)).catch(() => undefined);
    expect(guarded.getState()).toBe('open');
    expect(guarded.latency().samples).toBe(21);
  });

  it('does not count not-found or bad-request as failures', async () => {
    for (let i = 0; i < 5; i++) expect(await nodeErrorKind(guarded.get(id(9)))).toBe('not-found');
    expect(await nodeErrorKind(guarded.get('not/a/valid/id'))).toBe('bad-request');
    expect(guarded.isHealthy()).toBe(true);
    expect(guarded.counters()).toMatchObject({ state: 'closed', failures: 0, consecutiveFailures: 0 });
  });

  it('opens after N consecutive failures, fails fast, half-opens after cool-down, closes on a good trial', async () => {
    await stopServer();
    expect(await nodeErrorKind(guarded.stat(id(1)))).toBe('unavailable');
    expect(await nodeErrorKind(guarded.stat(id(1)))).toBe('unavailable');
    expect(guarded.isHealthy()).toBe(true); // 2 < 3
    expect(await nodeErrorKind(guarded.stat(id(1)))).toBe('unavailable');
    expect(guarded.isHealthy()).toBe(false);
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual(['closed->open']);
    expect(changes[0]?.cause?.kind).toBe('unavailable');

    // node comes back, but the circuit is still open: calls are refused without reaching it
    await startServer();
    const err = await guarded.stat(id(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeError);
    expect((err as Error).message).toMatch(/circuit open/);
    expect(guarded.counters()).toMatchObject({ rejected: 1, opens: 1, failures: 3 });

    clock += 10_000;
    expect(guarded.getState()).toBe('half-open');
    expect(guarded.isHealthy()).toBe(true);
    expect(await guarded.stat(id(1))).toBeNull(); // the trial reaches the node
    expect(guarded.getState()).toBe('closed');
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('re-opens when the half-open trial fails, and allows only one trial at a time', async () => {
    await stopServer();
    for (let i = 0; i < 3; i++) await guarded.stat(id(1)).catch(() => undefined);
    clock += 10_000;
    expect(guarded.getState()).toBe('half-open');
    const trial = guarded.stat(id(1));
    expect(guarded.isHealthy()).toBe(true); // half-open counts as healthy, trial or not
    const during = guarded.stat(id(1)); // waits for the trial's outcome instead of reaching the node too
    expect(await nodeErrorKind(trial)).toBe('unavailable');
    expect(await nodeErrorKind(during)).toBe('unavailable');
    expect((await guarded.stat(id(1)).catch((e: Error) => e)) as Error).toHaveProperty('message', expect.stringMatching(/circuit open/));
    expect(guarded.counters().failures).toBe(4); // the waiting call never reached the node
    expect(guarded.getState()).toBe('open');
    expect(guarded.counters().opens).toBe(2);
    clock += 9_999;
    expect(guarded.isHealthy()).toBe(false);
    clock += 1;
    expect(guarded.isHealthy()).toBe(true);
  });

  it('calls arriving during a half-open trial (a health probe after nodes restart) go through once it succeeds', async () => {
    await stopServer();
    for (let i = 0; i < 3; i++) await guarded.health();
    expect(guarded.getState()).toBe('open');
    await startServer();
    clock += 10_000;
    const probe = guarded.health(); // the prober's trial is in flight ...
    expect(guarded.isHealthy()).toBe(true); // ... and placement still counts the node
    const calls = await Promise.all([guarded.stat(id(1)), guarded.stat(id(2)), probe]);
    expect(calls[0]).toBeNull();
    expect(calls[1]).toBeNull();
    expect(calls[2].ok).toBe(true);
    expect(guarded.getState()).toBe('closed');
    expect(guarded.counters().rejected).toBe(0);
  });

  it('a health probe serves as the trial that revives a node', async () => {
    await stopServer();
    for (let i = 0; i < 3; i++) await guarded.health();
    expect(guarded.getState()).toBe('open');
    expect((await guarded.health()).reason).toMatch(/circuit open/);
    await startServer();
    clock += 10_000;
    expect((await guarded.health()).ok).toBe(true);
    expect(guarded.getState()).toBe('closed');
  });

  it('counts auth failures, and a success resets the consecutive count', async () => {
    const wrong = new GuardedNode(
      new HttpNodeDriver({ name: 'w', url: `http://127.0.0.1:${port}`, secret: 'wrong', weight: 1, timeoutMs: 2_000 }),
      { failureThreshold: 2, coolDownMs: 1000, now: () => clock },
    );
    expect(await nodeErrorKind(wrong.stat(id(1)))).toBe('auth');
    expect(wrong.counters().consecutiveFailures).toBe(1);
    expect(await nodeErrorKind(wrong.stat(id(1)))).toBe('auth');
    expect(wrong.isHealthy()).toBe(false);
    await wrong.close();

    await stopServer();
    await guarded.stat(id(1)).catch(() => undefined);
    await guarded.stat(id(1)).catch(() => undefined);
    await startServer();
    await guarded.stat(id(1));
    expect(guarded.counters().consecutiveFailures).toBe(0);
    await stopServer();
    await guarded.stat(id(1)).catch(() => undefined);
    expect(guarded.getState()).toBe('closed');
  });

  it('counts a download that dies mid-body as a failure', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 1);
    await guarded.put(id(2), Readable.from([big]), big.length);
    const g1 = new GuardedNode(guarded.inner, { failureThreshold: 1, coolDownMs: 1000, now: () => clock });
    const stream = await g1.get(id(2));
    await new Promise((r) => stream.once('data', r));
    stream.pause();
    const failed = new Promise((r) => stream.once('error', r));
    await stopServer();
    stream.resume();
    await failed;
    expect(g1.getState()).toBe('open');
  });

  it('ignores caller aborts', async () => {
    const ac = new AbortController();
    ac.abort();
    for (let i = 0; i < 5; i++) await guarded.stat(id(1), ac.signal).catch(() => undefined);
    expect(guarded.counters()).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('wraps an fs node the same way', async () => {
    const fsNode = new GuardedNode(new FsNodeDriver({ path: path.join(dir, 'fs'), name: 'f' }), { now: () => clock });
    await fsNode.put(id(3), Readable.from([Buffer.from('x')]), 1);
    const listed = [];
    for await (const item of fsNode.list()) listed.push(item.handle);
    expect(listed).toEqual([id(3)]);
    expect(fsNode.isHealthy()).toBe(true);
  });
});
