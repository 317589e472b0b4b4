/** The plain-TypeScript erasure coder: same code (and coder id) as the native addon, slower, runs on the main thread. */
import { CauchyContext } from './cauchy.js';
import { CAUCHY_CODER_CODE, CAUCHY_CODER_ID, checkStripe, reconstructMasks, type ErasureCoder } from './types.js';

export class TypeScriptCoder implements ErasureCoder {
  readonly id = CAUCHY_CODER_ID;
  readonly code = CAUCHY_CODER_CODE;
  readonly implementation = 'typescript';
  private readonly contexts = new Map<string, CauchyContext>();

  private context(k: number, m: number): CauchyContext {
    const key = `${k}+${m}`;
    let c = this.contexts.get(key);
    if (c === undefined) {
      c = new CauchyContext(k, m);
      this.contexts.set(key, c);
    }
    return c;
  }

  async encode(k: number, m: number, data: Buffer[], parity: Buffer[]): Promise<void> {
    if (data.length !== k || parity.length !== m) throw new RangeError('expected k data and m parity blocks');
    const size = checkStripe(k, m, [...data, ...parity]);
    let targets = 0;
    for (let i = k; i < k + m; i++) targets |= 1 << i;
    this.context(k, m).run((1 << k) - 1, targets, [...data, ...parity], size);
  }

  async reconstruct(k: number, m: number, shards: Buffer[], present: boolean[], targets?: number[]): Promise<void> {
    if (shards.length !== k + m) throw new RangeError('expected k+m blocks');
    const size = checkStripe(k, m, shards);
    const masks = reconstructMasks(k, m, present, targets);
    if (masks.targets === 0) return;
    this.context(k, m).run(masks.sources, masks.targets, shards, size);
  }
}
