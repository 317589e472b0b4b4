/**
 * End-to-end harness: a real Tessera deployment made of separate OS processes on 127.0.0.1 — N `tessera node` shard
 * servers and one `tessera serve` gateway with a generated YAML config — plus the tools acceptance tests need:
 * stop/kill/restart of any process, the maintenance CLI, an S3 client, Prometheus metrics, on-disk inspection.
 *
 * It runs the BUILT program (dist/cli/main.js), exactly what an operator runs: build first with
 * `npx tsc -p tsconfig.build.json` (`npm test` does).
 *
 *   const cluster = await startCluster({ nodes: 6, cold: { k: 4, m: 2, segmentSize: '1MiB', chunkSize: '64KiB' } });
 *   try {
 *     const s3 = cluster.s3();                                  // admin, path-style, us-east-1, no retries
 *     await s3.send(new CreateBucketCommand({ Bucket: 'b' }));
 *     await putPattern(s3, 'b', 'k', 'seed', 200_000_000);      // streamed, deterministic bytes
 *     const r = await cluster.cli(['evict', 'b']);              // --config is added; r.code, r.stdout, r.stderr
 *     await cluster.nodes[0]?.stop();                           // SIGTERM, waits for the exit
 *     await cluster.gateway.kill();                             // SIGKILL
 *     await cluster.gateway.start();                            // same port, same config
 *     expect(await getDigest(s3, 'b', 'k')).toEqual(await patternDigest('seed', 0, 200_000_000));
 *     const n = await cluster.metric('tessera_cold_reconstructions_total', { });   // label filter optional
 *   } finally {
 *     await cluster.stop();                                     // every process, then the temp dir
 *   }
 *
 * Nodes are http nodes named node1..nodeN (extra s3/iagon entries via `extraNodes`); each keeps its port across
 * restarts, so the gateway's config stays valid. A node stores shard <handle> at node.shardPath(handle); the
 * gateway's SQLite file is cluster.metaDbFile, its local hot tier cluster.hotDir. The master key is inline in the
 * config (not in the data dir), so deleting the data dir's meta/ and running recover-index is a real disaster drill.
 *
 * Every process is also SIGKILLed when the test process exits, so a failing or interrupted test leaves nothing running.
 * Set TESSERA_E2E_KEEP=1 to keep the temp dir (configs, node data, logs) for a post-mortem.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { walkFiles } from './files.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI. */
export const CLI = path.join(ROOT, 'dist/cli/main.js');

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
/** Bytes of each process's output kept in memory for error messages (the full log is in the cluster dir). */
const LOG_TAIL_BYTES = 16 * 1024;

export const ADMIN = { accessKey: 'e2e-admin', secretKey: 'e2e-admin-secret-0123456789abcdef' } as const;

// ------------------------------------------------------------------------------------------------ process lifecycle

/** Children still alive; SIGKILLed synchronously on exit so nothing outlives a crashed test worker. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/**
 * The test's environment minus TESSERA_* variables: they override the config file (port, data dir, master key,
 * credentials), and a developer's shell exporting one must not change what the tests run.
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_')));
}

export interface ProcessSpec {
  /** Shown in errors. */
  name: string;
  /** Log file (appended to across restarts). */
  logFile: string;
  /** Matches the line that says the process is ready; group 1 is its URL. */
  readyLine: RegExp;
}

