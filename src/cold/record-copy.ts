import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { DeleteMarkerRecord, ObjectRecord } from '../model/records.js';

/**
 * Encrypted copies of object records, delete markers and tombstones on the nodes, so `tessera recover-index` can
 * rebuild the metadata store (every version, every delete) from the nodes and a master key alone. Blob: "TSMF" | version u8 | keyId length u8 | keyId | nonce(12) | AES-256-GCM
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

/**
 * A permanent delete the nodes must know of while a record copy of what was deleted may still exist on a node that
 * could not be reached: recover-index drops the object (by id) or the delete marker (by version id) it names.
 */
export interface Tombstone {
  bucket: string;
  key: string;
  objectId?: string;
  markerVersionId?: string;
  deletedAt: number;
}

/** What a sealed blob holds: an object version's record, a delete marker, or a tombstone. */
export type SealedDocument = { kind: 'object'; record: ObjectRecord } | { kind: 'marker'; marker: DeleteMarkerRecord } | { kind: 'tombstone'; tombstone: Tombstone };

/** The JSON sealed: an object record as it always was (no `kind`), the others tagged. */
function documentJson(doc: SealedDocument): string {
  switch (doc.kind) {
    case 'object':
      // The hot-tier state is local cache bookkeeping, not part of the durable record.
      return JSON.stringify({ ...doc.record, hot: 'cold', hotBytes: 0 });
    case 'marker': {
      const marker: DeleteMarkerRecord = { ...doc.marker };
      delete marker.copies;
      return JSON.stringify({ kind: 'marker', ...marker });
    }
    case 'tombstone':
      return JSON.stringify({ kind: 'tombstone', ...doc.tombstone });
  }
}

function parseDocument(json: string): SealedDocument {
  const value = JSON.parse(json) as { kind?: string } & Record<string, unknown>;
  if (value.kind === undefined) return { kind: 'object', record: value as unknown as ObjectRecord };
  const { kind, ...rest } = value;
  if (kind === 'marker') return { kind: 'marker', marker: rest as unknown as DeleteMarkerRecord };
  if (kind === 'tombstone') return { kind: 'tombstone', tombstone: rest as unknown as Tombstone };
  throw new Error(`sealed document of unknown kind ${kind}`);
}

export function sealRecord(record: ObjectRecord, master: { id: string; key: Buffer }): Buffer {
  return sealDocument({ kind: 'object', record }, master);
}

export function sealDocument(doc: SealedDocument, master: { id: string; key: Buffer }): Buffer {
  const plain = Buffer.from(documentJson(doc));
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
  const doc = openDocument(blob, masters);
  if (doc === null) return null;
  if (doc.kind !== 'object') throw new Error(`sealed blob holds a ${doc.kind}, not an object record`);
  return doc.record;
}

/** Null when the blob is not sealed by us; throws when it is but cannot be authenticated with any given key. */
export function openDocument(blob: Buffer, masters: ReadonlyArray<{ id: string; key: Buffer }>): SealedDocument | null {
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
  return parseDocument(plain.toString());
}

/** What a copy's ShardRef records of its blob, so scrub can check the copy without keys. */
export function sealedDigest(blob: Buffer): string {
  return createHash('sha256').update(blob).digest('hex');
}
