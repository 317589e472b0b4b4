#!/usr/bin/env node
// Conformance matrix: starts a Tessera gateway (embedded default + baseDomain "localhost"), installs missing
// clients (apt for Debian-packaged ones, pip into a virtual environment of its own for Python ones, see VENV), runs
// every client suite against it (conformance/suites/*), once with every object warm (hot tier) and once with every
// object evicted (cold reconstruction), and prints client x operation with PASS/FAIL per mode.
// Ends with exactly `N passed, M failed` and exits non-zero when any cell failed.
//
//   npm run conformance                      # everything, both modes
//   node conformance/run.mjs --only boto3,s3cmd --modes warm
//   CONF_KEEP=1 ...                          # keep the temp dir (gateway logs, data) for a post-mortem
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const SUITES = path.join(HERE, 'suites');
const GIB = 1024 * 1024 * 1024;
const SUITE_TIMEOUT_MS = 12 * 60 * 1000;

/**
 * The Python clients are installed into a virtual environment of the conformance run's own, never into the machine's
 * interpreter: installing torch there once brought a setuptools without pkg_resources and broke other Python tools.
 * The venv sees the system's site-packages (read only), so what the machine already has (boto3, aws-cli v1) is used
 * as it is, and only what is missing gets installed, into the venv.
 */
const VENV = process.env.CONF_VENV ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'tessera', 'conformance-venv');
const PY = { exe: path.join(VENV, 'bin', 'python'), bin: path.join(VENV, 'bin') };
/** What every Python suite imports (conf_common's client and checks). */
const PY_BASE = { module: 'boto3', pkg: 'boto3' };
/** Child processes to stop if we are interrupted: suites (own process groups) and gateways. */
const live = new Set();
const args = parseArgs(process.argv.slice(2));

/** Every client suite: name, command, and what it needs installed. */
function suiteTable() {
  const awsV1 = path.join(PY.bin, 'aws-v1');
  return [
    { client: 'aws-cli-v2', cmd: [PY.exe, path.join(SUITES, 'awscli.py'), 'aws-cli-v2', '/usr/bin/aws'], apt: { bin: '/usr/bin/aws', pkg: 'awscli' } },
    { client: 'aws-cli-v1', cmd: [PY.exe, path.join(SUITES, 'awscli.py'), 'aws-cli-v1', awsV1], pip: { module: 'awscli', pkg: 'awscli' } },
    { client: 'boto3', cmd: [PY.exe, path.join(SUITES, 'boto3_suite.py')] },
    { client: 's3cmd', cmd: [PY.exe, path.join(SUITES, 's3cmd_suite.py')], apt: { bin: '/usr/bin/s3cmd', pkg: 's3cmd' } },
    { client: 'rclone', cmd: [PY.exe, path.join(SUITES, 'rclone_suite.py')], apt: { bin: '/usr/bin/rclone', pkg: 'rclone' } },
    { client: 's3fs', cmd: [PY.exe, path.join(SUITES, 's3fs_suite.py')], apt: { bin: '/usr/bin/s3fs', pkg: 's3fs' } },
    { client: 'pyarrow', cmd: [PY.exe, path.join(SUITES, 'pyarrow_suite.py')], pip: { module: 'pyarrow', pkg: 'pyarrow' } },
    { client: 'polars', cmd: [PY.exe, path.join(SUITES, 'polars_suite.py')], pip: { module: 'polars', pkg: 'polars' } },
    { client: 'sdk-js-v3', cmd: [process.execPath, path.join(SUITES, 'sdk-js.mjs')] },
    { client: 'sharing', cmd: [PY.exe, path.join(SUITES, 'sharing_suite.py')] },
    { client: 'versioning', cmd: [PY.exe, path.join(SUITES, 'versioning_suite.py')], apt: { bin: '/usr/bin/aws', pkg: 'awscli' } },
    { client: 'public-dataset', cmd: [PY.exe, path.join(SUITES, 'public_dataset_suite.py')], apt: { bin: '/usr/bin/aws', pkg: 'awscli' } },
    { client: 'training', cmd: [PY.exe, path.join(SUITES, 'training_suite.py')], pip: { module: 'torch', pkg: 'torch' } },
    { client: 'object-lock', cmd: [PY.exe, path.join(SUITES, 'object_lock_suite.py')], apt: { bin: '/usr/bin/aws', pkg: 'awscli' } },
    { client: 'snapshot-training', cmd: [PY.exe, path.join(SUITES, 'snapshot_suite.py')], apt: { bin: '/usr/bin/aws', pkg: 'awscli' }, pip: { module: 'torch', pkg: 'torch' } },
  ].filter((s) => !args.only || args.only.includes(s.client));
}

