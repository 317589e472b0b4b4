import { mkdtemp, rm } from 'node:fs/promises';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import aws4 from 'aws4';
import { embeddedConfig } from '../../src/config/load.js';
import type { TesseraConfig } from '../../src/config/types.js';
import { openGateway, type Gateway } from '../../src/gateway/gateway.js';
import { startS3Server, type RunningS3Server } from '../../src/s3/server.js';
import { createLogger } from '../../src/util/logger.js';
import { createMetrics, type Metrics } from '../../src/util/metrics.js';

/** Test users: an admin on everything, a reader on everything, a writer on one bucket. */
export const USERS = {
  admin: { accessKey: 'test-admin', secretKey: 'test-admin-secret-000000000000' },
  reader: { accessKey: 'test-reader', secretKey: 'test-reader-secret-0000000000' },
  writer: { accessKey: 'test-writer', secretKey: 'test-writer-secret-0000000000' },
} as const;
export type UserName = keyof typeof USERS;

export interface Api {
  url: string;
  port: number;
  config: TesseraConfig;
  gateway: Gateway;
  server: RunningS3Server;
  metrics: Metrics;
  client(user?: UserName): S3Client;
  close(): Promise<void>;
}

/** A real gateway (embedded config in a temp dir, small segments) behind a real S3 server on 127.0.0.1:0. */
export async function startApi(overrides: Record<string, unknown> = {}, logDestination?: NodeJS.WritableStream): Promise<Api> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-s3-api-'));
  const config = embeddedConfig(dir, {
    server: { host: '127.0.0.1', port: 0, ...((overrides.server as object | undefined) ?? {}) },
    cold: { segmentSize: '1MiB', chunkSize: '64KiB' },
    users: [
      { accessKey: USERS.admin.accessKey, secretKey: USERS.admin.secretKey, buckets: { '*': 'admin' } },
      { accessKey: USERS.reader.accessKey, secretKey: USERS.reader.secretKey, buckets: { '*': 'read' } },
      { accessKey: USERS.writer.accessKey, secretKey: USERS.writer.secretKey, buckets: { writable: 'write' } },
    ],
  });
  const logger = logDestination ? createLogger('info', logDestination) : createLogger('silent');
  const metrics = createMetrics();
  const gateway = await openGateway(config, { logger, metrics, background: false });
  const server = await startS3Server({ service: gateway.service, config, logger, metrics });
  const port = Number(new URL(server.url).port);
  const clients: S3Client[] = [];
  return {
    url: server.url,
    port,
    config,
    gateway,
    server,
    metrics,
    client(user: UserName = 'admin') {
      const c = new S3Client({
        endpoint: server.url,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: USERS[user].accessKey, secretAccessKey: USERS[user].secretKey },
        maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await server.close();
      await gateway.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface RawRequest {
  method: string;
  /** Path and query as sent on the wire (already encoded). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  user?: UserName | null;
  /** Host header to send and sign (default 127.0.0.1:port). */
  host?: string;
  /** Sign UNSIGNED-PAYLOAD instead of the body hash. */
  unsignedPayload?: boolean;
}

/** Sends one request signed with aws4 (or anonymous with user: null) and collects the whole response. */
export function raw(api: Pick<Api, 'port'>, r: RawRequest): Promise<RawResponse> {
  const host = r.host ?? `127.0.0.1:${api.port}`;
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  if (r.unsignedPayload) headers['X-Amz-Content-Sha256'] = 'UNSIGNED-PAYLOAD';
  const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
  const opts: aws4.Request & { headers: Record<string, string> } = {
    host,
    path: r.path,
    method: r.method,
    service: 's3',
    region: 'us-east-1',
    headers,
    ...(body !== undefined ? { body } : {}),
    doNotEncodePath: true,
  };
  if (r.user !== null) {
    const user = USERS[r.user ?? 'admin'];
    aws4.sign(opts, { accessKeyId: user.accessKey, secretAccessKey: user.secretKey });
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: api.port, method: r.method, path: r.path, headers: { ...opts.headers, host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The <Code> of an S3 XML error body. */
export function errorCode(res: RawResponse): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(res.text)?.[1];
}

/**
 * A minimal SigV4 signer for a GET whose path aws4 refuses to handle (invalid percent-encoding): S3 signs the path
 * exactly as sent, so the server's auth accepts it and validation further on is what answers.
 */
export function signRawGet(api: Pick<Api, 'port'>, rawPath: string, user: UserName = 'admin'): Promise<RawResponse> {
  const host = `127.0.0.1:${api.port}`;
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payload = createHash('sha256').update('').digest('hex');
  const signedHeaders = 'host;x-amz-content-sha256;x-amz-date';
  const canonical = ['GET', rawPath, '', `host:${host}`, `x-amz-content-sha256:${payload}`, `x-amz-date:${amzDate}`, '', signedHeaders, payload].join('\n');
  const scope = `${day}/us-east-1/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  const { accessKey, secretKey } = USERS[user];
  const key = hmac(hmac(hmac(hmac(`AWS4${secretKey}`, day), 'us-east-1'), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  const headers = {
    host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payload,
    authorization: `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: api.port, method: 'GET', path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
