import { describe, expect, it } from 'vitest';
import { S3Error } from '../src/s3/s3-error.js';
import { may, permissionOn } from '../src/s3/authorize.js';
import { checksumValueHeader, parseExpectedChecksum } from '../src/s3/checksum-headers.js';
import { evaluateCopySourceConditions, evaluateReadConditions, parseWriteCondition } from '../src/s3/conditionals.js';
import { etagListMatches as etagMatches } from '../src/model/etag.js';
import { errorXml } from '../src/s3/error-response.js';
import { parseCopySource } from '../src/s3/handlers/copy.js';
import { s3UrlEncode } from '../src/s3/handlers/list.js';
import { parseCompleteBody } from '../src/s3/handlers/multipart.js';
import { GatewayError } from '../src/gateway/errors.js';
import { checkCompletionParts } from '../src/gateway/multipart-completion.js';
import { decodeContinuationToken, encodeContinuationToken } from '../src/s3/list-token.js';
import { parseCopySourceRange, parseRange } from '../src/s3/range.js';
import { resolveOperation, resolveTarget } from '../src/s3/routing.js';
import { digestBase64 } from '../src/s3/small-digests.js';
import { assertKey, assertMetadataSize, isValidBucketName, parseContentMd5, parseIntParam, parseStorageClass, parseTaggingHeader } from '../src/s3/validation.js';
import { childList, childText, decodeXmlText, escapeXml, isoDate, parseXmlBody } from '../src/s3/xml.js';
import type { PartRecord } from '../src/model/records.js';

