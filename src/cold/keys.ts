/**
 * Master keys wrap per-object data keys (format v1, docs/FORMAT.md):
 *   wrappedKey = base64(0x01 || nonce(24) || XChaCha20-Poly1305(masterKey, nonce, DK, aad = "tessera-dk-v1" || objectId(16)))
 * Binding the object id means a wrapped key copied onto another object's manifest does not unwrap. Wrapping is rare
 * and small, so the pure-JS @noble/ciphers implementation is fast enough.
 */
import { randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const WRAP_VERSION = 1;
const WRAP_AAD_PREFIX = Buffer.from('tessera-dk-v1');
const NONCE_BYTES = 24;
const KEY_BYTES = 32;
const TAG_BYTES = 16;

export interface MasterKey {
  id: string;
  key: Buffer;
}

export interface WrappedKey {
  keyId: string;
  wrappedKey: string;
}

/** Raised for every unwrap failure; its message never contains key material. */
export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

export function generateMasterKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** A fresh random 32-byte object data key. */
export function generateDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

function wrapAad(objectId: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/i.test(objectId)) throw new TypeError('objectId must be 32 hex digits');
  return Buffer.concat([WRAP_AAD_PREFIX, Buffer.from(objectId, 'hex')]);
}

export class Keyring {
  private readonly keys: Map<string, Buffer>;
  /** Id of the key that wraps new data keys (the first one given). */
  readonly currentKeyId: string;

  constructor(keys: ReadonlyArray<MasterKey>) {
    const first = keys[0];
    if (first === undefined) throw new KeyError('keyring needs at least one master key');
    this.keys = new Map();
    for (const { id, key } of keys) {
      if (id.length === 0) throw new KeyError('master key id must not be empty');
      if (key.length !== KEY_BYTES) throw new KeyError(`master key ${JSON.stringify(id)} must be ${KEY_BYTES} bytes`);
      if (this.keys.has(id)) throw new KeyError(`duplicate master key id ${JSON.stringify(id)}`);
      this.keys.set(id, Buffer.from(key));
    }
    this.currentKeyId = first.id;
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** Wrap a data key for `objectId` under the current master key. */
  wrap(objectId: string, dk: Buffer): WrappedKey {
    if (dk.length !== KEY_BYTES) throw new KeyError(`data key must be ${KEY_BYTES} bytes`);
    const master = this.keys.get(this.currentKeyId)!;
    const nonce = randomBytes(NONCE_BYTES);
    const sealed = xchacha20poly1305(master, nonce, wrapAad(objectId)).encrypt(dk);
    const out = Buffer.concat([Buffer.of(WRAP_VERSION), nonce, sealed]);
    return { keyId: this.currentKeyId, wrappedKey: out.toString('base64') };
  }

  /** Unwrap; throws KeyError when the key id is unknown or the wrapped key, object id or master key do not match. */
  unwrap(objectId: string, keyId: string, wrappedKey: string): Buffer {
    const master = this.keys.get(keyId);
    if (master === undefined) throw new KeyError(`unknown master key id ${JSON.stringify(keyId)}`);
    const raw = Buffer.from(wrappedKey, 'base64');
    if (raw.length !== 1 + NONCE_BYTES + KEY_BYTES + TAG_BYTES || raw.toString('base64') !== wrappedKey) {
      throw new KeyError('wrapped key is malformed');
    }
    if (raw[0] !== WRAP_VERSION) throw new KeyError(`unsupported wrapped key version ${raw[0]}`);
    try {
      const dk = xchacha20poly1305(master, raw.subarray(1, 1 + NONCE_BYTES), wrapAad(objectId)).decrypt(raw.subarray(1 + NONCE_BYTES));
      return Buffer.from(dk);
    } catch {
      throw new KeyError('wrapped key failed authentication (tampered, wrong object or wrong master key)');
    }
  }

  /** Whether a manifest's key should be rewrapped (it is not under the current master key). */
  needsRewrap(keyId: string): boolean {
    return keyId !== this.currentKeyId;
  }

  /** Rotation: unwrap with whichever key wrapped it and wrap again under the current key (data is not re-encrypted). */
  rewrap(objectId: string, keyId: string, wrappedKey: string): WrappedKey {
    const dk = this.unwrap(objectId, keyId, wrappedKey);
    try {
      return this.wrap(objectId, dk);
    } finally {
      dk.fill(0);
    }
  }
}
