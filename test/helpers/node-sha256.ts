import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { Checksum, SourceData } from '@smithy/types';

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** node:crypto behind the Checksum interface the smithy SigV4 signer expects (HMAC when given a secret). */
export class NodeSha256 implements Checksum {
  private state: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.state = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret !== undefined ? createHmac('sha256', toBuffer(this.secret)) : createHash('sha256');
  }
  update(data: Uint8Array): void {
    this.state.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.state.digest());
  }
  reset(): void {
    this.state = this.fresh();
  }
}
