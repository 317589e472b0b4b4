import type { ObjectService } from '../../gateway/types.js';
import type { AclGrant } from '../../model/records.js';
import { storedBucketAcl } from './acl.js';
import type { CorsRule } from './cors.js';
import { parsePolicy, type BucketPolicy } from './policy.js';
import { NO_BLOCK, type PublicAccessBlock } from './public-access-block.js';

/** S3's Object Ownership settings; a bucket without ownership controls behaves as ObjectWriter. */
export type ObjectOwnership = 'BucketOwnerEnforced' | 'BucketOwnerPreferred' | 'ObjectWriter';

/** What decides access to a bucket besides the config's grants: its owner, ACL, policy and public access block. */
export interface BucketAccess {
  owner: string;
  acl: AclGrant[];
  /** undefined: no ownership controls (ACLs apply, the writer owns what it writes). */
  ownership: ObjectOwnership | undefined;
  policy: BucketPolicy | undefined;
  block: PublicAccessBlock;
  /** CORS rules; undefined when the bucket has none. */
  cors: CorsRule[] | undefined;
  /** The bucket has (or had) versioning: its null versions are named `null`. */
  versioned: boolean;
}

/**
 * Every request needs its bucket's access settings: kept per process for `ttlMs` (one store read per bucket and
 * interval). A change made through this gateway applies at once (invalidate); one made through another gateway
 * within the interval, as S3's own policy changes are eventually consistent.
 */
export class BucketAccessCache {
  private readonly entries = new Map<string, { at: number; value: Promise<BucketAccess | null> }>();

  constructor(
    private readonly service: ObjectService,
    private readonly ttlMs = 1000,
  ) {}

  get(bucket: string): Promise<BucketAccess | null> {
    const now = Date.now();
    const hit = this.entries.get(bucket);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = this.load(bucket);
    this.entries.set(bucket, { at: now, value });
    // A missing bucket is not remembered: one created a moment later (here or by another gateway) counts at once.
    value.then(
      (v) => {
        if (v === null && this.entries.get(bucket)?.value === value) this.entries.delete(bucket);
      },
      () => this.entries.delete(bucket),
    );
    if (this.entries.size > 10_000) this.entries.delete(this.entries.keys().next().value ?? bucket);
    return value;
  }

  invalidate(bucket: string): void {
    this.entries.delete(bucket);
  }

  private async load(bucket: string): Promise<BucketAccess | null> {
    const record = await this.service.getBucket(bucket);
    if (!record) return null;
    const docs = await this.service.getBucketConfigs(bucket);
    return {
      owner: record.owner,
      acl: storedBucketAcl(docs.acl, record.owner),
      ownership: docs.ownership as ObjectOwnership | undefined,
      // Stored only after it parsed: a document that no longer parses (a newer version wrote it) grants nothing.
      policy: docs.policy !== undefined ? safeParse(docs.policy, bucket) : undefined,
      block: docs['public-access-block'] !== undefined ? { ...NO_BLOCK, ...(JSON.parse(docs['public-access-block']) as Partial<PublicAccessBlock>) } : NO_BLOCK,
      cors: docs.cors !== undefined ? (JSON.parse(docs.cors) as CorsRule[]) : undefined,
      versioned: docs.versioning !== undefined,
    };
  }
}

function safeParse(text: string, bucket: string): BucketPolicy | undefined {
  try {
    return parsePolicy(text, bucket);
  } catch {
    return { statements: [], isPublic: false };
  }
}
