/** The MetaStore contract for Object Lock on every engine: what a lock refuses, inside the store's own transactions. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ObjectManifest } from '../src/model/manifest.js';
import type { MetaStore } from '../src/meta/store.js';
import type { ObjectLock, ObjectRecord } from '../src/model/records.js';
import { isMetaError } from '../src/meta/errors.js';
import { metaEngines, useEngine } from './helpers/meta-engines.js';

const DAY = 86_400_000;

function record(key: string, objectId: string, lock?: ObjectLock): ObjectRecord {
  const manifest: ObjectManifest = { version: 1, objectId, wrappedKey: `w-${objectId}`, keyId: 'k1', size: 1, segments: [], copies: [{ node: 'n1', handle: `${objectId}/copy` }] };
  return {
    bucket: 'bkt',
    key,
    objectId,
    size: 1,
    etag: `"e-${objectId}"`,
    lastModified: 0,
    headers: { userMeta: {} },
    tags: {},
    manifest,
    hot: 'cold',
    hotBytes: 0,
    pinned: false,
    lastAccess: 0,
    ...(lock ? { lock } : {}),
  };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'allowed';
  } catch (err) {
    if (isMetaError(err)) return err.kind;
    throw err;
  }
}

describe.each(metaEngines())('%s store: Object Lock', (engineName) => {
  const engine = useEngine(engineName);
  let store: MetaStore;
  let now = 1_700_000_000_000;

  beforeEach(async () => {
    now = 1_700_000_000_000;
    store = (await engine.fresh({ now: () => now })).store;
    await store.createBucket({ name: 'bkt', createdAt: now, owner: 'AKIA1', region: 'us-east-1' });
    await store.putBucketSetting('bkt', 'versioning', 'Enabled');
  });

  const put = async (key: string, objectId: string, lock?: ObjectLock) => (await store.putObject(record(key, objectId, lock))).versionId!;

  it('keeps a version lock state and refuses its permanent deletion while the lock holds', async () => {
    const compliance = await put('c', 'o1', { retention: { mode: 'COMPLIANCE', until: now + DAY } });
    const governance = await put('g', 'o2', { retention: { mode: 'GOVERNANCE', until: now + DAY } });
    const held = await put('h', 'o3', { legalHold: true });
    expect((await store.getObjectById('o1'))?.lock).toEqual({ retention: { mode: 'COMPLIANCE', until: now + DAY } });

    expect(await refusal(store.deleteVersion('bkt', 'c', compliance, 0, { bypassGovernance: true }))).toBe('ObjectLocked');
    expect(await refusal(store.deleteVersion('bkt', 'h', held, 0, { bypassGovernance: true }))).toBe('ObjectLocked');
    expect(await refusal(store.deleteVersion('bkt', 'g', governance, 0))).toBe('ObjectLocked');
    // Refused means untouched: still the latest, nothing queued as garbage.
    expect((await store.getObject('bkt', 'c'))?.objectId).toBe('o1');
    expect(await store.dueGarbage(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);

    expect((await store.deleteVersion('bkt', 'g', governance, 0, { bypassGovernance: true }))?.removed?.objectId).toBe('o2');
    // Retention ends with its date.
    now += DAY + 1;
    expect((await store.deleteVersion('bkt', 'c', compliance, 0))?.removed?.objectId).toBe('o1');
    expect(await refusal(store.deleteVersion('bkt', 'h', held, 0))).toBe('ObjectLocked');
  });

  it('changes retention by S3 rules and swaps the record copies in the same transaction', async () => {
    await put('c', 'o1', { retention: { mode: 'COMPLIANCE', until: now + DAY } });
    const shorten = { retention: { mode: 'COMPLIANCE' as const, until: now + DAY / 2 } };
    expect(await refusal(store.setObjectLock('bkt', 'c', 'o1', shorten, { bypassGovernance: true }))).toBe('ObjectLocked');
    expect(await refusal(store.setObjectLock('bkt', 'c', 'o1', { retention: null }, { bypassGovernance: true }))).toBe('ObjectLocked');
    expect(await refusal(store.setObjectLock('bkt', 'c', 'o1', { retention: { mode: 'GOVERNANCE', until: now + 2 * DAY } }, { bypassGovernance: true }))).toBe('ObjectLocked');

    const copies = [{ node: 'n2', handle: 'o1/copy-2' }];
    const extended = await store.setObjectLock('bkt', 'c', 'o1', { retention: { mode: 'COMPLIANCE', until: now + 2 * DAY }, legalHold: true }, { bypassGovernance: false, copies });
    expect(extended?.lock).toEqual({ retention: { mode: 'COMPLIANCE', until: now + 2 * DAY }, legalHold: true });
    const stored = await store.getObjectById('o1');
    expect([stored?.lock, stored?.manifest.copies]).toEqual([extended?.lock, copies]);
    expect((await store.setObjectLock('bkt', 'c', 'o1', { legalHold: false }, { bypassGovernance: false }))?.lock?.legalHold).toBe(false);

    await put('g', 'o2', { retention: { mode: 'GOVERNANCE', until: now + DAY } });
    expect(await refusal(store.setObjectLock('bkt', 'g', 'o2', { retention: null }, { bypassGovernance: false }))).toBe('ObjectLocked');
    // Even toward COMPLIANCE, a GOVERNANCE retention changes mode only with the bypass.
    const stricter = { retention: { mode: 'COMPLIANCE' as const, until: now + DAY } };
    expect(await refusal(store.setObjectLock('bkt', 'g', 'o2', stricter, { bypassGovernance: false }))).toBe('ObjectLocked');
    expect(await refusal(store.setObjectLock('bkt', 'g', 'o2', { retention: { mode: 'GOVERNANCE', until: now + 2 * DAY } }, { bypassGovernance: false }))).toBe('allowed');
    expect((await store.setObjectLock('bkt', 'g', 'o2', { retention: null }, { bypassGovernance: true }))?.lock).toBeUndefined();
    expect((await store.getObjectById('o2'))?.lock).toBeUndefined();
    // Another key's object id is no match.
    expect(await store.setObjectLock('bkt', 'c', 'o2', { legalHold: true }, { bypassGovernance: false })).toBeNull();
  });

  it('a suspended bucket does not replace a locked null version, and an upload keeps the lock its object will take', async () => {
    await store.putBucketSetting('bkt', 'versioning', 'Suspended');
    await put('n', 'o1', { legalHold: true });
    expect(await refusal(store.putObject(record('n', 'o2')))).toBe('ObjectLocked');
    expect(await refusal(store.deleteObject('bkt', 'n', 0))).toBe('ObjectLocked');
    expect((await store.getObject('bkt', 'n'))?.objectId).toBe('o1');

    const lock: ObjectLock = { retention: { mode: 'GOVERNANCE', until: now + DAY } };
    await store.createUpload({ uploadId: 'u1', bucket: 'bkt', key: 'm', initiated: now, owner: 'AKIA1', headers: { userMeta: {} }, tags: {}, objectId: 'o9', wrappedKey: 'w', keyId: 'k1', lock });
    expect((await store.getUpload('u1'))?.lock).toEqual(lock);
  });
});
