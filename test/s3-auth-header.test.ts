import { createHash, createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import aws4 from 'aws4';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from './helpers/node-sha256.js';
import { describe, expect, it } from 'vitest';
import { authenticate, signatureV4Helpers, type AuthOptions, type AuthRequest } from '../src/s3/auth/index.js';
import { expectS3Error } from './helpers/errors.js';

const ACCESS_KEY = 'AKIDTESSERA0EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const REGION = 'eu-central-1';
const HOST = '127.0.0.1:9000';
const NOW = new Date('2024-05-06T07:08:09Z');
const AMZ_DATE = '20240506T070809Z';
const OPTS: AuthOptions = { region: REGION, now: NOW, maxSkewMs: 15 * 60 * 1000 };
const lookup = (ak: string): string | undefined => (ak === ACCESS_KEY ? SECRET : undefined);

function lowerHeaders(headers: Record<string, string | number | string[] | undefined>): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  return out;
}

interface Aws4Input {
  method?: string;
  /** Path plus query, as sent on the wire. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  secret?: string;
  region?: string;
}

/** Signs with the `aws4` package and returns the request as the gateway would receive it. */
function signWithAws4(input: Aws4Input): AuthRequest {
  const opts = {
    host: HOST,
    method: input.method ?? 'GET',
    path: input.path,
    service: 's3',
    region: input.region ?? REGION,
    headers: { 'X-Amz-Date': AMZ_DATE, ...input.headers } as Record<string, string>,
    ...(input.body !== undefined ? { body: input.body } : {}),
  };
  aws4.sign(opts, { accessKeyId: ACCESS_KEY, secretAccessKey: input.secret ?? SECRET });
  const q = opts.path.indexOf('?');
  return {
    method: opts.method,
    rawPath: q < 0 ? opts.path : opts.path.slice(0, q),
    rawQuery: q < 0 ? '' : opts.path.slice(q + 1),
    headers: lowerHeaders({ ...opts.headers, host: HOST }),
    host: HOST,
  };
}


function smithySigner(secret = SECRET): SignatureV4 {
  return new SignatureV4({
    service: 's3',
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: secret },
    sha256: NodeSha256,
    uriEscapePath: false, // what the S3 client uses: the path is signed as serialized, not double-encoded
    applyChecksum: false,
  });
}

/** Encodes a key the way the AWS SDK serializer does (every reserved character escaped, '/' kept). */
function sdkEncodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()))
    .join('/');
}

