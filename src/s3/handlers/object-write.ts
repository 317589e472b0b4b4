import { Errors } from '../s3-error.js';
import { declaredPayloadSize, hasUnknownLength, openPayload, readSmallBody } from '../body.js';
import { spoolPayload } from '../spool.js';
import { checksumResponseHeaders, checksumValueHeader, parseExpectedChecksum } from '../checksum-headers.js';
import { parseWriteCondition } from '../conditionals.js';
import { header, send, sendXml, type RequestContext } from '../context.js';
import { toProtocolError } from '../error-mapping.js';
import { ProtocolErrors } from '../errors.js';
import { digestBase64 } from '../small-digests.js';
import { assertKey, parseContentMd5, parseTaggingHeader } from '../validation.js';
import { childList, childText, el, parseXmlBody, textEl, xmlDocument } from '../xml.js';
import type { DeleteOutcome } from '../../model/records.js';
import { assertNoSseC, bucketOf, keyOf, objectHeadersFromRequest, parseVersionId, versionHeaders, versionIdOf } from './common.js';
import { aclOfWrite } from './acl.js';
import { bypassOf, requestedLock } from './object-lock.js';

export async function putObject(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const key = keyOf(ctx);
  const unknownLength = hasUnknownLength(ctx);
  const declared = unknownLength ? 0 : declaredPayloadSize(ctx);
  const max = ctx.deps.config.server.maxSinglePutBytes;
  if (declared > max) throw Errors.entityTooLarge(max);
  assertNoSseC(ctx);
  const acl = await aclOfWrite(ctx, bucket);
  const headers = objectHeadersFromRequest(ctx);
  const tags = parseTaggingHeader(header(ctx, 'x-amz-tagging'));
  const contentMd5 = parseContentMd5(header(ctx, 'content-md5'));
  const condition = parseWriteCondition(header(ctx, 'if-none-match'), header(ctx, 'if-match'));
  const lock = await requestedLock(ctx, bucket, key);
  let trailers: () => Record<string, string> = () => ({});
  const checksum = parseExpectedChecksum(ctx.req.headers, () => trailers());
  const payload = unknownLength ? await spoolPayload(ctx, max) : openPayload(ctx, declared);
  trailers = payload.trailers;
  const record = await ctx.deps.service.putObject({
    bucket,
    key,
    body: payload.stream,
    size: payload.size,
    headers,
    tags,
    ...(contentMd5 !== undefined ? { contentMd5 } : {}),
    ...(checksum ? { checksum } : {}),
    ...(condition ? { condition } : {}),
    ...(lock !== undefined ? { lock } : {}),
    ...acl,
  });
  send(ctx, 200, { etag: record.etag, 'x-amz-server-side-encryption': 'AES256', ...checksumResponseHeaders(record.checksum), ...versionHeaders(record.versionId) });
}

/** What S3 says of a delete: the version removed, or the delete marker written or removed. */
function deleteResult(outcome: DeleteOutcome, versionId: string | undefined): { versionId?: string; deleteMarker?: string } {
  if (outcome.marker !== undefined) return { versionId: versionId ?? outcome.marker.versionId, deleteMarker: outcome.marker.versionId };
  return versionId !== undefined ? { versionId } : {};
}

export async function deleteObject(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const versionId = versionIdOf(ctx);
  // S3 answers 204 whether or not the key existed, but a missing bucket is NoSuchBucket.
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  const key = keyOf(ctx);
  const bypassGovernance = versionId !== undefined && (await bypassOf(ctx, bucket, key));
  const outcome = await ctx.deps.service.deleteObject(bucket, key, { ...(versionId !== undefined ? { versionId } : {}), ...ownerOption(ctx), bypassGovernance });
  const result = deleteResult(outcome, versionId);
  send(ctx, 204, { ...versionHeaders(result.versionId), ...(result.deleteMarker !== undefined ? { 'x-amz-delete-marker': 'true' } : {}) });
}

