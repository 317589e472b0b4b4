import { writeFileSync } from 'node:fs';
import { parseFlags } from '../util/cli-flags.js';
import { generateMasterKey } from '../cold/keys.js';

export function keygenMain(argv: string[]): number {
  const { values } = parseFlags('keygen', argv, { out: { type: 'string', short: 'o' } });
  const key = generateMasterKey().toString('base64');
  if (typeof values.out === 'string') {
    writeFileSync(values.out, key + '\n', { mode: 0o600, flag: 'wx' });
    process.stderr.write(`wrote a new master key to ${values.out} (mode 600). Back it up: without it no object can be read.\n`);
  } else {
    process.stdout.write(key + '\n');
  }
  return 0;
}
