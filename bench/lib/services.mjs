// Starts and stops what the benchmark measures: Ceph RGW (scripts/rgw-up.sh), six `tessera node` shard servers
// and the gateway, each a child process we own by pid. Also reads a process's CPU time and resident memory.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { clearInterval, setInterval } from 'node:timers';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/** Runs a command to completion; rejects with its stderr tail on a non-zero exit. */
export function run(cmd, args, { env = process.env, timeoutMs = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} exited ${code}: ${stderr.split('\n').slice(-15).join('\n')}`));
    });
  });
}

async function waitForPort(port, child, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before listening`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
    await sleep(100);
  }
}

async function stopChild(child, timeoutMs = 20_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------- RGW

/** Bluestore (data on disk) with an EC 2+1 data pool: the comparison point for PUT and the hot tier's backend. */
export async function startRgw(dir, { osdBytes = 48 * 2 ** 30 } = {}) {
  const port = await freePort();
  const accessKey = 'benchrgw';
  const secretKey = randomBytes(18).toString('base64url');
  const env = { ...process.env, RGW_EC: '2+1', RGW_STORE: 'bluestore', RGW_OSD_BYTES: String(osdBytes), RGW_ACCESS_KEY: accessKey, RGW_SECRET_KEY: secretKey };
  const up = await run('bash', [path.join(ROOT, 'scripts/rgw-up.sh'), dir, String(port)], { env });
  const endpoint = /^READY (\S+)$/m.exec(up.stdout)?.[1];
  if (!endpoint) throw new Error(`rgw-up.sh printed no READY line`);
  return { endpoint, accessKey, secretKey, dir, stop: () => run('bash', [path.join(ROOT, 'scripts/rgw-down.sh'), dir], { timeoutMs: 120_000 }) };
}

/** The Ceph daemons' pids (radosgw, OSDs, monitor), for CPU accounting of the RGW side. */
export function rgwPids(dir) {
  const runDir = path.join(dir, 'run');
  const pids = [];
  for (const f of ['rgw.pid', 'osd.0.pid', 'osd.1.pid', 'osd.2.pid', 'mon.a.pid']) {
    const p = path.join(runDir, f);
    if (existsSync(p)) pids.push(Number(readFileSync(p, 'utf8').trim()));
  }
  return pids.filter((p) => Number.isInteger(p) && p > 0);
}

// ---------------------------------------------------------------- tessera nodes

export class NodeFleet {
  constructor(baseDir, count = 6) {
    this.baseDir = baseDir;
    this.count = count;
    this.secret = randomBytes(24).toString('base64url');
    this.nodes = [];
  }

  async start() {
    for (let i = 0; i < this.count; i++) {
      const port = await freePort();
      this.nodes.push({ name: `n${i + 1}`, port, dir: path.join(this.baseDir, `n${i + 1}`), child: null });
    }
    await Promise.all(this.nodes.map((n) => this.startOne(n)));
  }

  async startOne(n) {
    mkdirSync(n.dir, { recursive: true });
    mkdirSync(this.baseDir, { recursive: true });
    // BENCH_NODE_DIST=DIR runs the nodes from another build too (A/B of a node server change); default dist/.
    const cli = process.env.BENCH_NODE_DIST ? path.join(path.resolve(process.env.BENCH_NODE_DIST), 'cli/main.js') : CLI;
    n.child = spawn(process.execPath, [cli, 'node', '--data', n.dir, '--port', String(n.port)], {
      env: { ...process.env, TESSERA_NODE_SECRET: this.secret },
      // Nodes log every start at info: keep that out of the report, in the work dir.
      stdio: ['ignore', 'ignore', openSync(path.join(this.baseDir, `${n.name}.log`), 'a')],
    });
    await waitForPort(n.port, n.child, `node ${n.name}`);
  }

  /** Stops `count` nodes (the last ones); returns a function that restarts them. */
  async stopSome(count) {
    const victims = this.nodes.slice(-count);
    await Promise.all(victims.map((n) => stopChild(n.child)));
    return () => Promise.all(victims.map((n) => this.startOne(n)));
  }

  config() {
    return this.nodes.map((n) => ({ name: n.name, kind: 'http', url: `http://127.0.0.1:${n.port}`, secret: this.secret }));
  }

  pids() {
    return this.nodes.map((n) => n.child?.pid).filter(Boolean);
  }

  stop() {
    return Promise.all(this.nodes.map((n) => stopChild(n.child)));
  }
}

// ---------------------------------------------------------------- gateway

export class Gateway {
  /** @param {{dir: string, rgw: object, nodes: NodeFleet, cpuProfDir?: string, env?: object}} o */
  constructor(o) {
    Object.assign(this, o);
    this.cli = o.dist ? path.join(o.dist, 'cli/main.js') : CLI;
    this.accessKey = 'benchgw';
    this.secretKey = randomBytes(18).toString('base64url');
    this.configFile = path.join(o.dir, 'tessera.yaml');
    this.child = null;
  }

  async writeConfig() {
    this.port ??= await freePort();
    const config = {
      dataDir: path.join(this.dir, 'data'),
      // bench/scale.mjs: another metadata store (PostgreSQL) or a local hot tier instead of the RGW one.
      ...(this.meta ? { meta: this.meta } : {}),
      server: { host: '127.0.0.1', port: this.port, region: 'us-east-1' },
      users: [{ accessKey: this.accessKey, secretKey: this.secretKey, buckets: { '*': 'admin' } }],
      keys: { masterKeys: [{ id: 'bench', key: (this.masterKey ??= randomBytes(32).toString('hex')) }] },
      // The local cache tier (on unless a row measures the remote hot tier alone); `hotBudget` for the epochs rows.
      cache: { local: this.localCache ?? { enabled: true, budget: '8GiB' } },
      hot: this.hot ?? {
        driver: 's3',
        budget: this.hotBudget ?? '200GiB',
        // full-read: a whole-object cold GET promotes (as with `always`), while ranged and abandoned reads leave the
        // object cold, so the cold scenarios measure the cold path every time.
        promote: 'full-read',
        s3: {
          // bench/lib/delay-proxy.mjs in front of RGW for the rows with a remote hot tier's latency.
          endpoint: this.hotEndpoint ?? this.rgw.endpoint,
          region: 'us-east-1',
          bucket: 'tessera-hot',
          forcePathStyle: true,
          credentials: { accessKeyId: this.rgw.accessKey, secretAccessKey: this.rgw.secretKey },
        },
      },
      cold: { gcGrace: '5s', nodes: this.nodes.config() },
      log: { level: 'warn' },
    };
    mkdirSync(this.dir, { recursive: true });
    // JSON is YAML; mode 600 because it holds secrets.
    writeFileSync(this.configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
    return config;
  }

  get endpoint() {
    return `http://127.0.0.1:${this.port}`;
  }

  target() {
    return { endpoint: this.endpoint, accessKey: this.accessKey, secretKey: this.secretKey };
  }

  async start() {
    await this.writeConfig();
    const nodeArgs = [];
    if (this.cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', this.cpuProfDir);
    const serveArgs = this.workers ? ['--workers', String(this.workers)] : [];
    this.child = spawn(process.execPath, [...nodeArgs, this.cli, 'serve', '--config', this.configFile, ...serveArgs], {
      env: { ...process.env, ...(this.env ?? {}) },
      // The log (pino, on stdout) and stderr both go to gateway.log: a failed trial shows the gateway's warnings.
      stdio: ['ignore', openSync(path.join(this.dir, 'gateway.log'), 'a'), openSync(path.join(this.dir, 'gateway.log'), 'a')],
    });
    await waitForPort(this.port, this.child, 'gateway');
    return this.child.pid;
  }

  /** The last lines of the gateway's log, attached to failed trials. */
  logTail(lines = 8) {
    try {
      return readFileSync(path.join(this.dir, 'gateway.log'), 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  get pid() {
    return this.child?.pid;
  }

  async stop() {
    await stopChild(this.child, 60_000);
    this.child = null;
  }

  /**
   * Wait until the gateway counts `count` healthy nodes (/metrics `tessera_node_healthy`): node processes that were
   * stopped and restarted stay out of placement until their circuit breaker's probe lets them back in, and a PUT in
   * that window is rightly answered 503.
   */
  async waitNodesHealthy(count, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    // The gauge also reads 1 while a circuit is half-open (its probe not yet answered): ask for three readings in a row.
    for (let streak = 0; streak < 3; ) {
      const text = await fetch(`http://127.0.0.1:${this.port}/metrics`).then((r) => r.text(), () => '');
      const healthy = [...text.matchAll(/^tessera_node_healthy\{[^}]*\} 1$/gm)].length;
      streak = healthy >= count ? streak + 1 : 0;
      if (Date.now() > deadline) throw new Error(`only ${healthy} of ${count} nodes healthy after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 750));
    }
  }

  /** Restart with other settings (`localCache`, `hotBudget`, `hotEndpoint`); undefined restores the default. */
  async reconfigure(changes) {
    await this.stop();
    Object.assign(this, changes);
    await this.start();
    await this.waitNodesHealthy(this.nodes.count);
  }

  /** The sum of a metric's samples on /metrics. */
  async metric(name) {
    const text = await fetch(`http://127.0.0.1:${this.port}/metrics`).then((r) => r.text());
    let n = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) n += Number(m[1]);
    return n;
  }

  /** `tessera evict BUCKET`: the next GETs read the cold tier. */
  evict(bucket) {
    return run(process.execPath, [this.cli, 'evict', bucket, '--config', this.configFile]);
  }

  /** `tessera warm BUCKET[/PREFIX]`: promote to the hot tier now. */
  warm(target) {
    return run(process.execPath, [this.cli, 'warm', target, '--config', this.configFile]);
  }
}

// ---------------------------------------------------------------- /proc accounting

const CLK_TCK = 100;

export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime
  } catch {
    return 0;
  }
}

function statusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples a process's RSS while a scenario runs. VmHWM is reset first (writing 5 to clear_refs, allowed for our
 * own children as root) so the peak belongs to this scenario; the sampled maximum is the fallback where it is not.
 */
export class ProcWatch {
  constructor(pid) {
    this.pid = pid;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      this.hwmReset = true;
    } catch {
      this.hwmReset = false;
    }
    this.cpu0 = cpuSeconds(pid);
    this.maxRssKb = statusKb(pid, 'VmRSS');
    this.timer = setInterval(() => {
      this.maxRssKb = Math.max(this.maxRssKb, statusKb(pid, 'VmRSS'));
    }, 100);
  }

  stop() {
    clearInterval(this.timer);
    const hwm = this.hwmReset ? statusKb(this.pid, 'VmHWM') : 0;
    return { cpuSeconds: cpuSeconds(this.pid) - this.cpu0, peakRssMB: Math.max(hwm, this.maxRssKb) / 1024 };
  }
}

export function cpuOf(pids) {
  return pids.reduce((s, p) => s + cpuSeconds(p), 0);
}
