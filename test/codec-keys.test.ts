import { describe, expect, it } from 'vitest';
import { generateDataKey, generateMasterKey, KeyError, Keyring } from '../src/cold/keys.js';
import { hex16 } from './helpers/codec.js';

describe('Keyring', () => {
  const a = { id: 'a', key: generateMasterKey() };
  const b = { id: 'b', key: generateMasterKey() };
  const objectId = hex16();
  const dk = generateDataKey();

  it('wraps under the first key and unwraps to the same data key', () => {
    const ring = new Keyring([a, b]);
    const w = ring.wrap(objectId, dk);
    expect(w.keyId).toBe('a');
    expect(Buffer.from(w.wrappedKey, 'base64')).toHaveLength(1 + 24 + 32 + 16);
    expect(ring.unwrap(objectId, w.keyId, w.wrappedKey).equals(dk)).toBe(true);
    // Nonces are random: wrapping twice gives different blobs.
    expect(ring.wrap(objectId, dk).wrappedKey).not.toBe(w.wrappedKey);
  });

  it('rotation: a new first key rewraps old data keys; the old key still unwraps until removed', () => {
    const old = new Keyring([a]);
    const w = old.wrap(objectId, dk);
    const rotated = new Keyring([b, a]);
    expect(rotated.needsRewrap(w.keyId)).toBe(true);
    const w2 = rotated.rewrap(objectId, w.keyId, w.wrappedKey);
    expect(w2.keyId).toBe('b');
    expect(rotated.needsRewrap(w2.keyId)).toBe(false);
    expect(rotated.unwrap(objectId, w2.keyId, w2.wrappedKey).equals(dk)).toBe(true);
    expect(rotated.unwrap(objectId, w.keyId, w.wrappedKey).equals(dk)).toBe(true);
    expect(() => new Keyring([b]).unwrap(objectId, w.keyId, w.wrappedKey)).toThrow(KeyError);
  });

  it('rejects tampering, another object id, a wrong master key, and leaks no key bytes in errors', () => {
    const ring = new Keyring([a]);
    const w = ring.wrap(objectId, dk);
    const raw = Buffer.from(w.wrappedKey, 'base64');
    for (const at of [0, 1, 30, raw.length - 1]) {
      const t = Buffer.from(raw);
      t[at]! ^= 1;
      expect(() => ring.unwrap(objectId, 'a', t.toString('base64'))).toThrow(KeyError);
    }
    expect(() => ring.unwrap(hex16(), 'a', w.wrappedKey)).toThrow(KeyError);
    expect(() => new Keyring([{ id: 'a', key: generateMasterKey() }]).unwrap(objectId, 'a', w.wrappedKey)).toThrow(KeyError);
    expect(() => ring.unwrap(objectId, 'zz', w.wrappedKey)).toThrow(/unknown master key/);
    expect(() => ring.unwrap(objectId, 'a', w.wrappedKey.slice(0, -4))).toThrow(/malformed/);
    try {
      ring.unwrap(hex16(), 'a', w.wrappedKey);
    } catch (e) {
      const msg = String((e as Error).message);
      for (const secret of [a.key, dk]) {
        expect(msg).not.toContain(secret.toString('hex'));
        expect(msg).not.toContain(secret.toString('base64'));
      }
    }
  });

  it('refuses bad master keys', () => {
    expect(() => new Keyring([])).toThrow(KeyError);
    expect(() => new Keyring([{ id: 'x', key: Buffer.alloc(16) }])).toThrow(/32 bytes/);
    expect(() => new Keyring([a, { ...b, id: 'a' }])).toThrow(/duplicate/);
  });
});
