#!/usr/bin/env node
import { ConfigError } from '../config/errors.js';

const USAGE = `tessera — S3-compatible gateway: encrypted, erasure-coded cold tier, S3 or local hot tier

Usage: tessera <command> [options]

  serve [--config FILE] [--workers N]   start the S3 gateway (embedded default without --config);
                                        --workers: N gateway processes on one port (auto: one per core)
  node --data DIR [--port P] [--host H] [--secret-file F] [--tls-cert C --tls-key K]
                                        run a shard storage node (secret also from TESSERA_NODE_SECRET)
  keygen [--out FILE]                   make a new 256-bit master key (base64)
  warm BUCKET[/PREFIX] [--config FILE]  promote objects to the hot tier
  evict BUCKET[/PREFIX] [--config FILE] demote objects from the hot tier (the cold copy stays)
  pin|unpin BUCKET/KEY [--config FILE]  keep an object hot (never evicted) or release it
  scrub [--config FILE]                 verify every shard (presence and checksums)
  repair [--config FILE]                rebuild missing or corrupt shards onto healthy nodes
  gc [--config FILE] [--min-age 1h]     delete shards no committed object references
  recover-index [--config FILE]         rebuild the metadata store from the nodes and the master key
  rotate-key [--config FILE]            rewrap every data key under the first configured master key
  nodes check [--config FILE]           credentials + write/read/delete round trip on every node
  meta migrate|copy [--config FILE]     apply metadata schema migrations; copy a store (SQLite <-> PostgreSQL)

Environment: TESSERA_CONFIG, TESSERA_PORT, TESSERA_HOST, TESSERA_DATA_DIR, TESSERA_ACCESS_KEY, TESSERA_SECRET_KEY,
TESSERA_MASTER_KEY, TESSERA_LOG_LEVEL, TESSERA_HOT_BUDGET, TESSERA_WORKERS, TESSERA_DATABASE_URL (selects the PostgreSQL store).`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return (await import('./serve.js')).serveMain(rest);
    case 'node': {
      // Accept the documented --data as well as --data-dir.
      const args = rest.map((a) => (a === '--data' ? '--data-dir' : a.startsWith('--data=') ? `--data-dir=${a.slice(7)}` : a));
      return (await import('../node/main.js')).nodeMain(args);
    }
    case 'keygen':
      return (await import('./keygen.js')).keygenMain(rest);
    case 'warm':
    case 'evict':
    case 'pin':
    case 'unpin':
      return (await import('./tiering.js')).tieringMain(command, rest);
    case 'scrub':
    case 'repair':
    case 'gc':
    case 'recover-index':
    case 'rotate-key':
      return (await import('./durability.js')).durabilityMain(command, rest);
    case 'nodes':
      return (await import('./nodes-check.js')).nodesMain(rest);
    case 'meta':
      return (await import('./meta.js')).metaMain(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`tessera: unknown command ${command}\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`tessera: ${err.message}\n`);
    else process.stderr.write(`tessera: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof ConfigError ? 78 : 1;
  },
);
