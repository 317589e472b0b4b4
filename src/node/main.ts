/**
 * Entry point of `tessera node` (the CLI dispatches here): parses flags, starts the shard server, stops it cleanly on
 * SIGINT/SIGTERM.
 *
 *   tessera node --data-dir DIR [--port 7700] [--host 127.0.0.1] [--secret-file FILE] [--tls-cert PEM --tls-key PEM]
 *
 * The secret comes from --secret-file or the TESSERA_NODE_SECRET environment variable, never from a flag: argv is
 * visible to every user of the machine.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startNodeServer, type NodeServer, type NodeServerLogger } from './server.js';

export interface NodeMainOptions {
  dataDir: string;
  port: number;
  host: string;
  secret: string;
  tls?: { cert: Buffer; key: Buffer };
}

export function parseNodeArgs(argv: string[], env: NodeJS.ProcessEnv): NodeMainOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string', default: '7700' },
      host: { type: 'string', default: '127.0.0.1' },
      'secret-file': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
    },
    strict: true,
  });
  const dataDir = values['data-dir'];
  if (!dataDir) throw new Error('tessera node: --data-dir is required');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('tessera node: --port must be 0..65535');
  const secretFile = values['secret-file'];
  const secret = secretFile !== undefined ? readFileSync(secretFile, 'utf8').trim() : (env.TESSERA_NODE_SECRET ?? '');
  if (!secret) throw new Error('tessera node: set TESSERA_NODE_SECRET or pass --secret-file');
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new Error('tessera node: --tls-cert and --tls-key go together');
  }
  const tls = certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : undefined;
  return { dataDir, port, host: values.host ?? '127.0.0.1', secret, tls };
}

/** Runs until SIGINT/SIGTERM. Resolves with the process exit code. */
export async function nodeMain(argv: string[], env: NodeJS.ProcessEnv = process.env, logger?: NodeServerLogger): Promise<number> {
  let opts: NodeMainOptions;
  try {
    opts = parseNodeArgs(argv, env);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
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
