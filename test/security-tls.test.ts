/**
 * Threat-model tests for TLS (docs/SECURITY.md names each one): the S3 endpoint over `server.tls`, storage nodes over
 * https (`tessera node --tls-cert/--tls-key`, node `caFile`), what a network observer between gateway and nodes sees
 * with and without TLS, and that a node whose certificate is not trusted refuses writes rather than degrading.
 * Certificates are self-signed, made with openssl in a temp dir; all traffic stays on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import type { TesseraConfig } from '../src/config/types.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { parseNodeArgs } from '../src/node/main.js';
import { startNodeServer, type NodeServer } from '../src/node/server.js';
import { startS3Server, type RunningS3Server } from '../src/s3/server.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { walkFiles } from './helpers/files.js';
import { makeCert, type CertPair } from './helpers/tls.js';

const NODE_SECRET = 'node-bearer-secret-TLS-0123456789abcdef';
const USER = { accessKey: 'tls-admin', secretKey: 'tls-admin-secret-00000000000000' };
const MARKER = 'TESSERA-TLS-PLAINTEXT-MARKER-41c2';
const NODE_COUNT = 3; // k=2, m=1: writeQuorum is 3, every node takes part in every write

/** A TCP relay standing where a network attacker would: it forwards everything and keeps a copy of both directions. */
interface Tap {
  port: number;
  captured(): Buffer;
  close(): Promise<void>;
}

async function startTap(targetPort: number): Promise<Tap> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    upstream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    captured: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Storage nodes behind taps, as a gateway would reach them. */
interface NodeSet {
  dataDirs: string[];
  taps: Tap[];
  urls: string[];
  close(): Promise<void>;
}

async function startNodes(root: string, tls: CertPair | undefined): Promise<NodeSet> {
  const servers: NodeServer[] = [];
  const taps: Tap[] = [];
  const dataDirs: string[] = [];
  for (let i = 0; i < NODE_COUNT; i++) {
    const dataDir = join(root, `node${i}`);
    await mkdir(dataDir, { recursive: true });
    // Through the CLI's own argument parser, so --tls-cert/--tls-key are what is exercised, not a test shortcut.
    const argv = ['--data-dir', dataDir, '--port', '0', ...(tls ? ['--tls-cert', tls.certFile, '--tls-key', tls.keyFile] : [])];
    const opts = parseNodeArgs(argv, { TESSERA_NODE_SECRET: NODE_SECRET });
    const server = await startNodeServer(opts);
    servers.push(server);
    taps.push(await startTap(Number(new URL(server.url).port)));
    dataDirs.push(dataDir);
  }
  const scheme = tls ? 'https' : 'http';
  return {
    dataDirs,
    taps,
    urls: taps.map((t) => `${scheme}://127.0.0.1:${t.port}`),
    close: async () => {
      for (const t of taps) await t.close();
      for (const s of servers) await s.close();
    },
  };
}

interface RunningGateway {
  gateway: Gateway;
  server: RunningS3Server;
  close(): Promise<void>;
}

const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(chunk.toString('utf8'));
    done();
  },
});

/** A gateway whose cold tier is the given http(s) nodes; hot.promote never, so every GET reads the nodes. */
async function startGateway(dataDir: string, nodeUrls: string[], opts: { caFile?: string; serverTls?: CertPair }): Promise<RunningGateway> {
  const config: TesseraConfig = embeddedConfig(dataDir, {
    server: { host: '127.0.0.1', port: 0, ...(opts.serverTls ? { tls: opts.serverTls } : {}) },
    cold: {
      k: 2,
      m: 1,
      segmentSize: '256KiB',
      chunkSize: '64KiB',
      nodes: nodeUrls.map((url, i) => ({ name: `n${i}`, kind: 'http', url, secret: NODE_SECRET, timeout: '5s', ...(opts.caFile ? { caFile: opts.caFile } : {}) })),
    },
    hot: { promote: 'never', writeThrough: false },
    log: { level: 'trace' },
    users: [{ accessKey: USER.accessKey, secretKey: USER.secretKey, buckets: { '*': 'admin' } }],
  });
  const logger = createLogger('trace', logSink);
  const metrics = createMetrics();
  const gateway = await openGateway(config, { logger, metrics, background: false });
  const server = await startS3Server({ service: gateway.service, config, logger, metrics });
  return {
    gateway,
    server,
    close: async () => {
      await server.close();
      await gateway.close();
    },
  };
}