function parseArgs(argv) {
  const out = { only: undefined, modes: ['warm', 'evicted'] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') out.only = argv[++i].split(',');
    else if (argv[i] === '--modes') out.modes = argv[++i].split(',');
    else {
      process.stderr.write(`usage: node conformance/run.mjs [--only client,...] [--modes warm,evicted]\n`);
      process.exit(2);
    }
  }
  return out;
}

/** Creates the venv when missing (python3 -m venv: the python3 on PATH is only read, never installed into). */
function ensureVenv() {
  if (existsSync(PY.exe)) return undefined;
  log(`creating the Python virtual environment ${VENV}`);
  mkdirSync(path.dirname(VENV), { recursive: true });
  const r = spawnSync('python3', ['-m', 'venv', '--system-site-packages', VENV], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(PY.exe)) return `python3 -m venv ${VENV} failed: ${(r.stderr ?? '').trim().slice(-200)}`;
  return undefined;
}

/** aws-cli v1 through the venv's interpreter, wherever its package is (venv or system site-packages). */
function awsV1Wrapper() {
  const file = path.join(PY.bin, 'aws-v1');
  writeFileSync(file, `#!/bin/sh\nexec '${PY.exe}' -m awscli "$@"\n`, { mode: 0o755 });
}

/** pip-installs `pkg` into the venv unless `module` imports there already; an error message, or undefined. */
function pipInstall({ module, pkg }) {
  if (spawnSync(PY.exe, ['-c', `import ${module}`]).status === 0) return undefined;
  log(`installing with pip into ${VENV}: ${pkg}`);
  const r = spawnSync(PY.exe, ['-m', 'pip', 'install', '-q', pkg], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0 || spawnSync(PY.exe, ['-c', `import ${module}`]).status !== 0) return `pip install ${pkg} failed: ${(r.stderr ?? '').trim().slice(-200)}`;
  return undefined;
}

function installClients(suites) {
  const notes = new Map();
  const missingApt = suites.filter((s) => s.apt && !existsSync(s.apt.bin)).map((s) => s.apt.pkg);
  if (missingApt.length > 0) {
    log(`installing with apt-get: ${missingApt.join(' ')}`);
    const r = spawnSync('apt-get', ['install', '-y', ...missingApt], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) log(`apt-get install failed: ${(r.stderr ?? '').trim().slice(-300)}`);
  }
  const python = suites.filter((s) => s.cmd[0] === PY.exe);
  const venvProblem = python.length > 0 ? (ensureVenv() ?? pipInstall(PY_BASE)) : undefined;
  if (!venvProblem && python.length > 0) awsV1Wrapper();
  for (const s of suites) {
    if (s.apt && !existsSync(s.apt.bin)) notes.set(s.client, `${s.apt.bin} missing and apt-get install ${s.apt.pkg} failed`);
    if (s.cmd[0] !== PY.exe) continue;
    if (venvProblem) notes.set(s.client, venvProblem);
    else if (s.pip) {
      const problem = pipInstall(s.pip);
      if (problem) notes.set(s.client, problem);
    }
  }
  return notes;
}