/** Runs fn and returns the S3Error code it threw (fails the test if it did not throw an S3Error). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    return (err as S3Error).code;
  }
  throw new Error('expected an S3Error');
}

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return (err as GatewayError).kind;
  }
  throw new Error('expected a GatewayError');
}

const q = (s: string) => new URLSearchParams(s);

describe('routing: target', () => {
  it('splits path-style bucket and key, keeping slashes and trailing dir/', () => {
    expect(resolveTarget('/', 'localhost:9000', undefined)).toEqual({});
    expect(resolveTarget('/b', 'localhost', undefined)).toEqual({ bucket: 'b' });
    expect(resolveTarget('/b/', 'localhost', undefined)).toEqual({ bucket: 'b' });
    expect(resolveTarget('/b/dir/', 'localhost', undefined)).toEqual({ bucket: 'b', key: 'dir/' });
    expect(resolveTarget('/b/a//c', 'localhost', undefined)).toEqual({ bucket: 'b', key: 'a//c' });
    expect(resolveTarget('/b/a%20b%2Bc+d', 'x', undefined)).toEqual({ bucket: 'b', key: 'a b+c+d' });
    expect(resolveTarget('/b/%E2%9C%93', 'x', undefined)).toEqual({ bucket: 'b', key: '\u2713' });
  });
  it('uses virtual-hosted style when Host is BUCKET.baseDomain (port and case ignored)', () => {
    expect(resolveTarget('/k/x', 'My-Bucket.S3.Local:9000', 's3.local')).toEqual({ bucket: 'my-bucket', key: 'k/x' });
    expect(resolveTarget('/', 'bkt.s3.local', 's3.local')).toEqual({ bucket: 'bkt' });
    expect(resolveTarget('/bkt/k', 's3.local', 's3.local')).toEqual({ bucket: 'bkt', key: 'k' });
    expect(resolveTarget('/bkt/k', '127.0.0.1:80', 's3.local')).toEqual({ bucket: 'bkt', key: 'k' });
  });
  it('rejects bad percent-encoding and invalid UTF-8 as InvalidURI', () => {
    expect(codeOf(() => resolveTarget('/b/%zz', 'h', undefined))).toBe('InvalidURI');
    expect(codeOf(() => resolveTarget('/b/%C3%28', 'h', undefined))).toBe('InvalidURI');
    expect(codeOf(() => resolveTarget('/b/%', 'h', undefined))).toBe('InvalidURI');
  });
});

describe('routing: operation table', () => {
  const op = (method: string, path: string, query = '', headers: Record<string, string> = {}) =>
    resolveOperation(method, resolveTarget(path, 'h', undefined), q(query), headers);
  it.each([
    ['GET', '/', '', 'ListBuckets'],
    ['PUT', '/b', '', 'CreateBucket'],
    ['HEAD', '/b', '', 'HeadBucket'],
    ['DELETE', '/b', '', 'DeleteBucket'],
    ['GET', '/b', 'location', 'GetBucketLocation'],
    ['GET', '/b', 'versioning', 'GetBucketVersioning'],
    ['GET', '/b', 'acl', 'GetBucketAcl'],
    ['PUT', '/b', 'acl', 'PutBucketAcl'],
    ['GET', '/b', 'uploads', 'ListMultipartUploads'],
    ['GET', '/b', 'list-type=2&prefix=a', 'ListObjectsV2'],
    ['GET', '/b', 'prefix=a&marker=b', 'ListObjects'],
    ['GET', '/b', 'cors', 'GetBucketCors'],
    ['GET', '/b', 'lifecycle', 'GetBucketLifecycleConfiguration'],
    ['GET', '/b', 'website', 'GetBucketUnconfigured'],
    ['POST', '/b', 'delete', 'DeleteObjects'],
    ['PUT', '/b/k', '', 'PutObject'],
    ['GET', '/b/k', '', 'GetObject'],
    ['GET', '/b/k', 'partNumber=2', 'GetObject'],
    ['HEAD', '/b/k', '', 'HeadObject'],
    ['DELETE', '/b/k', '', 'DeleteObject'],
    ['GET', '/b/k', 'tagging', 'GetObjectTagging'],
    ['PUT', '/b/k', 'tagging', 'PutObjectTagging'],
    ['DELETE', '/b/k', 'tagging', 'DeleteObjectTagging'],
    ['GET', '/b/k', 'acl', 'GetObjectAcl'],
    ['PUT', '/b/k', 'acl', 'PutObjectAcl'],
    ['POST', '/b/k', 'uploads', 'CreateMultipartUpload'],
    ['PUT', '/b/k', 'partNumber=1&uploadId=u', 'UploadPart'],
    ['POST', '/b/k', 'uploadId=u', 'CompleteMultipartUpload'],
    ['DELETE', '/b/k', 'uploadId=u', 'AbortMultipartUpload'],
    ['GET', '/b/k', 'uploadId=u', 'ListParts'],
    ['POST', '/b/k', 'restore', 'RestoreObject'],
    ['GET', '/b', 'object-lock', 'GetObjectLockConfiguration'],
    ['GET', '/b/k', 'retention', 'GetObjectRetention'],
    ['PUT', '/b/k', 'legal-hold', 'PutObjectLegalHold'],
  ])('%s %s?%s -> %s', (method, path, query, expected) => {
    expect(op(method, path, query)).toBe(expected);
  });
  it('x-amz-copy-source selects CopyObject and UploadPartCopy', () => {
    expect(op('PUT', '/b/k', '', { 'x-amz-copy-source': '/a/b' })).toBe('CopyObject');
    expect(op('PUT', '/b/k', 'partNumber=1&uploadId=u', { 'x-amz-copy-source': 'a/b' })).toBe('UploadPartCopy');
  });
  it('known but unimplemented subresources are 501, unknown methods 405, never a wrong success', () => {
    expect(codeOf(() => op('PUT', '/b', 'website'))).toBe('NotImplemented');
    expect(op('PUT', '/b', 'lifecycle')).toBe('PutBucketLifecycleConfiguration');
    expect(op('PUT', '/b', 'versioning')).toBe('PutBucketVersioning');
    expect(op('GET', '/b', 'versions')).toBe('ListObjectVersions');
    expect(codeOf(() => op('GET', '/b/k', 'torrent'))).toBe('NotImplemented');
    expect(op('GET', '/b/k', 'attributes')).toBe('GetObjectAttributes');
    expect([op('GET', '/b', 'tagging'), op('PUT', '/b', 'tagging'), op('DELETE', '/b', 'tagging')]).toEqual(['GetBucketTagging', 'PutBucketTagging', 'DeleteBucketTagging']);
    expect([op('PUT', '/b/k', 'retention'), op('GET', '/b/k', 'legal-hold'), op('PUT', '/b', 'object-lock')]).toEqual(['PutObjectRetention', 'GetObjectLegalHold', 'PutObjectLockConfiguration']);
    expect(codeOf(() => op('POST', '/b/k', 'select&select-type=2'))).toBe('NotImplemented');
    expect(op('DELETE', '/b', 'lifecycle')).toBe('DeleteBucketLifecycle');
    expect(codeOf(() => op('DELETE', '/b', 'website'))).toBe('NotImplemented');
    expect(op('DELETE', '/b', 'policy')).toBe('DeleteBucketPolicy');
    expect(codeOf(() => op('POST', '/b', ''))).toBe('PreconditionFailed');
    expect(codeOf(() => op('PATCH', '/b/k'))).toBe('MethodNotAllowed');
    expect(codeOf(() => op('PUT', '/'))).toBe('MethodNotAllowed');
    expect(codeOf(() => op('GET', '/b', 'list-type=3'))).toBe('InvalidArgument');
  });
});

describe('authorization', () => {
  const user = { accessKey: 'a', secretKey: 's', buckets: { '*': 'read' as const, mine: 'admin' as const, w: 'write' as const } };
  it('combines the bucket entry with "*" and ranks read < write < admin', () => {
    expect(permissionOn(user, 'other')).toBe(1);
    expect(may(user, 'other', 'read')).toBe(true);
    expect(may(user, 'other', 'write')).toBe(false);
    expect(may(user, 'w', 'write')).toBe(true);
    expect(may(user, 'w', 'admin')).toBe(false);
    expect(may(user, 'mine', 'admin')).toBe(true);
    const none = { accessKey: 'b', secretKey: 's', buckets: { only: 'read' as const } };
    expect(may(none, 'other', 'read')).toBe(false);
    expect(may(none, 'constructor', 'read')).toBe(false);
  });
});

describe('bucket names and keys', () => {
  it.each(['abc', 'a.b-c', 'health', 'metrics', '123', 'a'.repeat(63), 'my.bucket.name'])('valid: %s', (name) => {
    expect(isValidBucketName(name)).toBe(true);
  });
  it.each(['ab', 'a'.repeat(64), 'ABC', 'a_b', '-abc', 'abc-', '.abc', 'abc.', 'a..b', '192.168.1.1', 'xn--abc', 'abc-s3alias', 'a.-b', 'a b', ''])(
    'invalid: %s',
    (name) => {
      expect(isValidBucketName(name)).toBe(false);
    },
  );
  it('keys: 1024 UTF-8 bytes max, lone surrogates rejected', () => {
    expect(() => assertKey('k'.repeat(1024))).not.toThrow();
    expect(codeOf(() => assertKey('k'.repeat(1025)))).toBe('KeyTooLongError');
    expect(codeOf(() => assertKey('\u00e9'.repeat(513)))).toBe('KeyTooLongError');
    expect(codeOf(() => assertKey('a\ud800b'))).toBe('InvalidURI');
    expect(() => assertKey('dir/')).not.toThrow();
  });
  it('metadata: 2 KB of names + values', () => {
    expect(() => assertMetadataSize({ a: 'x'.repeat(2047) })).not.toThrow();
    expect(codeOf(() => assertMetadataSize({ a: 'x'.repeat(2048) }))).toBe('MetadataTooLarge');
  });
  it('storage classes', () => {
    expect(parseStorageClass('STANDARD')).toBe('STANDARD');
    expect(parseStorageClass('GLACIER_IR')).toBe('GLACIER_IR');
    expect(parseStorageClass(undefined)).toBeUndefined();
    expect(codeOf(() => parseStorageClass('standard'))).toBe('InvalidStorageClass');
  });
  it('Content-MD5 must be base64 of 16 bytes', () => {
    const good = digestBase64('MD5', Buffer.from('x'));
    expect(parseContentMd5(good)).toBe(good);
    expect(codeOf(() => parseContentMd5('abc'))).toBe('InvalidDigest');
    expect(codeOf(() => parseContentMd5(Buffer.alloc(15).toString('base64')))).toBe('InvalidDigest');
  });
  it('integer query parameters', () => {
    expect(parseIntParam(null, 'max-keys', 0, 1000, 1000)).toBe(1000);
    expect(parseIntParam('5000', 'max-keys', 0, 1000, 1000)).toBe(1000);
    expect(parseIntParam('0', 'max-keys', 0, 1000, 1000)).toBe(0);
    expect(codeOf(() => parseIntParam('-1', 'max-keys', 0, 1000, 1000))).toBe('InvalidArgument');
    expect(codeOf(() => parseIntParam('1e3', 'max-keys', 0, 1000, 1000))).toBe('InvalidArgument');
    expect(codeOf(() => parseIntParam('99999999999', 'max-keys', 0, 1000, 1000))).toBe('InvalidArgument');
  });
});

describe('tagging', () => {
  it('parses x-amz-tagging as a URL query', () => {
    expect(parseTaggingHeader('a=1&b=two%20words&c=&d+e=f%2Bg')).toEqual({ a: '1', b: 'two words', c: '', 'd e': 'f+g' });
    expect(parseTaggingHeader(undefined)).toEqual({});
  });
  it('enforces count, lengths, duplicates and encoding', () => {
    const eleven = Array.from({ length: 11 }, (_, i) => `k${i}=v`).join('&');
    expect(codeOf(() => parseTaggingHeader(eleven))).toBe('InvalidTag');
    expect(codeOf(() => parseTaggingHeader(`${'k'.repeat(129)}=v`))).toBe('InvalidTag');
    expect(() => parseTaggingHeader(`${'k'.repeat(128)}=${'v'.repeat(256)}`)).not.toThrow();
    expect(codeOf(() => parseTaggingHeader(`k=${'v'.repeat(257)}`))).toBe('InvalidTag');
    expect(codeOf(() => parseTaggingHeader('a=1&a=2'))).toBe('InvalidTag');
    expect(codeOf(() => parseTaggingHeader('=v'))).toBe('InvalidTag');
    expect(codeOf(() => parseTaggingHeader('a=%zz'))).toBe('InvalidTag');
    expect(codeOf(() => parseTaggingHeader('aws:x=1'))).toBe('InvalidTag');
  });
});

describe('ranges', () => {
  it('resolves the three forms and clamps the end', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ offset: 0, length: 10 });
    expect(parseRange('bytes=90-', 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange('bytes=-10', 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange('bytes=-1000', 100)).toEqual({ offset: 0, length: 100 });
    expect(parseRange('bytes=50-1000', 100)).toEqual({ offset: 50, length: 50 });
  });
  it('ignores absent, malformed and multi-range headers (whole object)', () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange('items=0-1', 100)).toBeUndefined();
    expect(parseRange('bytes=9-2', 100)).toBeUndefined();
    expect(parseRange('bytes=-', 100)).toBeUndefined();
  });
  it('unsatisfiable -> 416 InvalidRange with Content-Range bytes */size', () => {
    for (const [h, size] of [['bytes=100-', 100], ['bytes=-0', 100], ['bytes=0-', 0], ['bytes=-5', 0]] as const) {
      try {
        parseRange(h, size);
        throw new Error('no throw');
      } catch (err) {
        expect((err as S3Error).code).toBe('InvalidRange');
        expect((err as S3Error).status).toBe(416);
        expect((err as S3Error).headers['content-range']).toBe(`bytes */${size}`);
      }
    }
  });
  it('copy-source ranges must be exact and inside the source', () => {
    expect(parseCopySourceRange('bytes=0-9', 10)).toEqual({ offset: 0, length: 10 });
    expect(parseCopySourceRange(undefined, 10)).toBeUndefined();
    // Malformed: InvalidArgument; well-formed but outside the source or empty: 400 InvalidRange.
    expect(codeOf(() => parseCopySourceRange('bytes=5-', 10))).toBe('InvalidArgument');
    expect(codeOf(() => parseCopySourceRange('0-5', 10))).toBe('InvalidArgument');
    expect(codeOf(() => parseCopySourceRange('bytes=0-10', 10))).toBe('InvalidRange');
    expect(codeOf(() => parseCopySourceRange('bytes=5-4', 10))).toBe('InvalidRange');
    expect(codeOf(() => parseCopySourceRange('bytes=100-200', 10))).toBe('InvalidRange');
  });
});

