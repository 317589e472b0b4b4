import { Errors } from '../s3-error.js';

/**
 * Canned ACLs. Buckets take the four that grant to groups; objects only the owner-only ones (object ACL grants are
 * not supported: 501, never an ACL accepted and ignored). x-amz-grant-* headers and ACL documents are 501 too.
 */
export type CannedBucketAcl = 'private' | 'public-read' | 'public-read-write' | 'authenticated-read';

const BUCKET_CANNED: ReadonlySet<string> = new Set(['private', 'public-read', 'public-read-write', 'authenticated-read']);
/** Canned ACLs S3 knows that grant what Tessera has no grantee for (object owners apart from the bucket's, log delivery). */
const UNSUPPORTED_CANNED: ReadonlySet<string> = new Set(['aws-exec-read', 'log-delivery-write', 'bucket-owner-read']);
const GRANT_HEADERS = ['x-amz-grant-read', 'x-amz-grant-write', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp', 'x-amz-grant-full-control'];

function rejectGrantHeaders(headers: Record<string, string | string[] | undefined>): void {
  for (const g of GRANT_HEADERS) if (headers[g] !== undefined) throw Errors.notImplemented(`${g} (only canned ACLs are supported)`);
}

function checkKnown(acl: string): void {
  if (UNSUPPORTED_CANNED.has(acl)) throw Errors.notImplemented(`x-amz-acl: ${acl}`);
  if (!BUCKET_CANNED.has(acl) && acl !== 'bucket-owner-full-control') throw Errors.invalidArgument('Invalid canned ACL', 'x-amz-acl', acl);
}

/** x-amz-acl of a bucket request (CreateBucket, PutBucketAcl); undefined when absent. */
export function bucketCannedAcl(headers: Record<string, string | string[] | undefined>): CannedBucketAcl | undefined {
  rejectGrantHeaders(headers);
  const raw = headers['x-amz-acl'];
  if (raw === undefined) return undefined;
  const acl = String(raw).trim();
  checkKnown(acl);
  if (acl === 'bucket-owner-full-control') return 'private';
  return acl as CannedBucketAcl;
}

/** x-amz-acl of an object write: only owner-only ACLs are true here. */
export function assertObjectAclSupported(headers: Record<string, string | string[] | undefined>): void {
  rejectGrantHeaders(headers);
  const raw = headers['x-amz-acl'];
  if (raw === undefined) return;
  const acl = String(raw).trim();
  checkKnown(acl);
  if (acl !== 'private' && acl !== 'bucket-owner-full-control') throw Errors.notImplemented(`x-amz-acl: ${acl} on objects (object ACL grants are not supported; publish with a bucket policy)`);
}

export type AclPermission = 'READ' | 'WRITE';

/** The group grants a canned bucket ACL makes (the owner's FULL_CONTROL aside). */
export function cannedGrants(acl: CannedBucketAcl): Array<{ group: 'AllUsers' | 'AuthenticatedUsers'; permission: AclPermission }> {
  switch (acl) {
    case 'private':
      return [];
    case 'public-read':
      return [{ group: 'AllUsers', permission: 'READ' }];
    case 'public-read-write':
      return [
        { group: 'AllUsers', permission: 'READ' },
        { group: 'AllUsers', permission: 'WRITE' },
      ];
    case 'authenticated-read':
      return [{ group: 'AuthenticatedUsers', permission: 'READ' }];
  }
}

/** What a bucket's READ and WRITE grants let their grantees do (as S3: list the bucket; write and delete its objects). */
const ACL_ACTIONS: Record<AclPermission, ReadonlySet<string>> = {
  READ: new Set(['s3:ListBucket', 's3:ListBucketMultipartUploads']),
  WRITE: new Set(['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']),
};

export function aclAllows(acl: CannedBucketAcl, authenticated: boolean, action: string): boolean {
  return cannedGrants(acl).some((g) => (g.group === 'AllUsers' || authenticated) && ACL_ACTIONS[g.permission].has(action));
}

export function isPublicAcl(acl: CannedBucketAcl): boolean {
  return acl !== 'private';
}
