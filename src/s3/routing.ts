import type { IncomingHttpHeaders } from 'node:http';
import { Errors } from './s3-error.js';
import { ProtocolErrors } from './errors.js';

export type OpName =
  | 'ListBuckets'
  | 'CreateBucket'
  | 'HeadBucket'
  | 'DeleteBucket'
  | 'GetBucketLocation'
  | 'GetBucketVersioning'
  | 'PutBucketVersioning'
  | 'ListObjectVersions'
  | 'GetBucketAcl'
  | 'PutBucketAcl'
  | 'GetBucketUnconfigured'
  | 'ListObjects'
  | 'ListObjectsV2'
  | 'ListMultipartUploads'
  | 'DeleteObjects'
  | 'PutObject'
  | 'CopyObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'GetObjectAcl'
  | 'PutObjectAcl'
  | 'GetObjectTagging'
  | 'GetObjectAttributes'
  | 'GetBucketTagging'
  | 'PutBucketTagging'
  | 'DeleteBucketTagging'
  | 'GetBucketPolicy'
  | 'PutBucketPolicy'
  | 'DeleteBucketPolicy'
  | 'GetBucketPolicyStatus'
  | 'GetPublicAccessBlock'
  | 'PutPublicAccessBlock'
  | 'DeletePublicAccessBlock'
  | 'GetBucketCors'
  | 'PutBucketCors'
  | 'DeleteBucketCors'
  | 'PreflightRequest'
  | 'PostObject'
  | 'GetBucketOwnershipControls'
  | 'PutBucketOwnershipControls'
  | 'DeleteBucketOwnershipControls'
  | 'PutObjectTagging'
  | 'DeleteObjectTagging'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'UploadPartCopy'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListParts'
  | 'RestoreObject'
  | 'GetObjectLockConfiguration'
  | 'PutObjectLockConfiguration'
  | 'GetObjectRetention'
  | 'PutObjectRetention'
  | 'GetObjectLegalHold'
  | 'PutObjectLegalHold'
  | 'GetBucketLifecycleConfiguration'
  | 'PutBucketLifecycleConfiguration'
  | 'DeleteBucketLifecycle';

/** What an operation needs on its bucket. 'none' = any authenticated user (ListBuckets filters by itself). */
export type Need = 'none' | 'read' | 'write' | 'admin';

export const OP_NEEDS: Record<OpName, Need> = {
  ListBuckets: 'none',
  CreateBucket: 'admin',
  HeadBucket: 'read',
  DeleteBucket: 'admin',
  GetBucketLocation: 'read',
  GetBucketVersioning: 'read',
  PutBucketVersioning: 'admin',
  ListObjectVersions: 'read',
  GetBucketAcl: 'read',
  PutBucketAcl: 'admin',
  GetBucketUnconfigured: 'read',
  ListObjects: 'read',
  ListObjectsV2: 'read',
  ListMultipartUploads: 'read',
  DeleteObjects: 'write',
  PutObject: 'write',
  CopyObject: 'write',
  GetObject: 'read',
  HeadObject: 'read',
  DeleteObject: 'write',
  GetObjectAcl: 'read',
  PutObjectAcl: 'write',
  GetObjectTagging: 'read',
  GetObjectAttributes: 'read',
  GetBucketTagging: 'read',
  PutBucketTagging: 'admin',
  DeleteBucketTagging: 'admin',
  GetBucketPolicy: 'admin',
  PutBucketPolicy: 'admin',
  DeleteBucketPolicy: 'admin',
  GetBucketPolicyStatus: 'admin',
  GetPublicAccessBlock: 'admin',
  PutPublicAccessBlock: 'admin',
  DeletePublicAccessBlock: 'admin',
  GetBucketCors: 'read',
  PutBucketCors: 'admin',
  DeleteBucketCors: 'admin',
  PreflightRequest: 'none',
  PostObject: 'write',
  GetBucketOwnershipControls: 'admin',
  PutBucketOwnershipControls: 'admin',
  DeleteBucketOwnershipControls: 'admin',
  PutObjectTagging: 'write',
  DeleteObjectTagging: 'write',
  CreateMultipartUpload: 'write',
  UploadPart: 'write',
  UploadPartCopy: 'write',
  CompleteMultipartUpload: 'write',
  AbortMultipartUpload: 'write',
  ListParts: 'read',
  RestoreObject: 'write',
  GetObjectLockConfiguration: 'read',
  PutObjectLockConfiguration: 'admin',
  GetObjectRetention: 'read',
  PutObjectRetention: 'write',
  GetObjectLegalHold: 'read',
  PutObjectLegalHold: 'write',
  GetBucketLifecycleConfiguration: 'read',
  PutBucketLifecycleConfiguration: 'admin',
  DeleteBucketLifecycle: 'admin',
};

