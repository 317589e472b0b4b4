/**
 * Entry point of `tessera node` (the CLI dispatches here): parses flags, starts the shard server, stops it cleanly on
 * SIGINT/SIGTERM.
 *
 *   tessera node --data DIR [--port 7700] [--host 127.0.0.1] [--secret-file FILE] [--tls-cert PEM --tls-key PEM]
 *
 * (--data-dir is the same as --data.)
 *
 * The secret comes from --secret-file or the TESSERA_NODE_SECRET environment variable, never from a flag: argv is
 * visible to every user of the machine.
 */
import { readFileSync } from 'node:fs';
import { parseFlags, UsageError } from '../util/cli-flags.js';
import { startNodeServer, type NodeServer, type NodeServerLogger } from './server.js';

export interface NodeMainOptions {
  dataDir: string;
  port: number;
  host: string;
  secret: string;
  tls?: { cert: Buffer; key: Buffer };
}

/** The flags `tessera node --help` shows (src/cli/usage.ts); a mistake throws UsageError. */
export function parseNodeArgs(argv: string[], env: NodeJS.ProcessEnv): NodeMainOptions {
  const { values } = parseFlags('node', argv, {
    data: { type: 'string' },
    'data-dir': { type: 'string' },
    port: { type: 'string', default: '7700' },
    host: { type: 'string', default: '127.0.0.1' },
    'secret-file': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  });
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
  if (str('data') !== undefined && str('data-dir') !== undefined) throw new UsageError('node', '--data and --data-dir are the same option: give one');
  const dataDir = str('data') ?? str('data-dir');
  if (!dataDir) throw new UsageError('node', '--data DIR is required');
  const port = Number(str('port'));
  if (!/^\d+$/.test(str('port') ?? '') || port > 65535) throw new UsageError('node', '--port must be 0..65535');
  const secretFile = str('secret-file');
  const secret = secretFile !== undefined ? readSecretFile(secretFile) : (env.TESSERA_NODE_SECRET ?? '');
  if (!secret) throw new UsageError('node', 'set TESSERA_NODE_SECRET or pass --secret-file');
  const certFile = str('tls-cert');
  const keyFile = str('tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('node', '--tls-cert and --tls-key go together');
  const tls = certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : undefined;
  return { dataDir, port, host: str('host') ?? '127.0.0.1', secret, tls };
}

function readSecretFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError('node', `cannot read --secret-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Runs until SIGINT/SIGTERM. Resolves with the process exit code; a usage mistake throws UsageError. */
export async function nodeMain(argv: string[], env: NodeJS.ProcessEnv = process.env, logger?: NodeServerLogger): Promise<number> {
  const opts = parseNodeArgs(argv, env);
  const log = logger ?? stderrLogger();
  let server: NodeServer;
  try {
    server = await startNodeServer({ ...opts, logger: log });
  } catch (err) {
    process.stderr.write(`tessera node: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  process.stdout.write(`tessera node listening on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

function stderrLogger(): NodeServerLogger {
  const write = (level: string, fields: Record<string, unknown>, msg: string): void => {
    process.stderr.write(`${JSON.stringify({ level, time: Date.now(), msg, ...fields })}\n`);
  };
  return {
    info: (fields, msg) => write('info', fields, msg),
    warn: (fields, msg) => write('warn', fields, msg),
  };
}