/**
 * One long-running child (node or gateway). start() waits for its ready line; stop()/kill() wait for it to exit.
 * After the first start the process is pinned to the port it got, so restarts keep the same URL.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private tail = '';
  private log: WriteStream | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  /** Set while the harness itself is stopping the child, so an exit at any other time can be called a crash. */
  private stopping = false;
  /** Exits nobody asked for (a crash), e.g. "gateway exited with code 1": a test can assert this stays empty. */
  readonly crashes: string[] = [];
  /** The URL from the ready line of the first start (kept across restarts). */
  url = '';
  /** The gateway's console URL from its banner (the console has a listener of its own), '' when it has none. */
  consoleUrl = '';

  constructor(
    private readonly spec: ProcessSpec,
    /** CLI arguments and extra environment of a start; `port` is the first start's port (undefined the first time). */
    private readonly launch: (port: number | undefined) => { args: string[]; env?: NodeJS.ProcessEnv },
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** The last few KiB of stdout+stderr (across restarts). */
  output(): string {
    return this.tail;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const port = this.url ? Number(new URL(this.url).port) : undefined;
    this.log ??= createWriteStream(this.spec.logFile, { flags: 'a' });
    const { args, env } = this.launch(port);
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...inheritedEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    this.child = child;
    this.stopping = false;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.stopping) {
          const what = `${this.name} exited unexpectedly (code ${code}, signal ${signal})`;
          this.crashes.push(what);
          // Visible in the test output even when the failing assertion is only a "socket hang up" somewhere else.
          process.stderr.write(`[cluster] ${what}; last output:\n${this.tail.slice(-4000)}\n`);
        }
        resolve(code);
      }),
    );
    const keep = (d: Buffer): void => {
      this.log?.write(d);
      this.tail = (this.tail + d.toString('utf8')).slice(-LOG_TAIL_BYTES);
    };
    child.stderr?.on('data', keep);
    const url = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => fail(new Error(`${this.name} did not become ready within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const onData = (d: Buffer): void => {
        keep(d);
        buffered += d.toString('utf8');
        const m = this.spec.readyLine.exec(buffered);
        if (m?.[1]) {
          this.consoleUrl = /^ {2}console: +(\S+)/m.exec(buffered)?.[1] ?? '';
          cleanup();
          resolve(m[1]);
        }
      };
      const onExit = (code: number | null, signal: string | null): void => fail(new Error(`${this.name} exited before it was ready (code ${code}, signal ${signal})`));
      const cleanup = (): void => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        child.stdout?.on('data', keep);
      };
      const fail = (err: Error): void => {
        cleanup();
        this.stopping = true;
        child.kill('SIGKILL');
        reject(new Error(`${err.message}\n--- ${this.name} output ---\n${this.tail}`));
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
    });
    if (this.url && url !== this.url) throw new Error(`${this.name} restarted on ${url}, expected ${this.url}`);
    this.url = url;
  }

  /** SIGTERM (graceful) and wait for the exit; SIGKILL if it does not exit in time. Resolves with the exit code. */
  async stop(): Promise<number | null> {
    return this.signal('SIGTERM');
  }

  /** SIGKILL (a crash) and wait until the process is gone. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private async signal(sig: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    if (!child || !this.running) return child?.exitCode ?? null;
    this.stopping = true;
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stop (if running) and close the log file. */
  async dispose(): Promise<void> {
    await this.signal('SIGTERM');
    await new Promise<void>((resolve) => (this.log ? this.log.end(resolve) : resolve()));
    this.log = undefined;
  }
}

// ------------------------------------------------------------------------------------------------ cluster

/** One storage node as the gateway's config names it (YAML object, written as-is into cold.nodes). */
export type NodeEntry = Record<string, unknown> & { name: string; kind: string };

export interface ClusterOptions {
  /** `tessera node` processes to start (default 6), named node1..nodeN, each with its own --data dir. */
  nodes?: number;
  /** Extra cold.nodes entries (e.g. kind s3) appended after the http nodes. */
  extraNodes?: NodeEntry[];
  /** Merged into the `cold` section (k, m, segmentSize, chunkSize, gcGrace, repair, ...). */
  cold?: Record<string, unknown>;
  /** The `hot` section (default: fs under the gateway's data dir, encrypted). */
  hot?: Record<string, unknown>;
  /** Gateway log level (default warn). */
  logLevel?: string;
  /** The `meta` section (default: SQLite in the data dir), e.g. { driver: 'postgres', postgres: { url } }. */
  meta?: Record<string, unknown>;
  /** Start the gateway (default true); when false, call `cluster.gateway.start()` before using url/s3()/metric(). */
  startGateway?: boolean;
  /**
   * Gateway processes sharing one config, so one metadata store, the nodes and the hot tier (default 1); each has
   * its own port. `gateway` is the first; all are in `gateways`.
   */
  gateways?: number;
  /** The gateway's `console` section (none by default: no console listener), e.g. { port: 0 }. */
  console?: Record<string, unknown>;
  /** Users besides the admin, as the config's `users` entries. */
  extraUsers?: Array<{ accessKey: string; secretKey: string; buckets: Record<string, string> }>;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Cluster {
  /** Temp dir holding everything: gateway/ (dataDir), nodes/nodeN/, logs/, tessera.yaml. */
  readonly dir: string;
  readonly configFile: string;
  /** The gateway's dataDir (meta/tessera.db, hot/). */
  readonly dataDir: string;
  readonly hotDir: string;
  readonly metaDbFile: string;
  readonly nodes: readonly StorageNode[];
  readonly gateway: ManagedProcess;
  /** Every gateway process (options.gateways); gateways[0] is `gateway`. */
  readonly gateways: readonly ManagedProcess[];
  /** An S3 client for gateway i (as s3()). */
  s3At(i: number): S3Client;
  /** The gateway's URL (stable across restarts). */
  readonly url: string;
  /** A new S3 client for the gateway, as the admin user; path-style, us-east-1, no retries (errors surface as-is). */
  s3(): S3Client;
  /** Runs `tessera <args> --config <file>` to completion. */
  cli(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** Sum of every series of a Prometheus metric whose labels include `labels` (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Every file under every node's data dir (absolute paths), shards and record copies alike. */
  nodeFiles(): Promise<NodeFile[]>;
  /** Stops every process (gateway first), destroys clients, removes the temp dir unless TESSERA_E2E_KEEP=1. */
  stop(): Promise<void>;
}

export interface StorageNode extends ManagedProcess {
  /** The node's --data dir. */
  readonly dataDir: string;
  /** Path of the file holding the shard with this handle (the node stores <dataDir>/<id[0..2]>/<id>). */
  shardPath(handle: string): string;
}

export interface NodeFile {
  node: string;
  path: string;
  size: number;
}

/** Starts the nodes, writes the config, starts the gateway. On any failure, whatever was started is stopped. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.build.json)`);
  const dir = await mkdtemp(path.join(tmpdir(), 'tessera-e2e-'));
  const logs = path.join(dir, 'logs');
  await mkdir(logs);
  const dataDir = path.join(dir, 'gateway');
  const configFile = path.join(dir, 'tessera.yaml');
  const clients: S3Client[] = [];
  const nodes: StorageNode[] = [];
  let gateway: ManagedProcess | undefined;
  const gateways: ManagedProcess[] = [];
  const stopAll = async (): Promise<void> => {
    for (const c of clients.splice(0)) c.destroy();
    await Promise.all(gateways.map((g) => g.dispose()));
    await Promise.all(nodes.map((n) => n.dispose()));
    if (process.env.TESSERA_E2E_KEEP !== '1') await rm(dir, { recursive: true, force: true });
    else process.stderr.write(`cluster kept in ${dir}\n`);
  };

  try {
    const count = opts.nodes ?? 6;
    for (let i = 1; i <= count; i++) nodes.push(await startNode(`node${i}`, path.join(dir, 'nodes', `node${i}`), logs));

    const nodeEntries: NodeEntry[] = nodes.map((n) => ({ name: n.name, kind: 'http', url: n.url, secret: nodeSecret(n.name) }));
    const config = {
      dataDir,
      server: { host: '127.0.0.1', port: 0, region: 'us-east-1' },
      users: [{ accessKey: ADMIN.accessKey, secretKey: ADMIN.secretKey, buckets: { '*': 'admin' } }, ...(opts.extraUsers ?? [])],
      // Inline and outside the data dir: recover-index after losing the metadata store needs only config + nodes.
      keys: { masterKeys: [{ id: 'e2e', key: randomBytes(32).toString('base64') }] },
      hot: opts.hot ?? { driver: 'fs', encrypt: true, budget: '4GiB' },
      ...(opts.meta !== undefined ? { meta: opts.meta } : {}),
      cold: { k: 4, m: 2, ...opts.cold, nodes: [...nodeEntries, ...(opts.extraNodes ?? [])] },
      ...(opts.console !== undefined ? { console: opts.console } : {}),
      log: { level: opts.logLevel ?? 'warn' },
    };
    await writeFile(configFile, stringify(config), { mode: 0o600 });

    // TESSERA_PORT overrides server.port: a restarted gateway answers on the URL its clients already use.
    for (let i = 0; i < (opts.gateways ?? 1); i++) {
      const name = i === 0 ? 'gateway' : `gateway${i + 1}`;
      gateways.push(
        new ManagedProcess({ name, logFile: path.join(logs, `${name}.log`), readyLine: /Tessera is listening on (\S+)/ }, (port) => ({
          args: ['serve', '--config', configFile],
          env: { TESSERA_PORT: String(port ?? 0) },
        })),
      );
    }
    gateway = gateways[0]!;
    // One after the other: the first start creates the store's schema.
    if (opts.startGateway !== false) for (const g of gateways) await g.start();
  } catch (err) {
    await stopAll();
    throw err;
  }

  const gatewayRef = gateway;
  return {
    dir,
    configFile,
    dataDir,
    hotDir: path.join(dataDir, 'hot'),
    metaDbFile: path.join(dataDir, 'meta', 'tessera.db'),
    nodes,
    gateway: gatewayRef,
    gateways,
    s3At(i: number) {
      const g = gateways[i];
      if (!g) throw new Error(`no gateway ${i}`);
      const c = s3Client(g.url, { accessKeyId: ADMIN.accessKey, secretAccessKey: ADMIN.secretKey });
      clients.push(c);
      return c;
    },
    get url() {
      return gatewayRef.url;
    },
    s3() {
      const c = s3Client(gatewayRef.url, { accessKeyId: ADMIN.accessKey, secretAccessKey: ADMIN.secretKey });
      clients.push(c);
      return c;
    },
    cli: (args, timeoutMs) => runCli([...args, '--config', configFile], timeoutMs),
    metric: async (name, labels) => parseMetric(await fetchText(`${gatewayRef.url}/metrics`), name, labels),
    nodeFiles: () => listNodeFiles(nodes),
    stop: stopAll,
  };
}

