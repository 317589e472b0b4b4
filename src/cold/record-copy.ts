import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { ObjectRecord } from '../model/records.js';

/**
 * Encrypted copies of object records on the nodes, so `tessera recover-index` can rebuild the metadata store from
 * the nodes and a master key alone. Blob: "TSMF" | version u8 | keyId length u8 | keyId | nonce(12) | AES-256-GCM
 * ciphertext of the record JSON | tag(16). The record key is derived from the master key (HKDF, info
 * "tessera-record-v1"); the magic lets recovery find copies among shards by reading 4 bytes (a node can count them,
 * which tells it no more than the number of objects; see docs/SECURITY.md).
 */
export const RECORD_MAGIC = Buffer.from('TSMF');
const VERSION = 1;
const INFO = Buffer.from('tessera-record-v1');

/** Derived once per master key (every PUT seals a record): the master key object lives as long as the keyring. */
const recordKeys = new WeakMap<Buffer, Buffer>();

function recordKey(master: Buffer): Buffer {
  let key = recordKeys.get(master);
  if (key === undefined) {
    key = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), INFO, 32));
    recordKeys.set(master, key);
  }
  return key;
}

export function sealRecord(record: ObjectRecord, master: { id: string; key: Buffer }): Buffer {
  // The hot-tier state is local cache bookkeeping, not part of the durable record.
  const durable: ObjectRecord = { ...record, hot: 'cold', hotBytes: 0 };
  const plain = Buffer.from(JSON.stringify(durable));
  const keyId = Buffer.from(master.id);
  if (keyId.length > 255) throw new Error('master key id too long');
  const nonce = randomBytes(12);
  const header = Buffer.concat([RECORD_MAGIC, Buffer.from([VERSION, keyId.length]), keyId, nonce]);
  const cipher = createCipheriv('aes-256-gcm', recordKey(master.key), nonce);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

/** Null when the blob is not a record copy; throws when it is one but cannot be authenticated with any given key. */
export function openRecord(blob: Buffer, masters: ReadonlyArray<{ id: string; key: Buffer }>): ObjectRecord | null {
  if (blob.length < 6 || !blob.subarray(0, 4).equals(RECORD_MAGIC)) return null;
  if (blob[4] !== VERSION) throw new Error(`record copy version ${blob[4]} not supported`);
  const idLen = blob[5]!;
  const keyId = blob.subarray(6, 6 + idLen).toString();
  const headerLen = 6 + idLen + 12;
  if (blob.length < headerLen + 16) throw new Error('record copy truncated');
  const master = masters.find((m) => m.id === keyId);
  if (!master) throw new Error(`record copy sealed with unknown master key id ${keyId}`);
  const decipher = createDecipheriv('aes-256-gcm', recordKey(master.key), blob.subarray(6 + idLen, headerLen));
  decipher.setAAD(blob.subarray(0, headerLen));
  decipher.setAuthTag(blob.subarray(blob.length - 16));
  const plain = Buffer.concat([decipher.update(blob.subarray(headerLen, blob.length - 16)), decipher.final()]);
  return JSON.parse(plain.toString()) as ObjectRecord;
}
