import { Errors } from '../s3-error.js';
import { may } from '../authorize.js';
import { readSmallBody } from '../body.js';
import { send, sendXml, header, type RequestContext } from '../context.js';
import { ProtocolErrors } from '../errors.js';
import { ownerXml, ownerId } from '../owner.js';
import { UNCONFIGURED_BUCKET_GETS } from '../routing.js';
import { childText, el, escapeXml, isoDate, parseXmlBody, textEl, xmlDocument, S3_XMLNS } from '../xml.js';
import { assertPrivateAcl, bucketOf } from './common.js';

export async function listBuckets(ctx: RequestContext): Promise<void> {
  const user = ctx.user;
  if (!user) throw Errors.accessDenied();
  const buckets = (await ctx.deps.service.listBuckets()).filter((b) => may(user, b.name, 'read')).sort((a, b) => (a.name < b.name ? -1 : 1));
  const prefix = ctx.query.get('prefix') ?? '';
  sendXml(
    ctx,
    xmlDocument('ListAllMyBucketsResult', [
      ownerXml(user.accessKey),
      el(
        'Buckets',
        buckets
          .filter((b) => b.name.startsWith(prefix))
          .map((b) => el('Bucket', [textEl('Name', b.name), textEl('CreationDate', isoDate(b.createdAt)), textEl('BucketRegion', b.region)])),
      ),
      prefix !== '' ? textEl('Prefix', prefix) : undefined,
    ]),
  );
}

export async function createBucket(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  assertPrivateAcl(ctx);
  if ((header(ctx, 'x-amz-bucket-object-lock-enabled') ?? '').toLowerCase() === 'true') throw Errors.notImplemented('object lock');
  const body = await readSmallBody(ctx);
  const region = ctx.deps.config.server.region;
  if (body.length > 0 && body.toString('utf8').trim() !== '') {
    const root = parseXmlBody(body.toString('utf8'), 'CreateBucketConfiguration');
    const constraint = childText(root, 'LocationConstraint')?.trim();
    // us-east-1 is spelled as no constraint; any other value must name our region.
    if (constraint !== undefined && constraint !== '' && constraint !== region) throw ProtocolErrors.illegalLocationConstraint(constraint);
  }
  await ctx.deps.service.createBucket(bucket, ctx.user?.accessKey ?? '');
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

export async function getBucketVersioning(ctx: RequestContext): Promise<void> {
  await existingBucket(ctx);
  sendXml(ctx, xmlDocument('VersioningConfiguration', []));
}

/** The only ACL that is true here: the owner has FULL_CONTROL and nobody else has anything. */
function privateAclXml(owner: string): string {
  return xmlDocument('AccessControlPolicy', [
    ownerXml(owner),
    el('AccessControlList', [
      `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${ownerId(owner)}</ID><DisplayName>${escapeXml(owner)}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>`,
    ]),
  ]);
}

export async function getBucketAcl(ctx: RequestContext): Promise<void> {
  const record = await existingBucket(ctx);
  sendXml(ctx, privateAclXml(record.owner));
}

export async function getObjectAcl(ctx: RequestContext): Promise<void> {
  const bucket = await existingBucket(ctx);
  await ctx.deps.service.headObject(bucket.name, ctx.key ?? '');
  sendXml(ctx, privateAclXml(bucket.owner));
}

/** PUT ?acl: a canned "private" (header, or no body at all) is a no-op that is already true; anything else is 501. */
export async function putAcl(ctx: RequestContext): Promise<void> {
  assertPrivateAcl(ctx);
  const body = await readSmallBody(ctx);
  if (body.length > 0) throw Errors.notImplemented('ACL documents (only the canned private ACL is supported)');
  const bucket = await existingBucket(ctx);
  if (ctx.key !== undefined) await ctx.deps.service.headObject(bucket.name, ctx.key);
  send(ctx, 200, {});
}

/** GET of bucket configuration we never have (cors, lifecycle, policy...): the specific 404 AWS gives. */
export async function getBucketUnconfigured(ctx: RequestContext): Promise<void> {
  const bucket = (await existingBucket(ctx)).name;
  for (const [name, error] of Object.entries(UNCONFIGURED_BUCKET_GETS)) {
    if (ctx.query.has(name)) throw ProtocolErrors.notConfigured(error.code, error.message, bucket);
  }
  throw Errors.internal();
}