export function nodeSecret(name: string): string {
  return `e2e-secret-${name}-0123456789abcdef`;
}

async function startNode(name: string, dataDir: string, logs: string): Promise<StorageNode> {
  await mkdir(dataDir, { recursive: true });
  const proc = new ManagedProcess(
    { name, logFile: path.join(logs, `${name}.log`), readyLine: /listening on (\S+)/ },
    (port) => ({ args: ['node', '--data', dataDir, '--host', '127.0.0.1', '--port', String(port ?? 0)], env: { TESSERA_NODE_SECRET: nodeSecret(name) } }),
  );
  const node = Object.assign(proc, {
    dataDir,
    shardPath: (handle: string) => path.join(dataDir, handle.slice(0, 2), handle),
  });
  await node.start();
  return node;
}

// ------------------------------------------------------------------------------------------------ tools

/** An S3 client with the settings every test wants: path-style, us-east-1, one attempt (no hidden retries). */
export function s3Client(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
    // Ceph RGW 16 cannot parse aws-chunked bodies with trailing checksums; harmless against Tessera.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Runs the built CLI to completion (stdin closed). */
export function runCli(args: string[], timeoutMs = 300_000, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...inheritedEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

/** Sums the samples of `name` (exact metric name, no _bucket/_sum suffix matching) whose labels include `labels`. */
export function parseMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(l[1] ?? '', l[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[4]);
  }
  return sum;
}

/** Regular files under each node's data dir, recursively (temp files of uploads in progress included). */
export async function listNodeFiles(nodes: readonly StorageNode[]): Promise<NodeFile[]> {
  const out: NodeFile[] = [];
  for (const n of nodes) {
    for (const p of await walkFiles(n.dataDir)) {
      // A node renames or removes files while we look (temp file -> shard, deletes): skip what vanished.
      const size = await stat(p).then(
        (s) => s.size,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        },
      );
      if (size !== undefined) out.push({ node: n.name, path: p, size });
    }
  }
  return out;
}

