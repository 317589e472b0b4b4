/** On a gateway with TLS the console is served over TLS too, and its session cookie is Secure with the __Host- prefix. */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { embeddedConfig } from '../src/config/load.js';
import { startConsoleServer, type ConsoleServer } from '../src/console/server.js';
import { openGateway, type Gateway } from '../src/gateway/gateway.js';
import { createLogger } from '../src/util/logger.js';
import { createMetrics } from '../src/util/metrics.js';
import { makeCert } from './helpers/tls.js';

const ADMIN = { accessKey: 'tls-console-admin', secretKey: 'tls-console-admin-secret-000000' };

function post(url: string, ca: Buffer, form: Record<string, string>, headers: Record<string, string>): Promise<{ status: number; setCookie: string[] }> {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, setCookie: res.headers['set-cookie'] ?? [] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('console over TLS', () => {
  let dir: string;
  let gateway: Gateway;
  let consoleServer: ConsoleServer;
  let ca: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-console-tls-'));
    const cert = makeCert(dir, 'console');
    ca = readFileSync(cert.certFile);
    const config = embeddedConfig(join(dir, 'data'), { server: { tls: cert }, users: [{ ...ADMIN, buckets: { '*': 'admin' } }] });
    const logger = createLogger('silent');
    const metrics = createMetrics();
    gateway = await openGateway(config, { logger, metrics, background: false });
    consoleServer = await startConsoleServer({ gateway, config, logger, metrics });
  }, 60_000);

  afterAll(async () => {
    await consoleServer?.close();
    await gateway?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('https URL; the cookie is __Host-, Secure, HttpOnly, SameSite=Strict', async () => {
    expect(consoleServer.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await post(`${consoleServer.url}/login`, ca, { accessKey: ADMIN.accessKey, secretKey: ADMIN.secretKey }, { origin: consoleServer.url });
    expect(r.status).toBe(303);
    const cookie = r.setCookie.join('\n');
    expect(cookie).toMatch(/^__Host-tessera_console=[A-Za-z0-9_-]{43};/);
    for (const attr of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/']) expect(cookie).toContain(attr);
    // The plain-http origin of the same host is another origin.
    const cross = await post(`${consoleServer.url}/login`, ca, { accessKey: ADMIN.accessKey, secretKey: ADMIN.secretKey }, { origin: consoleServer.url.replace('https:', 'http:') });
    expect(cross.status).toBe(403);
  });
});
