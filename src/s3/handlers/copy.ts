import type { ObjectHeaders, ObjectRecord } from '../../model/records.js';
import { Errors } from '../s3-error.js';
import { authorizeRequest } from '../access/decide.js';
import { checksumElementName, parseAlgorithm } from '../checksum-headers.js';
import { evaluateCopySourceConditions, parseWriteCondition } from '../conditionals.js';
import { header, sendXml, type RequestContext } from '../context.js';
import { decodePathComponent } from '../routing.js';
import { assertBucketName, assertKey, parseStorageClass, parseTaggingHeader } from '../validation.js';
import { isoDate, textEl, xmlDocument } from '../xml.js';
import { assertNoSseC, bucketOf, keyOf, objectHeadersFromRequest, parseVersionId, versionHeaders } from './common.js';
import { aclOfWrite } from './acl.js';
import { requestedLock } from './object-lock.js';

/** AWS's limit for a single CopyObject / UploadPartCopy source. */
export const MAX_COPY_SOURCE_BYTES = 5 * 1024 ** 3;

/** x-amz-copy-source: URL-encoded "bucket/key" with an optional leading '/', and optionally ?versionId=ID. */
export function parseCopySource(raw: string): { bucket: string; key: string; versionId?: string } {
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = q >= 0 ? new URLSearchParams(raw.slice(q + 1)) : undefined;
  const versionId = parseVersionId(query?.get('versionId') ?? null, 'x-amz-copy-source');
  const decoded = decodePathComponent(path).replace(/^\//, '');
  const slash = decoded.indexOf('/');
  const invalid = () => Errors.invalidArgument('Invalid copy source object key', 'x-amz-copy-source', raw);
  if (slash <= 0 || slash === decoded.length - 1) throw invalid();
  const bucket = decoded.slice(0, slash);
  const key = decoded.slice(slash + 1);
  assertBucketName(bucket);
  assertKey(key);
  return versionId === undefined ? { bucket, key } : { bucket, key, versionId };
}

/** Resolves, authorizes (read on the source bucket) and condition-checks the copy source. */
export async function loadCopySource(ctx: RequestContext): Promise<ObjectRecord> {
  const source = parseCopySource(header(ctx, 'x-amz-copy-source') ?? '');
  await authorizeRequest(ctx, source.bucket, source.key, 'GetObject', true);
  const record = await ctx.deps.service.headObject(source.bucket, source.key, source.versionId);
  evaluateCopySourceConditions(
    {
      ifMatch: header(ctx, 'x-amz-copy-source-if-match'),
      ifNoneMatch: header(ctx, 'x-amz-copy-source-if-none-match'),
      ifModifiedSince: header(ctx, 'x-amz-copy-source-if-modified-since'),
      ifUnmodifiedSince: header(ctx, 'x-amz-copy-source-if-unmodified-since'),
    },
    record,
  );
  return record;
}

function directive(ctx: RequestContext, name: string): 'COPY' | 'REPLACE' {
  const value = (header(ctx, name) ?? 'COPY').toUpperCase();
  if (value !== 'COPY' && value !== 'REPLACE') throw Errors.invalidArgument(`Unknown ${name}`, name, value);
  return value;
}

export async function copyObject(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const key = keyOf(ctx);
  assertNoSseC(ctx);
  const acl = await aclOfWrite(ctx, bucket);
  const metadataDirective = directive(ctx, 'x-amz-metadata-directive');
  const taggingDirective = directive(ctx, 'x-amz-tagging-directive');
  const storageClass = parseStorageClass(header(ctx, 'x-amz-storage-class'));
  const checksumAlgorithm = parseAlgorithm(header(ctx, 'x-amz-checksum-algorithm'), 'x-amz-checksum-algorithm');
  const condition = parseWriteCondition(header(ctx, 'if-none-match'), header(ctx, 'if-match'));
  const requestHeaders = metadataDirective === 'REPLACE' ? objectHeadersFromRequest(ctx) : undefined;
  const requestTags = taggingDirective === 'REPLACE' ? parseTaggingHeader(header(ctx, 'x-amz-tagging')) : undefined;
  // The copy's lock is the request's (or the bucket default), never the source's, as in S3.
  const lock = await requestedLock(ctx, bucket, key);

  const source = await loadCopySource(ctx);
  // Copying a named version onto its own key is how a version is restored: it is not a copy "to itself".
  const sameObject = source.bucket === bucket && source.key === key && parseCopySource(header(ctx, 'x-amz-copy-source') ?? '').versionId === undefined;
  if (sameObject && metadataDirective !== 'REPLACE' && storageClass === undefined && requestTags === undefined) {
    throw Errors.invalidRequest(
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  if (source.size > MAX_COPY_SOURCE_BYTES) {
    throw Errors.invalidRequest(`The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_COPY_SOURCE_BYTES}`);
  }
  const headers: ObjectHeaders = requestHeaders ?? { ...source.headers, userMeta: { ...source.headers.userMeta } };
  if (storageClass !== undefined) headers.storageClass = storageClass;
  const tags = requestTags ?? { ...source.tags };

  // A full-object source checksum of the same algorithm is re-verified on the way through; else the new one is computed.
  const algorithm = checksumAlgorithm ?? source.checksum?.algorithm;
  const sourceChecksum = source.checksum?.type === 'FULL_OBJECT' && source.checksum.algorithm === algorithm ? source.checksum.value : undefined;
  const body = await ctx.deps.service.openObject(source);
  const record = await ctx.deps.service
    .putObject({
      bucket,
      key,
      body,
      size: source.size,
      headers,
      tags,
      ...(algorithm ? { checksum: { algorithm, value: () => sourceChecksum } } : {}),
      ...(condition ? { condition } : {}),
      ...(lock !== undefined ? { lock } : {}),
      ...acl,
    })
    .finally(() => body.destroy());
  const checksumXml = record.checksum ? textEl(checksumElementName(record.checksum.algorithm), record.checksum.value) : undefined;
  sendXml(ctx, xmlDocument('CopyObjectResult', [textEl('ETag', record.etag), textEl('LastModified', isoDate(record.lastModified)), checksumXml]), 200, {
    'x-amz-server-side-encryption': 'AES256',
    ...versionHeaders(record.versionId),
    ...(source.versionId !== undefined ? { 'x-amz-copy-source-version-id': source.versionId } : {}),
  });
}

