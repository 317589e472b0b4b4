/**
 * `tessera serve --workers 3`: three gateway processes answer on one port (connections are handed to them in turn),
 * share the embedded SQLite store (a write through one is read through another), run each background job in one of
 * them at a time, and all stop gracefully on one SIGTERM to the primary.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { ManagedProcess, runCli, s3Client } from './helpers/cluster.js';

const KEYS = { accessKeyId: 'workers-admin', secretAccessKey: 'workers-admin-secret-0123456789abcdef' };

/** One request on a fresh connection, so the primary hands it to the next worker. */
function fetchFresh(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (after the parenthesised command) is the parent pid.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Exited while listing.
    }
  }
  return out;
}

describe('tessera serve --workers 3', () => {
  let dir: string;
  let primary: ManagedProcess;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tessera-workers-'));
    primary = new ManagedProcess({ name: 'serve --workers 3', logFile: path.join(dir, 'serve.log'), readyLine: /Tessera is listening on (\S+)/ }, () => ({
      args: ['serve', '--workers', '3'],
      env: {
        TESSERA_DATA_DIR: path.join(dir, 'data'),
        TESSERA_HOST: '127.0.0.1',
        TESSERA_PORT: '0',
        TESSERA_CONSOLE_PORT: '0',
        TESSERA_ACCESS_KEY: KEYS.accessKeyId,
        TESSERA_SECRET_KEY: KEYS.secretAccessKey,
        TESSERA_LOG_LEVEL: 'info',
      },
    }));
    await primary.start();
  }, 60_000);

  afterAll(async () => {
    await primary?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  test('three workers on one port share the store; one SIGTERM stops them all', async () => {
    expect(primary.output()).toMatch(/\(3 worker processes\)/);
    const workers = childPids(primary.pid!);
    expect(workers).toHaveLength(3);

    // Connections go to every worker: each labels its metrics with its own process name.
    const seen = new Set<string>();
    for (let i = 0; i < 12 && seen.size < 3; i++) {
      const text = await fetchFresh(`${primary.url}/metrics`);
      const m = /tessera_gateway_info\{process="([^"]+)"\} 1/.exec(text);
      if (m) seen.add(m[1]!);
    }
    expect(seen.size).toBe(3);
    for (const name of seen) expect(workers).toContain(Number(name.split(':')[1]));

    // Writes through some workers, reads through others: six clients, six connections, handed out to the workers in turn.
    const clients = Array.from({ length: 6 }, () =>
      s3Client(primary.url, KEYS),
    );
    await clients[0]!.send(new CreateBucketCommand({ Bucket: 'workers' }));
    for (let i = 0; i < 6; i++) {
      await clients[i]!.send(new PutObjectCommand({ Bucket: 'workers', Key: `k${i}`, Body: `body-${i}` }));
      const r = await clients[(i + 1) % 6]!.send(new GetObjectCommand({ Bucket: 'workers', Key: `k${i}` }));
      expect(await r.Body!.transformToString()).toBe(`body-${i}`);
    }
    for (const c of clients) c.destroy();

    const code = await primary.stop();
    expect(code).toBe(0);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
    const log = await readFile(path.join(dir, 'serve.log'), 'utf8');
    expect(log.match(/"msg":"stopped"/g)?.length).toBe(4); // three workers and the primary
    expect(log).not.toMatch(/gateway worker exited/);
  }, 120_000);

  test('a worker that cannot start stops the whole server with an error (no restart loop)', async () => {
    const config = path.join(dir, 'broken.yaml');
    // The store's directory cannot be created: every worker fails while opening the gateway.
    await writeFile(config, 'meta:\n  driver: sqlite\n  path: /dev/null/meta.db\n');
    const r = await runCli(['serve', '--workers', '2', '--config', config], 60_000, { TESSERA_DATA_DIR: path.join(dir, 'broken'), TESSERA_PORT: '0', TESSERA_HOST: '127.0.0.1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a gateway worker exited during start \(1\)/);
    expect(r.stdout).not.toMatch(/Tessera is listening/);
  }, 90_000);
});
