#!/usr/bin/env node
// `node conformance/tier.mjs BUCKET`: puts every object of BUCKET in the tier the current conformance mode tests.
// warm -> `tessera warm` (reads come from the hot tier); evicted -> `tessera evict` (every read is a cold
// reconstruction from the erasure-coded shards). Runs against the data dir of the gateway under test.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const bucket = process.argv[2];
const mode = process.env.CONF_MODE;
const config = process.env.CONF_CONFIG;
const dataDir = process.env.CONF_DATA_DIR;
if (!bucket || (mode !== 'warm' && mode !== 'evicted') || !config || !dataDir) {
  process.stderr.write('usage: CONF_MODE=warm|evicted CONF_CONFIG=FILE CONF_DATA_DIR=DIR node conformance/tier.mjs BUCKET\n');
  process.exit(2);
}
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
const result = spawnSync(process.execPath, [cli, mode === 'warm' ? 'warm' : 'evict', bucket, '--config', config], {
  env: {
    ...process.env,
    TESSERA_DATA_DIR: dataDir,
    TESSERA_LOG_LEVEL: 'warn',
    TESSERA_ACCESS_KEY: process.env.CONF_ACCESS_KEY ?? '',
    TESSERA_SECRET_KEY: process.env.CONF_SECRET_KEY ?? '',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
process.exit(result.status ?? 1);
