import type { CompletePart } from '../../gateway/types.js';
import { GatewayError } from '../../gateway/errors.js';
import type { ObjectRecord } from '../../model/records.js';
import { MAX_PART_BYTES, MAX_PART_NUMBER, MIN_PART_NUMBER } from '../../model/limits.js';
import { Errors } from '../s3-error.js';
import { declaredPayloadSize, hasUnknownLength, openPayload, readSmallBody } from '../body.js';
import { spoolPayload } from '../spool.js';
import { checksumElementName, checksumResponseHeaders, parseAlgorithm, parseExpectedChecksum } from '../checksum-headers.js';
import { parseWriteCondition } from '../conditionals.js';
import { header, send, sendXml, type RequestContext } from '../context.js';
import { ProtocolErrors } from '../errors.js';
import { ownerXml } from '../owner.js';
import { parseCopySourceRange } from '../range.js';
import { parseContentMd5, parseIntParam, parseTaggingHeader } from '../validation.js';
import { childList, childText, el, isoDate, parseXmlBody, textEl, xmlDocument } from '../xml.js';
import { assertNoSseC, bucketOf, keyOf, objectHeadersFromRequest, versionHeaders } from './common.js';
import { aclOfWrite } from './acl.js';
import { MAX_COPY_SOURCE_BYTES, loadCopySource } from './copy.js';
import { requestedLock } from './object-lock.js';

function uploadIdOf(ctx: RequestContext): string {
  const id = ctx.query.get('uploadId');
  if (id === null || id === '') throw Errors.invalidArgument('This operation requires an upload id', 'uploadId', '');
  return id;
}

function partNumberOf(ctx: RequestContext): number {
  const raw = ctx.query.get('partNumber') ?? '';
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < MIN_PART_NUMBER || Number(raw) > MAX_PART_NUMBER) {
    throw Errors.partNumberOutOfRange(raw);
  }
  return Number(raw);
}