describe('conditionals', () => {
  const rec = { etag: '"abc"', lastModified: Date.parse('2024-01-02T03:04:05.678Z') };
  const before = 'Mon, 01 Jan 2024 00:00:00 GMT';
  const same = 'Tue, 02 Jan 2024 03:04:05 GMT';
  const after = 'Wed, 03 Jan 2024 00:00:00 GMT';
  it('matches etag lists, quotes, weak prefix and *', () => {
    expect(etagMatches('"abc"', '"abc"')).toBe(true);
    expect(etagMatches('abc', '"abc"')).toBe(true);
    expect(etagMatches('"x", W/"abc"', '"abc"')).toBe(true);
    expect(etagMatches('*', '"abc"')).toBe(true);
    expect(etagMatches('"abd"', '"abc"')).toBe(false);
  });
  it('follows S3 precedence', () => {
    expect(() => evaluateReadConditions({}, rec)).not.toThrow();
    expect(codeOf(() => evaluateReadConditions({ ifMatch: '"no"' }, rec))).toBe('PreconditionFailed');
    // If-Match true wins over a failing If-Unmodified-Since.
    expect(() => evaluateReadConditions({ ifMatch: '"abc"', ifUnmodifiedSince: before }, rec)).not.toThrow();
    expect(codeOf(() => evaluateReadConditions({ ifUnmodifiedSince: before }, rec))).toBe('PreconditionFailed');
    expect(() => evaluateReadConditions({ ifUnmodifiedSince: same }, rec)).not.toThrow();
    expect(codeOf(() => evaluateReadConditions({ ifNoneMatch: '"abc"' }, rec))).toBe('NotModified');
    // If-None-Match false wins over If-Modified-Since that would say 304.
    expect(() => evaluateReadConditions({ ifNoneMatch: '"zzz"', ifModifiedSince: after }, rec)).not.toThrow();
    expect(codeOf(() => evaluateReadConditions({ ifModifiedSince: same }, rec))).toBe('NotModified');
    expect(() => evaluateReadConditions({ ifModifiedSince: before }, rec)).not.toThrow();
    expect(() => evaluateReadConditions({ ifModifiedSince: 'garbage' }, rec)).not.toThrow();
  });
  it('copy-source conditions are all 412', () => {
    expect(codeOf(() => evaluateCopySourceConditions({ ifNoneMatch: '"abc"' }, rec))).toBe('PreconditionFailed');
    expect(codeOf(() => evaluateCopySourceConditions({ ifModifiedSince: after }, rec))).toBe('PreconditionFailed');
    expect(codeOf(() => evaluateCopySourceConditions({ ifMatch: 'x' }, rec))).toBe('PreconditionFailed');
    expect(() => evaluateCopySourceConditions({ ifMatch: 'abc', ifModifiedSince: before }, rec)).not.toThrow();
  });
  it('write conditions', () => {
    expect(parseWriteCondition(undefined, undefined)).toBeUndefined();
    expect(parseWriteCondition('*', undefined)).toEqual({ ifNoneMatch: true });
    expect(parseWriteCondition(undefined, 'abc')).toEqual({ ifMatch: '"abc"' });
    expect(codeOf(() => parseWriteCondition('"abc"', undefined))).toBe('NotImplemented');
  });
});