describe('header auth signed with aws4', () => {
  it('accepts a GET with a query string, special characters in the key, and the empty-body hash', () => {
    const req = signWithAws4({ path: `/bucket/${sdkEncodeKey("dir/a b+c~é!'()*.txt")}?list-type=2&prefix=a%20b&delimiter=%2F&uploads` });
    const ctx = authenticate(req, lookup, OPTS);
    expect(ctx.accessKey).toBe(ACCESS_KEY);
    expect(ctx.presigned).toBe(false);
    expect(ctx.payload).toEqual({ kind: 'sha256', hash: signatureV4Helpers.EMPTY_SHA256 });
    expect(ctx.signing.scope).toBe(`20240506/${REGION}/s3/aws4_request`);
    expect(ctx.signing.amzDate).toBe(AMZ_DATE);
  });

  it('accepts a path the client sent with characters it did not escape', () => {
    const req = signWithAws4({ path: "/bucket/a!b'c(d)*e" });
    expect(req.rawPath).toBe("/bucket/a!b'c(d)*e");
    expect(authenticate(req, lookup, OPTS).accessKey).toBe(ACCESS_KEY);
  });

  it('accepts a PUT with a signed payload hash and extra signed headers with odd spacing', () => {
    const req = signWithAws4({
      method: 'PUT',
      path: '/bucket/key',
      body: 'hello world',
      headers: { 'Content-Type': 'text/plain', 'X-Amz-Meta-Note': '  two   spaces  here ' },
    });
    const ctx = authenticate(req, lookup, OPTS);
    expect(ctx.payload).toEqual({ kind: 'sha256', hash: createHash('sha256').update('hello world').digest('hex') });
  });

  it('accepts UNSIGNED-PAYLOAD and reports it', () => {
    const req = signWithAws4({ method: 'PUT', path: '/bucket/key', headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } });
    expect(authenticate(req, lookup, OPTS).payload).toEqual({ kind: 'unsigned' });
  });

  it('exposes a signing key equal to the spec derivation', () => {
    const ctx = authenticate(signWithAws4({ path: '/bucket' }), lookup, OPTS);
    const h = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();
    const expected = h(h(h(h('AWS4' + SECRET, '20240506'), REGION), 's3'), 'aws4_request');
    expect(ctx.signing.signingKey.equals(expected)).toBe(true);
  });

  it('rejects a wrong secret with SignatureDoesNotMatch and the canonical request for debugging', () => {
    const req = signWithAws4({ path: '/bucket/key', secret: 'not-the-secret' });
    const err = expectS3Error(() => authenticate(req, lookup, OPTS), 'SignatureDoesNotMatch', 403);
    expect(err.fields.CanonicalRequest).toContain('/bucket/key');
    expect(JSON.stringify(err)).not.toContain(SECRET);
    expect(err.message).not.toContain(SECRET);
  });

  it('rejects tampering with a signed header, the path, the query or the method', () => {
    const base = signWithAws4({ method: 'PUT', path: '/bucket/key?acl', headers: { 'X-Amz-Meta-A': 'one' }, body: 'x' });
    expectS3Error(() => authenticate({ ...base, headers: { ...base.headers, 'x-amz-meta-a': 'two' } }, lookup, OPTS), 'SignatureDoesNotMatch', 403);
    expectS3Error(() => authenticate({ ...base, rawPath: '/bucket/other' }, lookup, OPTS), 'SignatureDoesNotMatch', 403);
    expectS3Error(() => authenticate({ ...base, rawQuery: 'tagging' }, lookup, OPTS), 'SignatureDoesNotMatch', 403);
    expectS3Error(() => authenticate({ ...base, method: 'DELETE' }, lookup, OPTS), 'SignatureDoesNotMatch', 403);
    expectS3Error(() => authenticate({ ...base, host: 'evil.example:9000' }, lookup, OPTS), 'SignatureDoesNotMatch', 403);
    expect(authenticate(base, lookup, OPTS).accessKey).toBe(ACCESS_KEY);
  });

  it('rejects an unsigned x-amz-* header added after signing', () => {
    const base = signWithAws4({ method: 'PUT', path: '/bucket/key', body: 'x' });
    const err = expectS3Error(
      () => authenticate({ ...base, headers: { ...base.headers, 'x-amz-copy-source': '/other/secret' } }, lookup, OPTS),
      'AccessDenied',
      403,
    );
    expect(err.fields.HeadersNotSigned).toBe('x-amz-copy-source');
  });

  it('rejects an unknown access key', () => {
    const req = signWithAws4({ path: '/bucket' });
    const err = expectS3Error(() => authenticate(req, () => undefined, OPTS), 'InvalidAccessKeyId', 403);
    expect(err.fields.AWSAccessKeyId).toBe(ACCESS_KEY);
  });

  it('names the expected region when the credential scope uses another one', () => {
    const req = signWithAws4({ path: '/bucket', region: 'us-east-1' });
    const err = expectS3Error(() => authenticate(req, lookup, OPTS), 'AuthorizationHeaderMalformed', 400);
    expect(err.fields.Region).toBe(REGION);
    expect(err.message).toContain(`expecting '${REGION}'`);
  });

  it('rejects clock skew beyond the limit, in both directions, and accepts it within', () => {
    const req = signWithAws4({ path: '/bucket' });
    const skew = (ms: number): AuthOptions => ({ ...OPTS, now: new Date(NOW.getTime() + ms) });
    expectS3Error(() => authenticate(req, lookup, skew(16 * 60 * 1000)), 'RequestTimeTooSkewed', 403);
    expectS3Error(() => authenticate(req, lookup, skew(-16 * 60 * 1000)), 'RequestTimeTooSkewed', 403);
    expect(authenticate(req, lookup, skew(14 * 60 * 1000)).accessKey).toBe(ACCESS_KEY);
  });

  it('accepts the HTTP Date header as the timestamp when x-amz-date is absent', () => {
    // aws4 and the SDK always add x-amz-date, so this one is signed by hand, straight from the spec.
    const date = NOW.toUTCString();
    const emptyHash = createHash('sha256').update('').digest('hex');
    const canonical = ['GET', '/bucket', '', `date:${date}`, `host:${HOST}`, `x-amz-content-sha256:${emptyHash}`, '', 'date;host;x-amz-content-sha256', emptyHash].join('\n');
    const scope = `20240506/${REGION}/s3/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', AMZ_DATE, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
    const h = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();
    const signature = createHmac('sha256', h(h(h(h('AWS4' + SECRET, '20240506'), REGION), 's3'), 'aws4_request')).update(stringToSign).digest('hex');
    const headers: IncomingHttpHeaders = {
      host: HOST,
      date,
      'x-amz-content-sha256': emptyHash,
      authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/${scope}, SignedHeaders=date;host;x-amz-content-sha256, Signature=${signature}`,
    };
    const req: AuthRequest = { method: 'GET', rawPath: '/bucket', rawQuery: '', headers, host: HOST };
    expect(authenticate(req, lookup, OPTS).signing.amzDate).toBe(AMZ_DATE);
    expectS3Error(() => authenticate({ ...req, headers: { ...headers, date: undefined } }, lookup, OPTS), 'AccessDenied', 403);
    expectS3Error(() => authenticate({ ...req, headers: { ...headers, date: 'Mon, 06 May 2024 07:08:10 GMT' } }, lookup, OPTS), 'SignatureDoesNotMatch', 403);
  });

  it('requires x-amz-content-sha256 and validates its value', () => {
    const req = signWithAws4({ path: '/bucket' });
    const { 'x-amz-content-sha256': _dropped, ...withoutHash } = req.headers;
    const err = expectS3Error(() => authenticate({ ...req, headers: withoutHash }, lookup, OPTS), 'InvalidRequest', 400);
    expect(err.message).toContain('x-amz-content-sha256');
    const bogus = signWithAws4({ path: '/bucket', headers: { 'X-Amz-Content-Sha256': 'not-a-hash' } });
    expectS3Error(() => authenticate(bogus, lookup, OPTS), 'InvalidArgument', 400);
  });

  it('answers AccessDenied when there is no authentication at all', () => {
    expectS3Error(() => authenticate({ method: 'GET', rawPath: '/bucket', rawQuery: '', headers: { host: HOST }, host: HOST }, lookup, OPTS), 'AccessDenied', 403);
  });

  it('rejects malformed Authorization headers with 400s, never a crash', () => {
    const good = signWithAws4({ path: '/bucket' });
    const auth = good.headers.authorization as string;
    const sig = /Signature=([0-9a-f]+)/.exec(auth)?.[1] ?? '';
    const cases: Array<[string, string, number]> = [
      ['AWS4-HMAC-SHA256', 'AuthorizationHeaderMalformed', 400],
      ['AWS4-HMAC-SHA256 Credential=AKID/20240506/eu-central-1/s3/aws4_request', 'AuthorizationHeaderMalformed', 400],
      [`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20240506/eu-central-1/s3, SignedHeaders=host, Signature=${sig}`, 'AuthorizationHeaderMalformed', 400],
      [`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/2024-05-06/eu-central-1/s3/aws4_request, SignedHeaders=host, Signature=${sig}`, 'AuthorizationHeaderMalformed', 400],
      [`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20240506/eu-central-1/ec2/aws4_request, SignedHeaders=host, Signature=${sig}`, 'AuthorizationHeaderMalformed', 400],
      [`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20240507/eu-central-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${sig}`, 'AuthorizationHeaderMalformed', 400],
      [`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20240506/eu-central-1/s3/aws4_request, SignedHeaders=Host;X Y, Signature=${sig}`, 'AuthorizationHeaderMalformed', 400],
      [`AWS4-HMAC-SHA256 garbage`, 'AuthorizationHeaderMalformed', 400],
      ['Bearer abc', 'InvalidArgument', 400],
      [`AWS ${ACCESS_KEY}:c2lnbmF0dXJl`, 'InvalidRequest', 400],
      [`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20240506/eu-central-1/s3/aws4_request, SignedHeaders=x-amz-date, Signature=${sig}`, 'AccessDenied', 403],
      [auth.replace(/Signature=[0-9a-f]+/, 'Signature=zz'), 'SignatureDoesNotMatch', 403],
      [auth.replace(/Signature=[0-9a-f]+/, `Signature=${sig.toUpperCase()}`), 'SignatureDoesNotMatch', 403],
    ];
    for (const [value, code, status] of cases) {
      expectS3Error(() => authenticate({ ...good, headers: { ...good.headers, authorization: value } }, lookup, OPTS), code, status);
    }
  });

  it('rejects an Authorization header combined with presign parameters', () => {
    const good = signWithAws4({ path: '/bucket' });
    expectS3Error(() => authenticate({ ...good, rawQuery: 'X-Amz-Algorithm=AWS4-HMAC-SHA256' }, lookup, OPTS), 'InvalidArgument', 400);
  });
});

