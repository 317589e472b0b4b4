/**
 * S3 as users share it: bucket owners, anonymous requests, bucket policies (Deny wins, conditions), canned bucket
 * ACLs, PublicAccessBlock, x-amz-expected-bucket-owner, ListBuckets pages. Clients: the JS SDK signed and unsigned,
 * and curl with no credentials at all.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  DeletePublicAccessBlockCommand,
  GetBucketAclCommand,
  GetBucketPolicyCommand,
  GetBucketPolicyStatusCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, sdkClient, startSdkGateway, type Creds, type SdkGateway } from './helpers/sdk.js';
import { ownerId } from '../src/s3/owner.js';

const run = promisify(execFile);
const ADMIN = { accessKey: 'share-admin', secretKey: 'share-admin-secret-0000000000' };
const ALICE = { accessKey: 'alice', secretKey: 'alice-secret-00000000000000000' };
const BOB = { accessKey: 'bob', secretKey: 'bob-secret-0000000000000000000' };

let gw: SdkGateway;
const clients: S3Client[] = [];

function client(user: Creds | null): S3Client {
  return sdkClient(gw.url, user, clients);
}


async function curlStatus(url: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', url]);
  const nl = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(nl + 1)), body: stdout.slice(0, nl) };
}

const policy = (statements: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const publicRead = (bucket: string) => policy([
  { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: `arn:aws:s3:::${bucket}/*` },
  { Effect: 'Allow', Principal: { AWS: '*' }, Action: 's3:ListBucket', Resource: `arn:aws:s3:::${bucket}` },
]);

beforeAll(async () => {
  gw = await startSdkGateway('tessera-sharing-', [
    { ...ADMIN, buckets: { '*': 'admin' } },
    { ...ALICE, buckets: { 'alice-data': 'admin', shared: 'admin' } },
    { ...BOB, buckets: { shared: 'admin', 'bob-stuff': 'admin' } },
  ]);
  const admin = client(ADMIN);
  await admin.send(new CreateBucketCommand({ Bucket: 'public-data' }));
  for (const key of ['open/a.txt', 'open/b.txt', 'secret/plan.txt']) await admin.send(new PutObjectCommand({ Bucket: 'public-data', Key: key, Body: `body of ${key}` }));
  await admin.send(new CreateBucketCommand({ Bucket: 'private-data' }));
  await admin.send(new PutObjectCommand({ Bucket: 'private-data', Key: 'x', Body: 'private' }));
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.destroy();
  await gw?.close();
});

describe('anonymous requests', () => {
  it('are refused with an S3 error wherever nothing grants them', async () => {
    const anon = client(null);
    expect(await failure(anon.send(new GetObjectCommand({ Bucket: 'private-data', Key: 'x' })))).toBe('403 AccessDenied');
    expect(await failure(anon.send(new ListObjectsV2Command({ Bucket: 'private-data' })))).toBe('403 AccessDenied');
    expect(await failure(anon.send(new ListBucketsCommand({})))).toBe('403 AccessDenied');
    // A bucket that does not exist is NoSuchBucket for anyone, as S3 answers; nothing reaches a handler.
    expect(await failure(anon.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'k', Body: 'x' })))).toBe('404 NoSuchBucket');
    expect(await failure(client(BOB).send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' })))).toBe('404 NoSuchBucket');
    const r = await curlStatus(`${gw.url}/private-data/x`);
    expect(r.status).toBe(403);
    expect(r.body).toContain('<Code>AccessDenied</Code>');
    expect(r.body).toMatch(/<RequestId>[0-9A-F]{16}<\/RequestId>/);
  });
});

describe('bucket policies', () => {
  it('a public-read policy publishes a dataset to unsigned clients and plain curl; writes stay refused', async () => {
    const admin = client(ADMIN);
    await admin.send(new PutBucketPolicyCommand({ Bucket: 'public-data', Policy: publicRead('public-data') }));
    const anon = client(null);
    const got = await anon.send(new GetObjectCommand({ Bucket: 'public-data', Key: 'open/a.txt' }));
    expect(await got.Body!.transformToString()).toBe('body of open/a.txt');
    expect((await anon.send(new ListObjectsV2Command({ Bucket: 'public-data', Prefix: 'open/' }))).Contents?.map((o) => o.Key)).toEqual(['open/a.txt', 'open/b.txt']);
    expect((await anon.send(new HeadObjectCommand({ Bucket: 'public-data', Key: 'open/b.txt' }))).ContentLength).toBe('body of open/b.txt'.length);
    expect(await curlStatus(`${gw.url}/public-data/open/b.txt`)).toEqual({ status: 200, body: 'body of open/b.txt' });
    expect(await failure(anon.send(new PutObjectCommand({ Bucket: 'public-data', Key: 'open/new', Body: 'x' })))).toBe('403 AccessDenied');
    // Bob has no grant on the bucket, but the policy's Principal "*" covers signed users too.
    const bob = client(BOB);
    expect(await (await bob.send(new GetObjectCommand({ Bucket: 'public-data', Key: 'open/a.txt' }))).Body!.transformToString()).toBe('body of open/a.txt');
    expect(await failure(bob.send(new PutObjectCommand({ Bucket: 'public-data', Key: 'open/new', Body: 'x' })))).toBe('403 AccessDenied');
    expect((await admin.send(new GetBucketPolicyStatusCommand({ Bucket: 'public-data' }))).PolicyStatus?.IsPublic).toBe(true);
    expect(JSON.parse((await admin.send(new GetBucketPolicyCommand({ Bucket: 'public-data' }))).Policy ?? '')).toEqual(JSON.parse(publicRead('public-data')));
  });

  it('an explicit Deny wins over every Allow, the config grants of an admin included', async () => {
    const admin = client(ADMIN);
    await admin.send(
      new PutBucketPolicyCommand({
        Bucket: 'public-data',
        Policy: policy([
          ...(JSON.parse(publicRead('public-data')) as { Statement: object[] }).Statement,
          { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::public-data/secret/*' },
        ]),
      }),
    );
    expect(await failure(client(null).send(new GetObjectCommand({ Bucket: 'public-data', Key: 'secret/plan.txt' })))).toBe('403 AccessDenied');
    expect(await failure(admin.send(new GetObjectCommand({ Bucket: 'public-data', Key: 'secret/plan.txt' })))).toBe('403 AccessDenied');
    expect((await admin.send(new GetObjectCommand({ Bucket: 'public-data', Key: 'open/a.txt' }))).ContentLength).toBeGreaterThan(0);
  });

  it('conditions: aws:SourceIp and s3:prefix', async () => {
    const admin = client(ADMIN);
    const anon = client(null);
    await admin.send(new PutBucketPolicyCommand({ Bucket: 'public-data', Policy: policy([{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::public-data/*', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } }]) }));
    expect(await failure(anon.send(new GetObjectCommand({ Bucket: 'public-data', Key: 'open/a.txt' })))).toBe('403 AccessDenied');
    await admin.send(new PutBucketPolicyCommand({ Bucket: 'public-data', Policy: policy([{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::public-data/*', Condition: { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '127.0.0.1/32'] } } }]) }));
    expect((await anon.send(new GetObjectCommand({ Bucket: 'public-data', Key: 'open/a.txt' }))).ContentLength).toBeGreaterThan(0);
    await admin.send(new PutBucketPolicyCommand({ Bucket: 'public-data', Policy: policy([{ Effect: 'Allow', Principal: '*', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::public-data', Condition: { StringLike: { 's3:prefix': 'open/*' } } }]) }));
    expect((await anon.send(new ListObjectsV2Command({ Bucket: 'public-data', Prefix: 'open/' }))).KeyCount).toBe(2);
    expect(await failure(anon.send(new ListObjectsV2Command({ Bucket: 'public-data' })))).toBe('403 AccessDenied');
    expect(await failure(anon.send(new ListObjectsV2Command({ Bucket: 'public-data', Prefix: 'secret/' })))).toBe('403 AccessDenied');
  });

  it('malformed policies are refused whole with MalformedPolicy; deleting one closes the bucket again', async () => {
    const admin = client(ADMIN);
    const bad = [
      '{not json',
      policy([{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::private-data/*' }]),
      policy([{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::public-data/*', Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01' } } }]),
      policy([{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::public-data/*', Condition: { StringEquals: { 'aws:MadeUpKey': 'x' } } }]),
      policy([{ Effect: 'Maybe', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::public-data/*' }]),
      policy([{ Effect: 'Allow', Principal: { Service: 'x' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::public-data/*' }]),
    ];
    for (const p of bad) expect(await failure(admin.send(new PutBucketPolicyCommand({ Bucket: 'public-data', Policy: p }))), p).toBe('400 MalformedPolicy');
    await admin.send(new DeleteBucketPolicyCommand({ Bucket: 'public-data' }));
    expect(await failure(admin.send(new GetBucketPolicyCommand({ Bucket: 'public-data' })))).toBe('404 NoSuchBucketPolicy');
    expect(await failure(client(null).send(new GetObjectCommand({ Bucket: 'public-data', Key: 'open/a.txt' })))).toBe('403 AccessDenied');
    // A user without a grant on the bucket cannot read or change its policy.
    expect(await failure(client(BOB).send(new PutBucketPolicyCommand({ Bucket: 'public-data', Policy: publicRead('public-data') })))).toBe('403 AccessDenied');
  });
});

describe('PublicAccessBlock', () => {
  it('BlockPublicPolicy refuses a public policy; RestrictPublicBuckets keeps anonymous users out of one', async () => {
    const admin = client(ADMIN);
    await admin.send(new PutBucketPolicyCommand({ Bucket: 'public-data', Policy: publicRead('public-data') }));
    await admin.send(new PutPublicAccessBlockCommand({ Bucket: 'public-data', PublicAccessBlockConfiguration: { RestrictPublicBuckets: true } }));
    expect(await failure(client(null).send(new GetObjectCommand({ Bucket: 'public-data', Key: 'open/a.txt' })))).toBe('403 AccessDenied');
    await admin.send(new PutPublicAccessBlockCommand({ Bucket: 'public-data', PublicAccessBlockConfiguration: { BlockPublicPolicy: true, BlockPublicAcls: true } }));
    expect((await admin.send(new GetPublicAccessBlockCommand({ Bucket: 'public-data' }))).PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: false, BlockPublicPolicy: true, RestrictPublicBuckets: false });
    expect(await failure(admin.send(new PutBucketPolicyCommand({ Bucket: 'public-data', Policy: publicRead('public-data') })))).toBe('403 AccessDenied');
    expect(await failure(admin.send(new PutBucketAclCommand({ Bucket: 'public-data', ACL: 'public-read' })))).toBe('403 AccessDenied');
    await admin.send(new DeletePublicAccessBlockCommand({ Bucket: 'public-data' }));
    expect(await failure(admin.send(new GetPublicAccessBlockCommand({ Bucket: 'public-data' })))).toBe('404 NoSuchPublicAccessBlockConfiguration');
    expect((await client(null).send(new GetObjectCommand({ Bucket: 'public-data', Key: 'open/a.txt' }))).ContentLength).toBeGreaterThan(0);
    await admin.send(new DeleteBucketPolicyCommand({ Bucket: 'public-data' }));
  });
});

describe('canned bucket ACLs', () => {
  it('public-read lets everyone list (not read objects, as in S3); authenticated-read any signed user; shown by GetBucketAcl', async () => {
    const admin = client(ADMIN);
    await admin.send(new PutBucketAclCommand({ Bucket: 'private-data', ACL: 'public-read' }));
    const acl = await admin.send(new GetBucketAclCommand({ Bucket: 'private-data' }));
    expect(acl.Grants?.map((g) => [g.Grantee?.Type, g.Grantee?.URI ?? g.Grantee?.ID, g.Permission])).toEqual([
      ['CanonicalUser', ownerId(ADMIN.accessKey), 'FULL_CONTROL'],
      ['Group', 'http://acs.amazonaws.com/groups/global/AllUsers', 'READ'],
    ]);
    const anon = client(null);
    expect((await anon.send(new ListObjectsV2Command({ Bucket: 'private-data' }))).KeyCount).toBe(1);
    expect(await failure(anon.send(new GetObjectCommand({ Bucket: 'private-data', Key: 'x' })))).toBe('403 AccessDenied');
    await admin.send(new PutBucketAclCommand({ Bucket: 'private-data', ACL: 'authenticated-read' }));
    expect(await failure(anon.send(new ListObjectsV2Command({ Bucket: 'private-data' })))).toBe('403 AccessDenied');
    expect((await client(BOB).send(new ListObjectsV2Command({ Bucket: 'private-data' }))).KeyCount).toBe(1);
    await admin.send(new PutBucketAclCommand({ Bucket: 'private-data', ACL: 'private' }));
    expect(await failure(client(BOB).send(new ListObjectsV2Command({ Bucket: 'private-data' })))).toBe('403 AccessDenied');
  });

  it('an unknown canned ACL is 400; one whose grantee does not exist here (LogDelivery, EC2) is 501, never ignored', async () => {
    const admin = client(ADMIN);
    expect(await failure(admin.send(new PutBucketAclCommand({ Bucket: 'private-data', ACL: 'public-rw' as 'private' })))).toBe('400 InvalidArgument');
    expect(await failure(admin.send(new PutObjectCommand({ Bucket: 'private-data', Key: 'y', Body: 'x', ACL: 'aws-exec-read' })))).toBe('501 NotImplemented');
    expect(await failure(admin.send(new PutBucketAclCommand({ Bucket: 'private-data', GrantWrite: 'uri="http://acs.amazonaws.com/groups/s3/LogDelivery"' })))).toBe('501 NotImplemented');
    expect(await failure(admin.send(new HeadObjectCommand({ Bucket: 'private-data', Key: 'y' })))).toBe('404 NotFound');
  });

  it('a bucket created with x-amz-acl public-read is listable at once', async () => {
    await client(ADMIN).send(new CreateBucketCommand({ Bucket: 'born-public', ACL: 'public-read' }));
    expect((await client(null).send(new ListObjectsV2Command({ Bucket: 'born-public' }))).KeyCount).toBe(0);
  });
});

describe('owners', () => {
  it("CreateBucket of another user's bucket is BucketAlreadyExists; the owner's own is a success in us-east-1", async () => {
    const alice = client(ALICE);
    await alice.send(new CreateBucketCommand({ Bucket: 'shared' }));
    expect(await failure(client(BOB).send(new CreateBucketCommand({ Bucket: 'shared' })))).toBe('409 BucketAlreadyExists');
    await alice.send(new CreateBucketCommand({ Bucket: 'shared' }));
    expect((await client(ADMIN).send(new GetBucketAclCommand({ Bucket: 'shared' }))).Owner?.ID).toBe(ownerId(ALICE.accessKey));
  });

  it('x-amz-expected-bucket-owner must name the owner (canonical id or access key), else 403', async () => {
    const alice = client(ALICE);
    await alice.send(new CreateBucketCommand({ Bucket: 'alice-data' }));
    await alice.send(new PutObjectCommand({ Bucket: 'alice-data', Key: 'k', Body: 'v', ExpectedBucketOwner: ownerId(ALICE.accessKey) }));
    expect(await failure(alice.send(new GetObjectCommand({ Bucket: 'alice-data', Key: 'k', ExpectedBucketOwner: ownerId(BOB.accessKey) })))).toBe('403 AccessDenied');
    expect((await alice.send(new HeadObjectCommand({ Bucket: 'alice-data', Key: 'k', ExpectedBucketOwner: ALICE.accessKey }))).ContentLength).toBe(1);
  });

  it('ListBuckets: what the user may see, with prefix, max-buckets and continuation-token pages', async () => {
    const admin = client(ADMIN);
    for (const b of ['page-a', 'page-b', 'page-c']) await admin.send(new CreateBucketCommand({ Bucket: b }));
    const first = await admin.send(new ListBucketsCommand({ Prefix: 'page-', MaxBuckets: 2 }));
    expect(first.Buckets?.map((b) => b.Name)).toEqual(['page-a', 'page-b']);
    expect(first.ContinuationToken).toBeDefined();
    const rest = await admin.send(new ListBucketsCommand({ Prefix: 'page-', MaxBuckets: 2, ContinuationToken: first.ContinuationToken }));
    expect(rest.Buckets?.map((b) => b.Name)).toEqual(['page-c']);
    expect(rest.ContinuationToken).toBeUndefined();
    // Bob sees the buckets his grants name (and any he owns), not the others.
    const bobs = (await client(BOB).send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
    expect(bobs).toEqual(['shared']);
  });
});

describe('CORS', () => {
  const rules = {
    CORSRules: [
      { AllowedOrigins: ['https://app.example.com'], AllowedMethods: ['GET', 'PUT'], AllowedHeaders: ['content-type', 'x-amz-*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 600 },
      { AllowedOrigins: ['*'], AllowedMethods: ['GET'] },
    ],
  };
  const preflight = (bucket: string, origin: string, method: string, headers?: string) =>
    fetch(`${gw.url}/${bucket}/open/a.txt`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) } });

  it('Put/Get/DeleteBucketCors round-trip; an unsupported method is refused', async () => {
    const { PutBucketCorsCommand, GetBucketCorsCommand, DeleteBucketCorsCommand } = await import('@aws-sdk/client-s3');
    const admin = client(ADMIN);
    expect(await failure(admin.send(new GetBucketCorsCommand({ Bucket: 'public-data' })))).toBe('404 NoSuchCORSConfiguration');
    expect(await failure(admin.send(new PutBucketCorsCommand({ Bucket: 'public-data', CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }] } })))).toBe('400 InvalidRequest');
    await admin.send(new PutBucketCorsCommand({ Bucket: 'public-data', CORSConfiguration: rules }));
    const back = await admin.send(new GetBucketCorsCommand({ Bucket: 'public-data' }));
    expect(back.CORSRules?.map((r) => [r.AllowedOrigins, r.AllowedMethods, r.AllowedHeaders ?? [], r.ExposeHeaders ?? [], r.MaxAgeSeconds])).toEqual([
      [['https://app.example.com'], ['GET', 'PUT'], ['content-type', 'x-amz-*'], ['ETag'], 600],
      [['*'], ['GET'], [], [], undefined],
    ]);
    await admin.send(new DeleteBucketCorsCommand({ Bucket: 'public-data' }));
    expect((await preflight('public-data', 'https://app.example.com', 'GET')).status).toBe(403);
  });

  it('preflights are answered from the rules, unsigned; actual requests carry the CORS headers, errors too', async () => {
    const { PutBucketCorsCommand } = await import('@aws-sdk/client-s3');
    await client(ADMIN).send(new PutBucketCorsCommand({ Bucket: 'public-data', CORSConfiguration: rules }));
    const ok = await preflight('public-data', 'https://app.example.com', 'PUT', 'Content-Type, X-Amz-Date');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET, PUT');
    expect(ok.headers.get('access-control-allow-headers')).toBe('Content-Type, X-Amz-Date');
    expect(ok.headers.get('access-control-max-age')).toBe('600');
    const any = await preflight('public-data', 'https://other.example', 'GET');
    expect([any.status, any.headers.get('access-control-allow-origin')]).toEqual([200, '*']);
    const refused = await preflight('public-data', 'https://other.example', 'PUT');
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('<Code>AccessForbidden</Code>');
    expect((await preflight('public-data', 'https://app.example.com', 'PUT', 'x-forbidden-header')).status).toBe(403);
    expect((await preflight('private-data', 'https://app.example.com', 'GET')).status).toBe(403);
    expect((await preflight('no-such-bucket-cors', 'https://app.example.com', 'GET')).status).toBe(404);
    // An actual (anonymous, here refused) GET from the app's origin: the browser may read the 403 thanks to the headers.
    const denied = await fetch(`${gw.url}/public-data/open/a.txt`, { headers: { origin: 'https://app.example.com' } });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(denied.headers.get('access-control-expose-headers')).toBe('ETag');
    const noOrigin = await fetch(`${gw.url}/public-data/open/a.txt`);
    expect(noOrigin.headers.get('access-control-allow-origin')).toBeNull();
  });
});
