import { describe, expect, it } from 'vitest';
import { compositeChecksum, createChecksummer, isValidChecksumValue } from '../src/gateway/checksums.js';
import type { ChecksumAlgorithm } from '../src/model/records.js';

const CHECK = Buffer.from('123456789');

// Published check values of each algorithm over "123456789".
const VECTORS: Record<ChecksumAlgorithm, string> = {
  CRC32: 'cbf43926',
  CRC32C: 'e3069283',
  CRC64NVME: 'ae8b14860a799888',
  SHA1: 'f7c3bc1d808e04732adf679965ccc34ca7ae3441',
  SHA256: '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225',
};

describe('checksums', () => {
  for (const [algorithm, hex] of Object.entries(VECTORS) as Array<[ChecksumAlgorithm, string]>) {
    it(`${algorithm} matches the published check value, in one piece and split at every offset`, () => {
      const whole = createChecksummer(algorithm);
      whole.update(CHECK);
      expect(whole.digestBytes().toString('hex')).toBe(hex);
      for (let cut = 0; cut <= CHECK.length; cut++) {
        const split = createChecksummer(algorithm);
        split.update(CHECK.subarray(0, cut));
        split.update(CHECK.subarray(cut));
        expect(split.digest()).toBe(Buffer.from(hex, 'hex').toString('base64'));
      }
      expect(isValidChecksumValue(algorithm, whole.digest())).toBe(true);
      expect(isValidChecksumValue(algorithm, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')).toBe(false);
    });
  }

  it('CRC64NVME slicing path agrees with the byte path on long inputs', () => {
    const data = Buffer.alloc(10_007);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
    const a = createChecksummer('CRC64NVME');
    a.update(data);
    const b = createChecksummer('CRC64NVME');
    for (let i = 0; i < data.length; i += 3) b.update(data.subarray(i, i + 3));
    expect(b.digest()).toBe(a.digest());
  });

  it('composite checksum hashes the raw part digests and keeps the -N suffix', () => {
    const p1 = createChecksummer('CRC32');
    p1.update(Buffer.from('part one'));
    const p2 = createChecksummer('CRC32');
    p2.update(Buffer.from('part two'));
    const expected = createChecksummer('CRC32');
    expected.update(Buffer.concat([p1.digestBytes(), p2.digestBytes()]));
    expect(compositeChecksum('CRC32', [p1.digest(), p2.digest()])).toBe(`${expected.digest()}-2`);
  });
});