/** Files under `roots` whose bytes contain `needle` (whole-file read: meant for test-sized data). */
export async function filesContaining(roots: string[], needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const root of roots) {
    for (const f of await walkFiles(root)) {
      if ((await readFile(f)).includes(needle)) hits.push(f);
    }
  }
  return hits;
}

// ------------------------------------------------------------------------------------------------ test data

/**
 * Deterministic pseudo-random bytes of any size without holding them: the AES-256-CTR keystream of `seed`, so any
 * range [offset, offset+length) can be regenerated on its own to check a ranged GET.
 */
export function pattern(seed: string, offset: number, length: number): Readable {
  const key = createHash('sha256').update(seed).digest();
  const block = Math.floor(offset / 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(block), 8);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  let skip = offset % 16;
  let left = length;
  const zeros = Buffer.alloc(1 << 20);
  return new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(zeros.length, left + skip);
      let out = cipher.update(zeros.subarray(0, n));
      if (skip > 0) {
        out = out.subarray(skip);
        skip = 0;
      }
      left -= out.length;
      this.push(out);
    },
  });
}

/** sha256 (hex) and byte count of a stream. */
export async function digest(stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ sha256: string; length: number }> {
  const h = createHash('sha256');
  let length = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    length += chunk.length;
  }
  return { sha256: h.digest('hex'), length };
}

