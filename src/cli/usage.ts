/**
 * The CLI's usage texts, one entry per command: `tessera --help` lists the synopses, `tessera COMMAND --help` prints
 * the command's own entry. A usage mistake is one line on stderr and exit 64 (EX_USAGE, sysexits.h).
 */
const CONFIG = '  --config, -c FILE   the YAML config (default: TESSERA_CONFIG, else the embedded default in ./data)';
const HELP = '  --help, -h          this text';

export interface CommandUsage {
  synopsis: string;
  summary: string;
  details: string[];
}

export const COMMANDS: Record<string, CommandUsage> = {
  serve: {
    synopsis: 'serve [--config FILE] [--workers N|auto]',
    summary: 'start the S3 gateway (creates the embedded default\'s master key and credentials on first start)',
    details: [
      CONFIG,
      '  --workers N|auto    N gateway processes on one port (auto: one per core; default 1, or TESSERA_WORKERS); they',
      '                      share the store, nodes and hot tier; background jobs run once for all under leases',
      HELP,
    ],
  },
  node: {
    synopsis: 'node --data DIR [--port P] [--host H] [--secret-file F] [--tls-cert C --tls-key K]',
    summary: 'run a shard storage node (secret from --secret-file or TESSERA_NODE_SECRET)',
    details: [
      '  --data, --data-dir DIR   where the node keeps its shards (required)',
      '  --port P                 port to listen on (default 7700; 0 picks a free one)',
      '  --host H                 address to listen on (default 127.0.0.1)',
      '  --secret-file F          file holding the shared secret (else TESSERA_NODE_SECRET; never a flag)',
      '  --tls-cert C --tls-key K serve HTTPS with this PEM certificate and key',
      HELP,
    ],
  },
  keygen: { synopsis: 'keygen [--out FILE]', summary: 'make a new 256-bit master key (base64)', details: ['  --out, -o FILE      write it to FILE (mode 600, never overwritten) instead of stdout', HELP] },
  warm: { synopsis: 'warm BUCKET[/PREFIX] [--config FILE]', summary: 'promote objects to the hot tier', details: [CONFIG, HELP] },
  evict: { synopsis: 'evict BUCKET[/PREFIX] [--config FILE]', summary: 'demote objects from the hot tier (the cold copy stays)', details: [CONFIG, HELP] },
  pin: { synopsis: 'pin BUCKET/KEY [--config FILE]', summary: 'keep an object hot (never evicted)', details: [CONFIG, HELP] },
  unpin: { synopsis: 'unpin BUCKET/KEY [--config FILE]', summary: 'release a pinned object', details: [CONFIG, HELP] },
  scrub: { synopsis: 'scrub [--config FILE]', summary: 'verify every shard (presence and checksums)', details: [CONFIG, HELP] },
  repair: { synopsis: 'repair [--config FILE]', summary: 'rebuild missing or corrupt shards onto healthy nodes', details: [CONFIG, HELP] },
  gc: {
    synopsis: 'gc [--config FILE] [--min-age 1h] [--dry-run]',
    summary: 'delete shards no committed object references',
    details: [CONFIG, '  --min-age DURATION  spare blobs younger than this (default 1h)', '  --dry-run           report only', HELP],
  },
  'recover-index': {
    synopsis: 'recover-index [--config FILE] [--force]',
    summary: 'rebuild the metadata store from the nodes and the master key',
    details: [CONFIG, '  --force             merge into a store that already has objects', HELP],
  },
  snapshot: {
    synopsis: 'snapshot create|list|show|diff|export|delete|verify ... [--config FILE] [--json]',
    summary: 'immutable, verifiable dataset snapshots (a content hash over every object), readable as s3://NAME/',
    details: [
      '  create BUCKET[/PREFIX] NAME   record every current object version under the prefix (the bucket needs',
      '                                versioning Enabled); its versions cannot be deleted while the snapshot exists',
      '  list                          every snapshot, with its merkle root',
      '  show NAME                     one snapshot',
      '  diff A B                      keys added, removed or changed from A to B',
      '  export NAME                   the manifest as JSON (for a model card)',
      '  delete NAME                   remove it (its versions are no longer held by it)',
      '  verify NAME                   re-read every object from the cold tier and check it and the root; exit 1 on',
      '                                any mismatch (damaged shards are queued for repair)',
      CONFIG,
      '  --json              machine-readable output',
      HELP,
    ],
  },
  'rotate-key': { synopsis: 'rotate-key [--config FILE]', summary: 'rewrap every data key under the first configured master key', details: [CONFIG, HELP] },
  status: {
    synopsis: 'status [--config FILE] [--json]',
    summary: 'nodes, durability (full / degraded / at risk), repair backlog, hot tier and buckets; exit 2 when data is at risk',
    details: [CONFIG, '  --json              the report as JSON', HELP],
  },
  cost: {
    synopsis: 'cost [--config FILE] [--json]',
    summary: "monthly cost per bucket and in total from the config's prices, against 3x replication and all-hot",
    details: [CONFIG, '  --json              the report as JSON', HELP],
  },
  nodes: { synopsis: 'nodes check [--config FILE]', summary: 'credentials + write/read/delete round trip on every node', details: [CONFIG, HELP] },
  meta: {
    synopsis: 'meta migrate|copy [--config FILE] [--json]',
    summary: 'apply metadata schema migrations; copy a store (SQLite <-> PostgreSQL)',
    details: [
      '  migrate [--config FILE] [--json]',
      '      apply pending schema migrations to the configured store (PostgreSQL: versioned migrations; gateways also',
      '      apply them at start). Prints the schema version.',
      '  copy --to TARGET [--from SOURCE] [--config FILE] [--json]',
      '      copy every bucket, object, in-progress upload and garbage item into an empty store. SOURCE defaults to the',
      '      configured store. A store is postgres://... (or postgresql://...) or the path of an SQLite file (sqlite:PATH',
      '      also works). Stop the gateways first: writes during the copy may be missed.',
      '',
      'Database URLs are never printed with their password.',
      '',
      CONFIG,
      HELP,
    ],
  },
};

export function commandUsage(command: string): string {
  const c = COMMANDS[command];
  if (!c) return overallUsage();
  return [`Usage: tessera ${c.synopsis}`, '', `${c.summary}.`, '', 'Options:', ...c.details].join('\n');
}

export function overallUsage(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.synopsis.length));
  const lines = Object.values(COMMANDS).map((c) => (c.synopsis.length > 40 ? `  ${c.synopsis}\n  ${' '.repeat(40)}${c.summary}` : `  ${c.synopsis.padEnd(Math.min(width, 38))}  ${c.summary}`));
  return [
    'tessera — S3-compatible gateway: encrypted, erasure-coded cold tier, S3 or local hot tier',
    '',
    'Usage: tessera <command> [options]      (tessera <command> --help for its options)',
    '',
    ...lines,
    '',
    'Environment: TESSERA_CONFIG, TESSERA_PORT, TESSERA_HOST, TESSERA_DATA_DIR, TESSERA_ACCESS_KEY, TESSERA_SECRET_KEY,',
    'TESSERA_MASTER_KEY, TESSERA_LOG_LEVEL, TESSERA_HOT_BUDGET, TESSERA_DATABASE_URL (selects the PostgreSQL store).',
  ].join('\n');
}

/** Whether argv asks for help (flags after `--` are arguments, not flags). */
export function wantsHelp(argv: string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}
