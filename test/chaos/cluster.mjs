/**
 * Process harness for the chaos run: six `tessera node` processes behind fault proxies, the gateway, an optional RGW
 * hot tier (behind its own proxy, so "stop" is the proxy refusing connections), and the maintenance CLI.
 * Everything listens on 127.0.0.1; every wait is bounded.
 */
import { execFile, execFileSync, fork, spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { mkdirSync, writeFileSync, existsSync, rmSync, statfsSync, openSync, writeSync, closeSync, unlinkSync } from 'node:fs';

const execFileAsync = promisify(execFile);
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/cli/main.js');

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Spawns a process and resolves once `pattern` appears on stdout (or rejects after timeoutMs). */
function spawnUntil(args, env, pattern, timeoutMs, logFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = logFile ? openSync(logFile, 'a') : undefined;
    let out = '';
    let done = false;
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${pattern} from ${args.join(' ')}:\n${out.slice(-2000)}`)), timeoutMs);
    function finish(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        child.kill('SIGKILL');
        reject(err);
      } else resolve(child);
    }
    const onData = (d) => {
      if (log !== undefined) writeSync(log, d);
      if (!done) {
        out += d.toString();
        if (pattern.test(out)) finish();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, sig) => {
      if (log !== undefined) closeSync(log);
      finish(new Error(`${args.join(' ')} exited (${code ?? sig}) before ready:\n${out.slice(-2000)}`));
    });
  });
}

function waitExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

export class Cluster {
  /** @param {{ dir: string, hot: 'fs' | 'rgw', log: (s: string) => void, gateways?: number }} opts */
  constructor(opts) {
    this.dir = opts.dir;
    /** Gateway processes sharing one config (one store, the nodes, the hot tier), each on its own port. */
    this.gatewayCount = opts.gateways ?? 1;
    this.gateways = [];
    this.gatewayPorts = [];
    this.expectExit = new Set();
    this.hotKind = opts.hot;
    this.log = opts.log;
    this.nodes = [];
    this.nodeSecret = 'chaos-node-secret-' + Math.random().toString(36).slice(2);
    this.adminKey = { accessKeyId: 'chaos-admin', secretAccessKey: 'chaos-admin-secret-' + Math.random().toString(36).slice(2) };
    this.tmpfsMounted = false;
    this.pending = new Map();
    this.nextId = 1;
  }

  nodeName(i) {
    return `node${i + 1}`;
  }

  async start() {
    mkdirSync(this.dir, { recursive: true });
    this.proxyHost = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'proxy-host.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proxyHost.on('message', (msg) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.op === 'error') p.reject(new Error(msg.message));
      else p.resolve(msg);
    });
    const proxies = [];
    for (let i = 0; i < 6; i++) {
      const data = path.join(this.dir, 'nodes', this.nodeName(i));
      mkdirSync(data, { recursive: true });
      const node = { index: i, name: this.nodeName(i), data, port: await freePort(), proc: undefined, full: false };
      this.nodes.push(node);
      proxies.push({ name: node.name, upstreamPort: node.port });
    }
    this.mountFullDiskNode(this.nodes[5]);
    if (this.hotKind === 'rgw') {
      this.rgw = await this.startRgw();
      proxies.push({ name: 'hot', upstreamPort: this.rgw.port });
    }
    const { ports } = await this.ipc({ op: 'start', proxies });
    for (const n of this.nodes) n.proxyPort = ports[n.name];
    if (this.rgw) this.rgw.proxyPort = ports.hot;
    await Promise.all(this.nodes.map((n) => this.startNode(n)));
    for (let i = 0; i < this.gatewayCount; i++) this.gatewayPorts.push(await freePort());
    this.gatewayPort = this.gatewayPorts[0];
    this.configFile = path.join(this.dir, 'tessera.yaml');
    writeFileSync(this.configFile, this.configYaml());
    // One after the other: the first start creates the store's schema.
    for (let i = 0; i < this.gatewayCount; i++) await this.startGateway(i);
  }

  ipc(msg) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`proxy host did not answer ${msg.op}`));
      }, 10_000);
      this.pending.set(id, {
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.proxyHost.send({ ...msg, id });
    });
  }

  setProxyMode(name, mode, delayMs) {
    return this.ipc({ op: 'mode', name, mode, delayMs });
  }

  async proxyStats() {
    return (await this.ipc({ op: 'stats' })).stats;
  }

  /** Node 6 keeps its shards on a small tmpfs so that "disk full" is a real ENOSPC (a 507 proxy when mount fails). */
  mountFullDiskNode(node) {
    if (process.getuid?.() !== 0) return;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1536m', 'tmpfs', node.data], { stdio: 'ignore' });
      this.tmpfsMounted = true;
      node.tmpfs = true;
    } catch {
      this.tmpfsMounted = false;
    }
  }

  /**
   * Fills the tmpfs node's disk up to ENOSPC: fallocate (instant, off the event loop) for the bulk, then small writes
   * for the tail, so even a tiny shard cannot be stored. `unfillDisk` frees it.
   */
  async fillDisk(node) {
    const filler = path.join(node.data, '.chaos-filler');
    const tail = path.join(node.data, '.chaos-filler-tail');
    const { bavail, bsize } = statfsSync(node.data);
    await execFileAsync('fallocate', ['-l', String(Math.max(bsize, (bavail - 16) * bsize)), filler]).catch(() => undefined);
    const fh = await open(tail, 'w');
    try {
      const block = Buffer.alloc(4096, 0xee);
      for (let i = 0; i < 10_000; i++) await fh.write(block);
    } catch (err) {
      if (err.code !== 'ENOSPC') throw err;
    } finally {
      await fh.close().catch(() => undefined);
    }
    const after = statfsSync(node.data);
    return after.bavail * after.bsize;
  }

  unfillDisk(node) {
    for (const name of ['.chaos-filler', '.chaos-filler-tail']) {
      const file = path.join(node.data, name);
      if (existsSync(file)) unlinkSync(file);
    }
  }

  async startNode(node) {
    node.proc = await spawnUntil(
      [CLI, 'node', '--data', node.data, '--port', String(node.port)],
      { TESSERA_NODE_SECRET: this.nodeSecret },
      /listening/,
      20_000,
      path.join(this.dir, `${node.name}.log`),
    );
  }

  async killNode(node) {
    node.proc.kill('SIGKILL');
    await waitExit(node.proc, 5_000);
  }

  async startRgw() {
    const dir = path.join(this.dir, 'rgw');
    const port = await freePort();
    const env = { ...process.env, RGW_ACCESS_KEY: 'chaoshot', RGW_SECRET_KEY: 'chaoshot-secret-' + Math.random().toString(36).slice(2) };
    const t0 = Date.now();
    const out = await new Promise((resolve, reject) => {
      const child = spawn('bash', [path.join(ROOT, 'scripts/rgw-up.sh'), dir, String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const t = setTimeout(() => child.kill('SIGTERM'), 300_000);
      child.once('close', (code) => {
        clearTimeout(t);
        if (code === 0 && /^READY /m.test(stdout)) resolve(stdout);
        else reject(new Error(`rgw-up.sh failed (${code}): ${stderr.slice(-1500)}`));
      });
    });
    this.log(`RGW up on 127.0.0.1:${port} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    void out;
    const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: env.RGW_ACCESS_KEY, secretAccessKey: env.RGW_SECRET_KEY },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new CreateBucketCommand({ Bucket: 'chaos-hot' }));
    client.destroy();
    return { dir, port, accessKey: env.RGW_ACCESS_KEY, secretKey: env.RGW_SECRET_KEY };
  }

  configYaml() {
    const nodes = this.nodes
      .map((n) => `    - { name: ${n.name}, kind: http, url: "http://127.0.0.1:${n.proxyPort}", secret: "${this.nodeSecret}", timeout: 4s }`)
      .join('\n');
    const hot =
      this.hotKind === 'rgw'
        ? `hot:
  driver: s3
  budget: 256MiB
  promote: always
  writeThrough: true
  s3:
    endpoint: "http://127.0.0.1:${this.rgw.proxyPort}"
    region: us-east-1
    bucket: chaos-hot
    prefix: hot/
    forcePathStyle: true
    credentials: { accessKeyId: "${this.rgw.accessKey}", secretAccessKey: "${this.rgw.secretKey}" }
    timeout: 4s
    maxAttempts: 2`
        : `hot:
  driver: fs
  budget: 256MiB
  promote: always
  writeThrough: true`;
    return `# generated by test/chaos/run.mjs
dataDir: "${this.dir}/gateway"
server:
  host: 127.0.0.1
  port: ${this.gatewayPort}
  maxConcurrentRequests: 256
users:
  - accessKey: ${this.adminKey.accessKeyId}
    secretKey: "${this.adminKey.secretAccessKey}"
    buckets: { "*": admin }
keys:
  masterKeys:
    - { id: chaos, key: "${Buffer.alloc(32, 7).toString('base64')}" }
${hot}
cold:
  k: 4
  m: 2
  segmentSize: 8MiB
  chunkSize: 256KiB
  writeQuorum: 5
  hedgeAfter: 1500ms
  gcGrace: 2s
  repair: { interval: 10s, maxBytesPerSecond: 256MiB }
  nodes:
${nodes}
log:
  level: info
${process.env.CHAOS_META_YAML ?? ''}
`;
  }

  get gatewayUrl() {
    return `http://127.0.0.1:${this.gatewayPort}`;
  }

  get gatewayUrls() {
    return this.gatewayPorts.map((port) => `http://127.0.0.1:${port}`);
  }

  /** The first gateway (the only one unless --gateways). */
  get gateway() {
    return this.gateways[0];
  }

  gatewayLogFile(i) {
    return path.join(this.dir, i === 0 ? 'gateway.log' : `gateway${i + 1}.log`);
  }

  /** Starts gateway i (all of them without an argument). */
  async startGateway(i) {
    if (i === undefined) {
      for (let g = 0; g < this.gatewayCount; g++) if (!this.gateways[g] || this.gateways[g].exitCode !== null || this.gateways[g].signalCode !== null) await this.startGateway(g);
      return;
    }
    const child = await spawnUntil(
      [CLI, 'serve', '--config', this.configFile],
      { NODE_OPTIONS: '--trace-warnings', TESSERA_PORT: String(this.gatewayPorts[i]) },
      /Tessera is listening on/,
      60_000,
      this.gatewayLogFile(i),
    );
    this.gateways[i] = child;
    child.once('exit', (code, sig) => {
      if (this.expectExit.has(child)) return;
      // Counted as a failed check; restarted so the rest of the run still measures something.
      this.unexpectedGatewayExit = true;
      this.log(`!! gateway ${i + 1} exited unexpectedly (${code ?? sig}); see ${this.gatewayLogFile(i)}; restarting`);
      setTimeout(() => void this.startGateway(i).catch((err) => this.log(`gateway restart failed: ${err.message}`)), 1_000);
    });
  }

  async killGateway(i = 0) {
    const child = this.gateways[i];
    this.expectExit.add(child);
    child.kill('SIGKILL');
    await waitExit(child, 5_000);
  }

  /** SIGTERM to gateway i (all of them without an argument); waits for the exit. */
  async stopGateway(i) {
    if (i === undefined) {
      await Promise.all(this.gateways.map((_, g) => this.stopGateway(g)));
      return;
    }
    const child = this.gateways[i];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectExit.add(child);
    child.kill('SIGTERM');
    await waitExit(child, 30_000);
  }

  /** Runs a maintenance command to completion (bounded); returns exit code and output. */
  runCli(args, timeoutMs = 300_000) {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args, '--config', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('close', (code, sig) => {
        clearTimeout(t);
        resolve({ code: code ?? sig, out });
      });
    });
  }

  async stop() {
    await this.stopGateway().catch(() => undefined);
    for (const n of this.nodes) if (n.proc && n.proc.exitCode === null) {
      n.proc.kill('SIGTERM');
      await waitExit(n.proc, 5_000);
    }
    if (this.proxyHost?.connected) {
      await this.ipc({ op: 'close' }).catch(() => undefined);
    }
    if (this.rgw) {
      await new Promise((resolve) => {
        const c = spawn('bash', [path.join(ROOT, 'scripts/rgw-down.sh'), this.rgw.dir], { stdio: 'ignore' });
        const t = setTimeout(() => c.kill('SIGKILL'), 120_000);
        c.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    for (const n of this.nodes) if (n.tmpfs) {
      try {
        execFileSync('umount', [n.data], { stdio: 'ignore' });
      } catch {
        /* busy: leave it, the dir is reported below */
      }
    }
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
