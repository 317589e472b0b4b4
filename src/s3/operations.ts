import type { RequestContext } from './context.js';
import {
  createBucket,
  deleteBucket,
  getBucketLocation,
  getBucketUnconfigured,
  headBucket,
  listBuckets,
} from './handlers/bucket.js';
import {
  deleteBucketOwnershipControls,
  getBucketAcl,
  getBucketOwnershipControls,
  getObjectAcl,
  putBucketAcl,
  putBucketOwnershipControls,
  putObjectAcl,
} from './handlers/acl.js';
import { copyObject } from './handlers/copy.js';
import { deleteBucketLifecycle, getBucketLifecycle, putBucketLifecycle } from './handlers/lifecycle.js';
import {
  getObjectLegalHold,
  getObjectLockConfiguration,
  getObjectRetention,
  putObjectLegalHold,
  putObjectLockConfiguration,
  putObjectRetention,
} from './handlers/object-lock.js';
import { getBucketVersioning, listObjectVersions, putBucketVersioning } from './handlers/versioning.js';
import { postObject } from './handlers/post-object.js';
import { deleteBucketCors, getBucketCors, preflightRequest, putBucketCors } from './handlers/cors.js';
import {
  deleteBucketPolicy,
  deletePublicAccessBlock,
  getBucketPolicy,
  getBucketPolicyStatus,
  getPublicAccessBlock,
  putBucketPolicy,
  putPublicAccessBlock,
} from './handlers/access.js';
import { listMultipartUploads, listObjectsV1, listObjectsV2 } from './handlers/list.js';
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  listParts,
  uploadPart,
  uploadPartCopy,
} from './handlers/multipart.js';
import { getObject, headObject } from './handlers/object-read.js';
import { getObjectAttributes } from './handlers/object-attributes.js';
import {
  deleteObject,
  deleteObjects,
  putObject,
  restoreObject,
} from './handlers/object-write.js';
import { deleteBucketTagging, deleteObjectTagging, getBucketTagging, getObjectTagging, putBucketTagging, putObjectTagging } from './handlers/tagging.js';
import type { OpName } from './routing.js';

export type Handler = (ctx: RequestContext) => Promise<void>;

/** One handler per S3 operation; routing.ts decides which. */
export const HANDLERS: Record<OpName, Handler> = {
  ListBuckets: listBuckets,
  CreateBucket: createBucket,
  HeadBucket: headBucket,
  DeleteBucket: deleteBucket,
  GetBucketLocation: getBucketLocation,
  GetBucketVersioning: getBucketVersioning,
  PutBucketVersioning: putBucketVersioning,
  ListObjectVersions: listObjectVersions,
  GetBucketAcl: getBucketAcl,
  PutBucketAcl: putBucketAcl,
  GetBucketUnconfigured: getBucketUnconfigured,
  ListObjects: listObjectsV1,
  ListObjectsV2: listObjectsV2,
  ListMultipartUploads: listMultipartUploads,
  DeleteObjects: deleteObjects,
  PutObject: putObject,
  CopyObject: copyObject,
  GetObject: getObject,
  HeadObject: headObject,
  DeleteObject: deleteObject,
  GetObjectAcl: getObjectAcl,
  PutObjectAcl: putObjectAcl,
  GetObjectTagging: getObjectTagging,
  GetObjectAttributes: getObjectAttributes,
  GetBucketTagging: getBucketTagging,
  PutBucketTagging: putBucketTagging,
  DeleteBucketTagging: deleteBucketTagging,
  GetBucketPolicy: getBucketPolicy,
  PutBucketPolicy: putBucketPolicy,
  DeleteBucketPolicy: deleteBucketPolicy,
  GetBucketPolicyStatus: getBucketPolicyStatus,
  GetPublicAccessBlock: getPublicAccessBlock,
  PutPublicAccessBlock: putPublicAccessBlock,
  DeletePublicAccessBlock: deletePublicAccessBlock,
  GetBucketCors: getBucketCors,
  PutBucketCors: putBucketCors,
  DeleteBucketCors: deleteBucketCors,
  PreflightRequest: preflightRequest,
  PostObject: postObject,
  GetBucketOwnershipControls: getBucketOwnershipControls,
  PutBucketOwnershipControls: putBucketOwnershipControls,
  DeleteBucketOwnershipControls: deleteBucketOwnershipControls,
  PutObjectTagging: putObjectTagging,
  DeleteObjectTagging: deleteObjectTagging,
  CreateMultipartUpload: createMultipartUpload,
  UploadPart: uploadPart,
  UploadPartCopy: uploadPartCopy,
  CompleteMultipartUpload: completeMultipartUpload,
  AbortMultipartUpload: abortMultipartUpload,
  ListParts: listParts,
  RestoreObject: restoreObject,
  GetObjectLockConfiguration: getObjectLockConfiguration,
  PutObjectLockConfiguration: putObjectLockConfiguration,
  GetObjectRetention: getObjectRetention,
  PutObjectRetention: putObjectRetention,
  GetObjectLegalHold: getObjectLegalHold,
  PutObjectLegalHold: putObjectLegalHold,
  GetBucketLifecycleConfiguration: getBucketLifecycle,
  PutBucketLifecycleConfiguration: putBucketLifecycle,
  DeleteBucketLifecycle: deleteBucketLifecycle,
};