export interface Target {
  bucket?: string;
  key?: string;
}

/** Percent-decodes one path; malformed escapes or invalid UTF-8 -> InvalidURI (400), never a 500. */
export function decodePathComponent(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw ProtocolErrors.invalidURI();
  }
}

/** Host without port, lower-cased; IPv6 literals keep their brackets. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

/**
 * Bucket and key from the request. Virtual-hosted style when Host is BUCKET.<baseDomain>; otherwise path style.
 * The key is everything after the bucket's slash, decoded (so "a//b" and trailing "dir/" keys survive).
 */
export function resolveTarget(rawPath: string, host: string, baseDomain: string | undefined): Target {
  const name = hostName(host);
  const base = baseDomain?.toLowerCase();
  if (!rawPath.startsWith('/')) throw ProtocolErrors.invalidURI();
  if (base && name.endsWith(`.${base}`)) {
    const bucket = name.slice(0, -(base.length + 1));
    const key = decodePathComponent(rawPath.slice(1));
    return key === '' ? { bucket } : { bucket, key };
  }
  const rest = rawPath.slice(1);
  if (rest === '') return {};
  const slash = rest.indexOf('/');
  const bucket = decodePathComponent(slash < 0 ? rest : rest.slice(0, slash));
  if (slash < 0) return { bucket };
  const key = decodePathComponent(rest.slice(slash + 1));
  return key === '' ? { bucket } : { bucket, key };
}

/** Bucket GET subresources we have no configuration for: AWS answers these with a specific 404, not a success. */
export const UNCONFIGURED_BUCKET_GETS: Record<string, { code: string; message: string }> = {
  website: { code: 'NoSuchWebsiteConfiguration', message: 'The specified bucket does not have a website configuration' },
  replication: { code: 'ReplicationConfigurationNotFoundError', message: 'The replication configuration was not found' },
  encryption: { code: 'ServerSideEncryptionConfigurationNotFoundError', message: 'The server side encryption configuration was not found' },
};

/** S3 subresources we recognise but do not implement: any of them in a query -> 501 rather than a wrong success. */
export const UNIMPLEMENTED_SUBRESOURCES = [
  'accelerate',
  'analytics',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'logging',
  'metadataConfiguration',
  'metadataTable',
  'metrics',
  'notification',
  'replication',
  'requestPayment',
  'select',
  'select-type',
  'session',
  'renameObject',
  'torrent',
  'website',
];

/** Resolves the S3 operation from method, target shape, subresource query and copy-source header. */
export function resolveOperation(method: string, target: Target, query: URLSearchParams, headers: IncomingHttpHeaders): OpName {
  const has = (name: string) => query.has(name);
  const copy = headers['x-amz-copy-source'] !== undefined;
  if (target.bucket === undefined) {
    if (method === 'GET') return 'ListBuckets';
    throw ProtocolErrors.methodNotAllowed(method);
  }
  if (target.key === undefined) return resolveBucketOperation(method, target.bucket, query);
  const unimplemented = () => {
    for (const name of UNIMPLEMENTED_SUBRESOURCES) if (has(name)) throw Errors.notImplemented(`?${name}`);
  };
  switch (method) {
    case 'GET':
      if (has('uploadId')) return 'ListParts';
      if (has('tagging')) return 'GetObjectTagging';
      if (has('acl')) return 'GetObjectAcl';
      if (has('attributes')) return 'GetObjectAttributes';
      if (has('retention')) return 'GetObjectRetention';
      if (has('legal-hold')) return 'GetObjectLegalHold';
      unimplemented();
      return 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'PUT':
      if (has('partNumber') || has('uploadId')) return copy ? 'UploadPartCopy' : 'UploadPart';
      if (has('tagging')) return 'PutObjectTagging';
      if (has('acl')) return 'PutObjectAcl';
      if (has('retention')) return 'PutObjectRetention';
      if (has('legal-hold')) return 'PutObjectLegalHold';
      unimplemented();
      return copy ? 'CopyObject' : 'PutObject';
    case 'DELETE':
      if (has('uploadId')) return 'AbortMultipartUpload';
      if (has('tagging')) return 'DeleteObjectTagging';
      unimplemented();
      return 'DeleteObject';
    case 'POST':
      if (has('uploads')) return 'CreateMultipartUpload';
      if (has('uploadId')) return 'CompleteMultipartUpload';
      if (has('restore')) return 'RestoreObject';
      unimplemented();
      throw ProtocolErrors.methodNotAllowed(method);
    default:
      throw ProtocolErrors.methodNotAllowed(method);
  }
}