/** A signed PUT whose body is sent `delayMs` after its headers. */
function putWithLateBody(endpoint: string, path: string, payload: Buffer, delayMs: number): Promise<{ status: number; text: string }> {
  const { host, port } = new URL(endpoint);
  const opts = { host, path, method: 'PUT', service: 's3', region: 'us-east-1', headers: {} as Record<string, string>, body: payload };
  aws4.sign(opts, { accessKeyId: USER.accessKey, secretAccessKey: USER.secretKey });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'PUT', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.flushHeaders();
    setTimeout(() => req.end(payload), delayMs);
  });
}

function s3Client(endpoint: string, ca?: Buffer): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: USER.accessKey, secretAccessKey: USER.secretKey },
    maxAttempts: 1,
    ...(ca ? { requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca }) }) } : {}),
  });
}

let dir: string;
let cert: CertPair;
let rogue: CertPair;
let tlsNodes: NodeSet;
let tlsGateway: RunningGateway;
let client: S3Client;
const body = Buffer.concat([Buffer.from(`${MARKER}\n`.repeat(8_000)), randomBytes(300_000)]); // ~580 KB: 3 segments

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-security-tls-'));
  cert = makeCert(dir, 'trusted');
  rogue = makeCert(dir, 'rogue');
  tlsNodes = await startNodes(join(dir, 'tls-nodes'), cert);
  tlsGateway = await startGateway(join(dir, 'gw-tls'), tlsNodes.urls, { caFile: cert.certFile, serverTls: cert });
  client = s3Client(tlsGateway.server.url, readFileSync(cert.certFile));
}, 30_000);

