import { openGateway } from '../gateway/gateway.js';
import { startS3Server } from '../s3/server.js';
import { createLogger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { parseCommand } from './args.js';
import { redactUrl } from '../meta/postgres-url.js';

/** `tessera serve`: runs until SIGTERM/SIGINT, then stops accepting, finishes in-flight requests and closes the store. */
export async function serveMain(argv: string[]): Promise<number> {
  const { loaded } = parseCommand('serve', argv, {}, { provision: true });
  const { config } = loaded;
  const logger = createLogger(config.log.level);
  const metrics = createMetrics();
  const gateway = await openGateway(config, { logger, metrics });
  const server = await startS3Server({ service: gateway.service, config, logger, metrics });
  const banner = [
    '',
    `Tessera is listening on ${server.url}`,
    `  data dir:   ${config.dataDir}`,
    `  metadata:   ${config.meta.driver === 'postgres' ? `postgres ${redactUrl(config.meta.postgres?.url ?? '')}` : `sqlite ${config.meta.path}`}`,
    `  hot tier:   ${config.hot.driver}${config.hot.driver === 'fs' ? ` (${config.hot.fs.path})` : ''}, budget ${config.hot.budgetBytes} bytes`,
    `  cold tier:  ${config.cold.k}+${config.cold.m} over ${config.cold.nodes.length} nodes (${[...new Set(config.cold.nodes.map((n) => n.kind))].join(', ')})`,
    `  region:     ${config.server.region}`,
    `  access key: ${config.users[0]?.accessKey ?? '(none configured)'}`,
  ];
  if (loaded.generatedCredentials) {
    // Shown once, on the first start of an embedded default; kept in a mode-600 file afterwards.
    banner.push(`  secret key: ${loaded.generatedCredentials.secretKey}   (generated; saved in ${loaded.generatedCredentials.file})`);
  } else if (!process.env.TESSERA_SECRET_KEY && config.users.length > 0) {
    banner.push(`  secret key: see ${config.dataDir}/credentials.json or your config`);
  }
  banner.push(`Try: AWS_ACCESS_KEY_ID=${config.users[0]?.accessKey ?? '...'} AWS_SECRET_ACCESS_KEY=... aws --endpoint-url ${server.url} s3 ls`, '');
  process.stdout.write(banner.join('\n') + '\n');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: finishing in-flight requests');
      void (async () => {
        try {
          await server.close();
          await gateway.close();
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'error during shutdown');
        }
        resolve();
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
  return 0;
}