function resolveBucketOperation(method: string, _bucket: string, query: URLSearchParams): OpName {
  const has = (name: string) => query.has(name);
  switch (method) {
    case 'GET':
      if (has('location')) return 'GetBucketLocation';
      if (has('versioning')) return 'GetBucketVersioning';
      if (has('versions')) return 'ListObjectVersions';
      if (has('acl')) return 'GetBucketAcl';
      if (has('uploads')) return 'ListMultipartUploads';
      if (has('tagging')) return 'GetBucketTagging';
      if (has('policy')) return 'GetBucketPolicy';
      if (has('cors')) return 'GetBucketCors';
      if (has('policyStatus')) return 'GetBucketPolicyStatus';
      if (has('publicAccessBlock')) return 'GetPublicAccessBlock';
      if (has('ownershipControls')) return 'GetBucketOwnershipControls';
      if (has('object-lock')) return 'GetObjectLockConfiguration';
      if (has('lifecycle')) return 'GetBucketLifecycleConfiguration';
      for (const name of Object.keys(UNCONFIGURED_BUCKET_GETS)) if (has(name)) return 'GetBucketUnconfigured';
      for (const name of UNIMPLEMENTED_SUBRESOURCES) if (has(name)) throw Errors.notImplemented(`?${name}`);
      if (query.get('list-type') === '2') return 'ListObjectsV2';
      if (query.has('list-type') && query.get('list-type') !== '1') throw Errors.invalidArgument('Invalid list type', 'list-type', query.get('list-type') ?? '');
      return 'ListObjects';
    case 'HEAD':
      return 'HeadBucket';
    case 'PUT':
      if (has('acl')) return 'PutBucketAcl';
      if (has('tagging')) return 'PutBucketTagging';
      if (has('policy')) return 'PutBucketPolicy';
      if (has('cors')) return 'PutBucketCors';
      if (has('publicAccessBlock')) return 'PutPublicAccessBlock';
      if (has('ownershipControls')) return 'PutBucketOwnershipControls';
      if (has('versioning')) return 'PutBucketVersioning';
      if (has('object-lock')) return 'PutObjectLockConfiguration';
      if (has('lifecycle')) return 'PutBucketLifecycleConfiguration';
      for (const name of UNIMPLEMENTED_SUBRESOURCES) if (has(name)) throw Errors.notImplemented(`?${name}`);
      return 'CreateBucket';
    case 'DELETE':
      if (has('tagging')) return 'DeleteBucketTagging';
      if (has('policy')) return 'DeleteBucketPolicy';
      if (has('cors')) return 'DeleteBucketCors';
      if (has('publicAccessBlock')) return 'DeletePublicAccessBlock';
      if (has('ownershipControls')) return 'DeleteBucketOwnershipControls';
      if (has('lifecycle')) return 'DeleteBucketLifecycle';
      for (const name of UNIMPLEMENTED_SUBRESOURCES) if (has(name)) throw Errors.notImplemented(`?${name}`);
      return 'DeleteBucket';
    case 'POST':
      if (has('delete')) return 'DeleteObjects';
      // A form upload (multipart/form-data) is PostObject, recognised before authentication (server.ts); S3 answers
      // any other bucket POST with this 412.
      throw Errors.preconditionFailed('Bucket POST must be of the enclosure-type multipart/form-data');
    default:
      throw ProtocolErrors.methodNotAllowed(method);
  }
}
