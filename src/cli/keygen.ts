import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateMasterKey } from '../cold/keys.js';

export function keygenMain(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { out: { type: 'string', short: 'o' } }, strict: true });
  const key = generateMasterKey().toString('base64');
  if (values.out) {
    writeFileSync(values.out, key + '\n', { mode: 0o600, flag: 'wx' });
    process.stderr.write(`wrote a new master key to ${values.out} (mode 600). Back it up: without it no object can be read.\n`);
  } else {
    process.stdout.write(key + '\n');
  }
  return 0;
}
