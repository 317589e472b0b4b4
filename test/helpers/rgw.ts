import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A throwaway Ceph RGW started by scripts/rgw-up.sh; one per test file. */
export interface RgwInstance {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** Stops the daemons and removes the data dir; safe to call twice. */
  stop(): Promise<void>;
}

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts');
/** First use installs Debian packages (about a minute); start itself takes 3-25 s. */
const START_TIMEOUT_MS = 600_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function run(script: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(SCRIPTS, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
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

/**
 * Starts RGW or throws: a test that needs RGW fails (never skips) when it cannot start, so a broken environment is
 * visible in CI.
 */
export async function startRgw(): Promise<RgwInstance> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('startRgw: scripts/rgw-up.sh must run as root (it installs and starts Ceph daemons)');
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-rgw-'));
  const port = await freePort();
  const accessKey = 'tesserakey';
  const secretKey = 'tesserasecret';
  const env = { ...process.env, RGW_ACCESS_KEY: accessKey, RGW_SECRET_KEY: secretKey };
  const up = await run('rgw-up.sh', [dir, String(port)], START_TIMEOUT_MS, env);
  const ready = /^READY (\S+)$/m.exec(up.stdout);
  if (up.code !== 0 || !ready?.[1]) {
    throw new Error(`startRgw: scripts/rgw-up.sh ${dir} ${port} failed (exit ${up.code}):\n${up.stderr.split('\n').slice(-40).join('\n')}`);
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint: ready[1],
    accessKey,
    secretKey,
    stop: () =>
      (stopped ??= run('rgw-down.sh', [dir], 120_000).then((r) => {
        if (r.code !== 0) throw new Error(`rgw-down.sh ${dir} failed: ${r.stderr}`);
      })),
  };
}