describe('continuation tokens', () => {
  it('round-trip any key, including unicode and slashes', () => {
    for (const key of ['a', 'dir/sub/', '\u2713 \u{1F600}', 'x'.repeat(1024)]) expect(decodeContinuationToken(encodeContinuationToken(key))).toBe(key);
  });
  it('reject garbage as InvalidArgument', () => {
    for (const bad of ['', '!!!', 'YWJj', encodeContinuationToken('a') + '=', Buffer.from([0x74, 0x31, 0x3a, 0xff]).toString('base64url')]) {
      expect(codeOf(() => decodeContinuationToken(bad))).toBe('InvalidArgument');
    }
  });
});

describe('XML', () => {
  it('escapes text including characters XML cannot carry raw', () => {
    expect(escapeXml(`<a&b>"'\r\u0001`)).toBe('&lt;a&amp;b&gt;&quot;&apos;&#13;&#1;');
  });
  it('escapes each special character alone and leaves plain text as it is', () => {
    const cases: [string, string][] = [['&', '&amp;'], ['<', '&lt;'], ['>', '&gt;'], ['"', '&quot;'], ["'", '&apos;'], ['\r', '&#13;'], ['\u0000', '&#0;'], ['\u001f', '&#31;'], ['\ufffe', '&#65534;'], ['\uffff', '&#65535;']];
    for (const [raw, escaped] of cases) expect(escapeXml(`x${raw}y`)).toBe(`x${escaped}y`);
    for (const plain of ['', 'a/b c\t\n', 'é😀\ufffd\u{10ffff}', '"d41d8cd98f00b204e9800998ecf8427e"'.slice(1, -1)]) expect(escapeXml(plain)).toBe(plain);
  });
  it('formats dates at whole seconds, whatever the order of calls', () => {
    const times = [1_700_000_000_999, 1_700_000_000_001, 1_700_000_001_000, 1_700_000_000_500, 0, 1_700_000_000_000];
    for (const ms of times) expect(isoDate(ms)).toBe(new Date(Math.floor(ms / 1000) * 1000).toISOString());
    expect(() => isoDate(Number.NaN)).toThrow(RangeError);
  });
  it('parses a Delete body with entities, CDATA, whitespace keys', () => {
    const root = parseXmlBody(
      '<?xml version="1.0"?><Delete xmlns="x"><Quiet>true</Quiet><Object><Key> a&amp;b&#x2713;&#65; </Key></Object><Object><Key><![CDATA[c<d]]></Key></Object></Delete>',
      'Delete',
    );
    expect(childText(root, 'Quiet')).toBe('true');
    expect(childList(root, 'Object').map((o) => childText(o, 'Key'))).toEqual([' a&b\u2713A ', 'c<d']);
  });
  it('rejects malformed, wrong root, multiple roots, DTDs and entity expansion', () => {
    const bad = [
      '<Delete><Object></Delete>',
      'not xml',
      '<Other/>',
      '<Delete/><Delete/>',
      '<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Delete><Object><Key>&b;</Key></Object></Delete>',
      '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object></Delete>',
    ];
    for (const xml of bad) expect(codeOf(() => parseXmlBody(xml, 'Delete'))).toBe('MalformedXML');
    const undeclared = parseXmlBody('<Delete><Object><Key>&nope;</Key></Object></Delete>', 'Delete');
    expect(codeOf(() => childText(childList(undeclared, 'Object')[0], 'Key'))).toBe('MalformedXML');
    expect(codeOf(() => decodeXmlText('&#0;'))).toBe('MalformedXML');
    expect(codeOf(() => decodeXmlText('a & b'))).toBe('MalformedXML');
  });
  it('rejects deep nesting without a stack overflow', () => {
    const deep = '<Delete>' + '<a>'.repeat(5000) + '</a>'.repeat(5000) + '</Delete>';
    expect(codeOf(() => parseXmlBody(deep, 'Delete'))).toBe('MalformedXML');
  });
  it('handles a large flat body (1000 objects)', () => {
    const objects = Array.from({ length: 1000 }, (_, i) => `<Object><Key>k${i}</Key></Object>`).join('');
    const root = parseXmlBody(`<Delete>${objects}</Delete>`, 'Delete');
    expect(childList(root, 'Object')).toHaveLength(1000);
  });
  it('error documents carry code, message, fields, resource and request id', () => {
    const xml = errorXml(new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: 'a<b' }), '/b/a<b', 'ABCDEF0123456789', 'host');
    expect(xml).toContain('<Code>NoSuchKey</Code>');
    expect(xml).toContain('<Key>a&lt;b</Key>');
    expect(xml).toContain('<Resource>/b/a&lt;b</Resource>');
    expect(xml).toContain('<RequestId>ABCDEF0123456789</RequestId>');
  });
});