describe('header auth signed with the AWS SDK signer (@smithy/signature-v4)', () => {
  async function signWithSmithy(
    method: string,
    key: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    secret = SECRET,
  ): Promise<AuthRequest> {
    const path = `/bucket/${sdkEncodeKey(key)}`;
    const signed = await smithySigner(secret).sign(
      { method, protocol: 'http:', hostname: '127.0.0.1', port: 9000, path, query, headers: { host: HOST, ...headers } },
      { signingDate: NOW },
    );
    const rawQuery = Object.entries(query)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    return { method, rawPath: path, rawQuery, headers: lowerHeaders(signed.headers), host: HOST };
  }

  it('accepts SDK-signed requests with unicode keys, spaces and reserved characters', async () => {
    for (const key of ['plain.txt', 'dir/sub dir/naïve (1)+[2]&=;,$@.bin', '日本語/キー', "a!b'c*d~e"]) {
      const req = await signWithSmithy('PUT', key, { tagging: '', 'x-id': 'PutObject' }, {
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'content-type': 'application/octet-stream',
        'x-amz-meta-owner': 'team a',
      });
      expect(authenticate(req, lookup, OPTS).payload).toEqual({ kind: 'unsigned' });
    }
  });

  it('rejects an SDK-signed request whose query value was changed', async () => {
    const req = await signWithSmithy('GET', 'k', { prefix: 'a b', 'max-keys': '10' }, { 'x-amz-content-sha256': signatureV4Helpers.EMPTY_SHA256 });
    expect(authenticate(req, lookup, OPTS).accessKey).toBe(ACCESS_KEY);
    expectS3Error(() => authenticate({ ...req, rawQuery: req.rawQuery.replace('max-keys=10', 'max-keys=1000') }, lookup, OPTS), 'SignatureDoesNotMatch', 403);
  });

  it('rejects an SDK-signed request made with the wrong secret', async () => {
    const req = await signWithSmithy('GET', 'k', {}, { 'x-amz-content-sha256': signatureV4Helpers.EMPTY_SHA256 }, 'wrong');
    expectS3Error(() => authenticate(req, lookup, OPTS), 'SignatureDoesNotMatch', 403);
  });

  it('recognizes the streaming payload modes from x-amz-content-sha256', async () => {
    const modes: Array<[string, unknown]> = [
      ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', { kind: 'streaming-signed', trailer: false }],
      ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', { kind: 'streaming-signed', trailer: true }],
      ['STREAMING-UNSIGNED-PAYLOAD-TRAILER', { kind: 'streaming-unsigned', trailer: true }],
    ];
    for (const [value, mode] of modes) {
      const req = await signWithSmithy('PUT', 'k', {}, { 'x-amz-content-sha256': value, 'x-amz-decoded-content-length': '5' });
      expect(authenticate(req, lookup, OPTS).payload).toEqual(mode);
    }
  });
});

describe('canonicalization helpers', () => {
  it('encodes paths once, keeping slashes, and sorts the query by encoded name then value', () => {
    const { canonicalPath, canonicalQuery, parseQuery } = signatureV4Helpers;
    expect(canonicalPath('')).toBe('/');
    expect(canonicalPath('/b/a%20b/c+d/%7e/%2f')).toBe('/b/a%20b/c%2Bd/~//');
    expect(canonicalPath('/b/100%')).toBe('/b/100%25');
    expect(canonicalQuery(parseQuery('b=2&a=2&a=1&c&A=x+y&d=%7E'))).toBe('A=x%20y&a=1&a=2&b=2&c=&d=~');
    expect(canonicalQuery(parseQuery('X-Amz-Signature=abc&x=1'), 'X-Amz-Signature')).toBe('x=1');
  });
});
