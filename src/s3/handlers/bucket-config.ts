import type { BucketConfigName } from '../../model/records.js';
import type { RequestContext } from '../context.js';
import { ProtocolErrors } from '../errors.js';

/** The configurations S3 can answer "not configured" for (a bucket always has an ACL and a versioning state). */
type OptionalConfig = Exclude<BucketConfigName, 'acl' | 'versioning'>;

/** What GET of each bucket configuration answers when the bucket has none (AWS's specific 404s). */
const NOT_CONFIGURED: Record<OptionalConfig, { code: string; message: string }> = {
  tagging: { code: 'NoSuchTagSet', message: 'The TagSet does not exist' },
  policy: { code: 'NoSuchBucketPolicy', message: 'The bucket policy does not exist' },
  'public-access-block': { code: 'NoSuchPublicAccessBlockConfiguration', message: 'The public access block configuration was not found' },
  cors: { code: 'NoSuchCORSConfiguration', message: 'The CORS configuration does not exist' },
  ownership: { code: 'OwnershipControlsNotFoundError', message: 'The bucket ownership controls were not found' },
  'object-lock': { code: 'ObjectLockConfigurationNotFoundError', message: 'Object Lock configuration does not exist for this bucket' },
  lifecycle: { code: 'NoSuchLifecycleConfiguration', message: 'The lifecycle configuration does not exist' },
};

/** A bucket configuration document, or the bucket's "not configured" 404. */
export async function requireBucketConfig(ctx: RequestContext, bucket: string, name: OptionalConfig): Promise<string> {
  const doc = await ctx.deps.service.getBucketConfig(bucket, name);
  if (doc === null) throw ProtocolErrors.notConfigured(NOT_CONFIGURED[name].code, NOT_CONFIGURED[name].message, bucket);
  return doc;
}

/**
 * Stores (or with null removes) a bucket configuration document. The one place they are written, so the access
 * decision's cache in this process can never miss a change: it is invalidated here.
 */
export async function storeBucketConfig(ctx: RequestContext, bucket: string, name: BucketConfigName, doc: string | null): Promise<void> {
  await ctx.deps.service.putBucketConfig(bucket, name, doc);
  ctx.access.invalidate(bucket);
}
