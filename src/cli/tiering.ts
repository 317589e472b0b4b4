import { openGateway, type Gateway } from '../gateway/gateway.js';
import type { ObjectRecord } from '../model/records.js';
import { createLogger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { Progress, parseCommand } from './args.js';
import { UsageError } from '../util/cli-flags.js';

function splitTarget(target: string): { bucket: string; prefix: string } {
  const slash = target.indexOf('/');
  return slash < 0 ? { bucket: target, prefix: '' } : { bucket: target.slice(0, slash), prefix: target.slice(slash + 1) };
}

async function* objectsUnder(g: Gateway, bucket: string, prefix: string): AsyncGenerator<ObjectRecord> {
  let after: string | undefined;
  for (;;) {
    const page = await g.meta.listObjects(bucket, { prefix, maxKeys: 1000, ...(after !== undefined ? { after } : {}) });
    for (const o of page.objects) {
      const rec = await g.meta.getObject(bucket, o.key);
      if (rec) yield rec;
    }
    if (!page.isTruncated || page.lastReturned === undefined) return;
    after = page.lastReturned;
  }
}

/** `tessera warm|evict BUCKET[/PREFIX]`, `tessera pin|unpin BUCKET/KEY`. */
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
    if (!(await g.meta.getBucket(bucket))) {
      process.stderr.write(`tessera ${command}: no bucket ${bucket}\n`);
      return 1;
    }
    if (command === 'pin' || command === 'unpin') {
      const rec = await g.meta.getObject(bucket, prefix);
      if (!rec) {
        process.stderr.write(`tessera ${command}: no object ${bucket}/${prefix}\n`);
        return 1;
      }
      await g.meta.setPinned(rec.objectId, command === 'pin');
      if (command === 'pin' && rec.hot !== 'hot') await g.reader.promote(rec);
      process.stdout.write(`${command === 'pin' ? 'pinned' : 'unpinned'} ${bucket}/${prefix}\n`);
      return 0;
    }
    const total = await g.meta.countObjects(bucket);
    const bar = new Progress(command === 'warm' ? 'warming' : 'evicting', total);
    let seen = 0;
    let changed = 0;
    let failed = 0;
    let bytes = 0;
    for await (const rec of objectsUnder(g, bucket, prefix)) {
      seen++;
      if (command === 'warm' && rec.hot !== 'hot') {
        if (await g.reader.promote(rec)) {
          changed++;
          bytes += rec.size;
        } else failed++;
      } else if (command === 'evict' && rec.hot !== 'cold') {
        await g.hot.evict(rec.objectId);
        changed++;
        bytes += rec.size;
      }
      bar.update(seen);
    }
    bar.setTotal(seen);
    bar.done(`${command === 'warm' ? 'warmed' : 'evicted'} ${changed} of ${seen} objects (${bytes} bytes)${failed ? `, ${failed} could not be promoted (hot tier full of pinned objects, or unavailable)` : ''}`);
    return failed > 0 ? 1 : 0;
  } finally {
    await g.close();
  }
}
