import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { newShardId } from '../cold/cold-store.js';
import type { NodeDriver } from '../cold/nodes/driver.js';
import type { NodeConfig, TesseraConfig } from '../config/types.js';
import { openGateway } from '../gateway/gateway.js';
import { readBounded } from '../util/bounded-read.js';
import { createLogger } from '../util/logger.js';
import { createMetrics } from '../util/metrics.js';
import { parseCommand } from './args.js';
import { UsageError } from '../util/cli-flags.js';

/** Bytes of the probe shard: big enough to cross a few stream chunks, small enough for any node. */
const PROBE_BYTES = 200 * 1024;
const RANGE = { offset: 70_001, length: 4096 };

export interface NodeCheckResult {
  node: string;
  kind: NodeDriver['kind'];
  ok: boolean;
  /** The step that failed, and why (secrets of the node's configuration are masked). */
  failure?: string;
  /** Wall time of the whole round trip (health, put, get, ranged get, stat, delete). */
  latencyMs: number;
}

/** Every secret string in a node's configuration, so error messages can be scrubbed of them. */
function secretsOf(cfg: NodeConfig | undefined): string[] {
  if (!cfg) return [];
  const out: Array<string | undefined> = [];
  if (cfg.kind === 'http') out.push(cfg.secret);
  if (cfg.kind === 's3') out.push(cfg.credentials?.secretAccessKey, cfg.credentials?.sessionToken);
  if (cfg.kind === 'iagon') out.push(cfg.apiKey, cfg.token, cfg.password);
  return out.filter((s): s is string => typeof s === 'string' && s.length >= 4);
}

function mask(message: string, secrets: string[]): string {
  let m = message;
  for (const s of secrets) m = m.split(s).join('[redacted]');
  return m;
}

/** A probe read: a node answering more bytes than the probe holds is wrong, and must not make us buffer them. */
function readProbe(stream: Readable): Promise<Buffer> {
  return readBounded(stream, {
    limit: PROBE_BYTES,
    overflow: 'fail',
    tooLarge: (n) => new Error(`the node answered more than the ${n} bytes of the probe`),
  });
}

/** Health, then a write/read/ranged-read/stat/delete round trip of a random probe shard. */
export async function checkNode(driver: NodeDriver, cfg?: NodeConfig): Promise<NodeCheckResult> {
  const started = performance.now();
  const result = (failure?: string): NodeCheckResult => ({
    node: driver.name,
    kind: driver.kind,
    ok: failure === undefined,
    ...(failure !== undefined ? { failure: mask(failure, secretsOf(cfg)) } : {}),
    latencyMs: Math.round(performance.now() - started),
  });
  let step = 'health';
  let handle: string | undefined;
  try {
    const health = await driver.health();
    if (!health.ok) return result(`health: ${health.reason ?? 'not ok'}`);
    step = 'put';
    const probe = randomBytes(PROBE_BYTES);
    handle = await driver.put(newShardId(), Readable.from([probe]), probe.length);
    step = 'get';
    if (!(await readProbe(await driver.get(handle))).equals(probe)) return result('get: bytes read back differ from bytes written');
    step = 'ranged get';
    const part = await readProbe(await driver.get(handle, RANGE));
    if (!part.equals(probe.subarray(RANGE.offset, RANGE.offset + RANGE.length))) return result('ranged get: wrong bytes');
    step = 'stat';
    const st = await driver.stat(handle);
    if (st?.size !== probe.length) return result(`stat: size ${st?.size ?? 'missing'}, expected ${probe.length}`);
    step = 'delete';
    await driver.delete(handle);
    const h = handle;
    handle = undefined;
    if ((await driver.stat(h)) !== null) return result('delete: the probe shard is still there');
    return result();
  } catch (err) {
    return result(`${step}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    if (handle !== undefined) await driver.delete(handle).catch(() => undefined);
  }
}

export function formatTable(rows: NodeCheckResult[]): string {
  // The result goes last: a failure reason has no fixed width.
  const cells = [['NODE', 'KIND', 'LATENCY', 'RESULT'], ...rows.map((r) => [r.node, r.kind, `${r.latencyMs} ms`, r.ok ? 'ok' : `FAILED ${r.failure ?? ''}`])];
  const widths = [0, 1, 2].map((c) => Math.max(...cells.map((row) => row[c]!.length)));
  return cells.map((row) => row.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell)).join('  ')).join('\n');
}

/** Check every configured node (in parallel); exit code 1 when any failed. */
export async function checkAllNodes(config: TesseraConfig, drivers: Iterable<NodeDriver>): Promise<NodeCheckResult[]> {
  return Promise.all([...drivers].map((d) => checkNode(d, config.cold.nodes.find((n) => n.name === d.name))));
}

/** `tessera nodes check`. */
export async function nodesMain(argv: string[]): Promise<number> {
  const { loaded } = parseCommand('nodes', argv, {}, {
    positionals: [1, 1],
    missing: 'name the subcommand: nodes check',
    validate: ([sub]) => {
      if (sub !== 'check') throw new UsageError('nodes', `unknown subcommand ${sub} (the one there is: check)`);
    },
  });
  const level = loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level;
  const g = await openGateway(loaded.config, { logger: createLogger(level), metrics: createMetrics(), background: false, reconcile: false });
  try {
    // The raw drivers: a breaker opened by the check itself must not hide the next step's real error.
    const rows = await checkAllNodes(loaded.config, [...g.cold.nodes.values()].map((n) => n.inner));
    process.stdout.write(formatTable(rows) + '\n');
    const failed = rows.filter((r) => !r.ok).length;
    process.stdout.write(failed > 0 ? `${failed} of ${rows.length} nodes failed\n` : `all ${rows.length} nodes ok\n`);
    return failed > 0 ? 1 : 0;
  } finally {
    await g.close();
  }
}
