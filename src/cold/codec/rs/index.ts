/**
 * Erasure coder selection: the native addon when it loads, else the TypeScript port (same code, same coder id).
 * TESSERA_RS=ts forces the TypeScript coder (tests, platforms without a compiler); TESSERA_RS=native requires the addon.
 */
import { loadRonomon, NativeCoder } from './native-coder.js';
import { TypeScriptCoder } from './ts-coder.js';
import { CAUCHY_CODER_CODE, CAUCHY_CODER_ID, type ErasureCoder } from './types.js';

export type { ErasureCoder } from './types.js';
export { CAUCHY_CODER_CODE, CAUCHY_CODER_ID, MAX_K, MAX_M } from './types.js';
export { NativeCoder, loadRonomon } from './native-coder.js';
export { TypeScriptCoder } from './ts-coder.js';

let cached: ErasureCoder | undefined;

/** The native coder, or null when the addon cannot be loaded here. */
export function nativeCoder(): NativeCoder | null {
  const addon = loadRonomon();
  return addon instanceof Error ? null : new NativeCoder(addon);
}

export function defaultCoder(): ErasureCoder {
  if (cached !== undefined) return cached;
  const want = process.env.TESSERA_RS;
  if (want === 'ts') {
    cached = new TypeScriptCoder();
  } else {
    const native = nativeCoder();
    if (native === null && want === 'native') throw new Error('TESSERA_RS=native but @ronomon/reed-solomon failed to load');
    cached = native ?? new TypeScriptCoder();
  }
  return cached;
}

/** A coder able to read shards written with `coderId` (format v1 knows one code). */
export function coderFor(coderId: string): ErasureCoder {
  if (coderId !== CAUCHY_CODER_ID) throw new Error(`unknown erasure coder ${JSON.stringify(coderId)}`);
  return defaultCoder();
}

export function coderCodeFor(coderId: string): number {
  if (coderId !== CAUCHY_CODER_ID) throw new Error(`unknown erasure coder ${JSON.stringify(coderId)}`);
  return CAUCHY_CODER_CODE;
}
