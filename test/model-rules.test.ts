import { describe, expect, it } from 'vitest';
import { etagListMatches, quoteEtag, sameEtag, unquoteEtag } from '../src/model/etag.js';
import { MAX_PART_BYTES, MAX_PART_NUMBER, MIN_PART_BYTES, MIN_PART_NUMBER } from '../src/model/limits.js';
import { failedWriteCondition, hasWriteCondition } from '../src/model/write-condition.js';

describe('ETags', () => {
  it('compare by their bare value, quoted, unquoted or weak', () => {
    expect(unquoteEtag(' "abc" ')).toBe('abc');
    expect(unquoteEtag('W/"abc"')).toBe('abc');
    expect(quoteEtag('abc-2')).toBe('"abc-2"');
    expect(sameEtag('abc', '"abc"')).toBe(true);
    expect(sameEtag('"abc"', '"abd"')).toBe(false);
    expect(etagListMatches('"x", W/"abc"', '"abc"')).toBe(true);
    expect(etagListMatches('*', '"abc"')).toBe(true);
    expect(etagListMatches('"x", "y"', '"abc"')).toBe(false);
  });
});

describe('write conditions (one rule for the early check and the commit)', () => {
  it('If-None-Match: * fails only when the key exists', () => {
    expect(failedWriteCondition('"e1"', { ifNoneMatch: true })).toBe('If-None-Match');
    expect(failedWriteCondition(undefined, { ifNoneMatch: true })).toBeUndefined();
  });
  it('If-Match fails on another ETag (412) and on a missing key (404 NoSuchKey, as S3), passes on the same ETag or * on an existing key', () => {
    expect(failedWriteCondition('"e1"', { ifMatch: '"e2"' })).toBe('If-Match');
    expect(failedWriteCondition(undefined, { ifMatch: '"e1"' })).toBe('NoSuchKey');
    expect(failedWriteCondition(undefined, { ifMatch: '*' })).toBe('NoSuchKey');
    expect(failedWriteCondition('"e1"', { ifMatch: 'e1' })).toBeUndefined();
    expect(failedWriteCondition('"e1"', { ifMatch: ' "e1" ' })).toBeUndefined();
    expect(failedWriteCondition('"e1"', { ifMatch: 'W/"e1"' })).toBeUndefined();
    expect(failedWriteCondition('"e1"', { ifMatch: '*' })).toBeUndefined();
  });
  it('no condition never fails and needs no lookup', () => {
    expect(failedWriteCondition(undefined, undefined)).toBeUndefined();
    expect(failedWriteCondition('"e1"', {})).toBeUndefined();
    expect(hasWriteCondition(undefined)).toBe(false);
    expect(hasWriteCondition({})).toBe(false);
    expect(hasWriteCondition({ ifMatch: '"e"' })).toBe(true);
    expect(hasWriteCondition({ ifNoneMatch: true })).toBe(true);
  });
});

describe('part limits', () => {
  it('are the values AWS S3 documents', () => {
    expect([MIN_PART_NUMBER, MAX_PART_NUMBER, MIN_PART_BYTES, MAX_PART_BYTES]).toEqual([1, 10_000, 5 * 1024 * 1024, 5 * 1024 * 1024 * 1024]);
  });
});
