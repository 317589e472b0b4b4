/** The @ronomon/reed-solomon native addon behind the ErasureCoder interface (runs in libuv's thread pool). */
import { createRequire } from 'node:module';
import { CAUCHY_CODER_CODE, CAUCHY_CODER_ID, checkStripe, reconstructMasks, type ErasureCoder } from './types.js';

/** The addon's API, as documented in its README. */
export interface RonomonAddon {
  create(k: number, m: number): Buffer;
  encode(
    context: Buffer,
    sources: number,
    targets: number,
    buffer: Buffer,
    bufferOffset: number,
    bufferSize: number,
    parity: Buffer,
    parityOffset: number,
    paritySize: number,
    end: (error?: Error) => void,
  ): void;
}

/** Load the addon, or return the reason it cannot be used. */
export function loadRonomon(): RonomonAddon | Error {
  try {
    const require = createRequire(import.meta.url);
    const addon = require('@ronomon/reed-solomon') as Partial<RonomonAddon>;
    if (typeof addon.create !== 'function' || typeof addon.encode !== 'function') return new Error('unexpected addon exports');
    return addon as RonomonAddon;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** When `blocks` are consecutive views of one buffer, that buffer region; else null (they must be gathered). */
function contiguous(blocks: Buffer[], size: number): Buffer | null {
  const first = blocks[0];
  if (first === undefined) return null;
  for (let i = 1; i < blocks.length; i++) {
    const b = blocks[i]!;
    if (b.buffer !== first.buffer || b.byteOffset !== first.byteOffset + i * size) return null;
  }
  return Buffer.from(first.buffer, first.byteOffset, size * blocks.length);
}

export class NativeCoder implements ErasureCoder {
  readonly id = CAUCHY_CODER_ID;
  readonly code = CAUCHY_CODER_CODE;
  readonly implementation = 'native';
  private readonly contexts = new Map<string, Buffer>();

  constructor(private readonly addon: RonomonAddon) {}

  private context(k: number, m: number): Buffer {
    const key = `${k}+${m}`;
    let c = this.contexts.get(key);
    if (c === undefined) {
      c = this.addon.create(k, m);
      this.contexts.set(key, c);
    }
    return c;
  }

  private async run(k: number, m: number, sources: number, targets: number, shards: Buffer[], size: number): Promise<void> {
    const data = shards.slice(0, k);
    const parity = shards.slice(k);
    // The addon wants data blocks back to back in one buffer and parity blocks in another; gather only if needed.
    const dataBuf = contiguous(data, size) ?? Buffer.concat(data);
    const parityBuf = contiguous(parity, size) ?? Buffer.concat(parity);
    await new Promise<void>((resolve, reject) => {
      this.addon.encode(this.context(k, m), sources, targets, dataBuf, 0, dataBuf.length, parityBuf, 0, parityBuf.length, (error) =>
        error ? reject(error) : resolve(),
      );
    });
    const scatter = (blocks: Buffer[], from: Buffer, base: number): void => {
      if (blocks.length > 0 && from.buffer === blocks[0]!.buffer && from.byteOffset === blocks[0]!.byteOffset) return;
      blocks.forEach((b, i) => {
        if (targets & (1 << (base + i))) from.copy(b, 0, i * size, (i + 1) * size);
      });
    };
    scatter(data, dataBuf, 0);
    scatter(parity, parityBuf, k);
  }

  async encode(k: number, m: number, data: Buffer[], parity: Buffer[]): Promise<void> {
    if (data.length !== k || parity.length !== m) throw new RangeError('expected k data and m parity blocks');
    const size = checkStripe(k, m, [...data, ...parity]);
    let targets = 0;
    for (let i = k; i < k + m; i++) targets |= 1 << i;
    await this.run(k, m, (1 << k) - 1, targets, [...data, ...parity], size);
  }

  async reconstruct(k: number, m: number, shards: Buffer[], present: boolean[], targets?: number[]): Promise<void> {
    if (shards.length !== k + m) throw new RangeError('expected k+m blocks');
    const size = checkStripe(k, m, shards);
    const masks = reconstructMasks(k, m, present, targets);
    if (masks.targets === 0) return;
    // The addon refuses more than m targets; asking for at most m absent shards is always enough.
    await this.run(k, m, masks.sources, masks.targets, shards, size);
  }
}
