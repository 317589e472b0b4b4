import aws4 from 'aws4';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from './helpers/node-sha256.js';
import { describe, expect, it } from 'vitest';
import { authenticate, type AuthOptions, type AuthRequest } from '../src/s3/auth/index.js';
import { expectS3Error } from './helpers/errors.js';

const ACCESS_KEY = 'AKIDTESSERA0EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const REGION = 'eu-central-1';
const HOST = 'localhost:9000';
const SIGNED_AT = new Date('2024-05-06T07:08:09Z');
const AMZ_DATE = '20240506T070809Z';
const lookup = (ak: string): string | undefined => (ak === ACCESS_KEY ? SECRET : undefined);
const at = (offsetSeconds: number): AuthOptions => ({ region: REGION, now: new Date(SIGNED_AT.getTime() + offsetSeconds * 1000), maxSkewMs: 15 * 60 * 1000 });

function splitUrl(method: string, pathAndQuery: string, headers: Record<string, string> = {}): AuthRequest {
  const q = pathAndQuery.indexOf('?');
  return { method, rawPath: pathAndQuery.slice(0, q), rawQuery: pathAndQuery.slice(q + 1), headers: { host: HOST, ...headers }, host: HOST };
}

/** Presigns with the aws4 package (signQuery). */
function presignWithAws4(method: string, path: string, expiresSeconds: number, secret = SECRET, region = REGION): AuthRequest {
  const sep = path.includes('?') ? '&' : '?';
  const opts = {
    host: HOST,
    method,
    path: `${path}${sep}X-Amz-Expires=${expiresSeconds}&X-Amz-Date=${AMZ_DATE}`,
    service: 's3',
    region,
    signQuery: true,
  };
  aws4.sign(opts, { accessKeyId: ACCESS_KEY, secretAccessKey: secret });
  return splitUrl(method, opts.path);
}