afterAll(async () => {
  client?.destroy();
  await tlsGateway?.close();
  await tlsNodes?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('S3 endpoint over server.tls, nodes over https', () => {
  it('an SDK client trusting the CA does a PUT/GET round trip with exact bytes, stored on the https nodes', async () => {
    expect(tlsGateway.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    await client.send(new CreateBucketCommand({ Bucket: 'tls' }));
    await client.send(new PutObjectCommand({ Bucket: 'tls', Key: `obj-${MARKER}`, Body: body }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'tls', Key: `obj-${MARKER}` }));
    expect(got.$metadata.httpStatusCode).toBe(200);
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    // Every node holds shards of it (the write reached them over TLS, nothing was kept only locally).
    for (const d of tlsNodes.dataDirs) expect((await walkFiles(d)).length).toBeGreaterThan(0);
  });

  it('an observer between gateway and nodes sees TLS records only: no bearer secret, no plaintext, no object name', () => {
    for (const tap of tlsNodes.taps) {
      const wire = tap.captured();
      expect(wire.length).toBeGreaterThan(body.length / NODE_COUNT / 2);
      // 0x16 0x03: a TLS handshake record opens the stream, not an HTTP request line.
      expect(wire.subarray(0, 2).equals(Buffer.from([0x16, 0x03]))).toBe(true);
      for (const needle of [NODE_SECRET, 'Bearer', MARKER, 'PUT /', 'GET /']) {
        expect(wire.includes(Buffer.from(needle)), `${needle} visible on the wire`).toBe(false);
      }
    }
  });

  it('a plain-http request to the TLS port gets no HTTP answer', async () => {
    const port = Number(new URL(tlsGateway.server.url).port);
    const outcome = await new Promise<string>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: '/tls', agent: false }, (res) => {
        res.resume();
        resolve(`answered ${res.statusCode ?? 0}`);
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.end();
    });
    expect(outcome).toMatch(/^error (ECONNRESET|EPIPE|HPE_|socket hang up)/);
    // Still serving TLS clients.
    const again = await client.send(new GetObjectCommand({ Bucket: 'tls', Key: `obj-${MARKER}` }));
    expect(Buffer.from(await again.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it('a client that does not trust the gateway certificate cannot connect (the certificate is really checked)', async () => {
    const untrusting = s3Client(tlsGateway.server.url, readFileSync(rogue.certFile));
    try {
      await expect(untrusting.send(new GetObjectCommand({ Bucket: 'tls', Key: `obj-${MARKER}` }))).rejects.toMatchObject({
        code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/) as unknown,
      });
    } finally {
      untrusting.destroy();
    }
  });
});

describe('a node whose certificate the gateway does not trust', () => {
  it('makes writes fail with 503 instead of going plaintext or storing anything', async () => {
    const shardCounts = async (): Promise<number[]> => Promise.all(tlsNodes.dataDirs.map(async (d) => (await walkFiles(d)).length));
    const before = await shardCounts();
    const tappedBefore = tlsNodes.taps.map((t) => t.captured().length);
    // Same https nodes, but the gateway's caFile is another CA: every handshake must fail.
    const gw = await startGateway(join(dir, 'gw-rogue-ca'), tlsNodes.urls, { caFile: rogue.certFile });
    const plain = s3Client(gw.server.url);
    try {
      await plain.send(new CreateBucketCommand({ Bucket: 'untrusted' }));
      const err = await plain.send(new PutObjectCommand({ Bucket: 'untrusted', Key: 'k', Body: body })).then(
        () => undefined,
        (e: unknown) => e as { $metadata?: { httpStatusCode?: number }; name?: string },
      );
      // Soft, so the checks below (nothing stored, nothing in clear) still run when the status is wrong.
      expect.soft(err?.$metadata?.httpStatusCode, `${err?.name}: ${(err as Error | undefined)?.message}`).toBe(503);
      // A client on a slow link: its body arrives only after every node handshake has already failed.
      const slow = await putWithLateBody(gw.server.url, '/untrusted/slow', body, 500);
      expect.soft([slow.status, /<Code>([^<]*)<\/Code>/.exec(slow.text)?.[1]]).toEqual([503, 'ServiceUnavailable']);
      expect(slow.text).not.toContain(NODE_SECRET);
      for (const Key of ['k', 'slow']) {
        await expect(plain.send(new GetObjectCommand({ Bucket: 'untrusted', Key }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
      }
    } finally {
      plain.destroy();
      await gw.close();
    }
    expect(await shardCounts()).toEqual(before);
    // Whatever the gateway sent the nodes after that point carried no secret and no data in clear.
    tlsNodes.taps.forEach((tap, i) => {
      const sent = tap.captured().subarray(tappedBefore[i]);
      for (const needle of [NODE_SECRET, 'Bearer', MARKER]) expect(sent.includes(Buffer.from(needle)), needle).toBe(false);
    });
  });
});

describe('contrast: plain http node URLs (documented weakness)', () => {
  it('an observer between gateway and nodes reads the bearer secret, yet still no plaintext object data', async () => {
    const nodes = await startNodes(join(dir, 'plain-nodes'), undefined);
    const gw = await startGateway(join(dir, 'gw-plain'), nodes.urls, {});
    const plain = s3Client(gw.server.url);
    try {
      await plain.send(new CreateBucketCommand({ Bucket: 'plain' }));
      await plain.send(new PutObjectCommand({ Bucket: 'plain', Key: `obj-${MARKER}`, Body: body }));
      for (const tap of nodes.taps) {
        const wire = tap.captured();
        // The node secret travels in clear: anyone on this path can replay it to list, read and delete shards.
        expect(wire.includes(Buffer.from(`Bearer ${NODE_SECRET}`))).toBe(true);
        // Shards are AEAD ciphertext and shard ids are random: neither the body nor the key name is visible.
        expect(wire.includes(Buffer.from(MARKER))).toBe(false);
      }
    } finally {
      plain.destroy();
      await gw.close();
      await nodes.close();
    }
  });
});

describe('node secrets in gateway logs', () => {
  it('the node bearer secret never appears in the trace-level gateway log, failures included', () => {
    const log = logLines.join('');
    expect(log.length).toBeGreaterThan(1000);
    expect(log.includes(NODE_SECRET)).toBe(false);
    expect(log.includes(USER.secretKey)).toBe(false);
  });
});