/** What `pattern(seed, offset, length)` hashes to. */
export function patternDigest(seed: string, offset: number, length: number): Promise<{ sha256: string; length: number }> {
  return digest(pattern(seed, offset, length));
}

// ------------------------------------------------------------------------------------------------ S3 shortcuts

/** PUT `size` bytes of `pattern(seed)` as one streamed PutObject (never held in memory). */
export async function putPattern(s3: S3Client, bucket: string, key: string, seed: string, size: number, metadata?: Record<string, string>): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: pattern(seed, 0, size), ContentLength: size, ...(metadata ? { Metadata: metadata } : {}) }));
}

/**
 * GET an object (or a byte range) and hash the body as it streams. A failure keeps its S3 error name (err.name is
 * the S3 code, e.g. ServiceUnavailable) and gets the key and range prepended to its message.
 */
export async function getDigest(s3: S3Client, bucket: string, key: string, range?: { offset: number; length: number }): Promise<{ sha256: string; length: number }> {
  try {
    const res = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}) }),
    );
    return await digest((res.Body as AsyncIterable<Uint8Array> | undefined) ?? []);
  } catch (err) {
    if (err instanceof Error) err.message = `GET ${bucket}/${key}${range ? ` bytes ${range.offset}+${range.length}` : ''}: ${err.message}`;
    throw err;
  }
}

/** The HTTP status of a failed SDK call (undefined for network errors or success). */
export function httpStatusOf(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The object reads back exactly (sha256 of the pattern), whole and over every edge range of its segments. */
export async function expectExact(s3: S3Client, bucket: string, obj: { key: string; seed: string; size: number }, segmentSize: number): Promise<void> {
  expect(await getDigest(s3, bucket, obj.key), `${obj.key} whole`).toEqual(await patternDigest(obj.seed, 0, obj.size));
  for (const range of edgeRanges(obj.size, segmentSize)) {
    expect(await getDigest(s3, bucket, obj.key, range), `${obj.key} bytes ${range.offset}+${range.length}`).toEqual(await patternDigest(obj.seed, range.offset, range.length));
  }
}

/**
 * Byte ranges worth checking for an object of `size` stored in `segmentSize` segments: first and last byte, a
 * multi-MiB middle slice, a window across the first segment boundary, a whole segment's worth starting mid-segment.
 */
export function edgeRanges(size: number, segmentSize: number): Array<{ offset: number; length: number }> {
  if (size === 0) return [];
  const third = Math.floor(size / 3);
  const ranges = [
    { offset: 0, length: 1 },
    { offset: size - 1, length: 1 },
    { offset: third, length: Math.min(size - third, 3 * 2 ** 20 + 17) },
  ];
  if (size > segmentSize + 100) ranges.push({ offset: segmentSize - 100, length: 200 });
  if (size > 3 * segmentSize) ranges.push({ offset: 2 * segmentSize + 5, length: segmentSize });
  return ranges;
}
