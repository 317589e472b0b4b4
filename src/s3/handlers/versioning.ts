import type { VersionEntry } from '../../model/records.js';
import { readSmallBody } from '../body.js';
import { header, send, sendXml, type RequestContext } from '../context.js';
import { ownerXml } from '../owner.js';
import { Errors } from '../s3-error.js';
import { parseIntParam } from '../validation.js';
import { childText, el, isoDate, parseXmlBody, textEl, xmlDocument } from '../xml.js';
import { storeBucketConfig } from './bucket-config.js';
import { bucketOf } from './common.js';
import { encodingOf, MAX_LIST_KEYS } from './list.js';

/** Get/PutBucketVersioning and ListObjectVersions. The rules of what a versioned write keeps are the store's. */

export async function getBucketVersioning(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  const status = await ctx.deps.service.getBucketConfig(bucket, 'versioning');
  // A bucket that never had versioning answers an empty configuration, as S3 does.
  sendXml(ctx, xmlDocument('VersioningConfiguration', status === null ? [] : [textEl('Status', status)]));
}

export async function putBucketVersioning(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const root = parseXmlBody((await readSmallBody(ctx)).toString('utf8'), 'VersioningConfiguration');
  const status = childText(root, 'Status');
  const mfaDelete = childText(root, 'MfaDelete');
  if (status !== undefined && status !== 'Enabled' && status !== 'Suspended') throw Errors.malformedXML();
  if (mfaDelete !== undefined && mfaDelete !== 'Enabled' && mfaDelete !== 'Disabled') throw Errors.malformedXML();
  // MFA Delete needs a hardware or virtual MFA device per account: refused, never stored and ignored.
  if (mfaDelete === 'Enabled' || header(ctx, 'x-amz-mfa') !== undefined) throw Errors.notImplemented('MFA Delete');
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  if (status !== undefined) await storeBucketConfig(ctx, bucket, 'versioning', status);
  send(ctx, 200, {});
}

function versionXml(entry: VersionEntry, enc: (s: string) => string, ownerOf: (owner: string | undefined) => string): string {
  const common = [textEl('Key', enc(entry.key)), textEl('VersionId', entry.versionId), textEl('IsLatest', entry.isLatest), textEl('LastModified', isoDate(entry.lastModified))];
  if (entry.kind === 'marker') return el('DeleteMarker', [...common, ownerOf(entry.owner)]);
  return el('Version', [
    ...common,
    textEl('ETag', entry.etag),
    entry.checksum ? textEl('ChecksumAlgorithm', entry.checksum.algorithm) : undefined,
    entry.checksum ? textEl('ChecksumType', entry.checksum.type) : undefined,
    textEl('Size', entry.size),
    ownerOf(entry.owner),
    textEl('StorageClass', entry.storageClass ?? 'STANDARD'),
  ]);
}

export async function listObjectVersions(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const enc = encodingOf(ctx);
  const q = (name: string): string | undefined => ctx.query.get(name) ?? undefined;
  const prefix = q('prefix');
  const delimiter = q('delimiter') || undefined;
  const keyMarker = q('key-marker');
  const versionIdMarker = q('version-id-marker');
  const maxKeys = parseIntParam(ctx.query.get('max-keys'), 'max-keys', 0, MAX_LIST_KEYS, MAX_LIST_KEYS);
  if (versionIdMarker !== undefined && versionIdMarker !== '' && (keyMarker === undefined || keyMarker === '')) {
    throw Errors.invalidArgument('A version-id marker cannot be specified without a key marker.', 'version-id-marker', versionIdMarker);
  }
  const page = await ctx.deps.service.listObjectVersions(bucket, {
    maxKeys,
    ...(prefix ? { prefix } : {}),
    ...(delimiter ? { delimiter } : {}),
    ...(keyMarker ? { keyMarker } : {}),
    ...(versionIdMarker ? { versionIdMarker } : {}),
  });
  const access = await ctx.access.get(bucket);
  const bucketOwner = access?.owner ?? '';
  const enforced = access?.ownership === 'BucketOwnerEnforced';
  const ownerOf = (owner: string | undefined): string => ownerXml(enforced ? bucketOwner : (owner ?? bucketOwner));
  const next = page.isTruncated ? page.last : undefined;
  sendXml(
    ctx,
    xmlDocument('ListVersionsResult', [
      textEl('Name', bucket),
      textEl('Prefix', enc(prefix ?? '')),
      textEl('KeyMarker', enc(keyMarker ?? '')),
      textEl('VersionIdMarker', versionIdMarker ?? ''),
      next !== undefined ? textEl('NextKeyMarker', enc(next.key)) : undefined,
      next?.versionId !== undefined ? textEl('NextVersionIdMarker', next.versionId) : undefined,
      textEl('MaxKeys', maxKeys),
      delimiter !== undefined ? textEl('Delimiter', enc(delimiter)) : undefined,
      textEl('IsTruncated', page.isTruncated),
      enc.url ? textEl('EncodingType', 'url') : undefined,
      ...page.entries.map((entry) => versionXml(entry, enc, ownerOf)),
      ...page.commonPrefixes.map((p) => el('CommonPrefixes', [textEl('Prefix', enc(p))])),
    ]),
  );
}
