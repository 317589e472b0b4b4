import type { ObjectSummary } from '../../model/records.js';
import { Errors } from '../s3-error.js';
import { sendXml, type RequestContext } from '../context.js';
import { ProtocolErrors } from '../errors.js';
import { decodeContinuationToken, encodeContinuationToken } from '../list-token.js';
import { ownerXml } from '../owner.js';
import { parseIntParam } from '../validation.js';
import { el, escapeXml, isoDate, textEl, xmlDocument } from '../xml.js';
import { bucketOf } from './common.js';

export const MAX_LIST_KEYS = 1000;

/** encoding-type=url: like encodeURIComponent but '/' kept (as S3 does); decoders accept both %20 and '+'-less forms. */
export function s3UrlEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/%2F/g, '/')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function encodingOf(ctx: RequestContext): ((s: string) => string) & { url: boolean } {
  const type = ctx.query.get('encoding-type');
  if (type !== null && type !== 'url') throw ProtocolErrors.invalidEncodingType();
  return Object.assign(type === 'url' ? s3UrlEncode : (s: string) => s, { url: type === 'url' });
}

function optional(ctx: RequestContext, name: string): string | undefined {
  return ctx.query.get(name) ?? undefined;
}

/** escapeXml(etag), without the regex replace for the quotes every ETag carries (escaping maps each character alone). */
function etagXml(etag: string): string {
  if (etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"')) return `&quot;${escapeXml(etag.slice(1, -1))}&quot;`;
  return escapeXml(etag);
}

/**
 * One <Contents> per object, concatenated directly: a page is up to 1000 of them, and the generic el/textEl path
 * (arrays, filters, an escape per field) cost more than the SQL behind the page. Same bytes as el/textEl would write.
 */
function contentsXml(objects: ObjectSummary[], enc: (s: string) => string, owners: ObjectOwners | undefined): string {
  // Owner XML hashes the access key; a page usually has one owner.
  const ownerXmls = new Map<string, string>();
  let xml = '';
  for (const o of objects) {
    xml += `<Contents><Key>${escapeXml(enc(o.key))}</Key><LastModified>${isoDate(o.lastModified)}</LastModified><ETag>${etagXml(o.etag)}</ETag>`;
    if (o.checksum) xml += textEl('ChecksumAlgorithm', o.checksum.algorithm) + textEl('ChecksumType', o.checksum.type);
    xml += `<Size>${o.size}</Size>`;
    if (owners !== undefined) {
      const owner = owners.enforced ? owners.bucketOwner : (o.owner ?? owners.bucketOwner);
      let ownerText = ownerXmls.get(owner);
      if (ownerText === undefined) ownerXmls.set(owner, (ownerText = ownerXml(owner)));
      xml += ownerText;
    }
    xml += `<StorageClass>${escapeXml(o.storageClass ?? 'STANDARD')}</StorageClass></Contents>`;
  }
  return xml;
}

/** Whose objects a page shows: a summary without an owner is the bucket owner's; under BucketOwnerEnforced all are. */
interface ObjectOwners {
  bucketOwner: string;
  enforced: boolean;
}

async function ownersOf(ctx: RequestContext, bucket: string): Promise<ObjectOwners | undefined> {
  const access = await ctx.access.get(bucket);
  return access === null ? undefined : { bucketOwner: access.owner, enforced: access.ownership === 'BucketOwnerEnforced' };
}

const prefixesXml = (prefixes: string[], enc: (s: string) => string) =>
  prefixes.map((p) => `<CommonPrefixes><Prefix>${escapeXml(enc(p))}</Prefix></CommonPrefixes>`).join('');

export async function listObjectsV1(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const enc = encodingOf(ctx);
  const prefix = optional(ctx, 'prefix');
  const delimiter = optional(ctx, 'delimiter') || undefined;
  const marker = optional(ctx, 'marker');
  const maxKeys = parseIntParam(ctx.query.get('max-keys'), 'max-keys', 0, MAX_LIST_KEYS, MAX_LIST_KEYS);
  const result = await listPage(ctx, bucket, maxKeys, prefix, delimiter, marker || undefined);
  // NextMarker only with a delimiter, as S3 does; without one, clients use the last Key.
  const nextMarker = delimiter !== undefined && result.isTruncated ? result.lastReturned : undefined;
  sendXml(
    ctx,
    xmlDocument('ListBucketResult', [
      textEl('Name', bucket),
      // v1 leaves the top-level Prefix as it is under encoding-type=url (clients decode only Delimiter, Marker,
      // NextMarker, Key and CommonPrefixes there); v2 encodes it.
      textEl('Prefix', prefix ?? ''),
      textEl('Marker', enc(marker ?? '')),
      nextMarker !== undefined ? textEl('NextMarker', enc(nextMarker)) : undefined,
      textEl('MaxKeys', maxKeys),
      delimiter !== undefined ? textEl('Delimiter', enc(delimiter)) : undefined,
      textEl('IsTruncated', result.isTruncated),
      enc.url ? textEl('EncodingType', 'url') : undefined,
      contentsXml(result.objects, enc, await ownersOf(ctx, bucket)),
      prefixesXml(result.commonPrefixes, enc),
    ]),
  );
}

/** One page for ListObjects v1 and v2 (they differ only in how the start point and the next page are written). */
function listPage(ctx: RequestContext, bucket: string, maxKeys: number, prefix: string | undefined, delimiter: string | undefined, after: string | undefined) {
  if (maxKeys === 0) return emptyPage(ctx, bucket);
  return ctx.deps.service.listObjects(bucket, {
    maxKeys,
    ...(prefix ? { prefix } : {}),
    ...(delimiter ? { delimiter } : {}),
    ...(after !== undefined ? { after } : {}),
  });
}

/** max-keys=0: nothing to return, but a missing bucket is still NoSuchBucket. */
async function emptyPage(ctx: RequestContext, bucket: string) {
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  return { objects: [], commonPrefixes: [], isTruncated: false, lastReturned: undefined };
}

async function emptyUploadsPage(ctx: RequestContext, bucket: string) {
  await emptyPage(ctx, bucket);
  return { uploads: [], commonPrefixes: [], isTruncated: false };
}

export async function listObjectsV2(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const enc = encodingOf(ctx);
  const prefix = optional(ctx, 'prefix');
  const delimiter = optional(ctx, 'delimiter') || undefined;
  const startAfter = optional(ctx, 'start-after');
  const token = optional(ctx, 'continuation-token');
  const fetchOwner = ctx.query.get('fetch-owner') === 'true';
  const maxKeys = parseIntParam(ctx.query.get('max-keys'), 'max-keys', 0, MAX_LIST_KEYS, MAX_LIST_KEYS);
  // An empty token is no token (S3 answers the first page, and echoes it); a token supersedes start-after.
  const after = token !== undefined && token !== '' ? decodeContinuationToken(token) : startAfter || undefined;
  const result = await listPage(ctx, bucket, maxKeys, prefix, delimiter, after);
  const next = result.isTruncated && result.lastReturned !== undefined ? encodeContinuationToken(result.lastReturned) : undefined;
  sendXml(
    ctx,
    xmlDocument('ListBucketResult', [
      textEl('Name', bucket),
      textEl('Prefix', enc(prefix ?? '')),
      textEl('KeyCount', result.objects.length + result.commonPrefixes.length),
      textEl('MaxKeys', maxKeys),
      delimiter !== undefined ? textEl('Delimiter', enc(delimiter)) : undefined,
      textEl('IsTruncated', result.isTruncated),
      token !== undefined ? textEl('ContinuationToken', token) : undefined,
      next !== undefined ? textEl('NextContinuationToken', next) : undefined,
      startAfter !== undefined ? textEl('StartAfter', enc(startAfter)) : undefined,
      enc.url ? textEl('EncodingType', 'url') : undefined,
      contentsXml(result.objects, enc, fetchOwner ? await ownersOf(ctx, bucket) : undefined),
      prefixesXml(result.commonPrefixes, enc),
    ]),
  );
}

export async function listMultipartUploads(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const enc = encodingOf(ctx);
  const prefix = optional(ctx, 'prefix');
  const delimiter = optional(ctx, 'delimiter') || undefined;
  const keyMarker = optional(ctx, 'key-marker');
  const uploadIdMarker = keyMarker ? optional(ctx, 'upload-id-marker') : undefined;
  const maxUploads = parseIntParam(ctx.query.get('max-uploads'), 'max-uploads', 0, 1000, 1000);
  const page =
    maxUploads === 0
      ? await emptyUploadsPage(ctx, bucket)
      : await ctx.deps.service.listUploads(bucket, {
          maxUploads,
          ...(prefix ? { prefix } : {}),
          ...(delimiter ? { delimiter } : {}),
          ...(keyMarker ? { keyMarker } : {}),
          ...(uploadIdMarker ? { uploadIdMarker } : {}),
        });
  const last = page.uploads[page.uploads.length - 1];
  sendXml(
    ctx,
    xmlDocument('ListMultipartUploadsResult', [
      textEl('Bucket', bucket),
      textEl('KeyMarker', enc(keyMarker ?? '')),
      textEl('UploadIdMarker', uploadIdMarker ?? ''),
      page.isTruncated && last ? textEl('NextKeyMarker', enc(last.key)) : undefined,
      page.isTruncated && last ? textEl('NextUploadIdMarker', last.uploadId) : undefined,
      textEl('Prefix', enc(prefix ?? '')),
      delimiter !== undefined ? textEl('Delimiter', enc(delimiter)) : undefined,
      textEl('MaxUploads', maxUploads),
      textEl('IsTruncated', page.isTruncated),
      enc.url ? textEl('EncodingType', 'url') : undefined,
      ...page.uploads.map((u) =>
        el('Upload', [
          textEl('Key', enc(u.key)),
          textEl('UploadId', u.uploadId),
          ownerXml(u.owner, 'Initiator'),
          ownerXml(u.owner),
          textEl('StorageClass', u.headers.storageClass ?? 'STANDARD'),
          textEl('Initiated', isoDate(u.initiated)),
          u.checksumAlgorithm ? textEl('ChecksumAlgorithm', u.checksumAlgorithm) : undefined,
          u.checksumType ? textEl('ChecksumType', u.checksumType) : undefined,
        ]),
      ),
      prefixesXml(page.commonPrefixes, enc),
    ]),
  );
}