/** Presigns the way @aws-sdk/s3-request-presigner does: UNSIGNED-PAYLOAD recorded as a signed query parameter. */
async function presignWithSmithy(method: string, path: string, query: Record<string, string>, expiresIn: number): Promise<AuthRequest> {
  const signer = new SignatureV4({
    service: 's3',
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET, sessionToken: 'session-token/with+odd=chars' },
    sha256: NodeSha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const presigned = await signer.presign(
    { method, protocol: 'http:', hostname: 'localhost', port: 9000, path, query, headers: { host: HOST, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
    { signingDate: SIGNED_AT, expiresIn },
  );
  const rawQuery = Object.entries(presigned.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return { method, rawPath: path, rawQuery, headers: { host: HOST }, host: HOST };
}

describe('presigned URLs from aws4', () => {
  it('accepts a presigned GET within its lifetime as UNSIGNED-PAYLOAD', () => {
    const req = presignWithAws4('GET', '/bucket/dir/a%20b.txt?response-content-type=text%2Fplain', 3600);
    expect(req.rawQuery).toContain('X-Amz-Signature=');
    const ctx = authenticate(req, lookup, at(10));
    expect(ctx).toMatchObject({ accessKey: ACCESS_KEY, presigned: true, payload: { kind: 'unsigned' } });
    expect(authenticate(req, lookup, at(3600)).presigned).toBe(true);
  });

  it('rejects an expired URL with AccessDenied "Request has expired"', () => {
    const req = presignWithAws4('GET', '/bucket/key', 60);
    const err = expectS3Error(() => authenticate(req, lookup, at(61)), 'AccessDenied', 403);
    expect(err.message).toBe('Request has expired');
    expect(err.fields['X-Amz-Expires']).toBe('60');
  });

  it('rejects a URL dated too far in the future', () => {
    const req = presignWithAws4('GET', '/bucket/key', 60);
    expectS3Error(() => authenticate(req, lookup, at(-3600)), 'AccessDenied', 403);
  });

  it('rejects X-Amz-Expires over seven days with AuthorizationQueryParametersError', () => {
    const req = presignWithAws4('GET', '/bucket/key', 604801);
    expectS3Error(() => authenticate(req, lookup, at(0)), 'AuthorizationQueryParametersError', 400);
    expect(authenticate(presignWithAws4('GET', '/bucket/key', 604800), lookup, at(0)).presigned).toBe(true);
  });

  it('rejects a wrong secret, a tampered path, a changed parameter and a swapped method', () => {
    expectS3Error(() => authenticate(presignWithAws4('GET', '/bucket/key', 60, 'wrong'), lookup, at(0)), 'SignatureDoesNotMatch', 403);
    const req = presignWithAws4('GET', '/bucket/key?versionId=1', 60);
    expectS3Error(() => authenticate({ ...req, rawPath: '/bucket/other' }, lookup, at(0)), 'SignatureDoesNotMatch', 403);
    expectS3Error(() => authenticate({ ...req, rawQuery: req.rawQuery.replace('versionId=1', 'versionId=2') }, lookup, at(0)), 'SignatureDoesNotMatch', 403);
    expectS3Error(() => authenticate({ ...req, method: 'DELETE' }, lookup, at(0)), 'SignatureDoesNotMatch', 403);
    // Extending the lifetime is a parameter change like any other.
    expectS3Error(() => authenticate({ ...req, rawQuery: req.rawQuery.replace('X-Amz-Expires=60', 'X-Amz-Expires=600') }, lookup, at(0)), 'SignatureDoesNotMatch', 403);
  });

  it('rejects an unsigned x-amz-* header sent along with a presigned URL', () => {
    const req = presignWithAws4('PUT', '/bucket/key', 60);
    expectS3Error(() => authenticate({ ...req, headers: { ...req.headers, 'x-amz-copy-source': '/b/k' } }, lookup, at(0)), 'AccessDenied', 403);
  });

  it('reports an unknown key, a wrong region and missing or malformed parameters', () => {
    expectS3Error(() => authenticate(presignWithAws4('GET', '/bucket/key', 60), () => undefined, at(0)), 'InvalidAccessKeyId', 403);
    const wrongRegion = expectS3Error(() => authenticate(presignWithAws4('GET', '/bucket/key', 60, SECRET, 'us-west-2'), lookup, at(0)), 'AuthorizationQueryParametersError', 400);
    expect(wrongRegion.fields.Region).toBe(REGION);
    const req = presignWithAws4('GET', '/bucket/key', 60);
    const without = (name: string) => req.rawQuery.split('&').filter((p) => !p.startsWith(`${name}=`)).join('&');
    for (const name of ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature']) {
      expectS3Error(() => authenticate({ ...req, rawQuery: without(name) }, lookup, at(0)), 'AuthorizationQueryParametersError', 400);
    }
    const replace = (from: RegExp, to: string) => ({ ...req, rawQuery: req.rawQuery.replace(from, to) });
    expectS3Error(() => authenticate(replace(/X-Amz-Algorithm=[^&]*/, 'X-Amz-Algorithm=HMAC'), lookup, at(0)), 'AuthorizationQueryParametersError', 400);
    expectS3Error(() => authenticate(replace(/X-Amz-Date=[^&]*/, 'X-Amz-Date=yesterday'), lookup, at(0)), 'AuthorizationQueryParametersError', 400);
    expectS3Error(() => authenticate(replace(/X-Amz-Expires=[^&]*/, 'X-Amz-Expires=-5'), lookup, at(0)), 'AuthorizationQueryParametersError', 400);
    expectS3Error(() => authenticate(replace(/X-Amz-Credential=[^&]*/, 'X-Amz-Credential=nope'), lookup, at(0)), 'AuthorizationQueryParametersError', 400);
  });

  it('refuses SigV2 presigned URLs as an unsupported mechanism', () => {
    const req = splitUrl('GET', `/bucket/key?AWSAccessKeyId=${ACCESS_KEY}&Expires=1715000000&Signature=abc%3D`);
    expectS3Error(() => authenticate(req, lookup, at(0)), 'InvalidRequest', 400);
  });
});

describe('presigned URLs from the AWS SDK signer', () => {
  it('accepts an SDK presigned PUT with a session token and extra query parameters', async () => {
    const req = await presignWithSmithy('PUT', '/bucket/d%C3%A9j%C3%A0%20vu/%28copy%29.bin', { 'x-id': 'PutObject' }, 900);
    expect(req.rawQuery).toContain('X-Amz-Security-Token=');
    const ctx = authenticate(req, lookup, at(899));
    expect(ctx).toMatchObject({ accessKey: ACCESS_KEY, presigned: true, payload: { kind: 'unsigned' } });
    expectS3Error(() => authenticate(req, lookup, at(901)), 'AccessDenied', 403);
  });

  it('rejects an SDK presigned URL whose security token was swapped', async () => {
    const req = await presignWithSmithy('GET', '/bucket/key', {}, 900);
    const tampered = req.rawQuery.replace(/X-Amz-Security-Token=[^&]*/, 'X-Amz-Security-Token=other');
    expectS3Error(() => authenticate({ ...req, rawQuery: tampered }, lookup, at(0)), 'SignatureDoesNotMatch', 403);
  });
});
