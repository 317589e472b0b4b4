import { openGateway } from '../gateway/gateway.js';
import { applyTiering, NoSuchTarget } from '../gateway/tiering.js';
import { createLogger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { Progress, parseCommand } from './args.js';
import { UsageError } from '../util/cli-flags.js';

function splitTarget(target: string): { bucket: string; prefix: string } {
  const slash = target.indexOf('/');
  return slash < 0 ? { bucket: target, prefix: '' } : { bucket: target.slice(0, slash), prefix: target.slice(slash + 1) };
}

/** `tessera warm|evict BUCKET[/PREFIX]`, `tessera pin|unpin BUCKET/KEY`: src/gateway/tiering.ts, with a progress bar. */
export async function tieringMain(command: 'warm' | 'evict' | 'pin' | 'unpin', argv: string[]): Promise<number> {
  const one = command === 'pin' || command === 'unpin';
  const missing = one ? 'name an object: BUCKET/KEY' : 'name a BUCKET or BUCKET/PREFIX';
  const { loaded, positionals } = parseCommand(command, argv, {}, {
    positionals: [1, 1],
    missing,
    validate: ([target]) => {
      const t = splitTarget(target ?? '');
      if (t.bucket === '' || (one && t.prefix === '')) throw new UsageError(command, missing);
    },
  });
  const { bucket, prefix } = splitTarget(positionals[0] ?? '');
  const logger = createLogger(loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level);
  const g = await openGateway(loaded.config, { logger, metrics: createMetrics(), background: false, reconcile: false });
  try {
    if (one) {
      const s = await applyTiering(g, command, { bucket, prefix, exactKey: true });
      const promoted = s.failed > 0 ? ' (it could not be promoted now: hot tier full of pinned objects, or unavailable)' : '';
      process.stdout.write(`${command === 'pin' ? 'pinned' : 'unpinned'} ${bucket}/${prefix}${promoted}\n`);
      return 0;
    }
    const bar = new Progress(command === 'warm' ? 'warming' : 'evicting', 0);
    const s = await applyTiering(g, command, { bucket, prefix }, (p) => {
      bar.setTotal(p.total);
      bar.update(p.seen);
    });
    bar.setTotal(s.seen);
    bar.done(`${command === 'warm' ? 'warmed' : 'evicted'} ${s.changed} of ${s.seen} objects (${s.bytes} bytes)${s.failed ? `, ${s.failed} could not be promoted (hot tier full of pinned objects, or unavailable)` : ''}`);
    return s.failed > 0 ? 1 : 0;
  } catch (err) {
    if (!(err instanceof NoSuchTarget)) throw err;
    process.stderr.write(`tessera ${command}: ${err.message}\n`);
    return 1;
  } finally {
    await g.close();
  }
}
