/**
 * Chunk AEAD of the cold-tier format v1 (docs/FORMAT.md): AES-256-GCM under a per-segment key derived with HKDF from
 * the object data key. Nonce and associated data bind every chunk to its object, part, segment, position and
 * finality, so chunks cannot be reordered, truncated or moved between segments or objects.
 */
import { createCipheriv, createDecipheriv, hkdfSync, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { TAG_BYTES } from '../../model/layout.js';

const SEG_INFO = Buffer.from('tessera-seg-v1');
const AAD_MAGIC = Buffer.from('TSR1');
export const AAD_BYTES = 4 + 16 + 4 + 4 + 4 + 1;
export const NONCE_BYTES = 12;

/** Where a segment sits; every field goes into each chunk's associated data. */
export interface SegmentContext {
  /** 128-bit object id, hex. */
  objectId: string;
  /** 128-bit segment id, hex (the HKDF salt). */
  segId: string;
  part: number;
  index: number;
}

export function idBytes(hex: string, what: string): Buffer {
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`${what} must be 32 hex digits`);
  return Buffer.from(hex, 'hex');
}

/** segKey = HKDF-SHA256(DK, salt = segId bytes, info = "tessera-seg-v1"), 32 bytes. */
export function deriveSegmentKey(dk: Buffer, segId: string): Buffer {
  if (dk.length !== 32) throw new TypeError('data key must be 32 bytes');
  return Buffer.from(hkdfSync('sha256', dk, idBytes(segId, 'segId'), SEG_INFO, 32));
}

/** Per-segment AEAD state: the derived key and scratch nonce/aad buffers reused for every chunk. */
export class ChunkSealer {
  private readonly key: Buffer;
  private readonly nonce = Buffer.alloc(NONCE_BYTES);
  private readonly aad = Buffer.alloc(AAD_BYTES);

  constructor(dk: Buffer, ctx: SegmentContext) {
    if (!Number.isInteger(ctx.part) || ctx.part < 0 || ctx.part > 0xffffffff) throw new RangeError('part out of range');
    if (!Number.isInteger(ctx.index) || ctx.index < 0 || ctx.index > 0xffffffff) throw new RangeError('segment index out of range');
    this.key = deriveSegmentKey(dk, ctx.segId);
    AAD_MAGIC.copy(this.aad, 0);
    idBytes(ctx.objectId, 'objectId').copy(this.aad, 4);
    this.aad.writeUInt32BE(ctx.part, 20);
    this.aad.writeUInt32BE(ctx.index, 24);
  }

  private bind(chunk: number, final: boolean): void {
    this.nonce.writeUInt32BE(chunk, 0);
    this.nonce[4] = final ? 1 : 0;
    this.aad.writeUInt32BE(chunk, 28);
    this.aad[32] = final ? 1 : 0;
  }

  /** A cipher for chunk c; feed it with update(), then final() and getAuthTag(). */
  cipher(chunk: number, final: boolean): CipherGCM {
    this.bind(chunk, final);
    const c = createCipheriv('aes-256-gcm', this.key, this.nonce, { authTagLength: TAG_BYTES });
    c.setAAD(this.aad);
    return c;
  }

  /** A decipher for chunk c; call setAuthTag() before final(). */
  decipher(chunk: number, final: boolean): DecipherGCM {
    this.bind(chunk, final);
    const d = createDecipheriv('aes-256-gcm', this.key, this.nonce, { authTagLength: TAG_BYTES });
    d.setAAD(this.aad);
    return d;
  }

  /** Decrypt and authenticate one chunk (ciphertext || tag). Throws on any authentication failure. */
  open(chunk: number, final: boolean, sealed: Buffer): Buffer {
    if (sealed.length < TAG_BYTES) throw new Error('chunk shorter than its tag');
    this.bind(chunk, final);
    const d: DecipherGCM = createDecipheriv('aes-256-gcm', this.key, this.nonce, { authTagLength: TAG_BYTES });
    d.setAAD(this.aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    d.final();
    return plain;
  }

  /** Encrypt one whole chunk into ciphertext || tag (tests and small callers; the encoder streams instead). */
  seal(chunk: number, final: boolean, plain: Buffer): Buffer {
    const c = this.cipher(chunk, final);
    return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  }
}