describe('multipart completion checks', () => {
  const part = (n: number, size: number): PartRecord =>
    ({ partNumber: n, size, etag: `"e${n}"`, uploadId: 'u', lastModified: 0, manifest: { version: 1, objectId: 'o', wrappedKey: '', keyId: '', size, segments: [] } }) as PartRecord;
  const MiB = 1024 * 1024;
  const body = (parts: Array<[number, string]>) =>
    `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  it('parses parts and requires strictly ascending order', () => {
    expect(parseCompleteBody(body([[1, '"e1"'], [3, 'e3']]))).toEqual([
      { partNumber: 1, etag: '"e1"' },
      { partNumber: 3, etag: 'e3' },
    ]);
    expect(codeOf(() => parseCompleteBody(body([[2, 'a'], [1, 'b']])))).toBe('InvalidPartOrder');
    expect(codeOf(() => parseCompleteBody(body([[1, 'a'], [1, 'b']])))).toBe('InvalidPartOrder');
    expect(codeOf(() => parseCompleteBody('<CompleteMultipartUpload></CompleteMultipartUpload>'))).toBe('MalformedXML');
    expect(codeOf(() => parseCompleteBody(body([[0, 'a']])))).toBe('InvalidArgument');
    expect(codeOf(() => parseCompleteBody('<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>'))).toBe('MalformedXML');
  });
  it('checks existence, etag and minimum size of non-last parts', () => {
    const stored = new Map([
      [1, part(1, 5 * MiB)],
      [2, part(2, 1)],
      [3, part(3, 1)],
    ]);
    expect(checkCompletionParts([{ partNumber: 1, etag: 'e1' }, { partNumber: 2, etag: '"e2"' }], stored).map((p) => p.etag)).toEqual(['"e1"', '"e2"']);
    expect(kindOf(() => checkCompletionParts([{ partNumber: 4, etag: 'e4' }], stored))).toBe('InvalidPart');
    expect(kindOf(() => checkCompletionParts([{ partNumber: 1, etag: 'e9' }], stored))).toBe('InvalidPart');
    expect(kindOf(() => checkCompletionParts([{ partNumber: 2, etag: 'e2' }, { partNumber: 3, etag: 'e3' }], stored))).toBe('PartTooSmall');
  });
});

describe('copy source header', () => {
  it('accepts encoded, leading-slash and versioned forms', () => {
    expect(parseCopySource('/b-1/dir/a%20b')).toEqual({ bucket: 'b-1', key: 'dir/a b' });
    expect(parseCopySource('b-1/k?versionId=null')).toEqual({ bucket: 'b-1', key: 'k', versionId: 'null' });
    expect(parseCopySource('b-1/k?versionId=abc_-DEF')).toEqual({ bucket: 'b-1', key: 'k', versionId: 'abc_-DEF' });
    expect(codeOf(() => parseCopySource('b-1/k?versionId='))).toBe('InvalidArgument');
    expect(parseCopySource('b-1/a%3Fb')).toEqual({ bucket: 'b-1', key: 'a?b' });
  });
  it('rejects malformed sources', () => {
    expect(codeOf(() => parseCopySource(''))).toBe('InvalidArgument');
    expect(codeOf(() => parseCopySource('bucketonly'))).toBe('InvalidArgument');
    expect(codeOf(() => parseCopySource('/b-1/'))).toBe('InvalidArgument');
    expect(codeOf(() => parseCopySource('BAD/k'))).toBe('InvalidBucketName');
    expect(codeOf(() => parseCopySource('b-1/%zz'))).toBe('InvalidURI');
  });
});

describe('checksum headers and digests', () => {
  const nine = Buffer.from('123456789');
  it('computes the standard check values', () => {
    expect(Buffer.from(digestBase64('CRC32', nine), 'base64').toString('hex')).toBe('cbf43926');
    expect(Buffer.from(digestBase64('CRC32C', nine), 'base64').toString('hex')).toBe('e3069283');
    expect(Buffer.from(digestBase64('CRC64NVME', nine), 'base64').toString('hex')).toBe('ae8b14860a799888');
  });
  it('takes a header value, a trailer, or an algorithm to compute', () => {
    const crc = digestBase64('CRC32', nine);
    const fromHeader = parseExpectedChecksum({ 'x-amz-checksum-crc32': crc }, () => ({}));
    expect(fromHeader?.algorithm).toBe('CRC32');
    expect(fromHeader?.value()).toBe(crc);
    const fromTrailer = parseExpectedChecksum({ 'x-amz-trailer': 'x-amz-checksum-crc32c', 'x-amz-sdk-checksum-algorithm': 'CRC32C' }, () => ({ 'x-amz-checksum-crc32c': 'AAAAAA==' }));
    expect(fromTrailer?.algorithm).toBe('CRC32C');
    expect(fromTrailer?.value()).toBe('AAAAAA==');
    const computeOnly = parseExpectedChecksum({ 'x-amz-sdk-checksum-algorithm': 'sha256' }, () => ({}));
    expect(computeOnly?.algorithm).toBe('SHA256');
    expect(computeOnly?.value()).toBeUndefined();
    expect(parseExpectedChecksum({}, () => ({}))).toBeUndefined();
  });
  it('rejects bad values, two headers, unknown algorithms and mismatched declarations', () => {
    expect(codeOf(() => checksumValueHeader({ 'x-amz-checksum-crc32': 'AAAA' }))).toBe('InvalidRequest');
    expect(codeOf(() => checksumValueHeader({ 'x-amz-checksum-sha256': '!!!' }))).toBe('InvalidRequest');
    expect(codeOf(() => checksumValueHeader({ 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-checksum-crc32c': 'AAAAAA==' }))).toBe('InvalidRequest');
    expect(codeOf(() => parseExpectedChecksum({ 'x-amz-sdk-checksum-algorithm': 'MD4' }, () => ({})))).toBe('InvalidRequest');
    expect(codeOf(() => parseExpectedChecksum({ 'x-amz-trailer': 'x-amz-checksum-md5' }, () => ({})))).toBe('InvalidRequest');
    expect(codeOf(() => parseExpectedChecksum({ 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-sdk-checksum-algorithm': 'SHA1' }, () => ({})))).toBe('InvalidRequest');
  });
});

describe('list encoding', () => {
  it('url-encodes like S3 (slash kept)', () => {
    expect(s3UrlEncode('a b/c+d&e\u2713')).toBe('a%20b/c%2Bd%26e%E2%9C%93');
    expect(s3UrlEncode("x'(y)*!")).toBe('x%27%28y%29%2A%21');
  });
});
