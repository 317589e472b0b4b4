import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsNodeDriver } from '../src/cold/nodes/fs.js';
import { HttpNodeDriver } from '../src/cold/nodes/http.js';
import { IagonNodeDriver } from '../src/cold/nodes/iagon.js';
import { CLI, ManagedProcess } from './helpers/cluster.js';
import { startIagonContractServer } from './helpers/iagon-contract-server.js';
import { describeNodeDriverContract, shardId } from './helpers/node-driver-contract.js';

// The s3 driver runs the same suite against Ceph RGW in test/nodes-contract-rgw.test.ts (the rgw tier).

describeNodeDriverContract('fs (a local directory)', {
  async start() {
    const dir = await mkdtemp(path.join(tmpdir(), 'tessera-contract-fs-'));
    return {
      driver: new FsNodeDriver({ path: dir, name: 'fs-contract' }),
      missingHandle: shardId(),
      stop: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

/** Short, so the paused-download test stays short; still far above a local node's answer times. */
const STALL_TIMEOUT_MS = 2000;

describeNodeDriverContract('http (a `tessera node` process)', {
  pausedDownloadTimeoutMs: STALL_TIMEOUT_MS,
  async start() {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
    const dir = await mkdtemp(path.join(tmpdir(), 'tessera-contract-http-'));
    const secret = `contract-secret-${shardId()}`;
    const proc = new ManagedProcess({ name: 'contract-node', logFile: path.join(dir, 'node.log'), readyLine: /listening on (\S+)/ }, (port) => ({
      args: ['node', '--data', path.join(dir, 'data'), '--host', '127.0.0.1', '--port', String(port ?? 0)],
      env: { TESSERA_NODE_SECRET: secret },
    }));
    await proc.start();
    return {
      driver: new HttpNodeDriver({ name: 'http-contract', url: proc.url, secret, weight: 1, timeoutMs: STALL_TIMEOUT_MS }),
      missingHandle: shardId(),
      async stop() {
        await proc.dispose();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});

describeNodeDriverContract('iagon (the local Iagon contract server)', {
  pausedDownloadTimeoutMs: STALL_TIMEOUT_MS,
  async start() {
    const server = await startIagonContractServer({ maxFileBytes: 64 * 1024 * 1024 });
    const driver = new IagonNodeDriver(
      {
        name: 'iagon-contract',
        kind: 'iagon',
        baseUrl: server.baseUrl,
        apiKey: server.apiKey,
        directoryName: 'tessera-contract',
        weight: 1,
        timeoutMs: STALL_TIMEOUT_MS,
        maxAttempts: 3,
        maxFileBytes: server.maxFileBytes,
      },
      { baseDelayMs: 5, maxDelayMs: 50 },
    );
    return { driver, missingHandle: 'no-such-file-id', stop: () => server.close() };
  },
});
