import type { UserConfig } from '../../config/types.js';
import { may } from '../authorize.js';
import { header, type RequestContext } from '../context.js';
import { OP_NEEDS, type Need, type OpName } from '../routing.js';
import { Errors } from '../s3-error.js';
import { ownerId } from '../owner.js';
import { aclAllows, objectAclCanGrant } from './acl.js';
import { actionOf, resourceArn } from './actions.js';
import type { BucketAccess } from './bucket-access.js';
import { evaluatePolicy } from './policy.js';

export interface AccessQuestion {
  user: UserConfig | undefined;
  op: OpName;
  bucket: string;
  key: string | undefined;
  context: Readonly<Record<string, string | undefined>>;
  /** A permission asked apart from the operation's own (s3:BypassGovernanceRetention), with the config grant it needs. */
  permission?: { action: string; need: Need };
}

/**
 * The one access decision, in S3's order: an explicit Deny in the bucket policy wins; then the operator's grants in
 * the config (the IAM side) and the bucket owner's full control; then an Allow in the policy; then the bucket's ACL.
 * PublicAccessBlock's IgnorePublicAcls and RestrictPublicBuckets take away what ACLs and public policies give
 * to everyone; BucketOwnerEnforced turns ACLs off. 'object-acl': only the object's own ACL can still allow it.
 */
export function allowed(q: AccessQuestion, access: BucketAccess): 'allow' | 'deny' | 'object-acl' {
  const action = q.permission?.action ?? actionOf(q.op, q.context['s3:versionid']);
  const verdict = access.policy ? evaluatePolicy(access.policy, { accessKey: q.user?.accessKey, action, resource: resourceArn(q.bucket, q.key), context: q.context }) : undefined;
  if (verdict === 'Deny') return 'deny';
  if (q.user && (may(q.user, q.bucket, q.permission?.need ?? OP_NEEDS[q.op]) || access.owner === q.user.accessKey)) return 'allow';
  if (verdict === 'Allow' && !(access.block.RestrictPublicBuckets && access.policy?.isPublic === true && !q.user)) return 'allow';
  if (access.ownership === 'BucketOwnerEnforced') return 'deny';
  if (aclAllows(access.acl, 'bucket', { accessKey: q.user?.accessKey }, action, access.block.IgnorePublicAcls)) return 'allow';
  return q.key !== undefined && objectAclCanGrant(action) ? 'object-acl' : 'deny';
}

/** The object's ACL (its owner's FULL_CONTROL when it has none); a missing object allows nothing (403, as S3). */
async function objectAclAllows(ctx: RequestContext, q: AccessQuestion, access: BucketAccess): Promise<boolean> {
  if (q.key === undefined) return false;
  const record = await ctx.deps.service.findObject(q.bucket, q.key);
  if (record === null) return false;
  const owner = record.owner ?? access.owner;
  const grants = record.grants ?? [{ grantee: { type: 'CanonicalUser' as const, id: ownerId(owner) }, permission: 'FULL_CONTROL' as const }];
  return aclAllows(grants, 'object', { accessKey: q.user?.accessKey }, actionOf(q.op, q.context['s3:versionid']), access.block.IgnorePublicAcls);
}

/** The condition keys of this request that policies may test. */
export function requestContext(ctx: RequestContext, sourceIp: string, secure: boolean): Record<string, string | undefined> {
  const q = ctx.query;
  return {
    'aws:sourceip': sourceIp.startsWith('::ffff:') ? sourceIp.slice(7) : sourceIp,
    'aws:securetransport': String(secure),
    'aws:useragent': header(ctx, 'user-agent'),
    'aws:referer': header(ctx, 'referer'),
    'aws:username': ctx.user?.accessKey,
    's3:prefix': q.get('prefix') ?? undefined,
    's3:delimiter': q.get('delimiter') ?? undefined,
    's3:max-keys': q.get('max-keys') ?? undefined,
    's3:x-amz-acl': header(ctx, 'x-amz-acl'),
    's3:versionid': q.get('versionId') ?? undefined,
  };
}

/**
 * Authorizes an operation on a bucket: the request's own, or GetObject for a copy's read of its source. Creating a
 * bucket is the config's grant alone (there is no bucket to hold a policy yet). A bucket that does not exist is
 * NoSuchBucket, as S3 answers.
 */
export async function authorizeRequest(ctx: RequestContext, bucket: string, key: string | undefined, op: OpName, source = false): Promise<void> {
  const user = ctx.user;
  if (op === 'CreateBucket') {
    if (user === undefined || !may(user, bucket, 'admin')) throw Errors.accessDenied();
    return;
  }
  const access = await ctx.access.get(bucket);
  if (access === null) {
    // No such bucket. Only the config's grants can let a request on to its handler (which answers NoSuchBucket, or
    // serves a bucket another gateway created a moment ago); anyone else learns only that it does not exist.
    if (user !== undefined && may(user, bucket, OP_NEEDS[op])) return;
    throw Errors.noSuchBucket(bucket);
  }
  // x-amz-expected-bucket-owner (x-amz-source-expected-bucket-owner for a copy's source): the owner's canonical id
  // or access key, else 403, whatever else would allow the request.
  const expected = header(ctx, source ? 'x-amz-source-expected-bucket-owner' : 'x-amz-expected-bucket-owner');
  if (expected !== undefined && expected !== access.owner && expected !== ownerId(access.owner)) throw Errors.accessDenied();
  // Condition keys matter only to a policy: most buckets have none, and most requests skip building them.
  const context = access.policy ? requestContext(ctx, ctx.sourceAddress, ctx.secure) : {};
  const question = { user, op, bucket, key, context };
  const decision = allowed(question, access);
  if (decision === 'allow') return;
  if (decision === 'object-acl' && (await objectAclAllows(ctx, question, access))) return;
  throw Errors.accessDenied();
}

/**
 * Whether the requester may bypass GOVERNANCE retention (s3:BypassGovernanceRetention): the bucket's owner, an admin
 * of the bucket in the config, or whom the bucket policy allows it. ACLs never grant it.
 */
export async function mayBypassGovernance(ctx: RequestContext, bucket: string, key: string | undefined): Promise<boolean> {
  const access = await ctx.access.get(bucket);
  if (access === null || ctx.op === undefined) return false;
  const context = access.policy ? requestContext(ctx, ctx.sourceAddress, ctx.secure) : {};
  const question: AccessQuestion = { user: ctx.user, op: ctx.op, bucket, key, context, permission: { action: 's3:BypassGovernanceRetention', need: 'admin' } };
  return allowed(question, { ...access, acl: [] }) === 'allow';
}