function log(msg) {
  process.stdout.write(`[conformance ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Writes `size` random bytes in 4 MiB blocks (the same as head -c SIZE /dev/urandom, without buffering it all). */
async function randomFile(file, size) {
  const out = createWriteStream(file);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 4 << 20);
    if (!out.write(randomBytes(n))) await new Promise((r) => out.once('drain', r));
    left -= n;
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
}

/** Users besides the admin, for the suites that need several (CONF_USER2_*, CONF_USER3_*). */
const OTHER_USERS = [
  { accessKey: 'conf-alice', secretKey: randomBytes(24).toString('hex') },
  { accessKey: 'conf-bob', secretKey: randomBytes(24).toString('hex') },
];

async function startGateway(dir, creds) {
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const config = path.join(dir, 'tessera.yaml');
  // baseDomain enables virtual-hosted style (BUCKET.localhost:PORT); path style keeps working on 127.0.0.1.
  // The hot budget is in the file, not the gateway's environment: `tessera warm` (conformance/tier.mjs) reads this file
  // too, and a warm process with a smaller budget than the gateway's evicts what the gateway keeps. The suites run side
  // by side and together warm more than the default 4 GiB (several 1 GiB files).
  // Two more users with no grants of the operator's (a grant on a bucket that never exists): the sharing suite lets
  // them in through ACLs, policies and POST forms only. The admin comes from TESSERA_ACCESS_KEY.
  // The first may create (and so own) one bucket of a fixed name, each gateway being new.
  const others = OTHER_USERS.map((u, i) => `  - accessKey: ${u.accessKey}\n    secretKey: ${u.secretKey}\n    buckets: { ${i === 0 ? 'conf-alice-own: admin' : 'no-such-bucket: read'} }\n`).join('');
  writeFileSync(config, `server:\n  baseDomain: localhost\nhot:\n  budget: 64GiB\nlog:\n  level: warn\nusers:\n${others}`);
  const port = await freePort();
  const logFile = path.join(dir, 'gateway.log');
  const logStream = createWriteStream(logFile);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', config], {
    env: { ...process.env, TESSERA_DATA_DIR: dataDir, TESSERA_PORT: String(port), TESSERA_ACCESS_KEY: creds.accessKey, TESSERA_SECRET_KEY: creds.secretKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const entry = { kill: () => child.kill('SIGTERM') };
  live.add(entry);
  child.once('exit', () => live.delete(entry));
  child.stdout.pipe(logStream);
  child.stderr.pipe(logStream);
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start in 60 s; see ${logFile}`)), 60_000);
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = /Tessera is listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited ${code} before listening; see ${logFile}`));
    });
  });
  const health = await fetch(`${url}/health`);
  if (health.status !== 200) throw new Error(`GET /health answered ${health.status}`);
  const stop = async () => {
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(killer);
    return code;
  };
  return { url, port, dataDir, config, logFile, stop, child };
}

/** Runs one suite; returns its CELL lines as {client, op, status, detail}. A crash or timeout is a FAIL cell. */
function runSuite(suite, env, mode) {
  return new Promise((resolve) => {
    const cells = [];
    const started = Date.now();
    const child = spawn(suite.cmd[0], suite.cmd.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const entry = { kill: () => process.kill(-child.pid, 'SIGKILL') };
    live.add(entry);
    const tail = [];
    const timer = setTimeout(() => {
      cells.push({ client: suite.client, op: 'suite-timeout', status: 'FAIL', detail: `killed after ${SUITE_TIMEOUT_MS / 1000} s` });
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, SUITE_TIMEOUT_MS);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^CELL (\S+) (\S+) (PASS|FAIL|NOTE) ?(.*)$/.exec(line);
      if (m) {
        cells.push({ client: m[1], op: m[2], status: m[3], detail: m[4] });
        log(`  [${mode}] ${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
      } else if (line.startsWith('#')) log(`  [${mode}] ${line.slice(1).trim()}`);
      else tail.push(line);
    });
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      live.delete(entry);
      const took = ((Date.now() - started) / 1000).toFixed(0);
      const failed = cells.filter((c) => c.status === 'FAIL').length;
      if (code !== 0 && failed === 0) {
        cells.push({ client: suite.client, op: 'suite-exit', status: 'FAIL', detail: `exited ${code}: ${tail.slice(-5).join(' | ').slice(-400)}` });
      }
      log(`${mode}: ${suite.client} done: ${cells.length} cells, ${failed} failed, exit ${code}, ${took} s`);
      resolve(cells);
    });
  });
}

