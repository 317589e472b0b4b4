import { describe, expect, it } from 'vitest';
import { ColdError, type ColdErrorKind } from '../src/cold/errors.js';
import { GatewayError, type GatewayErrorKind } from '../src/gateway/errors.js';
import { MetaError, type MetaErrorKind } from '../src/meta/errors.js';
import { toProtocolError } from '../src/s3/error-mapping.js';
import { S3Error } from '../src/s3/s3-error.js';

const summary = (err: S3Error | undefined) => err && { code: err.code, status: err.status, fields: err.fields };

describe('the one mapping from inner error kinds to S3 errors', () => {
  // Typed as Record<kind, ...> so a new kind without a row here fails to compile.
  const meta: Record<MetaErrorKind, [string, { code: string; status: number; fields: Record<string, string> }]> = {
    NoSuchBucket: ['b1', { code: 'NoSuchBucket', status: 404, fields: { BucketName: 'b1' } }],
    BucketExists: ['b2', { code: 'BucketAlreadyOwnedByYou', status: 409, fields: { BucketName: 'b2' } }],
    BucketNotEmpty: ['b3', { code: 'BucketNotEmpty', status: 409, fields: { BucketName: 'b3' } }],
    NoSuchUpload: ['u1', { code: 'NoSuchUpload', status: 404, fields: { UploadId: 'u1' } }],
    NoSuchKey: ['k1', { code: 'NoSuchKey', status: 404, fields: { Key: 'k1' } }],
    PreconditionFailed: ['If-Match', { code: 'PreconditionFailed', status: 412, fields: { Condition: 'If-Match' } }],
    InvalidPart: ['3', { code: 'InvalidPart', status: 400, fields: { PartNumber: '3' } }],
    InvalidKey: ['a\ud800', { code: 'InvalidArgument', status: 400, fields: { ArgumentName: 'key' } }],
    ObjectLocked: ['k1', { code: 'AccessDenied', status: 403, fields: {} }],
    SnapshotExists: ['s1', { code: 'SnapshotAlreadyExists', status: 409, fields: { SnapshotName: 's1' } }],
    Busy: ['', { code: 'ServiceUnavailable', status: 503, fields: {} }],
    Unavailable: ['', { code: 'ServiceUnavailable', status: 503, fields: {} }],
  };
  for (const [kind, [subject, expected]] of Object.entries(meta) as Array<[MetaErrorKind, (typeof meta)[MetaErrorKind]]>) {
    it(`MetaError ${kind}`, () => expect(summary(toProtocolError(new MetaError(kind, subject)))).toEqual(expected));
  }

  it('a store that is busy or unavailable answers 503 with Retry-After (nothing was decided; retry)', () => {
    for (const kind of ['Busy', 'Unavailable'] as const) expect(toProtocolError(new MetaError(kind))?.headers).toEqual({ 'retry-after': '1' });
  });

  const gateway: Record<GatewayErrorKind, [GatewayError, { code: string; status: number; fields: Record<string, string> }]> = {
    NoSuchBucket: [new GatewayError('NoSuchBucket', 'b'), { code: 'NoSuchBucket', status: 404, fields: { BucketName: 'b' } }],
    NoSuchKey: [new GatewayError('NoSuchKey', 'k'), { code: 'NoSuchKey', status: 404, fields: { Key: 'k' } }],
    NoSuchUpload: [new GatewayError('NoSuchUpload', 'u'), { code: 'NoSuchUpload', status: 404, fields: { UploadId: 'u' } }],
    PreconditionFailed: [new GatewayError('PreconditionFailed', 'If-None-Match'), { code: 'PreconditionFailed', status: 412, fields: { Condition: 'If-None-Match' } }],
    DigestMismatch: [new GatewayError('DigestMismatch'), { code: 'BadDigest', status: 400, fields: {} }],
    PartNumberOutOfRange: [new GatewayError('PartNumberOutOfRange', '0'), { code: 'InvalidArgument', status: 400, fields: { ArgumentName: 'partNumber', ArgumentValue: '0' } }],
    InvalidPart: [new GatewayError('InvalidPart', '2'), { code: 'InvalidPart', status: 400, fields: { PartNumber: '2' } }],
    PartTooSmall: [
      new GatewayError('PartTooSmall', '1', { size: '100', etag: '"e"' }),
      { code: 'EntityTooSmall', status: 400, fields: { ProposedSize: '100', MinSizeAllowed: String(5 * 1024 * 1024), PartNumber: '1', ETag: '"e"' } },
    ],
    BodyTooShort: [new GatewayError('BodyTooShort'), { code: 'IncompleteBody', status: 400, fields: {} }],
    BodyTooLong: [new GatewayError('BodyTooLong'), { code: 'InvalidRequest', status: 400, fields: {} }],
    NoSuchVersion: [new GatewayError('NoSuchVersion', 'k', { versionId: 'v1' }), { code: 'NoSuchVersion', status: 404, fields: { Key: 'k', VersionId: 'v1' } }],
    DeleteMarker: [
      new GatewayError('DeleteMarker', 'k', { versionId: 'v2', lastModified: '0', asked: 'by-version' }),
      { code: 'MethodNotAllowed', status: 405, fields: { Method: 'GET', ResourceType: 'DeleteMarker' } },
    ],
    ObjectLockNotEnabled: [new GatewayError('ObjectLockNotEnabled', 'b'), { code: 'InvalidRequest', status: 400, fields: {} }],
    InvalidBucketState: [new GatewayError('InvalidBucketState', 'b'), { code: 'InvalidBucketState', status: 409, fields: { BucketName: 'b' } }],
    NoSuchSnapshot: [new GatewayError('NoSuchSnapshot', 's'), { code: 'NoSuchSnapshot', status: 404, fields: { SnapshotName: 's' } }],
    InvalidSnapshotName: [new GatewayError('InvalidSnapshotName', 'S'), { code: 'InvalidSnapshotName', status: 400, fields: { SnapshotName: 'S' } }],
    NameTaken: [new GatewayError('NameTaken', 'n'), { code: 'BucketAlreadyExists', status: 409, fields: { BucketName: 'n' } }],
    SnapshotReadOnly: [new GatewayError('SnapshotReadOnly', 's'), { code: 'AccessDenied', status: 403, fields: {} }],
  };
  for (const [kind, [err, expected]] of Object.entries(gateway) as Array<[GatewayErrorKind, (typeof gateway)[GatewayErrorKind]]>) {
    it(`GatewayError ${kind}`, () => expect(summary(toProtocolError(err))).toEqual(expected));
  }
  it('a delete marker answers with x-amz-delete-marker and its version id: 404 NoSuchKey as the latest, 405 by version id', () => {
    const latest = toProtocolError(new GatewayError('DeleteMarker', 'k', { versionId: 'v2', lastModified: '0', asked: 'latest' }));
    expect([latest?.code, latest?.status, latest?.headers]).toEqual(['NoSuchKey', 404, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': 'v2' }]);
    const byVersion = toProtocolError(new GatewayError('DeleteMarker', 'k', { versionId: 'v2', lastModified: '0', asked: 'by-version' }));
    expect(byVersion?.headers).toEqual({ 'x-amz-delete-marker': 'true', 'x-amz-version-id': 'v2', 'last-modified': 'Thu, 01 Jan 1970 00:00:00 GMT' });
  });
  it('names the checksum algorithm in a checksum mismatch', () => {
    expect(toProtocolError(new GatewayError('DigestMismatch', 'CRC32C'))?.message).toBe('The CRC32C you specified did not match the calculated checksum.');
  });

  const cold: Record<ColdErrorKind, { code: string; status: number }> = {
    Unavailable: { code: 'ServiceUnavailable', status: 503 },
    Corrupt: { code: 'InternalError', status: 500 },
    SourceEnded: { code: 'IncompleteBody', status: 400 },
  };
  for (const [kind, expected] of Object.entries(cold) as Array<[ColdErrorKind, (typeof cold)[ColdErrorKind]]>) {
    it(`ColdError ${kind}`, () => expect(toProtocolError(new ColdError(kind, 'why'))).toMatchObject(expected));
  }

  it('keeps the inner message where the client should read it (503 reasons), and passes S3 errors through', () => {
    expect(toProtocolError(new ColdError('Unavailable', 'Only 3 storage nodes are healthy'))?.message).toBe('Only 3 storage nodes are healthy');
    const own = new S3Error('SlowDown', 'slow', 503);
    expect(toProtocolError(own)).toBe(own);
  });

  it('knows nothing else: bugs stay bugs (the response path answers 500 and logs them)', () => {
    expect(toProtocolError(new TypeError('x is undefined'))).toBeUndefined();
    expect(toProtocolError('a string')).toBeUndefined();
    expect(toProtocolError(Object.assign(new Error('lookalike'), { code: 'NoSuchKey', status: 404 }))).toBeUndefined();
  });
});
