import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import { openGateway } from '../gateway/gateway.js';
import { startS3Server } from '../s3/server.js';
import { startConsoleServer, type ConsoleServer } from '../console/server.js';
import { createLogger, type Logger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { redactUrl } from '../meta/postgres-url.js';
import { UsageError } from '../util/cli-flags.js';
import { parseCommand } from './args.js';

function workerCount(value: string | boolean | undefined): number {
  const raw = typeof value === 'string' ? value : (process.env.TESSERA_WORKERS ?? '1');
  if (raw === 'auto') return availableParallelism();
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError('serve', `--workers must be a whole number from 1 to 1024 or "auto" (got ${JSON.stringify(raw)})`);
  return n;
}

function banner(loaded: LoadedConfig, url: string, workers: number, consoleUrl?: string): string {
  const { config } = loaded;
  const lines = [
    '',
    `Tessera is listening on ${url}${workers > 1 ? ` (${workers} worker processes)` : ''}`,
    `  data dir:   ${config.dataDir}`,
    `  metadata:   ${config.meta.driver === 'postgres' ? `postgres ${redactUrl(config.meta.postgres?.url ?? '')}` : `sqlite ${config.meta.path}`}`,
    `  hot tier:   ${config.hot.driver}${config.hot.driver === 'fs' ? ` (${config.hot.fs.path})` : ''}, budget ${config.hot.budgetBytes} bytes`,
    `  cold tier:  ${config.cold.k}+${config.cold.m} over ${config.cold.nodes.length} nodes (${[...new Set(config.cold.nodes.map((n) => n.kind))].join(', ')})`,
    `  region:     ${config.server.region}`,
    `  access key: ${config.users[0]?.accessKey ?? '(none configured)'}`,
  ];
  if (consoleUrl !== undefined) lines.push(`  console:    ${consoleUrl} (sign in with an admin's access key and secret)`);
  if (loaded.generatedCredentials) {
    // Shown once, on the first start of an embedded default; kept in a mode-600 file afterwards.
    lines.push(`  secret key: ${loaded.generatedCredentials.secretKey}   (generated; saved in ${loaded.generatedCredentials.file})`);
  } else if (!process.env.TESSERA_SECRET_KEY && config.users.length > 0) {
    lines.push(`  secret key: see ${config.dataDir}/credentials.json or your config`);
  }
  lines.push(`Try: AWS_ACCESS_KEY_ID=${config.users[0]?.accessKey ?? '...'} AWS_SECRET_ACCESS_KEY=... aws --endpoint-url ${url} s3 ls`, '');
  return lines.join('\n') + '\n';
}

/** Resolves with the signal's name on the first SIGTERM or SIGINT. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** `tessera serve`: runs until SIGTERM/SIGINT, then stops accepting, finishes in-flight requests and closes the store. */
export async function serveMain(argv: string[]): Promise<number> {
  const { loaded, values } = parseCommand('serve', argv, { workers: { type: 'string' } }, { provision: true });
  const workers = cluster.isPrimary ? workerCount(values.workers) : 1;
  const logger = createLogger(loaded.config.log.level);
  if (cluster.isPrimary && workers > 1) return runPrimary(loaded, workers, logger);
  if (cluster.isPrimary) return runGateway(loaded, logger, true);
  // A worker's IPC channel to the primary would keep it alive after it stopped, or failed to start (and a worker
  // whose channel closes exits with 0, so a failure exits explicitly).
  try {
    const code = await runGateway(loaded, logger, false);
    process.disconnect();
    return code;
  } catch (err) {
    process.stderr.write(`tessera worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
}

/** One gateway process: the whole server, or one worker of `--workers N`. */
async function runGateway(loaded: LoadedConfig, logger: Logger, printBanner: boolean): Promise<number> {
  const { config } = loaded;
  const metrics = createMetrics();
  const processesPerMachine = cluster.isPrimary ? 1 : Number(process.env.TESSERA_WORKER_COUNT ?? '1') || 1;
  const gateway = await openGateway(config, { logger, metrics, processesPerMachine });
  const server = await startS3Server({ service: gateway.service, config, logger, metrics });
  // With --workers, one worker serves the console (its sessions and jobs live in one process); it tells the primary.
  let consoleServer: ConsoleServer | undefined;
  if (config.console.enabled && (cluster.isPrimary || process.env.TESSERA_CONSOLE_WORKER === '1')) {
    consoleServer = await startConsoleServer({ gateway, config, logger, metrics });
    if (!cluster.isPrimary) process.send?.({ tesseraConsoleUrl: consoleServer.url });
  }
  if (!cluster.isPrimary) process.send?.({ tesseraS3Url: server.url });
  if (printBanner) process.stdout.write(banner(loaded, server.url, 1, consoleServer?.url));
  const signal = await stopSignal();
  logger.info({ signal }, 'shutting down: finishing in-flight requests');
  try {
    await consoleServer?.close();
    await server.close();
    await gateway.close();
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'error during shutdown');
  }
  logger.info('stopped');
  return 0;
}

/**
 * The primary of `--workers N`: forks N workers that listen on one port (the cluster module hands connections to
 * them in turn), restarts a worker that dies, and on SIGTERM/SIGINT stops every worker gracefully before exiting.
 * It opens no store itself: the configuration it loaded first created any generated key and credential files.
 */
async function runPrimary(loaded: LoadedConfig, workers: number, logger: Logger): Promise<number> {
  let stopping = false;
  let announced = false;
  let ready = 0;
  let s3Url: string | undefined;
  let consoleUrl: string | undefined;
  let consoleWorker: number | undefined;
  const consoleWanted = loaded.config.console.enabled;
  // Each worker says when it serves (after its listeners are up); the banner is the ready line once all of the first
  // generation do and the console's worker has said where the console is.
  cluster.on('message', (_worker, message: unknown) => {
    if (announced || typeof message !== 'object' || message === null) return;
    if ('tesseraConsoleUrl' in message && typeof message.tesseraConsoleUrl === 'string') consoleUrl = message.tesseraConsoleUrl;
    if ('tesseraS3Url' in message && typeof message.tesseraS3Url === 'string') {
      s3Url = message.tesseraS3Url;
      ready++;
    }
    if (ready < workers || s3Url === undefined || (consoleWanted && consoleUrl === undefined)) return;
    announced = true;
    process.stdout.write(banner(loaded, s3Url, workers, consoleUrl));
  });
  const fork = (withConsole: boolean): void => {
    const w = cluster.fork({ TESSERA_WORKER_COUNT: String(workers), ...(withConsole ? { TESSERA_CONSOLE_WORKER: '1' } : {}) });
    if (withConsole) consoleWorker = w.id;
  };
  // A worker that dies before every worker listens failed to start (bad config, store unreadable, port taken):
  // restarting it would only loop, so the whole server stops with an error instead.
  let startFailed!: (reason: string) => void;
  const failedStart = new Promise<string>((resolve) => (startFailed = resolve));
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    if (!announced) {
      startFailed(`a gateway worker exited during start (${code ?? signal})`);
      return;
    }
    logger.error({ worker: worker.process.pid, code, signal }, 'gateway worker exited; starting another');
    fork(worker.id === consoleWorker);
  });
  for (let i = 0; i < workers; i++) fork(consoleWanted && i === 0);
  const outcome = await Promise.race([stopSignal().then((signal) => ({ signal })), failedStart.then((failure) => ({ failure }))]);
  stopping = true;
  if ('failure' in outcome) logger.error({ err: outcome.failure }, 'stopping every worker');
  else logger.info({ signal: outcome.signal, workers: Object.keys(cluster.workers ?? {}).length }, 'shutting down every worker');
  const alive = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  await Promise.all(
    alive.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
          w.process.kill('SIGTERM');
        }),
    ),
  );
  logger.info('stopped');
  if ('failure' in outcome) process.stderr.write(`tessera: ${outcome.failure}; see the log above\n`);
  return 'failure' in outcome ? 1 : 0;
}