function printMatrix(results, modes) {
  const rows = new Map(); // "client op" -> {mode: cell}
  for (const [mode, cells] of results) {
    for (const c of cells) {
      const key = `${c.client}\t${c.op}`;
      if (!rows.has(key)) rows.set(key, {});
      rows.get(key)[mode] = c;
    }
  }
  const clientW = Math.max(6, ...[...rows.keys()].map((k) => k.split('\t')[0].length));
  const opW = Math.max(9, ...[...rows.keys()].map((k) => k.split('\t')[1].length));
  const header = `${'client'.padEnd(clientW)}  ${'operation'.padEnd(opW)}  ${modes.map((m) => m.padEnd(8)).join(' ')}`;
  const lines = ['', header, '-'.repeat(header.length)];
  let passed = 0;
  let failed = 0;
  const failures = [];
  const notes = [];
  for (const [key, byMode] of rows) {
    const [client, op] = key.split('\t');
    const marks = modes.map((mode) => {
      const c = byMode[mode];
      if (!c) {
        failed++;
        failures.push(`${client} ${op} [${mode}]: no result (the suite stopped before this check)`);
        return 'MISSING ';
      }
      if (c.status === 'PASS') passed++;
      else if (c.status === 'FAIL') {
        failed++;
        failures.push(`${client} ${op} [${mode}]: ${c.detail}`);
      } else notes.push(`${client} ${op} [${mode}]: ${c.detail}`);
      return c.status.padEnd(8);
    });
    lines.push(`${client.padEnd(clientW)}  ${op.padEnd(opW)}  ${marks.join(' ')}`);
  }
  if (failures.length) lines.push('', 'Failures:', ...failures.map((f) => `  ${f}`));
  if (notes.length) lines.push('', 'Notes (not counted; a check that cannot run with this client, with the reason):', ...notes.map((n) => `  ${n}`));
  lines.push('', `${passed} passed, ${failed} failed`);
  process.stdout.write(lines.join('\n') + '\n');
  return failed;
}

/** Environment of one suite run against one gateway. */
function suiteEnv(gw, mode, work, bigFile, creds, runId) {
  return {
    ...process.env,
    CONF_ENDPOINT: gw.url,
    CONF_VHOST_ENDPOINT: `http://localhost:${gw.port}`,
    CONF_ACCESS_KEY: creds.accessKey,
    CONF_SECRET_KEY: creds.secretKey,
    CONF_USER2_KEY: OTHER_USERS[0].accessKey,
    CONF_USER2_SECRET: OTHER_USERS[0].secretKey,
    CONF_USER3_KEY: OTHER_USERS[1].accessKey,
    CONF_USER3_SECRET: OTHER_USERS[1].secretKey,
    CONF_MODE: mode,
    CONF_RUN_ID: runId,
    CONF_WORK: work,
    CONF_BIG_FILE: existsSync(bigFile) ? bigFile : '',
    CONF_MEDIUM_SIZE: String(150 * 1024 * 1024),
    CONF_TIER_CMD: `${process.execPath} ${path.join(HERE, 'tier.mjs')}`,
    CONF_CONFIG: gw.config,
    CONF_DATA_DIR: gw.dataDir,
    CONF_ROOT: ROOT,
    // A `python3` a suite starts is the venv's too.
    PATH: `${PY.bin}${path.delimiter}${process.env.PATH ?? ''}`,
    VIRTUAL_ENV: VENV,
    PYTHONUNBUFFERED: '1',
    PYTHONIOENCODING: 'utf-8',
  };
}