function ownerOption(ctx: RequestContext): { owner?: string } {
  return ctx.user !== undefined ? { owner: ctx.user.accessKey } : {};
}

export const MAX_DELETE_KEYS = 1000;

/** DeleteObjects must carry an integrity header (Content-MD5 or any x-amz-checksum-*); whichever is given is verified. */
function verifyDeleteBodyIntegrity(ctx: RequestContext, body: Buffer): void {
  const md5 = parseContentMd5(header(ctx, 'content-md5'));
  const checksum = checksumValueHeader(ctx.req.headers);
  if (md5 === undefined && checksum === undefined) throw ProtocolErrors.missingSecurityHeader();
  if (md5 !== undefined && digestBase64('MD5', body) !== md5) throw Errors.badDigest();
  if (checksum !== undefined && digestBase64(checksum.algorithm, body) !== checksum.value) {
    throw Errors.badDigest(`The ${checksum.algorithm} you specified did not match the calculated checksum.`);
  }
}

export async function deleteObjects(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const body = await readSmallBody(ctx);
  verifyDeleteBodyIntegrity(ctx, body);
  const root = parseXmlBody(body.toString('utf8'), 'Delete');
  const quiet = (childText(root, 'Quiet') ?? 'false').trim().toLowerCase() === 'true';
  const objects = childList(root, 'Object');
  if (objects.length === 0 || objects.length > MAX_DELETE_KEYS) throw Errors.malformedXML();
  const targets = objects.map((o) => {
    const key = childText(o, 'Key');
    if (key === undefined) throw Errors.malformedXML();
    return { key, versionId: childText(o, 'VersionId') };
  });
  if (!(await ctx.deps.service.getBucket(bucket))) throw Errors.noSuchBucket(bucket);
  const results: string[] = [];
  // Asked once for the request: S3 grants s3:BypassGovernanceRetention per bucket or policy, and ACLs never do.
  const bypassGovernance = targets.some((t) => t.versionId !== undefined) && (await bypassOf(ctx, bucket, undefined));
  for (const { key, versionId: given } of targets) {
    try {
      assertKey(key);
      const versionId = given === undefined ? undefined : parseVersionId(given, 'VersionId');
      const outcome = await ctx.deps.service.deleteObject(bucket, key, { ...(versionId !== undefined ? { versionId } : {}), ...ownerOption(ctx), bypassGovernance });
      const result = deleteResult(outcome, versionId);
      if (!quiet) {
        results.push(
          el('Deleted', [
            textEl('Key', key),
            versionId !== undefined ? textEl('VersionId', versionId) : undefined,
            result.deleteMarker !== undefined ? textEl('DeleteMarker', true) : undefined,
            result.deleteMarker !== undefined ? textEl('DeleteMarkerVersionId', result.deleteMarker) : undefined,
          ]),
        );
      }
    } catch (err) {
      const s3 = toProtocolError(err);
      if (!s3) throw err;
      results.push(el('Error', [textEl('Key', key), given !== undefined ? textEl('VersionId', given) : undefined, textEl('Code', s3.code), textEl('Message', s3.message)]));
    }
  }
  sendXml(ctx, xmlDocument('DeleteResult', results));
}

export async function restoreObject(ctx: RequestContext): Promise<void> {
  // The RestoreRequest body (Days, tier) has no meaning for a cache promotion; it is read and checked for shape only.
  const body = await readSmallBody(ctx);
  if (body.length > 0) parseXmlBody(body.toString('utf8'), 'RestoreRequest');
  const record = await ctx.deps.service.headObject(bucketOf(ctx), keyOf(ctx), versionIdOf(ctx));
  const outcome = await ctx.deps.service.restoreObject(record);
  if (outcome === 'in-progress') throw ProtocolErrors.restoreInProgress();
  send(ctx, outcome === 'started' ? 202 : 200, {});
}
