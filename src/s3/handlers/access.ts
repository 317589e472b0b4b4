import { readSmallBody } from '../body.js';
import { send, sendXml, type RequestContext } from '../context.js';
import { parsePolicy } from '../access/policy.js';
import { parsePublicAccessBlock, policyStatusXml, publicAccessBlockXml, NO_BLOCK, type PublicAccessBlock } from '../access/public-access-block.js';
import { Errors } from '../s3-error.js';
import { requireBucketConfig, storeBucketConfig } from './bucket-config.js';
import { bucketOf } from './common.js';

/** Bucket policies and PublicAccessBlock: stored as given (policy) or as JSON (block), validated on the way in. */

async function blockOf(ctx: RequestContext, bucket: string): Promise<PublicAccessBlock> {
  const doc = await ctx.deps.service.getBucketConfig(bucket, 'public-access-block');
  return doc === null ? NO_BLOCK : { ...NO_BLOCK, ...(JSON.parse(doc) as Partial<PublicAccessBlock>) };
}

export async function getBucketPolicy(ctx: RequestContext): Promise<void> {
  send(ctx, 200, { 'content-type': 'application/json' }, await requireBucketConfig(ctx, bucketOf(ctx), 'policy'));
}

export async function putBucketPolicy(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const text = (await readSmallBody(ctx)).toString('utf8');
  const policy = parsePolicy(text, bucket);
  if (policy.isPublic && (await blockOf(ctx, bucket)).BlockPublicPolicy) throw Errors.accessDenied();
  await storeBucketConfig(ctx, bucket, 'policy', text);
  send(ctx, 204, {});
}

export async function deleteBucketPolicy(ctx: RequestContext): Promise<void> {
  await storeBucketConfig(ctx, bucketOf(ctx), 'policy', null);
  send(ctx, 204, {});
}

export async function getBucketPolicyStatus(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  sendXml(ctx, policyStatusXml(parsePolicy(await requireBucketConfig(ctx, bucket, 'policy'), bucket).isPublic));
}

export async function getPublicAccessBlock(ctx: RequestContext): Promise<void> {
  const doc = await requireBucketConfig(ctx, bucketOf(ctx), 'public-access-block');
  sendXml(ctx, publicAccessBlockXml({ ...NO_BLOCK, ...(JSON.parse(doc) as Partial<PublicAccessBlock>) }));
}

export async function putPublicAccessBlock(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const block = parsePublicAccessBlock((await readSmallBody(ctx)).toString('utf8'));
  await storeBucketConfig(ctx, bucket, 'public-access-block', JSON.stringify(block));
  send(ctx, 200, {});
}

export async function deletePublicAccessBlock(ctx: RequestContext): Promise<void> {
  await storeBucketConfig(ctx, bucketOf(ctx), 'public-access-block', null);
  send(ctx, 204, {});
}

/** A canned ACL that grants to everyone, refused while the bucket blocks public ACLs. */
export async function assertAclAllowedByBlock(ctx: RequestContext, bucket: string, isPublic: boolean): Promise<void> {
  if (isPublic && (await blockOf(ctx, bucket)).BlockPublicAcls) throw Errors.accessDenied();
}