/** Runs tasks with at most `jobs` at once, in the given order. */
async function pool(tasks, jobs) {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
}

async function main() {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const suites = suiteTable();
  const installNotes = installClients(suites);
  const top = mkdtempSync(path.join(os.tmpdir(), 'tessera-conformance-'));
  const creds = { accessKey: 'conformance', secretKey: randomBytes(24).toString('hex') };
  const runId = randomBytes(3).toString('hex');
  const started = Date.now();
  const results = new Map(args.modes.map((m) => [m, []]));
  const gateways = new Map();
  const keep = process.env.CONF_KEEP === '1';
  // Both modes run at once, each against its own gateway: most of a suite's time is waiting (fsyncs, process
  // start-up, FUSE round trips), so a few suites side by side finish much sooner on 2 cores.
  const jobs = Number(process.env.CONF_JOBS ?? 3);
  try {
    const bigFile = path.join(top, 'big-1gib.bin');
    if (suites.some((s) => s.client === 'aws-cli-v2' || s.client === 'boto3')) {
      log('generating 1 GiB of random bytes');
      await randomFile(bigFile, GIB);
    }
    for (const mode of args.modes) {
      const dir = path.join(top, mode);
      mkdirSync(dir, { recursive: true });
      const gw = await startGateway(dir, creds);
      gateways.set(mode, gw);
      log(`${mode}: gateway ${gw.url} (data ${gw.dataDir})`);
    }
    const tasks = [];
    for (const suite of suites) {
      for (const mode of args.modes) {
        tasks.push(async () => {
          const cells = results.get(mode);
          if (installNotes.has(suite.client)) {
            cells.push({ client: suite.client, op: 'install', status: 'FAIL', detail: installNotes.get(suite.client) });
            return;
          }
          const gw = gateways.get(mode);
          if (gw.child.exitCode !== null) {
            cells.push({ client: suite.client, op: 'gateway-down', status: 'FAIL', detail: `gateway exited ${gw.child.exitCode}; see ${gw.logFile}` });
            return;
          }
          const work = path.join(top, mode, 'work', suite.client);
          mkdirSync(work, { recursive: true });
          log(`${mode}: ${suite.client} starts`);
          const got = await runSuite(suite, suiteEnv(gw, mode, work, bigFile, creds, runId), mode);
          cells.push(...got);
          rmSync(work, { recursive: true, force: true });
        });
      }
    }
    await pool(tasks, jobs);
  } finally {
    for (const [mode, gw] of gateways) {
      const code = await gw.stop();
      results.get(mode).push(
        code === 0
          ? { client: 'gateway', op: 'clean-shutdown', status: 'PASS', detail: '' }
          : { client: 'gateway', op: 'clean-shutdown', status: 'FAIL', detail: `exit code ${code} on SIGTERM; see ${gw.logFile}` },
      );
    }
    const failedAny = [...results.values()].flat().some((c) => c.status === 'FAIL');
    if (keep) log(`kept ${top}`);
    else if (failedAny) {
      // Keep the gateway logs for the post-mortem, not the gigabytes of data.
      rmSync(path.join(top, 'big-1gib.bin'), { force: true });
      for (const mode of args.modes) rmSync(path.join(top, mode, 'data'), { recursive: true, force: true });
      log(`gateway logs kept: ${args.modes.map((m) => path.join(top, m, 'gateway.log')).join(', ')}`);
    } else rmSync(top, { recursive: true, force: true });
  }
  log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const order = suites.map((s) => s.client).concat('gateway');
  for (const cells of results.values()) cells.sort((a, b) => order.indexOf(a.client) - order.indexOf(b.client));
  const failed = printMatrix(results, args.modes);
  return failed > 0 ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const entry of live) {
      try {
        entry.kill();
      } catch {
        /* already gone */
      }
    }
    process.exit(130);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`conformance: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
