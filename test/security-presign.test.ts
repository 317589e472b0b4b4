/**
 * Presigned URLs end to end against a real in-process gateway (docs/SECURITY.md names each test): URLs made the way
 * @aws-sdk/s3-request-presigner makes them (smithy SignatureV4.presign; the presigner package itself is not installed)
 * and with aws4 query signing, fetched by clients that hold no credentials (fetch, curl). test/s3-auth-presign.test.ts
 * checks the same rules on authenticate() alone; these show the server applies them, and that authorization still
 * applies to the signer's key.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from './helpers/node-sha256.js';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, startApi, USERS, type Api, type UserName } from './helpers/s3-api.js';

let api: Api;
let tmp: string;
const object = randomBytes(200_000);

beforeAll(async () => {
  api = await startApi();
  tmp = await mkdtemp(join(tmpdir(), 'tessera-presign-'));
  expect((await raw(api, { method: 'PUT', path: '/pre' })).status).toBe(200);
  expect((await raw(api, { method: 'PUT', path: '/pre/obj', body: object })).status).toBe(200);
  expect((await raw(api, { method: 'PUT', path: '/pre/other', body: 'other object' })).status).toBe(200);
});
afterAll(async () => {
  await api?.close();
  await rm(tmp, { recursive: true, force: true });
});


/** A presigned URL as @aws-sdk/s3-request-presigner builds it (UNSIGNED-PAYLOAD, x-id naming the operation). */
async function presignLikeSdk(method: string, path: string, xId: string, expiresIn: number, user: UserName = 'admin'): Promise<string> {
  const signer = new SignatureV4({
    service: 's3',
    region: 'us-east-1',
    credentials: { accessKeyId: USERS[user].accessKey, secretAccessKey: USERS[user].secretKey },
    sha256: NodeSha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const host = `127.0.0.1:${api.port}`;
  const signed = await signer.presign(
    { method, protocol: 'http:', hostname: '127.0.0.1', port: api.port, path, query: { 'x-id': xId }, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
    { expiresIn },
  );
  const query = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return `http://${host}${path}?${query}`;
}

/** A presigned URL from aws4's query signing, with an explicit signing time (to make one that is already expired). */
function presignWithAws4(method: string, path: string, expiresSeconds: number, signedAt = new Date(), user: UserName = 'admin'): string {
  const amzDate = signedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const host = `127.0.0.1:${api.port}`;
  const opts = { host, method, path: `${path}?X-Amz-Expires=${expiresSeconds}&X-Amz-Date=${amzDate}`, service: 's3', region: 'us-east-1', signQuery: true };
  aws4.sign(opts, { accessKeyId: USERS[user].accessKey, secretAccessKey: USERS[user].secretKey });
  return `http://${host}${opts.path}`;
}

/** What an unauthenticated holder of the URL gets: status, S3 error code, body. */
async function use(url: string, method = 'GET', body?: string): Promise<{ status: number; code: string | undefined; body: Buffer }> {
  const res = await fetch(url, { method, ...(body !== undefined ? { body } : {}) });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, code: /<Code>([^<]*)<\/Code>/.exec(bytes.toString('utf8'))?.[1], body: bytes };
}

async function expectObjectUnchanged(): Promise<void> {
  const res = await raw(api, { method: 'GET', path: '/pre/obj' });
  expect(res.status).toBe(200);
  expect(res.body.equals(object)).toBe(true);
}

describe('presigned GET', () => {
  it('an SDK-style presigned GET returns the exact bytes to fetch and to curl, which hold no credentials', async () => {
    const url = await presignLikeSdk('GET', '/pre/obj', 'GetObject', 900);
    expect(url).toContain('X-Amz-Signature=');
    const got = await use(url);
    expect(got.status).toBe(200);
    expect(got.body.equals(object)).toBe(true);
    const file = join(tmp, 'curl.bin');
    // Asynchronously: the gateway answering curl runs on this very event loop.
    const { stdout } = await promisify(execFile)('curl', ['-sS', '--max-time', '20', '-o', file, '-w', '%{http_code}', url], { encoding: 'utf8' });
    expect(stdout).toBe('200');
    expect((await readFile(file)).equals(object)).toBe(true);
  });

  it('an aws4 presigned GET works too, and is scoped to its key: another key with the same query is 403', async () => {
    const url = presignWithAws4('GET', '/pre/obj', 600);
    expect((await use(url)).body.equals(object)).toBe(true);
    const moved = await use(url.replace('/pre/obj?', '/pre/other?'));
    expect([moved.status, moved.code]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(moved.body.toString()).not.toContain('other object');
  });
});

describe('tampering with a presigned URL', () => {
  it('changing the key, the method or X-Amz-Expires is 403 and changes nothing', async () => {
    const url = await presignLikeSdk('GET', '/pre/obj', 'GetObject', 60);
    const otherKey = await use(url.replace('/pre/obj?', '/pre/other?'));
    expect([otherKey.status, otherKey.code]).toEqual([403, 'SignatureDoesNotMatch']);
    for (const method of ['PUT', 'DELETE']) {
      const swapped = await use(url, method, method === 'PUT' ? 'overwritten' : undefined);
      expect([method, swapped.status, swapped.code]).toEqual([method, 403, 'SignatureDoesNotMatch']);
    }
    expect(url).toContain('X-Amz-Expires=60');
    const extended = await use(url.replace('X-Amz-Expires=60', 'X-Amz-Expires=604800'));
    expect([extended.status, extended.code]).toEqual([403, 'SignatureDoesNotMatch']);
    await expectObjectUnchanged();
  });

  it('an expired URL is 403 AccessDenied, and pushing its expiry out does not revive it', async () => {
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    const url = presignWithAws4('GET', '/pre/obj', 60, twoHoursAgo);
    const expired = await use(url);
    expect([expired.status, expired.code]).toEqual([403, 'AccessDenied']);
    expect(expired.body.toString()).toContain('Request has expired');
    const revived = await use(url.replace('X-Amz-Expires=60', 'X-Amz-Expires=86400'));
    expect(revived.status).toBe(403);
    expect(revived.body.equals(object)).toBe(false);
  });

  it('X-Amz-Expires over 604800 (seven days) is refused; exactly 604800 works', async () => {
    const tooLong = await use(presignWithAws4('GET', '/pre/obj', 604801));
    expect([tooLong.status, tooLong.code]).toEqual([400, 'AuthorizationQueryParametersError']);
    expect((await use(presignWithAws4('GET', '/pre/obj', 604800))).body.equals(object)).toBe(true);
  });
});

describe('presigned URLs and permissions', () => {
  it('a writer can hand out a working presigned PUT (control for the next test)', async () => {
    const url = await presignLikeSdk('PUT', '/pre/from-admin', 'PutObject', 300);
    expect((await use(url, 'PUT', 'uploaded via URL')).status).toBe(200);
    expect((await raw(api, { method: 'GET', path: '/pre/from-admin' })).text).toBe('uploaded via URL');
  });

  it('a URL presigned by a read-only key for PUT or DELETE is 403 AccessDenied and stores or deletes nothing', async () => {
    const put = await use(await presignLikeSdk('PUT', '/pre/from-reader', 'PutObject', 300, 'reader'), 'PUT', 'reader wrote this');
    expect([put.status, put.code]).toEqual([403, 'AccessDenied']);
    expect((await raw(api, { method: 'HEAD', path: '/pre/from-reader' })).status).toBe(404);
    const overwrite = await use(await presignLikeSdk('PUT', '/pre/obj', 'PutObject', 300, 'reader'), 'PUT', 'reader wrote this');
    expect([overwrite.status, overwrite.code]).toEqual([403, 'AccessDenied']);
    const del = await use(presignWithAws4('DELETE', '/pre/obj', 300, new Date(), 'reader'), 'DELETE');
    expect([del.status, del.code]).toEqual([403, 'AccessDenied']);
    await expectObjectUnchanged();
    // The same reader's presigned GET does work: the refusal is authorization, not a broken URL.
    expect((await use(await presignLikeSdk('GET', '/pre/obj', 'GetObject', 300, 'reader'))).body.equals(object)).toBe(true);
  });

  it('a writer of one bucket cannot presign reads of another bucket', async () => {
    // Harness users: writer has write on "writable" only.
    const got = await use(await presignLikeSdk('GET', '/pre/obj', 'GetObject', 300, 'writer'));
    expect([got.status, got.code]).toEqual([403, 'AccessDenied']);
    expect(got.body.equals(object)).toBe(false);
  });
});
