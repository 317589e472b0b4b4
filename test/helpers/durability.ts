import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { embeddedConfig } from '../../src/config/load.js';
import type { TesseraConfig } from '../../src/config/types.js';
import { openGateway, type Gateway } from '../../src/gateway/gateway.js';
import type { ObjectRecord } from '../../src/model/records.js';
import { createLogger } from '../../src/util/logger.js';
import { createMetrics } from '../../src/util/metrics.js';

/** A gateway over six fs nodes in a temp dir, 1 MiB segments of 64 KiB chunks (4+2), no hot-tier shortcuts. */
export async function tempGateway(): Promise<{
  dir: string;
  config: TesseraConfig;
  g: Gateway;
  reopen(config?: TesseraConfig): Promise<Gateway>;
  cleanup(): Promise<void>;
}> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tessera-durability-'));
  const config = embeddedConfig(dir, { cold: { segmentSize: '1MiB', chunkSize: '64KiB' }, hot: { writeThrough: false, promote: 'never' } });
  const open = (c: TesseraConfig = config): Promise<Gateway> => openGateway(c, { logger: createLogger('silent'), metrics: createMetrics(), background: false, reconcile: false });
  const state = { g: await open() };
  return {
    dir,
    config,
    get g() {
      return state.g;
    },
    async reopen(other?: TesseraConfig) {
      await state.g.close();
      state.g = await open(other);
      return state.g;
    },
    async cleanup() {
      await state.g.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function putBytes(g: Gateway, bucket: string, key: string, body: Buffer): Promise<ObjectRecord> {
  return g.service.putObject({ bucket, key, body: Readable.from([body]), size: body.length, headers: { userMeta: {} }, tags: {} });
}

export function randomBody(size: number): Buffer {
  return randomBytes(size);
}

/** Where an fs node keeps a shard (the driver's layout: <root>/<id[0..2]>/<id>). */
export function shardFile(config: TesseraConfig, ref: { node: string; handle: string }): string {
  const node = config.cold.nodes.find((n) => n.name === ref.node);
  if (!node || node.kind !== 'fs') throw new Error(`no fs node ${ref.node}`);
  return path.join(node.path, ref.handle.slice(0, 2), ref.handle);
}
