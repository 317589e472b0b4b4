import { Errors } from '../s3-error.js';
import { may } from '../authorize.js';
import { readSmallBody } from '../body.js';
import { send, sendXml, header, type RequestContext } from '../context.js';
import { ProtocolErrors } from '../errors.js';
import { ownerXml } from '../owner.js';
import { UNCONFIGURED_BUCKET_GETS } from '../routing.js';
import { childText, el, escapeXml, isoDate, parseXmlBody, textEl, xmlDocument, S3_XMLNS } from '../xml.js';
import { bucketOf } from './common.js';
import { aclOfNewBucket } from './acl.js';
import { parseIntParam } from '../validation.js';

const MAX_BUCKETS_PAGE = 10_000;

/** ListBuckets: the buckets the user owns or the config lets it read; prefix, max-buckets and continuation-token. */
export async function listBuckets(ctx: RequestContext): Promise<void> {
  const user = ctx.user;
  if (!user) throw Errors.accessDenied();
  const prefix = ctx.query.get('prefix') ?? '';
  const maxBuckets = parseIntParam(ctx.query.get('max-buckets'), 'max-buckets', 1, MAX_BUCKETS_PAGE, MAX_BUCKETS_PAGE);
  const token = ctx.query.get('continuation-token');
  let after = '';
  if (token !== null && token !== '') {
    after = Buffer.from(token, 'base64url').toString('utf8');
    if (Buffer.from(after, 'utf8').toString('base64url') !== token) throw Errors.invalidArgument('The continuation token provided is incorrect', 'continuation-token', token);
  }
  const visible = (await ctx.deps.service.listBuckets())
    .filter((b) => b.owner === user.accessKey || may(user, b.name, 'read'))
    .filter((b) => b.name.startsWith(prefix) && b.name > after)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const page = visible.slice(0, maxBuckets);
  const last = page[page.length - 1];
  const truncated = visible.length > page.length && last !== undefined;
  sendXml(
    ctx,
    xmlDocument('ListAllMyBucketsResult', [
      ownerXml(user.accessKey),
      el('Buckets', page.map((b) => el('Bucket', [textEl('Name', b.name), textEl('CreationDate', isoDate(b.createdAt)), textEl('BucketRegion', b.region)]))),
      truncated ? textEl('ContinuationToken', Buffer.from(last.name, 'utf8').toString('base64url')) : undefined,
      prefix !== '' ? textEl('Prefix', prefix) : undefined,
    ]),
  );
}

export async function createBucket(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const owner = ctx.user?.accessKey ?? '';
  const { acl, ownership } = aclOfNewBucket(ctx, owner);
  const lockHeader = header(ctx, 'x-amz-bucket-object-lock-enabled')?.trim().toLowerCase();
  if (lockHeader !== undefined && lockHeader !== 'true' && lockHeader !== 'false') throw Errors.invalidArgument('Invalid x-amz-bucket-object-lock-enabled', 'x-amz-bucket-object-lock-enabled', lockHeader);
  const body = await readSmallBody(ctx);
  const region = ctx.deps.config.server.region;
  if (body.length > 0 && body.toString('utf8').trim() !== '') {
    const root = parseXmlBody(body.toString('utf8'), 'CreateBucketConfiguration');
    const constraint = childText(root, 'LocationConstraint')?.trim();
    // us-east-1 is spelled as no constraint; any other value must name our region.
    if (constraint !== undefined && constraint !== '' && constraint !== region) throw ProtocolErrors.illegalLocationConstraint(constraint);
  }
  const existing = await ctx.deps.service.getBucket(bucket);
  if (existing) {
    // S3: another account's bucket is BucketAlreadyExists; your own is a success in us-east-1 (contents untouched)
    // and BucketAlreadyOwnedByYou in every other region.
    if (existing.owner !== owner) throw Errors.bucketAlreadyExists(bucket);
    if (region !== 'us-east-1') throw Errors.bucketAlreadyOwnedByYou(bucket);
    send(ctx, 200, { location: `/${bucket}` });
    return;
  }
  await ctx.deps.service.createBucket(bucket, owner, { objectLock: lockHeader === 'true' });
  if (acl !== undefined) await ctx.deps.service.putBucketConfig(bucket, 'acl', JSON.stringify(acl));
  if (ownership !== undefined) await ctx.deps.service.putBucketConfig(bucket, 'ownership', ownership);
  ctx.access.invalidate(bucket);
  send(ctx, 200, { location: `/${bucket}` });
}

export async function headBucket(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const record = await ctx.deps.service.getBucket(bucket);
  if (!record) throw Errors.noSuchBucket(bucket);
  send(ctx, 200, { 'x-amz-bucket-region': record.region });
}

export async function deleteBucket(ctx: RequestContext): Promise<void> {
  await ctx.deps.service.deleteBucket(bucketOf(ctx));
  ctx.access.invalidate(bucketOf(ctx));
  send(ctx, 204, {});
}

async function existingBucket(ctx: RequestContext) {
  const bucket = bucketOf(ctx);
  const record = await ctx.deps.service.getBucket(bucket);
  if (!record) throw Errors.noSuchBucket(bucket);
  return record;
}

export async function getBucketLocation(ctx: RequestContext): Promise<void> {
  const record = await existingBucket(ctx);
  const region = record.region === 'us-east-1' ? '' : record.region;
  sendXml(ctx, `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${S3_XMLNS}">${escapeXml(region)}</LocationConstraint>`);
}

/** GET of bucket configuration we never have (cors, lifecycle, policy...): the specific 404 AWS gives. */
export async function getBucketUnconfigured(ctx: RequestContext): Promise<void> {
  const bucket = (await existingBucket(ctx)).name;
  for (const [name, error] of Object.entries(UNCONFIGURED_BUCKET_GETS)) {
    if (ctx.query.has(name)) throw ProtocolErrors.notConfigured(error.code, error.message, bucket);
  }
  throw Errors.internal();
}
