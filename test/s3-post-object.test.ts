/**
 * POST Object (HTML form uploads): forms made by the JS SDK's createPresignedPost and sent as multipart/form-data with
 * fetch, as a browser would. Policy conditions (eq, starts-with, content-length-range), extra fields, expiry, bad
 * signatures, success_action_status / _redirect, ACL, tagging and checksum fields, anonymous forms. (boto3's
 * generate_presigned_post: conformance/suites/sharing_suite.py.)
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, PutBucketAclCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { createPresignedPost, type PresignedPostOptions } from '@aws-sdk/s3-presigned-post';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSdkGateway, type SdkGateway } from './helpers/sdk.js';

const ADMIN = { accessKey: 'post-admin', secretKey: 'post-admin-secret-00000000000' };
const READER = { accessKey: 'post-reader', secretKey: 'post-reader-secret-0000000000' };

let gw: SdkGateway;
let s3: S3Client;
let readerS3: S3Client;

function sdk(user: { accessKey: string; secretKey: string }): S3Client {
  return new S3Client({ endpoint: gw.url, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secretKey } });
}

async function presign(client: S3Client, options: Partial<PresignedPostOptions> & { Key: string }) {
  return createPresignedPost(client, { Bucket: 'forms', Expires: 300, ...options });
}

async function post(url: string, fields: Record<string, string>, file: Buffer | string, filename = 'upload.bin', after: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([file]), filename);
  for (const [k, v] of Object.entries(after)) form.append(k, v);
  return fetch(url, { method: 'POST', body: form, redirect: 'manual' });
}

async function errorOf(res: Response): Promise<string> {
  const text = await res.text();
  return `${res.status} ${/<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? text}`;
}

async function read(key: string): Promise<string> {
  return (await (await s3.send(new GetObjectCommand({ Bucket: 'forms', Key: key }))).Body?.transformToString()) ?? '';
}

async function missing(key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: key }));
    return false;
  } catch (err) {
    if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return true;
    throw err;
  }
}

beforeAll(async () => {
  gw = await startSdkGateway('tessera-post-', [
    { ...ADMIN, buckets: { '*': 'admin' } },
    { ...READER, buckets: { forms: 'read' } },
  ]);
  s3 = sdk(ADMIN);
  readerS3 = sdk(READER);
  await s3.send(new CreateBucketCommand({ Bucket: 'forms' }));
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  readerS3?.destroy();
  await gw?.close();
});

describe('POST Object', () => {
  it('a signed form stores the file byte-exactly, with its fields as metadata; 204 by default with ETag and Location', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const { url, fields } = await presign(s3, {
      Key: 'uploads/${filename}',
      Conditions: [['starts-with', '$key', 'uploads/'], ['starts-with', '$Content-Type', 'image/'], { 'x-amz-meta-camera': 'nikon' }],
      Fields: { 'Content-Type': 'image/png', 'x-amz-meta-camera': 'nikon' },
    });
    const res = await post(url, fields, body, 'photo.png');
    expect(res.status).toBe(204);
    expect(res.headers.get('etag')).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    expect(res.headers.get('location')).toMatch(/\/forms\/uploads\/photo\.png$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'forms', Key: 'uploads/photo.png' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(got.ContentType).toBe('image/png');
    expect(got.Metadata).toEqual({ camera: 'nikon' });
    // Nothing of the spool stays behind.
    expect(await readdir(join(gw.dir, 'spool'))).toEqual([]);
  });

  it('success_action_status 201 answers a PostResponse document; 200 an empty body; success_action_redirect a 303', async () => {
    const created = await presign(s3, { Key: 'status/201', Fields: { success_action_status: '201' } });
    const res201 = await post(created.url, created.fields, 'x');
    expect(res201.status).toBe(201);
    const xml = await res201.text();
    expect(xml).toContain('<Bucket>forms</Bucket>');
    expect(xml).toContain('<Key>status/201</Key>');
    const ok = await presign(s3, { Key: 'status/200', Fields: { success_action_status: '200' } });
    expect((await post(ok.url, ok.fields, 'x')).status).toBe(200);
    const redirect = await presign(s3, { Key: 'status/redirect', Fields: { success_action_redirect: 'https://app.example/done?from=form' } });
    const res = await post(redirect.url, redirect.fields, 'x');
    expect(res.status).toBe(303);
    const to = new URL(res.headers.get('location') ?? '');
    expect([to.origin + to.pathname, to.searchParams.get('from'), to.searchParams.get('bucket'), to.searchParams.get('key'), to.searchParams.get('etag')]).toEqual([
      'https://app.example/done',
      'form',
      'forms',
      'status/redirect',
      `"${createHash('md5').update('x').digest('hex')}"`,
    ]);
  });

  it('the policy holds: a violated condition, an extra field, content-length-range, expiry, a bad signature; nothing is stored', async () => {
    const bounded = await presign(s3, { Key: 'bounded/a', Conditions: [['content-length-range', 10, 100]] });
    expect(await errorOf(await post(bounded.url, bounded.fields, 'x'.repeat(101)))).toBe('400 EntityTooLarge');
    expect(await errorOf(await post(bounded.url, bounded.fields, 'x'.repeat(9)))).toBe('400 EntityTooSmall');
    expect((await post(bounded.url, bounded.fields, 'x'.repeat(50))).status).toBe(204);

    const prefixed = await presign(s3, { Key: 'allowed/x', Conditions: [['starts-with', '$key', 'allowed/']] });
    expect(await errorOf(await post(prefixed.url, { ...prefixed.fields, key: 'elsewhere/x' }, 'x'))).toBe('403 AccessDenied');
    expect(await errorOf(await post(prefixed.url, { ...prefixed.fields, 'x-amz-meta-sneaky': '1' }, 'x'))).toBe('403 AccessDenied');
    expect(await errorOf(await post(prefixed.url, { ...prefixed.fields, 'x-amz-signature': '0'.repeat(64) }, 'x'))).toBe('403 SignatureDoesNotMatch');
    const expired = await presign(s3, { Key: 'late', Expires: -10 });
    expect(await errorOf(await post(expired.url, expired.fields, 'x'))).toBe('403 AccessDenied');
    const unknownUser = await presign(new S3Client({ endpoint: gw.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'nobody', secretAccessKey: 'nothing-at-all-000000' } }), { Key: 'x' });
    expect(await errorOf(await post(unknownUser.url, unknownUser.fields, 'x'))).toBe('403 InvalidAccessKeyId');
    // Fields after the file are ignored (S3's rule), so they can neither break nor change the policy.
    expect((await post(prefixed.url, prefixed.fields, 'kept', 'f', { 'x-amz-meta-after': 'ignored' })).status).toBe(204);
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'allowed/x' }))).Metadata).toEqual({});
    for (const key of ['bounded/a-too-big', 'elsewhere/x', 'late', 'x']) expect(await missing(key)).toBe(true);
  });

  it('the signer must be allowed to write: a read-only user signs a form in vain', async () => {
    const form = await presign(readerS3, { Key: 'by-reader' });
    expect(await errorOf(await post(form.url, form.fields, 'x'))).toBe('403 AccessDenied');
    expect(await missing('by-reader')).toBe(true);
  });

  it('acl, tagging and checksum fields work as on PUT: public-read is readable unsigned, a wrong checksum is BadDigest', async () => {
    const tagging = '<Tagging><TagSet><Tag><Key>split</Key><Value>train</Value></Tag></TagSet></Tagging>';
    const form = await presign(s3, { Key: 'fields/public', Fields: { acl: 'public-read', tagging }, Conditions: [{ acl: 'public-read' }, { tagging }] });
    expect((await post(form.url, form.fields, 'for everyone')).status).toBe(204);
    expect(await (await fetch(`${gw.url}/forms/fields/public`)).text()).toBe('for everyone');
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket: 'forms', Key: 'fields/public' }))).TagSet).toEqual([{ Key: 'split', Value: 'train' }]);
    const wrong = await presign(s3, { Key: 'fields/checksum', Fields: { 'x-amz-checksum-sha256': createHash('sha256').update('other').digest('base64') }, Conditions: [['starts-with', '$x-amz-checksum-sha256', '']] });
    expect(await errorOf(await post(wrong.url, wrong.fields, 'this'))).toBe('400 BadDigest');
    expect(await missing('fields/checksum')).toBe(true);
    const right = await presign(s3, { Key: 'fields/checksum', Fields: { 'x-amz-checksum-sha256': createHash('sha256').update('this').digest('base64') }, Conditions: [['starts-with', '$x-amz-checksum-sha256', '']] });
    expect((await post(right.url, right.fields, 'this')).status).toBe(204);
    expect(await read('fields/checksum')).toBe('this');
  });

  it('an unsigned form is anonymous: refused unless the bucket lets everyone write; a form without key or file is refused', async () => {
    expect(await errorOf(await post(`${gw.url}/forms`, { key: 'anon/one' }, 'x'))).toBe('403 AccessDenied');
    await s3.send(new PutBucketAclCommand({ Bucket: 'forms', ACL: 'public-read-write' }));
    try {
      expect((await post(`${gw.url}/forms`, { key: 'anon/one' }, 'anonymous')).status).toBe(204);
      expect(await read('anon/one')).toBe('anonymous');
    } finally {
      await s3.send(new PutBucketAclCommand({ Bucket: 'forms', ACL: 'private' }));
    }
    const form = await presign(s3, { Key: 'k' });
    const noKey = { ...form.fields } as Record<string, string>;
    delete noKey.key;
    expect(await errorOf(await post(form.url, noKey, 'x'))).toBe('400 InvalidArgument');
    const onlyFields = new FormData();
    for (const [k, v] of Object.entries(form.fields)) onlyFields.append(k, v);
    expect(await errorOf(await fetch(form.url, { method: 'POST', body: onlyFields }))).toBe('400 InvalidArgument');
    const broken = await fetch(form.url, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, body: '--xyz\r\nnot a part' });
    expect(await errorOf(broken)).toBe('400 MalformedPOSTRequest');
  });
});