export async function createMultipartUpload(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const key = keyOf(ctx);
  assertNoSseC(ctx);
  const acl = await aclOfWrite(ctx, bucket);
  const headers = objectHeadersFromRequest(ctx);
  const tags = parseTaggingHeader(header(ctx, 'x-amz-tagging'));
  const lock = await requestedLock(ctx, bucket, key);
  const checksumAlgorithm = parseAlgorithm(header(ctx, 'x-amz-checksum-algorithm'), 'x-amz-checksum-algorithm');
  const typeHeader = header(ctx, 'x-amz-checksum-type')?.toUpperCase();
  if (typeHeader !== undefined && typeHeader !== 'FULL_OBJECT' && typeHeader !== 'COMPOSITE') throw Errors.invalidRequest('Value for x-amz-checksum-type header is invalid.');
  if (typeHeader !== undefined && checksumAlgorithm === undefined) throw Errors.invalidRequest('The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
  if (typeHeader === 'FULL_OBJECT' && (checksumAlgorithm === 'SHA1' || checksumAlgorithm === 'SHA256')) {
    throw Errors.invalidRequest(`The FULL_OBJECT checksum type cannot be used with the ${checksumAlgorithm.toLowerCase()} checksum algorithm.`);
  }
  const upload = await ctx.deps.service.createUpload({
    bucket,
    key,
    owner: ctx.user?.accessKey ?? '',
    headers,
    tags,
    ...(checksumAlgorithm ? { checksumAlgorithm } : {}),
    ...(typeHeader ? { checksumType: typeHeader as 'FULL_OBJECT' | 'COMPOSITE' } : {}),
    ...(acl.owner !== undefined ? { objectOwner: acl.owner } : {}),
    ...(acl.grants !== undefined ? { grants: acl.grants } : {}),
    ...(lock !== undefined ? { lock } : {}),
  });
  const responseHeaders: Record<string, string> = { 'x-amz-server-side-encryption': 'AES256' };
  if (upload.checksumAlgorithm) responseHeaders['x-amz-checksum-algorithm'] = upload.checksumAlgorithm;
  if (upload.checksumType) responseHeaders['x-amz-checksum-type'] = upload.checksumType;
  sendXml(ctx, xmlDocument('InitiateMultipartUploadResult', [textEl('Bucket', bucket), textEl('Key', key), textEl('UploadId', upload.uploadId)]), 200, responseHeaders);
}

export async function uploadPart(ctx: RequestContext): Promise<void> {
  const partNumber = partNumberOf(ctx);
  const uploadId = uploadIdOf(ctx);
  const unknownLength = hasUnknownLength(ctx);
  const declared = unknownLength ? 0 : declaredPayloadSize(ctx);
  if (declared > MAX_PART_BYTES) throw Errors.entityTooLarge(MAX_PART_BYTES);
  const contentMd5 = parseContentMd5(header(ctx, 'content-md5'));
  let trailers: () => Record<string, string> = () => ({});
  const checksum = parseExpectedChecksum(ctx.req.headers, () => trailers());
  // Unknown upload: answer before the client sends a byte.
  await ctx.deps.service.getUpload(bucketOf(ctx), keyOf(ctx), uploadId);
  const payload = unknownLength ? await spoolPayload(ctx, MAX_PART_BYTES) : openPayload(ctx, declared);
  trailers = payload.trailers;
  const result = await ctx.deps.service.uploadPart({
    bucket: bucketOf(ctx),
    key: keyOf(ctx),
    uploadId,
    partNumber,
    body: payload.stream,
    size: payload.size,
    ...(contentMd5 !== undefined ? { contentMd5 } : {}),
    ...(checksum ? { checksum } : {}),
  });
  const checksumHeaders = checksumResponseHeaders(result.checksum);
  delete checksumHeaders['x-amz-checksum-type'];
  send(ctx, 200, { etag: result.etag, 'x-amz-server-side-encryption': 'AES256', ...checksumHeaders });
}

export async function uploadPartCopy(ctx: RequestContext): Promise<void> {
  const partNumber = partNumberOf(ctx);
  const uploadId = uploadIdOf(ctx);
  const upload = await ctx.deps.service.getUpload(bucketOf(ctx), keyOf(ctx), uploadId);
  const source = await loadCopySource(ctx);
  const range = parseCopySourceRange(header(ctx, 'x-amz-copy-source-range'), source.size) ?? { offset: 0, length: source.size };
  if (range.length > MAX_COPY_SOURCE_BYTES) throw Errors.invalidRequest(`The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_COPY_SOURCE_BYTES}`);
  const body = await ctx.deps.service.openObject(source, range.length === source.size ? undefined : range);
  const result = await ctx.deps.service
    .uploadPart({
      bucket: upload.bucket,
      key: upload.key,
      uploadId,
      partNumber,
      body,
      size: range.length,
      ...(upload.checksumAlgorithm ? { checksum: { algorithm: upload.checksumAlgorithm, value: () => undefined } } : {}),
    })
    .finally(() => body.destroy());
  const checksumXml = result.checksum ? textEl(checksumElementName(result.checksum.algorithm), result.checksum.value) : undefined;
  sendXml(ctx, xmlDocument('CopyPartResult', [textEl('ETag', result.etag), textEl('LastModified', isoDate(Date.now())), checksumXml]));
}

/** Parses the CompleteMultipartUpload body: non-empty, strictly ascending part numbers in range. */
export function parseCompleteBody(xml: string): CompletePart[] {
  const root = parseXmlBody(xml, 'CompleteMultipartUpload');
  const parts = childList(root, 'Part').map((node): CompletePart => {
    const numberText = childText(node, 'PartNumber')?.trim();
    const etag = childText(node, 'ETag')?.trim();
    if (numberText === undefined || etag === undefined || !/^\d{1,5}$/.test(numberText)) throw Errors.malformedXML();
    const partNumber = Number(numberText);
    if (partNumber < MIN_PART_NUMBER || partNumber > MAX_PART_NUMBER) throw Errors.partNumberOutOfRange(numberText);
    const checksums = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'].map((a) => childText(node, `Checksum${a}`)).filter((v) => v !== undefined);
    return { partNumber, etag, ...(checksums[0] !== undefined ? { checksum: checksums[0].trim() } : {}) };
  });
  if (parts.length === 0) throw Errors.malformedXML();
  for (let i = 1; i < parts.length; i++) {
    if ((parts[i]?.partNumber ?? 0) <= (parts[i - 1]?.partNumber ?? 0)) throw ProtocolErrors.invalidPartOrder();
  }
  return parts;
}

function objectUrl(ctx: RequestContext, bucket: string, key: string): string {
  const proto = ctx.deps.config.server.tls ? 'https' : 'http';
  const encodedKey = key.split('/').map(encodeURIComponent).join('/');
  return `${proto}://${ctx.host}/${encodeURIComponent(bucket)}/${encodedKey}`;
}

export async function completeMultipartUpload(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const key = keyOf(ctx);
  const uploadId = uploadIdOf(ctx);
  const condition = parseWriteCondition(header(ctx, 'if-none-match'), header(ctx, 'if-match'));
  const upload = await ctx.deps.service.getUpload(bucket, key, uploadId).catch((err: unknown) => {
    if (!(err instanceof GatewayError) || err.kind !== 'NoSuchUpload') throw err;
    return null;
  });
  const body = await readSmallBody(ctx);
  const parts = parseCompleteBody(body.toString('utf8'));
  let record: ObjectRecord;
  if (upload === null) {
    // Gone: completed already (a retry, maybe sent to another gateway) answers as the first completion did.
    const done = await ctx.deps.service.completedUpload(bucket, key, uploadId, parts);
    if (done === null) throw Errors.noSuchUpload(uploadId);
    record = done;
  } else {
    const expected = upload.checksumAlgorithm ? header(ctx, `x-amz-checksum-${upload.checksumAlgorithm.toLowerCase()}`) : undefined;
    record = await ctx.deps.service.completeUpload(upload, parts, condition, expected);
  }
  const checksumXml = record.checksum
    ? [textEl(checksumElementName(record.checksum.algorithm), record.checksum.value), textEl('ChecksumType', record.checksum.type)]
    : [];
  sendXml(
    ctx,
    xmlDocument('CompleteMultipartUploadResult', [
      textEl('Location', objectUrl(ctx, bucket, key)),
      textEl('Bucket', bucket),
      textEl('Key', key),
      textEl('ETag', record.etag),
      ...checksumXml,
    ]),
    200,
    { 'x-amz-server-side-encryption': 'AES256', ...versionHeaders(record.versionId) },
  );
}

export async function abortMultipartUpload(ctx: RequestContext): Promise<void> {
  await ctx.deps.service.abortUpload(bucketOf(ctx), keyOf(ctx), uploadIdOf(ctx));
  send(ctx, 204, {});
}

export async function listParts(ctx: RequestContext): Promise<void> {
  const bucket = bucketOf(ctx);
  const key = keyOf(ctx);
  const uploadId = uploadIdOf(ctx);
  const marker = parseIntParam(ctx.query.get('part-number-marker'), 'part-number-marker', 0, MAX_PART_NUMBER, 0);
  const maxParts = parseIntParam(ctx.query.get('max-parts'), 'max-parts', 0, 1000, 1000);
  const upload = await ctx.deps.service.getUpload(bucket, key, uploadId);
  const page = maxParts === 0 ? { parts: [], isTruncated: false } : await ctx.deps.service.listParts(upload, marker, maxParts);
  const last = page.parts[page.parts.length - 1];
  const parts = page.parts.map((p) =>
    el('Part', [
      textEl('PartNumber', p.partNumber),
      textEl('LastModified', isoDate(p.lastModified)),
      textEl('ETag', p.etag),
      textEl('Size', p.size),
      p.checksum ? textEl(checksumElementName(p.checksum.algorithm), p.checksum.value) : undefined,
    ]),
  );
  sendXml(
    ctx,
    xmlDocument('ListPartsResult', [
      textEl('Bucket', bucket),
      textEl('Key', key),
      textEl('UploadId', uploadId),
      ownerXml(upload.owner, 'Initiator'),
      ownerXml(upload.owner),
      textEl('StorageClass', upload.headers.storageClass ?? 'STANDARD'),
      textEl('PartNumberMarker', marker),
      textEl('NextPartNumberMarker', last?.partNumber ?? marker),
      textEl('MaxParts', maxParts),
      textEl('IsTruncated', page.isTruncated),
      upload.checksumAlgorithm ? textEl('ChecksumAlgorithm', upload.checksumAlgorithm) : undefined,
      upload.checksumType ? textEl('ChecksumType', upload.checksumType) : undefined,
      ...parts,
    ]),
  );
}
