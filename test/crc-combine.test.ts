/** FULL_OBJECT multipart checksums: the CRC of the whole object from its parts' CRCs must equal the CRC of the bytes. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createChecksummer } from '../src/gateway/checksums.js';
import { fullObjectChecksum } from '../src/gateway/crc-combine.js';

describe('CRC combination', () => {
  it("an empty chunk leaves a running CRC32 as it is (node:zlib answers 0 for an empty pooled slice)", () => {
    const a = randomBytes(10);
    const c = createChecksummer('CRC32');
    c.update(a);
    c.update(randomBytes(0));
    const d = createChecksummer('CRC32');
    d.update(a);
    expect(c.digest()).toBe(d.digest());
  });

  for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
    it(`${algorithm}: parts combine into the checksum of the concatenation`, () => {
      for (const sizes of [[1000, 5, 70_000, 0, 1], [1], [5 * 1024 * 1024, 3], [0, 0]]) {
        const parts = sizes.map((n) => randomBytes(n));
        const whole = createChecksummer(algorithm);
        for (const p of parts) whole.update(p);
        const values = parts.map((p) => {
          const c = createChecksummer(algorithm);
          c.update(p);
          return { value: c.digest(), size: p.length };
        });
        expect(fullObjectChecksum(algorithm, values), `${algorithm} ${sizes.join('+')}`).toBe(whole.digest());
      }
    });
  }
});
