/**
 * ACLs and Object Ownership as S3 defines them, with the JS SDK as several users and unsigned: grants by canned ACL,
 * x-amz-grant-* headers and AccessControlPolicy documents, on buckets and objects; object owners in listings;
 * BucketOwnerEnforced / BucketOwnerPreferred; PublicAccessBlock against ACLs. (boto3: conformance/suites/sharing_suite.py.)
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketOwnershipControlsCommand,
  GetBucketAclCommand,
  GetBucketOwnershipControlsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketOwnershipControlsCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  DeletePublicAccessBlockCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, sdkClient, startSdkGateway, type Creds, type SdkGateway } from './helpers/sdk.js';
import { ownerId } from '../src/s3/owner.js';

const ADMIN: Creds = { accessKey: 'acl-admin', secretKey: 'acl-admin-secret-000000000000' };
const ALICE: Creds = { accessKey: 'alice', secretKey: 'alice-secret-00000000000000000' };
const BOB: Creds = { accessKey: 'bob', secretKey: 'bob-secret-0000000000000000000' };
const CAROL: Creds = { accessKey: 'carol', secretKey: 'carol-secret-00000000000000000' };
const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
const AUTHENTICATED = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';

let gw: SdkGateway;
const clients: S3Client[] = [];

function client(user: Creds | null): S3Client {
  return sdkClient(gw.url, user, clients);
}


async function read(c: S3Client, bucket: string, key: string): Promise<string> {
  const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await res.Body?.transformToString()) ?? '';
}

const grantsOf = (acl: { Grants?: Array<{ Grantee?: { Type?: string; ID?: string; URI?: string }; Permission?: string }> }) =>
  (acl.Grants ?? []).map((g) => [g.Grantee?.Type, g.Grantee?.ID ?? g.Grantee?.URI, g.Permission]);

beforeAll(async () => {
  gw = await startSdkGateway('tessera-acl-', [
    { ...ADMIN, buckets: { '*': 'admin' } },
    // Alice may create her bucket; Bob and Carol have no grants of the operator's at all: only ACLs let them in.
    { ...ALICE, buckets: { 'alice-team': 'admin' } },
    { ...BOB, buckets: { 'no-such-bucket': 'read' } },
    { ...CAROL, buckets: { 'no-such-bucket': 'read' } },
  ]);
  await client(ALICE).send(new CreateBucketCommand({ Bucket: 'alice-team' }));
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.destroy();
  await gw?.close();
});

describe('bucket ACL grants to users', () => {
  it('x-amz-grant-* headers let a user with no config grants write and list; others stay out; GetBucketAcl shows them', async () => {
    const alice = client(ALICE);
    await alice.send(new PutBucketAclCommand({ Bucket: 'alice-team', GrantWrite: `id="${ownerId(BOB.accessKey)}"`, GrantRead: `id=${ownerId(BOB.accessKey)}`, GrantFullControl: `id="${ownerId(ALICE.accessKey)}"` }));
    expect(grantsOf(await alice.send(new GetBucketAclCommand({ Bucket: 'alice-team' })))).toEqual([
      ['CanonicalUser', ownerId(ALICE.accessKey), 'FULL_CONTROL'],
      ['CanonicalUser', ownerId(BOB.accessKey), 'READ'],
      ['CanonicalUser', ownerId(BOB.accessKey), 'WRITE'],
    ]);
    const bob = client(BOB);
    await bob.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'from-bob', Body: 'bob wrote this' }));
    expect((await bob.send(new ListObjectsV2Command({ Bucket: 'alice-team' }))).KeyCount).toBe(1);
    expect(await failure(client(CAROL).send(new ListObjectsV2Command({ Bucket: 'alice-team' })))).toBe('403 AccessDenied');
    expect(await failure(client(CAROL).send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'carol', Body: 'x' })))).toBe('403 AccessDenied');
    // READ_ACP / WRITE_ACP are their own permissions: Bob may not read or change the bucket's ACL.
    expect(await failure(bob.send(new GetBucketAclCommand({ Bucket: 'alice-team' })))).toBe('403 AccessDenied');
    expect(await failure(bob.send(new PutBucketAclCommand({ Bucket: 'alice-team', ACL: 'public-read' })))).toBe('403 AccessDenied');
  });

  it('an AccessControlPolicy document replaces the ACL whole; a grant to an unknown id or e-mail is refused', async () => {
    const alice = client(ALICE);
    const owner = { ID: ownerId(ALICE.accessKey) };
    await alice.send(
      new PutBucketAclCommand({
        Bucket: 'alice-team',
        AccessControlPolicy: {
          Owner: owner,
          Grants: [
            { Grantee: { Type: 'CanonicalUser', ID: ownerId(ALICE.accessKey) }, Permission: 'FULL_CONTROL' },
            { Grantee: { Type: 'CanonicalUser', ID: ownerId(BOB.accessKey) }, Permission: 'WRITE' },
            { Grantee: { Type: 'CanonicalUser', ID: ownerId(BOB.accessKey) }, Permission: 'READ' },
            { Grantee: { Type: 'CanonicalUser', ID: ownerId(CAROL.accessKey) }, Permission: 'READ_ACP' },
          ],
        },
      }),
    );
    const carol = client(CAROL);
    const acl = await carol.send(new GetBucketAclCommand({ Bucket: 'alice-team' }));
    expect(acl.Owner?.ID).toBe(owner.ID);
    expect(acl.Grants?.find((g) => g.Grantee?.ID === ownerId(CAROL.accessKey))?.Grantee?.DisplayName).toBe(CAROL.accessKey);
    expect(grantsOf(acl)).toContainEqual(['CanonicalUser', ownerId(CAROL.accessKey), 'READ_ACP']);
    const bad = (grantee: { Type: 'CanonicalUser' | 'AmazonCustomerByEmail' | 'Group'; ID?: string; EmailAddress?: string; URI?: string }) =>
      failure(alice.send(new PutBucketAclCommand({ Bucket: 'alice-team', AccessControlPolicy: { Owner: owner, Grants: [{ Grantee: grantee, Permission: 'READ' }] } })));
    expect(await bad({ Type: 'CanonicalUser', ID: 'f'.repeat(64) })).toBe('400 InvalidArgument');
    expect(await bad({ Type: 'AmazonCustomerByEmail', EmailAddress: 'someone@example.com' })).toBe('400 UnresolvableGrantByEmailAddress');
    expect(await bad({ Type: 'Group', URI: 'http://acs.amazonaws.com/groups/global/Everyone' })).toBe('400 InvalidArgument');
    expect(await failure(alice.send(new PutBucketAclCommand({ Bucket: 'alice-team', AccessControlPolicy: { Owner: { ID: ownerId(BOB.accessKey) }, Grants: [] } })))).toBe('400 MalformedACLError');
    // Nothing of a refused document was applied.
    expect(grantsOf(await carol.send(new GetBucketAclCommand({ Bucket: 'alice-team' })))).toContainEqual(['CanonicalUser', ownerId(BOB.accessKey), 'WRITE']);
  });
});

describe('object owners and object ACLs', () => {
  it('the writer owns what it writes: Owner in ListObjects v1 always, in v2 with fetch-owner, and in GetObjectAcl', async () => {
    const alice = client(ALICE);
    await alice.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'from-alice', Body: 'alice wrote this' }));
    const v1 = await alice.send(new ListObjectsCommand({ Bucket: 'alice-team' }));
    expect(Object.fromEntries((v1.Contents ?? []).map((o) => [o.Key, o.Owner?.ID]))).toEqual({ 'from-alice': ownerId(ALICE.accessKey), 'from-bob': ownerId(BOB.accessKey) });
    expect(v1.Contents?.find((o) => o.Key === 'from-bob')?.Owner?.DisplayName).toBe(BOB.accessKey);
    const v2 = await alice.send(new ListObjectsV2Command({ Bucket: 'alice-team', FetchOwner: true }));
    expect(v2.Contents?.find((o) => o.Key === 'from-bob')?.Owner?.ID).toBe(ownerId(BOB.accessKey));
    expect((await alice.send(new ListObjectsV2Command({ Bucket: 'alice-team' }))).Contents?.[0]?.Owner).toBeUndefined();
    const acl = await client(BOB).send(new GetObjectAclCommand({ Bucket: 'alice-team', Key: 'from-bob' }));
    expect(acl.Owner?.ID).toBe(ownerId(BOB.accessKey));
    expect(grantsOf(acl)).toEqual([['CanonicalUser', ownerId(BOB.accessKey), 'FULL_CONTROL']]);
  });

  it("an object's owner reads it and grants it on; READ lets a grantee GET it, and only that object", async () => {
    const bob = client(BOB);
    const carol = client(CAROL);
    expect(await read(bob, 'alice-team', 'from-bob')).toBe('bob wrote this');
    // The bucket's READ lists; it does not read objects (as in S3).
    expect(await failure(bob.send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'from-alice' })))).toBe('403 AccessDenied');
    expect(await failure(carol.send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'from-bob' })))).toBe('403 AccessDenied');
    await bob.send(new PutObjectAclCommand({ Bucket: 'alice-team', Key: 'from-bob', GrantRead: `id="${ownerId(CAROL.accessKey)}"`, GrantFullControl: `id="${ownerId(BOB.accessKey)}"` }));
    expect(await read(carol, 'alice-team', 'from-bob')).toBe('bob wrote this');
    expect(await failure(carol.send(new GetObjectAclCommand({ Bucket: 'alice-team', Key: 'from-bob' })))).toBe('403 AccessDenied');
    expect(await failure(carol.send(new PutObjectAclCommand({ Bucket: 'alice-team', Key: 'from-bob', ACL: 'public-read' })))).toBe('403 AccessDenied');
    // The bucket owner keeps full use of its bucket (see docs/CONFORMANCE.md).
    expect(await read(client(ALICE), 'alice-team', 'from-bob')).toBe('bob wrote this');
    // A missing key is 403 to whoever the bucket does not let read, as S3 (no existence leak).
    expect(await failure(carol.send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'nothing-here' })))).toBe('403 AccessDenied');
  });

  it('canned public-read on PutObject, CopyObject and multipart publishes exactly those objects to anonymous clients', async () => {
    const alice = client(ALICE);
    const anon = client(null);
    await alice.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'pub/put', Body: 'public put', ACL: 'public-read' }));
    await alice.send(new CopyObjectCommand({ Bucket: 'alice-team', Key: 'pub/copy', CopySource: 'alice-team/from-alice', ACL: 'public-read' }));
    const mp = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'alice-team', Key: 'pub/multipart', ACL: 'public-read' }));
    const part = await alice.send(new UploadPartCommand({ Bucket: 'alice-team', Key: 'pub/multipart', UploadId: mp.UploadId, PartNumber: 1, Body: 'one part' }));
    await alice.send(new CompleteMultipartUploadCommand({ Bucket: 'alice-team', Key: 'pub/multipart', UploadId: mp.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    expect(await read(anon, 'alice-team', 'pub/put')).toBe('public put');
    expect(await read(anon, 'alice-team', 'pub/copy')).toBe('alice wrote this');
    expect(await read(anon, 'alice-team', 'pub/multipart')).toBe('one part');
    expect(await failure(anon.send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'from-alice' })))).toBe('403 AccessDenied');
    expect(grantsOf(await alice.send(new GetObjectAclCommand({ Bucket: 'alice-team', Key: 'pub/multipart' })))).toEqual([
      ['CanonicalUser', ownerId(ALICE.accessKey), 'FULL_CONTROL'],
      ['Group', ALL_USERS, 'READ'],
    ]);
    // Overwriting an object gives it the new write's ACL (private here).
    await alice.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'pub/put', Body: 'now private' }));
    expect(await failure(anon.send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'pub/put' })))).toBe('403 AccessDenied');
  });

  it('an AccessControlPolicy on an object: AuthenticatedUsers READ lets any signed user read, not anonymous ones', async () => {
    const alice = client(ALICE);
    await alice.send(
      new PutObjectAclCommand({
        Bucket: 'alice-team',
        Key: 'from-alice',
        AccessControlPolicy: {
          Owner: { ID: ownerId(ALICE.accessKey) },
          Grants: [
            { Grantee: { Type: 'CanonicalUser', ID: ownerId(ALICE.accessKey) }, Permission: 'FULL_CONTROL' },
            { Grantee: { Type: 'Group', URI: AUTHENTICATED }, Permission: 'READ' },
          ],
        },
      }),
    );
    expect(await read(client(CAROL), 'alice-team', 'from-alice')).toBe('alice wrote this');
    expect(await failure(client(null).send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'from-alice' })))).toBe('403 AccessDenied');
  });

  it('PublicAccessBlock: BlockPublicAcls refuses public ACLs, IgnorePublicAcls takes away what they gave', async () => {
    const alice = client(ALICE);
    await alice.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'pub/block', Body: 'was public', ACL: 'public-read' }));
    await alice.send(new PutPublicAccessBlockCommand({ Bucket: 'alice-team', PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true } }));
    expect(await failure(alice.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'pub/refused', Body: 'x', ACL: 'public-read' })))).toBe('403 AccessDenied');
    expect(await failure(alice.send(new PutObjectAclCommand({ Bucket: 'alice-team', Key: 'from-alice', ACL: 'public-read' })))).toBe('403 AccessDenied');
    expect(await failure(client(null).send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'pub/block' })))).toBe('403 AccessDenied');
    // A grant to a single user is not public: it still counts.
    expect(await read(client(CAROL), 'alice-team', 'from-bob')).toBe('bob wrote this');
    await alice.send(new DeletePublicAccessBlockCommand({ Bucket: 'alice-team' }));
    expect(await read(client(null), 'alice-team', 'pub/block')).toBe('was public');
  });
});

describe('Object Ownership', () => {
  it('a bucket has no ownership controls until set; Put/Get/Delete round-trip; a bad rule is MalformedXML', async () => {
    const alice = client(ALICE);
    expect(await failure(alice.send(new GetBucketOwnershipControlsCommand({ Bucket: 'alice-team' })))).toBe('404 OwnershipControlsNotFoundError');
    await alice.send(new PutBucketOwnershipControlsCommand({ Bucket: 'alice-team', OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] } }));
    expect((await alice.send(new GetBucketOwnershipControlsCommand({ Bucket: 'alice-team' }))).OwnershipControls?.Rules).toEqual([{ ObjectOwnership: 'BucketOwnerPreferred' }]);
    expect(await failure(alice.send(new PutBucketOwnershipControlsCommand({ Bucket: 'alice-team', OwnershipControls: { Rules: [{ ObjectOwnership: 'Nobody' as 'ObjectWriter' }] } })))).toBe(
      '400 MalformedXML',
    );
    expect(await failure(client(BOB).send(new PutBucketOwnershipControlsCommand({ Bucket: 'alice-team', OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] } })))).toBe(
      '403 AccessDenied',
    );
  });

  it('BucketOwnerPreferred: an object written with bucket-owner-full-control belongs to the bucket owner', async () => {
    const bob = client(BOB);
    await bob.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'preferred/handed-over', Body: 'x', ACL: 'bucket-owner-full-control' }));
    await bob.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'preferred/kept', Body: 'y' }));
    const owners = Object.fromEntries(((await client(ALICE).send(new ListObjectsCommand({ Bucket: 'alice-team', Prefix: 'preferred/' }))).Contents ?? []).map((o) => [o.Key, o.Owner?.ID]));
    expect(owners).toEqual({ 'preferred/handed-over': ownerId(ALICE.accessKey), 'preferred/kept': ownerId(BOB.accessKey) });
  });

  it('BucketOwnerEnforced: ACLs are off (setting one is AccessControlListNotSupported), the bucket owner owns every object', async () => {
    const alice = client(ALICE);
    const carol = client(CAROL);
    expect(await read(carol, 'alice-team', 'from-bob')).toBe('bob wrote this');
    const enforce = () => alice.send(new PutBucketOwnershipControlsCommand({ Bucket: 'alice-team', OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] } }));
    // The bucket's ACL still grants Bob: it must go first.
    expect(await failure(enforce())).toBe('400 InvalidBucketAclWithObjectOwnership');
    await alice.send(new PutBucketAclCommand({ Bucket: 'alice-team', ACL: 'private' }));
    await enforce();
    // Object ACLs no longer count: Carol's grant on Bob's object and the public-read objects are gone in effect.
    expect(await failure(carol.send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'from-bob' })))).toBe('403 AccessDenied');
    expect(await failure(client(BOB).send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'from-bob' })))).toBe('403 AccessDenied');
    expect(await failure(client(null).send(new GetObjectCommand({ Bucket: 'alice-team', Key: 'pub/multipart' })))).toBe('403 AccessDenied');
    expect(await failure(alice.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'x', Body: 'x', ACL: 'public-read' })))).toBe('400 AccessControlListNotSupported');
    expect(await failure(alice.send(new PutBucketAclCommand({ Bucket: 'alice-team', ACL: 'public-read' })))).toBe('400 AccessControlListNotSupported');
    await alice.send(new PutObjectCommand({ Bucket: 'alice-team', Key: 'enforced/ok', Body: 'x', ACL: 'bucket-owner-full-control' }));
    const v1 = await alice.send(new ListObjectsCommand({ Bucket: 'alice-team' }));
    expect(new Set((v1.Contents ?? []).map((o) => o.Owner?.ID))).toEqual(new Set([ownerId(ALICE.accessKey)]));
    expect((await alice.send(new GetObjectAclCommand({ Bucket: 'alice-team', Key: 'from-bob' }))).Owner?.ID).toBe(ownerId(ALICE.accessKey));
    // Turning the controls off again brings the stored ACLs and owners back, untouched.
    await alice.send(new DeleteBucketOwnershipControlsCommand({ Bucket: 'alice-team' }));
    expect(await read(carol, 'alice-team', 'from-bob')).toBe('bob wrote this');
  });

  it('BucketOwnerEnforced cannot meet an ACL that grants others, at CreateBucket or later', async () => {
    const admin = client(ADMIN);
    expect(await failure(admin.send(new CreateBucketCommand({ Bucket: 'enforced-public', ACL: 'public-read', ObjectOwnership: 'BucketOwnerEnforced' })))).toBe(
      '400 InvalidBucketAclWithObjectOwnership',
    );
    await admin.send(new CreateBucketCommand({ Bucket: 'enforced-later', ACL: 'public-read' }));
    expect(await failure(admin.send(new PutBucketOwnershipControlsCommand({ Bucket: 'enforced-later', OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] } })))).toBe(
      '400 InvalidBucketAclWithObjectOwnership',
    );
    await admin.send(new CreateBucketCommand({ Bucket: 'enforced-born', ObjectOwnership: 'BucketOwnerEnforced' }));
    expect((await admin.send(new GetBucketOwnershipControlsCommand({ Bucket: 'enforced-born' }))).OwnershipControls?.Rules?.[0]?.ObjectOwnership).toBe('BucketOwnerEnforced');
  });
});
